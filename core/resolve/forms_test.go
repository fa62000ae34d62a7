package resolve

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/backend/debpkg"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/version"
)

// formBackend is a backend that lists fixed versions and locks the version asked for, recording
// which entry (form) and constraint it was asked with.
type formBackend struct {
	name     string
	versions []string
	err      error
	asked    *[]string
}

func (b formBackend) Versions(context.Context, *backend.Env, *index.Entry) ([]string, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.versions, nil
}

func (b formBackend) Lock(_ context.Context, _ *backend.Env, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
	*b.asked = append(*b.asked, b.name+" "+c.String())
	for _, v := range b.versions {
		if debpkg.Matches(c, v) {
			p := &lock.Package{Name: e.Name, Version: v, Constraint: c.String(), Backend: b.name, Systems: map[string]*lock.System{}}
			if b.name == index.Deb {
				p.Attrs = debpkg.Attrs(e)
			}
			return p, nil
		}
	}
	return nil, errors.New("no such version")
}

func (formBackend) Plan(context.Context, *backend.Env, *lock.Package, platform.System) (*derivation.Derivation, error) {
	return nil, errors.New("not planned here")
}

// python is two forms: Debian's 3.11 (the deb backend) and the source build of 3.13 (recipe).
// A constraint picks the form by the highest version any form has that it admits, reading
// Debian's versions by their upstream part; the lock verifies as the form that has its version.
func TestPythonForms(t *testing.T) {
	ix, err := index.Load()
	if err != nil {
		t.Fatal(err)
	}
	const debVersion = "3.11.2-6+deb12u9"
	newResolver := func(debErr error) (*Resolver, *[]string) {
		var asked []string
		r := New(ix, &backend.Env{Current: linuxAMD64})
		r.Register(index.Deb, formBackend{name: index.Deb, versions: []string{debVersion}, err: debErr, asked: &asked})
		r.Register(index.Recipe, formBackend{name: index.Recipe, versions: []string{"3.13.5"}, asked: &asked})
		return r, &asked
	}
	for _, tc := range []struct {
		ref, backend, version string
	}{
		{"python@3.11", index.Deb, debVersion},
		{"python@3.11.2", index.Deb, debVersion},
		{"python@~3.11", index.Deb, debVersion},
		{"python@<3.12", index.Deb, debVersion},
		{"python@*", index.Recipe, "3.13.5"},
		{"python@3", index.Recipe, "3.13.5"},
		{"python@3.13", index.Recipe, "3.13.5"},
		{"python@latest", index.Recipe, "3.13.5"},
	} {
		r, asked := newResolver(nil)
		p, err := r.LockRef(context.Background(), tc.ref, []platform.System{linuxAMD64})
		if err != nil {
			t.Errorf("%s: %v", tc.ref, err)
			continue
		}
		if p.Backend != tc.backend || p.Version != tc.version || len(*asked) != 1 || !strings.HasPrefix((*asked)[0], tc.backend+" ") {
			t.Errorf("%s: locked %s %s, backends asked %q; want %s %s", tc.ref, p.Backend, p.Version, *asked, tc.backend, tc.version)
		}
		if err := r.Verify(p); err != nil && tc.backend == index.Deb {
			t.Errorf("%s: the lock of Debian's form does not verify: %v", tc.ref, err)
		}
		if tc.backend == index.Deb && (p.Attrs["roots"] != "python3.11" || !strings.Contains(p.Attrs["links"], "bin/python3=python3.11")) {
			t.Errorf("%s: Debian's form is locked with %v", tc.ref, p.Attrs)
		}
	}

	// No version of either form is 3.12.
	r, _ := newResolver(nil)
	if _, err := r.LockRef(context.Background(), "python@3.12", []platform.System{linuxAMD64}); err == nil || !strings.Contains(err.Error(), `no version matches "3.12"`) {
		t.Errorf("python@3.12: %v", err)
	}
	// Without a Debian archive, the source build is still there, and 3.11 says why it is not.
	r, _ = newResolver(errors.New("no Debian archive is configured"))
	if p, err := r.LockRef(context.Background(), "python@*", []platform.System{linuxAMD64}); err != nil || p.Backend != index.Recipe {
		t.Errorf("python@* without an archive: %v", err)
	}
	if _, err := r.LockRef(context.Background(), "python@3.11", []platform.System{linuxAMD64}); err == nil ||
		!strings.Contains(err.Error(), "the deb backend could not list its versions of python: no Debian archive is configured") {
		t.Errorf("python@3.11 without an archive: %v", err)
	}
	vs, err := r.Versions(context.Background(), "python")
	if err != nil || len(vs) != 1 {
		t.Errorf("versions without an archive: %v %v", vs, err)
	}
	r, _ = newResolver(nil)
	if vs, err := r.Versions(context.Background(), "python"); err != nil || strings.Join(vs, " ") != "3.13.5 "+debVersion {
		t.Errorf("versions: %v %v", vs, err)
	}

	// A lock of Debian's form with other links, or a lock that calls Debian's version a recipe,
	// is not one den wrote.
	p, err := r.LockRef(context.Background(), "python@3.11", []platform.System{linuxAMD64})
	if err != nil {
		t.Fatal(err)
	}
	p.Attrs["links"] = "bin/python3=evil"
	if err := r.Verify(p); err == nil || !strings.Contains(err.Error(), "its attributes differ from den's index") {
		t.Errorf("other links: %v", err)
	}
	p.Attrs = nil
	p.Backend = index.Recipe
	if err := r.Verify(p); err == nil || !strings.Contains(err.Error(), "locked for the recipe backend, and den's index builds it with deb") {
		t.Errorf("Debian's version as a recipe: %v", err)
	}
}
