package hosttools

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
