package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/den-sh/den/core/storepath"
)

func TestOptimise(t *testing.T) {
	s := newStore(t)
	shared := strings.Repeat("shared bytes\n", 100)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a", "share", "data"), shared, 0o644)
	writeFile(t, filepath.Join(src, "a", "only-a"), "a", 0o644)
	writeFile(t, filepath.Join(src, "b", "data"), shared, 0o644)
	writeFile(t, filepath.Join(src, "b", "only-b"), "b", 0o644)
	writeFile(t, filepath.Join(src, "c", "data"), shared, 0o755) // same bytes, executable
	a := addPath(t, s, filepath.Join(src, "a"), "a")
	b := addPath(t, s, filepath.Join(src, "b"), "b")
	c := addPath(t, s, filepath.Join(src, "c"), "c")
	aData := filepath.Join(string(a), "share", "data")
	bData := filepath.Join(string(b), "data")
	cData := filepath.Join(string(c), "data")
	before := map[storepath.Path]string{}
	for _, p := range []storepath.Path{a, b, c} {
		before[p] = mustInfo(t, s, p).NarHash
	}

	res, err := s.Optimise()
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 1 || res.Saved != int64(len(shared)) {
		t.Errorf("Optimise = %+v, want 1 file and %d bytes", res, len(shared))
	}
	sa, sb, sc := stat(t, aData), stat(t, bData), stat(t, cData)
	if sa.Ino != sb.Ino || sa.Dev != sb.Dev {
		t.Errorf("identical files not linked: inodes %d and %d", sa.Ino, sb.Ino)
	}
	if sc.Ino == sa.Ino {
		t.Error("the executable copy was linked to the non-executable ones")
	}
	if sa.Nlink != 3 { // a, b and .links
		t.Errorf("shared file has %d links, want 3", sa.Nlink)
	}
	assertCanonical(t, aData, 0o444)
	assertCanonical(t, cData, 0o555)
	// The directories whose entries were swapped are read-only with mtime 1 again, and no
	// temp link is left behind.
	assertCanonical(t, string(b), 0o555)
	assertCanonical(t, filepath.Join(string(a), "share"), 0o555)
	for _, d := range []string{string(a), filepath.Join(string(a), "share"), string(b), string(c)} {
		assertMissing(t, filepath.Join(d, ".den-link-tmp"))
	}

	// Contents and hashes are unchanged.
	for _, p := range []storepath.Path{a, b, c} {
		if got := mustInfo(t, s, p).NarHash; got != before[p] {
			t.Errorf("%s: narHash %s became %s", p, before[p], got)
		}
	}
	probs, err := s.Verify(true, nil)
	if err != nil || len(probs) != 0 {
		t.Fatalf("Verify after Optimise: %v, %v", probs, err)
	}
	if data, _ := os.ReadFile(bData); string(data) != shared {
		t.Error("content of b/data changed")
	}

	// A second run has nothing left to do.
	res, err = s.Optimise()
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 0 || res.Saved != 0 {
		t.Errorf("second Optimise = %+v, want nothing", res)
	}

	// GC keeps a; b and c go, and with them the link-farm entries only they used. What stays in
	// .links is exactly a's files.
	root(t, s, "a", string(a))
	links := filepath.Join(s.Dir, ".links")
	if n := countEntries(t, links); n != 4 { // shared, exec shared, only-a, only-b
		t.Fatalf(".links holds %d entries before GC, want 4", n)
	}
	gcRes := gc(t, s, false)
	assertDeleted(t, gcRes, b, c)
	if n := countEntries(t, links); n != 2 {
		t.Errorf(".links holds %d entries after GC, want 2 (a's files)", n)
	}
	ents, _ := os.ReadDir(links)
	for _, e := range ents {
		if st := stat(t, filepath.Join(links, e.Name())); st.Nlink != 2 {
			t.Errorf(".links/%s has %d links, want 2", e.Name(), st.Nlink)
		}
	}
	if st := stat(t, aData); st.Nlink != 2 {
		t.Errorf("a's shared file has %d links, want 2", st.Nlink)
	}
	probs, err = s.Verify(true, nil)
	if err != nil || len(probs) != 0 {
		t.Fatalf("Verify after GC: %v, %v", probs, err)
	}
	// What was freed: c's executable copy and b's own file; b's link to the shared file freed
	// nothing, since a still uses it.
	if want := int64(len(shared) + len("b")); gcRes.Bytes != want {
		t.Errorf("GC reports %d bytes freed, want %d", gcRes.Bytes, want)
	}

	// Deleting the last user frees the shared file once, not once per link.
	os.Remove(filepath.Join(s.GCRootsDir(), "a"))
	gcRes = gc(t, s, false)
	assertDeleted(t, gcRes, a)
	if n := countEntries(t, links); n != 0 {
		t.Errorf(".links holds %d entries after the last GC, want 0", n)
	}
	if want := int64(len(shared) + len("a")); gcRes.Bytes != want {
		t.Errorf("GC reports %d bytes freed, want %d", gcRes.Bytes, want)
	}
}

func countEntries(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
