package store

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/den-sh/den/core/storepath"
)

// root makes the GC root gcroots/<name> pointing at target.
func root(t *testing.T, s *Store, name, target string) string {
	t.Helper()
	link := filepath.Join(s.GCRootsDir(), name)
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

func gc(t *testing.T, s *Store, dryRun bool) *GCResult {
	t.Helper()
	res, err := s.GC(dryRun)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func assertDeleted(t *testing.T, res *GCResult, want ...storepath.Path) {
	t.Helper()
	if want == nil {
		want = []storepath.Path{}
	}
	sortPaths(want)
	got := append([]storepath.Path{}, res.Deleted...)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GC deleted %v, want %v", got, want)
	}
}

func TestGCDirectRoots(t *testing.T) {
	s := newStore(t)
	lib := build(t, s, "lib", map[string]string{"lib/libx": strings.Repeat("L", 1000)})
	app := build(t, s, "app", map[string]string{"bin/app": "uses " + string(lib)}, lib)
	tool := build(t, s, "tool", map[string]string{"bin/tool": "tool"})
	junk := build(t, s, "junk", map[string]string{"f": strings.Repeat("J", 3000)})

	root(t, s, "app", string(app))
	root(t, s, "nested/tool", string(tool)+"/bin/tool") // a file inside a store path roots the path

	roots, err := s.Roots()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := roots[app]; !ok {
		t.Errorf("roots %v lack %s", roots, app)
	}
	if _, ok := roots[tool]; !ok {
		t.Errorf("roots %v lack %s", roots, tool)
	}

	dry := gc(t, s, true)
	assertDeleted(t, dry, junk)
	if dry.Bytes < 3000 {
		t.Errorf("dry run reports %d bytes, want at least 3000", dry.Bytes)
	}
	assertValid(t, s, junk, true)

	res := gc(t, s, false)
	assertDeleted(t, res, junk)
	if res.Bytes < 3000 {
		t.Errorf("GC reports %d bytes, want at least 3000", res.Bytes)
	}
	assertMissing(t, string(junk))
	assertValid(t, s, junk, false)
	for _, p := range []storepath.Path{app, lib, tool} {
		assertValid(t, s, p, true)
	}

	// Nothing more to collect.
	assertDeleted(t, gc(t, s, false))
}

func TestGCIndirectRoot(t *testing.T) {
	s := newStore(t)
	p := build(t, s, "env", map[string]string{"f": "env"})
	project := t.TempDir()
	link := filepath.Join(project, "link")
	if err := os.Symlink(string(p), link); err != nil {
		t.Fatal(err)
	}
	auto := root(t, s, "auto/x", link)

	assertDeleted(t, gc(t, s, false))
	assertValid(t, s, p, true)
	if _, err := os.Lstat(auto); err != nil {
		t.Fatalf("live indirect root removed: %v", err)
	}

	// The project's link goes: the path is garbage and the dangling root is removed.
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	assertDeleted(t, gc(t, s, false), p)
	assertValid(t, s, p, false)
	assertMissing(t, string(p))
	assertMissing(t, auto)
}

func TestGCDanglingDirectRootKept(t *testing.T) {
	s := newStore(t)
	p := build(t, s, "gone", map[string]string{"f": "x"})
	direct := root(t, s, "mine", string(p))
	RemoveTree(string(p)) // damaged store: the root dangles
	gc(t, s, false)
	// Only indirect (auto) roots are the collector's to remove.
	if _, err := os.Lstat(direct); err != nil {
		t.Errorf("direct root removed: %v", err)
	}
}

func TestGCTempRoots(t *testing.T) {
	s := newStore(t)
	p := build(t, s, "inuse", map[string]string{"f": "x"})
	tr, err := s.TempRoots()
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Add(p); err != nil {
		t.Fatal(err)
	}
	if err := tr.Add(p); err != nil { // twice is once
		t.Fatal(err)
	}
	assertDeleted(t, gc(t, s, false))
	assertValid(t, s, p, true)

	tr.Close()
	assertDeleted(t, gc(t, s, false), p)
	assertMissing(t, string(p))

	// A nil TempRoots (no store opened) is a no-op.
	var none *TempRoots
	if err := none.Add(p); err != nil {
		t.Error(err)
	}
	none.Close()
}

func TestGCDeadProcessTempRoots(t *testing.T) {
	s := newStore(t)
	p := build(t, s, "orphan", map[string]string{"f": "x"})
	// A temp-roots file nobody holds locked belongs to a process that is gone.
	stale := filepath.Join(s.StateDir, "temproots", "999999999")
	writeFile(t, stale, string(p)+"\n", 0o644)
	assertDeleted(t, gc(t, s, false), p)
	assertMissing(t, stale)
}

func TestGCDebris(t *testing.T) {
	s := newStore(t)
	keep := build(t, s, "keep", map[string]string{"f": "keep"})
	root(t, s, "keep", string(keep))

	// An unregistered directory in the store (a killed in-place build), read-only as a killed
	// publish can leave it, and leftovers in the temp area.
	debris := string(outPath(t, s, "killed"))
	writeFile(t, filepath.Join(debris, "bin", "x"), strings.Repeat("d", 500), 0o444)
	os.Chmod(filepath.Join(debris, "bin"), 0o555)
	os.Chmod(debris, 0o555)
	tmp, err := s.NewTemp("somehash")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tmp, "out", "y"), "y", 0o644)

	dry := gc(t, s, true)
	assertDeleted(t, dry)
	if _, err := os.Stat(debris); err != nil {
		t.Fatalf("dry run removed debris: %v", err)
	}

	res := gc(t, s, false)
	assertDeleted(t, res) // debris was never a valid path
	assertMissing(t, debris)
	assertMissing(t, tmp)
	if res.Bytes < 500 {
		t.Errorf("GC reports %d bytes, want at least the 500 of the debris", res.Bytes)
	}
	assertValid(t, s, keep, true)
	// The store's own directories survive.
	if _, err := os.Stat(filepath.Join(s.Dir, TempDirName)); err != nil {
		t.Error(err)
	}
}

func TestGCWaitsForAdders(t *testing.T) {
	s := newStore(t)
	unlock, err := s.Adding()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.GC(true)
	}()
	select {
	case <-done:
		t.Fatal("GC ran while a path was being added")
	case <-time.After(200 * time.Millisecond):
	}
	unlock()
	<-done
}
