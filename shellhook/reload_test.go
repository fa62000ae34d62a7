package shellhook

import (
	"slices"
	"testing"

	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
)

func TestPackageChanges(t *testing.T) {
	const sys = "x86_64-linux"
	on := func(systems ...string) map[string]*lock.System {
		m := map[string]*lock.System{}
		for _, s := range systems {
			m[s] = &lock.System{}
		}
		return m
	}
	pkg := func(name, constraint, version string, systems ...string) *lock.Package {
		return &lock.Package{Name: name, Constraint: constraint, Version: version, Systems: on(systems...)}
	}
	old := &lock.File{Packages: []*lock.Package{
		pkg("go", "1.22", "1.22.5", sys),
		pkg("gopls", "latest", "0.16.0", sys),
		pkg("node", "20", "20.1.0", sys),
		pkg("npm:prettier", "3", "3.3.3", sys),
		pkg("only-mac", "1", "1.0.0", "aarch64-darwin"),
	}}
	wanted := []manifest.Package{
		{Name: "node", Version: "22"},        // constraint changed, den.lock not updated yet
		{Name: "go", Version: "1.22"},        // den.lock has a newer patch
		{Name: "npm:prettier", Version: "3"}, // unchanged
		{Name: "typescript", Version: "5"},   // added, locked already
		{Name: "deno", Version: "2"},         // added, not locked yet
		{Name: "npm:eslint", Version: "9"},   // added, locked for another constraint
	}
	locked := &lock.File{Packages: []*lock.Package{
		pkg("go", "1.22", "1.22.6", sys),
		pkg("node", "20", "20.1.0", sys),
		pkg("npm:eslint", "8", "8.57.0", sys),
		pkg("npm:prettier", "3", "3.3.3", sys),
		pkg("typescript", "5", "5.5.4", sys),
	}}
	got := PackageChanges(old, wanted, locked, sys)
	want := []string{"node 20.1.0 → 22", "go 1.22.5 → 1.22.6", "+typescript 5.5.4", "+deno", "+npm:eslint", "-gopls"}
	if !slices.Equal(got, want) {
		t.Errorf("PackageChanges:\n got %q\nwant %q", got, want)
	}

	// No environment yet: everything is new. No den.lock: nothing has a version yet.
	if got := PackageChanges(nil, wanted[:2], locked, sys); !slices.Equal(got, []string{"+node", "+go 1.22.6"}) {
		t.Errorf("without an old lock: %q", got)
	}
	if got := PackageChanges(old, wanted[1:3], nil, sys); !slices.Equal(got, []string{"-gopls", "-node"}) {
		t.Errorf("without den.lock: %q", got)
	}
	// Nothing changed in the packages ([env] edited, say).
	same := &lock.File{Packages: []*lock.Package{pkg("go", "1.22", "1.22.6", sys)}}
	if got := PackageChanges(same, []manifest.Package{{Name: "go", Version: "1.22"}}, same, sys); len(got) != 0 {
		t.Errorf("an unchanged package is named: %q", got)
	}
}

func TestUpdateLine(t *testing.T) {
	for _, c := range []struct {
		changes []string
		want    string
	}{
		{nil, "updating environment in the background"},
		{[]string{"+node 22.3.0"}, "updating environment (+node 22.3.0) in the background"},
		{[]string{"+a", "-b", "c 1 → 2", "+d", "+e", "+f"}, "updating environment (+a, -b, c 1 → 2, +d, 2 more) in the background"},
	} {
		if got := UpdateLine(c.changes); got != c.want {
			t.Errorf("UpdateLine(%q) = %q, want %q", c.changes, got, c.want)
		}
	}
}

func TestActivationLine(t *testing.T) {
	for _, c := range []struct {
		name          string
		oldPkgs, pkgs []Pkg
		before, after map[string]string
		want          string
	}{
		{"enter", nil, []Pkg{{"go", "1.22.3"}, {"node", "20.1.0"}},
			map[string]string{"PATH": "/bin"}, map[string]string{"PATH": "/p/bin:/bin", "GOROOT": "/g", "DEN_ROOT": "/r", EnvDiff: "x"},
			"+go 1.22.3 +node 20.1.0 +GOROOT ~PATH"},
		{"reload", []Pkg{{"go", "1.22.3"}, {"node", "20.1.0"}}, []Pkg{{"go", "1.22.3"}, {"node", "22.3.0"}},
			map[string]string{"PATH": "/a"}, map[string]string{"PATH": "/b"},
			"node 20.1.0 → 22.3.0 ~PATH"},
		{"leave", []Pkg{{"go", "1.22.3"}}, nil,
			map[string]string{"PATH": "/p/bin:/bin", "GOROOT": "/g", EnvSession: "s"}, map[string]string{"PATH": "/bin"},
			"-go -GOROOT ~PATH"},
		{"nothing", nil, nil, map[string]string{"A": "1"}, map[string]string{"A": "1", "DEN_REPORTED": "x"}, ""},
	} {
		if got := ActivationLine(c.oldPkgs, c.pkgs, c.before, c.after); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
