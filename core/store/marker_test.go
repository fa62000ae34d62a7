package store

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/den-sh/den/core/storepath"
	"golang.org/x/sys/unix"
)

func readFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// listDir is every name under dir, recursively, to compare a directory before and after.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestOpenMarksNewAndEmptyStores(t *testing.T) {
	for _, existing := range []bool{false, true} {
		dir := t.TempDir()
		storeDir, state := filepath.Join(dir, "store"), filepath.Join(dir, "state")
		if existing {
			if err := os.Mkdir(storeDir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		s, err := Open(storeDir, state)
		if err != nil {
			t.Fatal(err)
		}
		m, err := readMarker(filepath.Join(storeDir, MarkerName))
		if err != nil {
			t.Fatalf("existing=%v: no marker: %v", existing, err)
		}
		if m.State != state {
			t.Errorf("marker names state dir %q, want %q", m.State, state)
		}
		src := filepath.Join(dir, "f")
		writeFile(t, src, "x", 0o644)
		p := addPath(t, s, src, "f")
		assertDeleted(t, gc(t, s, false), p)
		RemoveTree(storeDir)
	}
}

// TestGCRefusesNonDenDir is DEN_STORE=~/thesis den store gc: the directory is not den's, so
// nothing in it is deleted, not even what looks like a store path, and nothing is added to it.
func TestGCRefusesNonDenDir(t *testing.T) {
	dir := t.TempDir()
	thesis := filepath.Join(dir, "thesis")
	writeFile(t, filepath.Join(thesis, "chapter1.tex"), "\\chapter{One}", 0o644)
	writeFile(t, filepath.Join(thesis, "figures", "plot.pdf"), "%PDF", 0o644)
	writeFile(t, filepath.Join(thesis, "0123456789abcdfghijklmnpqrsvwxyz-notes", "n.txt"), "notes", 0o644)
	before := listDir(t, thesis)

	s, err := Open(thesis, filepath.Join(dir, "state"))
	if err != nil {
		t.Fatalf("Open, for reading, failed: %v", err)
	}
	var ns *NotStoreError
	for _, dry := range []bool{true, false} {
		if _, err := s.GC(dry); !errors.As(err, &ns) {
			t.Fatalf("GC(dryRun=%v) = %v, want a *NotStoreError", dry, err)
		}
	}
	if !strings.Contains(ns.Error(), thesis+" is not a den store") || len(ns.Hints()) == 0 {
		t.Errorf("error %q, hints %q", ns.Error(), ns.Hints())
	}
	src := filepath.Join(dir, "f")
	writeFile(t, src, "x", 0o644)
	if _, err := s.AddPath(src, "f"); !errors.As(err, &ns) {
		t.Fatalf("AddPath = %v, want a *NotStoreError", err)
	}
	if _, err := s.Adding(); !errors.As(err, &ns) {
		t.Fatalf("Adding = %v, want a *NotStoreError", err)
	}
	// Reading is fine: there is just nothing registered.
	if info, err := s.Info(storepath.Path(filepath.Join(thesis, "0123456789abcdfghijklmnpqrsvwxyz-notes"))); err != nil || info != nil {
		t.Errorf("Info = %v, %v", info, err)
	}
	if after := listDir(t, thesis); !reflect.DeepEqual(after, before) {
		t.Errorf("the directory changed:\nbefore %q\nafter  %q", before, after)
	}
}

// TestStoreOneStateDir: a path registered only in A's database looked like debris to B's
// collection. B now may not change A's store at all.
func TestStoreOneStateDir(t *testing.T) {
	dir := t.TempDir()
	storeDir, stateA, stateB := filepath.Join(dir, "store"), filepath.Join(dir, "a"), filepath.Join(dir, "b")
	a, err := Open(storeDir, stateA)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RemoveTree(storeDir) })
	pa := build(t, a, "of-a", map[string]string{"f": "a"})
	root(t, a, "keep", string(pa))

	b, err := Open(storeDir, stateB)
	if err != nil {
		t.Fatalf("Open with another state dir, for reading, failed: %v", err)
	}
	var fe *ForeignStoreError
	for _, dry := range []bool{true, false} {
		if _, err := b.GC(dry); !errors.As(err, &fe) {
			t.Fatalf("B's GC(dryRun=%v) = %v, want a *ForeignStoreError", dry, err)
		}
	}
	if want := "store " + storeDir + " belongs to the state dir " + stateA + ", not " + stateB; fe.Error() != want {
		t.Errorf("error %q, want %q", fe.Error(), want)
	}
	if h := strings.Join(fe.Hints(), "\n"); !strings.Contains(h, "DEN_STATE="+stateA) || !strings.Contains(h, "DEN_STORE") {
		t.Errorf("hints %q", h)
	}
	src := filepath.Join(dir, "f")
	writeFile(t, src, "b", 0o644)
	if _, err := b.AddPath(src, "f"); !errors.As(err, &fe) {
		t.Fatalf("B's AddPath = %v, want a *ForeignStoreError", err)
	}
	if err := b.Register(PathInfo{Path: pa, NarHash: "sha256:x"}); !errors.As(err, &fe) {
		t.Fatalf("B's Register = %v, want a *ForeignStoreError", err)
	}
	assertValid(t, a, pa, true)
	if ok, err := b.IsValid(pa); ok || err != nil {
		t.Errorf("B's IsValid = %v, %v; B's database knows nothing", ok, err)
	}
	assertDeleted(t, gc(t, a, false))
	assertValid(t, a, pa, true)

	// The owner spelled through a symlink is the owner.
	link := filepath.Join(dir, "a-link")
	if err := os.Symlink(stateA, link); err != nil {
		t.Fatal(err)
	}
	a2, err := Open(storeDir, link)
	if err != nil {
		t.Fatal(err)
	}
	assertDeleted(t, gc(t, a2, false))
	assertValid(t, a2, pa, true)
}

// TestOpenAdoptsPreMarkerStore: a store from before markers holds paths its state dir's database
// knows, and is adopted; the same directory seen from a state dir that knows none of it is not.
func TestOpenAdoptsPreMarkerStore(t *testing.T) {
	dir := t.TempDir()
	storeDir, state := filepath.Join(dir, "store"), filepath.Join(dir, "state")
	s, err := Open(storeDir, state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RemoveTree(storeDir) })
	p := build(t, s, "old", map[string]string{"f": "old"})
	junk := build(t, s, "junk", map[string]string{"f": "junk"})
	root(t, s, "keep", string(p))
	if err := os.Remove(filepath.Join(storeDir, MarkerName)); err != nil {
		t.Fatal(err)
	}

	other, err := Open(storeDir, filepath.Join(dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	var ns *NotStoreError
	if _, err := other.GC(false); !errors.As(err, &ns) {
		t.Fatalf("GC from a state dir that knows nothing of the store = %v, want a *NotStoreError", err)
	}
	assertValid(t, s, junk, true)

	s, err = Open(storeDir, state)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := readMarker(filepath.Join(storeDir, MarkerName)); err != nil || m.State != state {
		t.Fatalf("marker %+v, %v", m, err)
	}
	assertDeleted(t, gc(t, s, false), junk)
	assertValid(t, s, p, true)
}

func TestOpenRefusesBadMarker(t *testing.T) {
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	writeFile(t, filepath.Join(storeDir, MarkerName), "{\"state\": \"relative\"}", 0o644)
	s, err := Open(storeDir, filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	var bm *BadMarkerError
	if _, err := s.GC(true); !errors.As(err, &bm) {
		t.Fatalf("GC = %v, want a *BadMarkerError", err)
	}
}

// TestGCDryRunListsDebris: debris is listed, things den did not make are kept and reported, and
// build dirs whose lock a build holds stay.
func TestGCDryRunListsDebris(t *testing.T) {
	s := newStore(t)
	keep := build(t, s, "keep", map[string]string{"f": "keep"})
	root(t, s, "keep", string(keep))
	dead := build(t, s, "dead", map[string]string{"f": "dead"})

	killed := string(outPath(t, s, "killed"))
	writeFile(t, filepath.Join(killed, "x"), strings.Repeat("k", 300), 0o644)
	tmp, err := s.NewTemp("somehash")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tmp, "out"), "partial", 0o644)
	notes := filepath.Join(s.Dir, "notes.txt")
	writeFile(t, notes, "mine", 0o644)
	oddDir := filepath.Join(s.Dir, "not-a-store-path")
	writeFile(t, filepath.Join(oddDir, "f"), "mine", 0o644)

	stale := filepath.Join(s.BuildsDir(), "hash1-111")
	writeFile(t, filepath.Join(stale, BuildLockName), "", 0o644)
	writeFile(t, filepath.Join(stale, "source", "main.c"), "int main;", 0o644)
	noLock := filepath.Join(s.BuildsDir(), "hash2-222")
	writeFile(t, filepath.Join(noLock, "x"), "x", 0o644)
	running := filepath.Join(s.BuildsDir(), "hash3-333")
	writeFile(t, filepath.Join(running, BuildLockName), "", 0o644)
	lf, err := os.Open(filepath.Join(running, BuildLockName))
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	wantDebris := []string{tmp, killed, noLock, stale}
	sort.Strings(wantDebris)
	wantKept := []string{notes, oddDir}
	sort.Strings(wantKept)
	check := func(res *GCResult) {
		t.Helper()
		assertDeleted(t, res, dead)
		debris := append([]string{}, res.Debris...)
		sort.Strings(debris)
		if !reflect.DeepEqual(debris, wantDebris) {
			t.Errorf("debris %q, want %q", debris, wantDebris)
		}
		kept := append([]string{}, res.Kept...)
		sort.Strings(kept)
		if !reflect.DeepEqual(kept, wantKept) {
			t.Errorf("kept %q, want %q", kept, wantKept)
		}
		if res.Bytes < 300 {
			t.Errorf("bytes %d, want at least the debris's 300", res.Bytes)
		}
	}
	check(gc(t, s, true))
	for _, p := range append(wantDebris, string(dead)) {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("dry run deleted %s", p)
		}
	}

	check(gc(t, s, false))
	for _, p := range append(wantDebris, string(dead)) {
		assertMissing(t, p)
	}
	for _, p := range append(wantKept, running, filepath.Join(running, BuildLockName)) {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("GC deleted %s: %v", p, err)
		}
	}
	assertValid(t, s, keep, true)
	if got := readFile(t, notes); got != "mine" {
		t.Errorf("notes.txt holds %q", got)
	}
}

// TestGCOnlyItsStore: a state dir may own two store dirs; collecting one leaves the other's
// paths, which no root of the first reaches, alone.
func TestGCOnlyItsStore(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	x, err := Open(filepath.Join(dir, "x"), state)
	if err != nil {
		t.Fatal(err)
	}
	y, err := Open(filepath.Join(dir, "y"), state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RemoveTree(x.Dir); RemoveTree(y.Dir) })
	px := build(t, x, "px", map[string]string{"f": "x"})
	py := build(t, y, "py", map[string]string{"f": "y"})
	assertDeleted(t, gc(t, x, false), px)
	assertValid(t, y, py, true)
	assertDeleted(t, gc(t, y, false), py)
}

// TestGCDuringBuild: a collection that starts while a build runs neither deletes the build's
// work in progress nor what the building process holds as temp roots: the path it builds and a
// path it built before (den build prints every target at the end).
func TestGCDuringBuild(t *testing.T) {
	s := newStore(t)
	tr, err := s.TempRoots()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	first := build(t, s, "first", map[string]string{"f": "first"})
	if err := tr.Add(first); err != nil {
		t.Fatal(err)
	}
	second := outPath(t, s, "second")
	if err := tr.Add(second); err != nil {
		t.Fatal(err)
	}
	started, release := make(chan string), make(chan struct{})
	built := make(chan error)
	go func() {
		_, err := s.Ensure(second, func(tmp string) (string, Publish, error) {
			if err := os.MkdirAll(tmp, 0o755); err != nil {
				return "", Publish{}, err
			}
			started <- tmp
			<-release
			return tmp, Publish{}, os.WriteFile(filepath.Join(tmp, "f"), []byte("second"), 0o644)
		})
		built <- err
	}()
	tmp := <-started
	collected := make(chan *GCResult)
	go func() {
		res, err := s.GC(false)
		if err != nil {
			t.Error(err)
		}
		collected <- res
	}()
	// Give a collection that did not wait for the build the time to do its damage.
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("the build's temp dir went while it ran: %v", err)
	}
	close(release)
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	res := <-collected
	if res != nil {
		assertDeleted(t, res)
	}
	assertValid(t, s, first, true)
	assertValid(t, s, second, true)

	tr.Close()
	assertDeleted(t, gc(t, s, false), first, second)
}
