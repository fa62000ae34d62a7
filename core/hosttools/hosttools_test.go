package hosttools

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/den-sh/den/core/derivation"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	tool := filepath.Join(dir, "mycc")
	os.WriteFile(tool, []byte("#!/bin/sh\necho 'mycc 1.0'\n"), 0o755)
	r := &Resolver{Path: dir + ":/usr/bin:/bin", CacheFile: filepath.Join(dir, "cache.json")}
	got, err := r.Resolve([]string{"mycc"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Version != "mycc 1.0" || !strings.HasPrefix(got[0].Hash, "sha256:") || got[0].Path != tool {
		t.Fatalf("got %+v", got)
	}
	// A changed tool has a changed identity, even with the cache in place.
	os.WriteFile(tool, []byte("#!/bin/sh\necho 'mycc 2.0'\n"), 0o755)
	again, _ := r.Resolve([]string{"mycc"}, true)
	if again[0].Hash == got[0].Hash || again[0].Version != "mycc 2.0" {
		t.Fatalf("stale identity %+v", again)
	}
	if _, err := r.Resolve([]string{"no-such-tool-x"}, true); err == nil || !strings.Contains(err.Error(), "host-tools") {
		t.Fatalf("missing required tool: %v", err)
	}
	base, err := r.Resolve(Base, false)
	if err != nil || len(base) < 10 {
		t.Fatalf("base: %d tools, %v", len(base), err)
	}
}

func TestImpure(t *testing.T) {
	sh := derivation.HostTool{Name: "sh", Path: "/bin/sh"}
	cc := derivation.HostTool{Name: "cc", Path: "/usr/bin/cc"}
	pure := &derivation.Derivation{Name: "zlib-1.3", Builder: derivation.BuilderScript}
	if Impure(pure) {
		t.Error("a derivation without host tools is impure")
	}
	if Impure(&derivation.Derivation{Name: "gopls", Builder: derivation.BuilderScript, HostTools: []derivation.HostTool{sh}}) {
		t.Error("the base tools alone make a derivation impure")
	}
	impure := &derivation.Derivation{Name: "hello", Builder: derivation.BuilderScript, HostTools: []derivation.HostTool{sh, cc}}
	if !Impure(impure) {
		t.Error("a derivation with a declared host tool is pure")
	}
	if Impure(&derivation.Derivation{Name: "v", Builder: derivation.BuilderGoVendor, HostTools: []derivation.HostTool{cc}}) {
		t.Error("a fixed-output derivation is impure")
	}
	user := &derivation.Derivation{Name: "app-1.0", Builder: derivation.BuilderScript, Needs: []*derivation.Derivation{pure, {Name: "mid", Needs: []*derivation.Derivation{impure}}}}
	if !Impure(user) {
		t.Error("a derivation needing an impure one (two levels down) is pure")
	}
}
