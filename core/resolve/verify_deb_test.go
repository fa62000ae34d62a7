package resolve

import (
	"errors"
	"strings"
	"testing"

	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
)

// debLock is a Debian package as den lock writes it: greet per architecture, and
// greet-data (Architecture: all) shared by both systems.
func debLock() *lock.Package {
	const h = "sha256-0DtGvDDtQ1/7fuAzvJkwn8aapdCFv7vtAAv926rUffM="
	src := func(name, version, url string) lock.Source {
		return lock.Source{Kind: "deb", Name: name, Version: version, URL: url, Hash: h, Group: name}
	}
	p := &lock.Package{Name: "deb:greet", Version: "1:1.0~RC2-1", Backend: index.Deb,
		Attrs: map[string]string{"roots": "greet", "bootstrap": "patchelf"},
		Sources: []lock.Source{
			src("greet-data", "2.0.0~M26-1", "mirror://debian/pool/main/g/greet/greet-data_2.0.0~M26-1_all.deb"),
			src("patchelf", "0.14.3-1+b1", "mirror://debian-security/pool/updates/main/p/patchelf/patchelf_0.14.3-1+b1_all.deb"),
		},
		Systems: map[string]*lock.System{
			"x86_64-linux":  {Sources: []lock.Source{src("greet", "1:1.0~RC2-1", "mirror://debian/pool/main/g/greet/greet_1.0~RC2-1_amd64.deb")}},
			"aarch64-linux": {Sources: []lock.Source{src("greet", "1:1.0~RC2-1", "mirror://debian/pool/main/g/greet/greet_1.0~RC2-1_arm64.deb")}},
		},
	}
	return p
}

func TestVerifyDeb(t *testing.T) {
	e := &index.Entry{Name: "deb:greet", Backend: index.Deb, Debs: []string{"greet"}}
	if err := verifyDeb(debLock(), e); err != nil {
		t.Fatalf("the lock den writes (versions with epochs and capitals): %v", err)
	}
	// Locked for one system only, every source is shared, and may be for that system's
	// architecture.
	one := debLock()
	one.Sources = append(one.Sources, one.Systems["x86_64-linux"].Sources...)
	one.Systems = map[string]*lock.System{"x86_64-linux": {}}
	if err := verifyDeb(one, e); err != nil {
		t.Fatalf("one system: %v", err)
	}

	for _, tc := range []struct {
		name   string
		change func(p *lock.Package)
		want   string
	}{
		{"outside the pool", func(p *lock.Package) {
			p.Systems["x86_64-linux"].Sources[0].URL = "mirror://debian/pool/../x/greet_1.0~RC2-1_amd64.deb"
		},
			`"mirror://debian/pool/../x/greet_1.0~RC2-1_amd64.deb", which is not a .deb in a Debian archive's pool`},
		{"another host", func(p *lock.Package) { p.Sources[0].URL = "http://127.0.0.1:9/greet-data_2.0.0~M26-1_all.deb" },
			"which is not a .deb in a Debian archive's pool"},
		{"another package's .deb", func(p *lock.Package) {
			p.Systems["x86_64-linux"].Sources[0].URL = "mirror://debian/pool/main/e/evil/evil_1.0_amd64.deb"
		}, `greet 1:1.0~RC2-1 is locked at "mirror://debian/pool/main/e/evil/evil_1.0_amd64.deb", which is not its .deb (greet_1.0~RC2-1_amd64.deb)`},
		{"another version's .deb", func(p *lock.Package) { p.Systems["x86_64-linux"].Sources[0].Version = "1:0.9-1" },
			"greet 1:0.9-1 is locked at"},
		{"another architecture's .deb", func(p *lock.Package) {
			p.Systems["x86_64-linux"].Sources[0].URL = "mirror://debian/pool/main/g/greet/greet_1.0~RC2-1_arm64.deb"
		}, "which is not its .deb (greet_1.0~RC2-1_amd64.deb)"},
		{"a shared .deb of one architecture", func(p *lock.Package) {
			p.Sources[0].URL = "mirror://debian/pool/main/g/greet/greet-data_2.0.0~M26-1_amd64.deb"
		}, "which is not its .deb (greet-data_2.0.0~M26-1_all.deb)"},
		{"roots", func(p *lock.Package) { p.Attrs["roots"] = "greet evil" }, `its attributes differ from den's index (bootstrap="patchelf" roots="greet evil", where den's index has bootstrap="patchelf" roots="greet")`},
		{"bootstrap", func(p *lock.Package) { p.Attrs["bootstrap"] = "evil" }, "its attributes differ from den's index"},
		{"a system attribute", func(p *lock.Package) { p.Systems["x86_64-linux"].Attrs = map[string]string{"roots": "evil"} },
			"it has a roots attribute for x86_64-linux"},
		{"a hash of another algorithm", func(p *lock.Package) { p.Sources[1].Hash = "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=" },
			"patchelf has no SHA256 hash"},
		{"a source of another kind", func(p *lock.Package) { p.Sources[1].Kind = "url" }, "it has a url source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := debLock()
			tc.change(p)
			err := verifyDeb(p, e)
			var lm *LockMismatchError
			if !errors.As(err, &lm) || !strings.Contains(err.Error(), tc.want) || !strings.HasSuffix(err.Error(), "which den did not write") {
				t.Fatalf("got %v, want a LockMismatchError with %q", err, tc.want)
			}
		})
	}
}
