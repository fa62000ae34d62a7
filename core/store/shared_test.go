package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A state dir den setup made (setgid, group-writable) makes a shared store: what Open makes in it,
// and the database, the group may write whatever the umask; lock files are taken read-only.
func TestOpenSharedStateDir(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "var")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, os.ModeSetgid|0o775); err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(dir, "store"), state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RemoveTree(s.Dir) })
	if !s.Shared() {
		t.Fatal("a setgid, group-writable state dir is not a shared store")
	}
	for _, sub := range []string{"db", "locks", "gcroots", "gcroots/auto", "temproots", "builds", "logs"} {
		fi, err := os.Stat(filepath.Join(state, sub))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (os.ModeSetgid | os.ModePerm); got != sharedDirMode {
			t.Errorf("%s has mode %v, want %v", sub, got, sharedDirMode)
		}
	}
	if fi, err := os.Stat(filepath.Join(s.Dir, TempDirName)); err != nil || fi.Mode()&(os.ModeSetgid|os.ModePerm) != sharedDirMode {
		t.Errorf("the temp area: %v %v", fi.Mode(), err)
	}
	p := addPath(t, s, writeTemp(t, "shared"), "shared")
	if fi, err := os.Stat(filepath.Join(state, "db", "den.db")); err != nil || fi.Mode().Perm() != 0o664 {
		t.Errorf("database mode %v (%v), want 0664", fi.Mode(), err)
	}
	// A lock file another user made, readable only, still locks. Root may write any file, so
	// only another user can show it (as root, e2e two_users does: Bob locks Alice's).
	if os.Geteuid() != 0 {
		lock := filepath.Join(state, "locks", p.HashPart()+".lock")
		if err := os.Chmod(lock, 0o444); err != nil {
			t.Fatal(err)
		}
		unlock, err := s.LockPath(p)
		if err != nil {
			t.Fatalf("a read-only lock file: %v", err)
		}
		unlock()
	}

	// A per-user state dir is not shared.
	if newStore(t).Shared() {
		t.Error("a 0755 state dir is a shared store")
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "f")
	writeFile(t, f, content, 0o644)
	return f
}

// What a shared store's collection renamed aside is debris to the next one that can delete it.
func TestGCDeletesTrash(t *testing.T) {
	s := newStore(t)
	p := build(t, s, "kept", map[string]string{"f": "kept"})
	root(t, s, "kept", string(p))
	aside := filepath.Join(s.Dir, trashPrefix+"0000000000000000000000000000000a-x.abc")
	writeFile(t, filepath.Join(aside, "bin", "x"), "x", 0o555)
	os.Chmod(filepath.Join(aside, "bin"), 0o555)
	res := gc(t, s, false)
	if len(res.Debris) != 1 || res.Debris[0] != aside {
		t.Fatalf("debris %v, want %s", res.Debris, aside)
	}
	assertMissing(t, aside)
	assertValid(t, s, p, true)
}

// A root the collector cannot follow (here a loop; in a shared store, another user's home it may
// not read) could keep anything: the collection stops, deleting nothing and no root.
func TestGCStopsAtUnfollowableRoot(t *testing.T) {
	s := newStore(t)
	junk := build(t, s, "junk", map[string]string{"f": "junk"})
	loop := filepath.Join(t.TempDir(), "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	auto := root(t, s, "auto/loop", loop)
	_, err := s.GC(false)
	var ue *UnreadableRootError
	if !errors.As(err, &ue) || ue.Root != auto || !strings.Contains(err.Error(), "nothing was deleted") {
		t.Fatalf("got %v, want an UnreadableRootError for %s", err, auto)
	}
	assertValid(t, s, junk, true)
	if _, err := os.Lstat(auto); err != nil {
		t.Fatalf("the root went: %v", err)
	}
}

// A store this state dir may not change keeps no temp roots: nothing collects it from here.
func TestTempRootsOfForeignStore(t *testing.T) {
	s := newStore(t)
	other, err := Open(s.Dir, filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := other.TempRoots()
	if err != nil || tr != nil {
		t.Fatalf("got %v, %v; want none", tr, err)
	}
	tr.Close()
}
