package scratch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSweepRemovesOnlyUnlocked(t *testing.T) {
	parent := t.TempDir()
	live, err := Make(parent, "b-")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(live.Path), "b-") {
		t.Errorf("Make made %s, want a name starting with b-", live.Path)
	}
	// The leftovers of a killed den: a directory nobody holds, with read-only content.
	stale := filepath.Join(parent, "b-stale")
	if err := os.MkdirAll(stale+"/ro/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(stale+"/ro", 0o555); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(parent, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := os.Symlink(target, filepath.Join(parent, "b-link")); err != nil {
		t.Fatal(err)
	}

	if err := Sweep(parent, "b-"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale directory is still there (%v)", err)
	}
	for _, p := range []string{live.Path, other, filepath.Join(parent, "b-link"), target} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("Sweep removed %s: %v", p, err)
		}
	}

	if err := live.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(live.Path); !os.IsNotExist(err) {
		t.Errorf("Remove left %s (%v)", live.Path, err)
	}
	if err := Sweep(filepath.Join(parent, "missing"), "b-"); err != nil {
		t.Errorf("Sweep of a missing parent: %v", err)
	}
}
