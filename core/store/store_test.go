package store

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/storepath"
)

// newStore opens a store in a fresh temp dir. The store makes its contents read-only, so the
// cleanup makes them writable again before the test's temp dir is removed.
func newStore(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "store"), filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RemoveTree(s.Dir) })
	return s
}

func writeFile(t *testing.T, name, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil { // WriteFile's mode is filtered by the umask
		t.Fatal(err)
	}
}

func addPath(t *testing.T, s *Store, src, name string) storepath.Path {
	t.Helper()
	p, err := s.AddPath(src, name)
	if err != nil {
		t.Fatalf("AddPath(%s): %v", src, err)
	}
	return p
}

func mustInfo(t *testing.T, s *Store, p storepath.Path) *PathInfo {
	t.Helper()
	info, err := s.Info(p)
	if err != nil {
		t.Fatal(err)
	}
	if info == nil {
		t.Fatalf("%s is not registered", p)
	}
	return info
}

func assertValid(t *testing.T, s *Store, p storepath.Path, want bool) {
	t.Helper()
	ok, err := s.IsValid(p)
	if err != nil {
		t.Fatal(err)
	}
	if ok != want {
		t.Fatalf("IsValid(%s) = %v, want %v", p, ok, want)
	}
}

func assertMissing(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists (err %v), want it absent", p, err)
	}
}

func stat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

// assertCanonical checks p has the given permission bits and Nix's mtime of 1.
func assertCanonical(t *testing.T, p string, perm os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSymlink == 0 && fi.Mode().Perm() != perm {
		t.Errorf("%s has mode %o, want %o", p, fi.Mode().Perm(), perm)
	}
	if !fi.ModTime().Equal(time.Unix(1, 0)) {
		t.Errorf("%s has mtime %v, want 1", p, fi.ModTime().Unix())
	}
}

// outPath is an input-addressed path named after a made-up derivation.
func outPath(t *testing.T, s *Store, name string) storepath.Path {
	t.Helper()
	p, err := storepath.Output(s.Dir, hash.Sum(hash.SHA256, []byte("derivation of "+name)), "out", name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// build makes the input-addressed path named name hold files, scanning for refs.
func build(t *testing.T, s *Store, name string, files map[string]string, refs ...storepath.Path) storepath.Path {
	t.Helper()
	p := outPath(t, s, name)
	_, err := s.Ensure(p, func(tmp string) (string, Publish, error) {
		for f, content := range files {
			writeFile(t, filepath.Join(tmp, f), content, 0o644)
		}
		if len(files) == 0 {
			os.Mkdir(tmp, 0o755)
		}
		return tmp, Publish{Candidates: refs}, nil
	})
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	return p
}

func paths(infos []PathInfo) []storepath.Path {
	out := []storepath.Path{}
	for _, i := range infos {
		out = append(out, i.Path)
	}
	return out
}

func TestAddPathFile(t *testing.T) {
	s := newStore(t)
	src := filepath.Join(t.TempDir(), "hello.txt")
	writeFile(t, src, "hello\n", 0o644)
	h, size, err := nar.Hash(src)
	if err != nil {
		t.Fatal(err)
	}
	want, err := storepath.Source(s.Dir, h, "hello.txt", nil)
	if err != nil {
		t.Fatal(err)
	}

	p := addPath(t, s, src, "hello.txt")
	if p != want {
		t.Fatalf("AddPath = %s, want %s", p, want)
	}
	assertValid(t, s, p, true)
	assertCanonical(t, string(p), 0o444)
	if data, _ := os.ReadFile(string(p)); string(data) != "hello\n" {
		t.Errorf("content = %q", data)
	}

	info := mustInfo(t, s, p)
	if info.Path != p || info.NarHash != h.String() || info.NarSize != size || info.CA != "fixed:r:"+h.String() {
		t.Errorf("info = %+v; want narHash %s, narSize %d, ca fixed:r:%s", info, h, size, h)
	}
	if !strings.HasPrefix(info.NarHash, "sha256:") || len(info.NarHash) != len("sha256:")+52 {
		t.Errorf("narHash %q is not sha256:<nix32>", info.NarHash)
	}
	if len(info.References) != 0 {
		t.Errorf("references = %v, want none", info.References)
	}
	if info.RegistrationTime == 0 {
		t.Error("no registration time")
	}

	// A second add finds the path valid and leaves it alone: same inode, same registration.
	info.RegistrationTime = 42
	if err := s.Register(*info); err != nil {
		t.Fatal(err)
	}
	ino := stat(t, string(p)).Ino
	if again := addPath(t, s, src, "hello.txt"); again != p {
		t.Fatalf("second AddPath = %s, want %s", again, p)
	}
	if stat(t, string(p)).Ino != ino {
		t.Error("second AddPath replaced the file")
	}
	if got := mustInfo(t, s, p).RegistrationTime; got != 42 {
		t.Errorf("second AddPath re-registered the path (registration time %d)", got)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir, TempDirName)); len(ents) != 0 {
		t.Errorf("temp dir not empty: %v", ents)
	}
}

func TestAddPathDir(t *testing.T) {
	s := newStore(t)
	src := filepath.Join(t.TempDir(), "tree")
	writeFile(t, filepath.Join(src, "bin", "run"), "#!/bin/sh\necho hi\n", 0o755)
	writeFile(t, filepath.Join(src, "share", "doc", "README"), "read me\n", 0o600)
	if err := os.Symlink("../share/doc/README", filepath.Join(src, "bin", "readme")); err != nil {
		t.Fatal(err)
	}
	h, size, err := nar.Hash(src)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := storepath.Source(s.Dir, h, "mytree", nil)

	p := addPath(t, s, src, "mytree")
	if p != want {
		t.Fatalf("AddPath = %s, want %s", p, want)
	}
	assertValid(t, s, p, true)
	for rel, perm := range map[string]os.FileMode{
		"": 0o555, "bin": 0o555, "share": 0o555, "share/doc": 0o555,
		"bin/run": 0o555, "share/doc/README": 0o444, "bin/readme": 0,
	} {
		assertCanonical(t, filepath.Join(string(p), rel), perm)
	}
	if target, err := os.Readlink(filepath.Join(string(p), "bin", "readme")); err != nil || target != "../share/doc/README" {
		t.Errorf("symlink = %q, %v", target, err)
	}
	// What is in the store hashes as the source did.
	if got, gotSize, err := nar.Hash(string(p)); err != nil || !got.Equal(h) || gotSize != size {
		t.Errorf("store copy hashes to %s (%d), want %s (%d); err %v", got, gotSize, h, size, err)
	}
	info := mustInfo(t, s, p)
	if info.NarHash != h.String() || info.NarSize != size || info.CA != "fixed:r:"+h.String() {
		t.Errorf("info = %+v", info)
	}

	// The name defaults to the source's base name.
	if p2 := addPath(t, s, src, ""); p2.Name() != "tree" {
		t.Errorf("default name = %s, want tree", p2.Name())
	}
}

func TestAddPathSymlink(t *testing.T) {
	s := newStore(t)
	src := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink("some/where", src); err != nil {
		t.Fatal(err)
	}
	h, _, err := nar.Hash(src)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := storepath.Source(s.Dir, h, "link", nil)
	p := addPath(t, s, src, "link")
	if p != want {
		t.Fatalf("AddPath = %s, want %s", p, want)
	}
	fi, err := os.Lstat(string(p))
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("%s is not a symlink: %v %v", p, fi, err)
	}
	if target, _ := os.Readlink(string(p)); target != "some/where" {
		t.Errorf("target = %q", target)
	}
	assertCanonical(t, string(p), 0)
	assertValid(t, s, p, true)
	if info := mustInfo(t, s, p); info.NarHash != h.String() {
		t.Errorf("narHash = %s, want %s", info.NarHash, h)
	}
}

func TestAddPathBadName(t *testing.T) {
	s := newStore(t)
	src := filepath.Join(t.TempDir(), "f")
	writeFile(t, src, "x", 0o644)
	if _, err := s.AddPath(src, "bad/name"); err == nil {
		t.Error("AddPath accepted a name with a slash")
	}
}

func TestAddFlatFile(t *testing.T) {
	s := newStore(t)
	file := filepath.Join(s.Dir, TempDirName, "download")
	writeFile(t, file, "tarball bytes", 0o644)
	h := hash.Sum(hash.SHA256, []byte("tarball bytes"))
	want, err := storepath.FixedFlat(s.Dir, h, "src.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.AddFlatFile(file, h, "src.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if p != want {
		t.Fatalf("AddFlatFile = %s, want %s", p, want)
	}
	assertMissing(t, file) // consumed
	assertValid(t, s, p, true)
	assertCanonical(t, string(p), 0o444)
	if data, _ := os.ReadFile(string(p)); string(data) != "tarball bytes" {
		t.Errorf("content = %q", data)
	}
	info := mustInfo(t, s, p)
	if info.CA != "fixed:"+h.String() {
		t.Errorf("ca = %q", info.CA)
	}
	if nh, _, _ := nar.Hash(string(p)); info.NarHash != nh.String() {
		t.Errorf("narHash = %s, want %s", info.NarHash, nh)
	}
}

func TestAddText(t *testing.T) {
	s := newStore(t)
	dep := build(t, s, "dep", map[string]string{"x": "x"})
	content := []byte("Derive(input " + string(dep) + ")\n")
	h := hash.Sum(hash.SHA256, content)
	want, err := storepath.Text(s.Dir, h, "thing.drv", []storepath.Path{dep})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.AddText("thing.drv", content, []storepath.Path{dep})
	if err != nil {
		t.Fatal(err)
	}
	if p != want {
		t.Fatalf("AddText = %s, want %s", p, want)
	}
	assertCanonical(t, string(p), 0o444)
	info := mustInfo(t, s, p)
	if !reflect.DeepEqual(info.References, []storepath.Path{dep}) {
		t.Errorf("references = %v, want [%s]", info.References, dep)
	}
	if info.CA != "text:"+h.String() {
		t.Errorf("ca = %q", info.CA)
	}
	if data, _ := os.ReadFile(string(p)); string(data) != string(content) {
		t.Errorf("content = %q", data)
	}

	// A reference that is not valid cannot be registered.
	ghost := outPath(t, s, "ghost")
	if _, err := s.AddText("other.drv", []byte(string(ghost)), []storepath.Path{ghost}); err == nil {
		t.Error("AddText registered a path referencing an invalid path")
	}
}

func TestRegisterRefusesInvalidReference(t *testing.T) {
	s := newStore(t)
	a, b := outPath(t, s, "a"), outPath(t, s, "b")
	err := s.Register(PathInfo{Path: a, NarHash: "sha256:x", References: []storepath.Path{b}})
	if err == nil || !strings.Contains(err.Error(), "is not valid") {
		t.Fatalf("Register = %v, want a refusal", err)
	}
	if info, _ := s.Info(a); info != nil {
		t.Fatal("a was registered anyway")
	}
	// Within one batch, paths may reference each other; references are stored sorted.
	c := outPath(t, s, "c")
	if err := s.Register(PathInfo{Path: a, References: []storepath.Path{c, b}}, PathInfo{Path: b}, PathInfo{Path: c}); err != nil {
		t.Fatal(err)
	}
	refs := mustInfo(t, s, a).References
	if !(len(refs) == 2 && refs[0] < refs[1]) {
		t.Errorf("references = %v, want b and c sorted", refs)
	}
}

func TestClosureAndSortTopo(t *testing.T) {
	s := newStore(t)
	c := build(t, s, "c", map[string]string{"f": "leaf"})
	b := build(t, s, "b", map[string]string{"f": "uses " + string(c)}, c)
	a := build(t, s, "a", map[string]string{"f": "uses " + string(b)}, b, c) // c is a candidate but not used
	other := build(t, s, "other", map[string]string{"f": "unrelated"})

	if refs := mustInfo(t, s, a).References; !reflect.DeepEqual(refs, []storepath.Path{b}) {
		t.Errorf("references of a = %v, want only b", refs)
	}
	cl, err := s.Closure(a)
	if err != nil {
		t.Fatal(err)
	}
	got := paths(cl)
	want := []storepath.Path{a, b, c}
	sortPaths(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Closure(a) = %v, want %v", got, want)
	}
	for _, p := range got {
		if p == other {
			t.Error("closure holds an unrelated path")
		}
	}
	if cl, _ := s.Closure(c); !reflect.DeepEqual(paths(cl), []storepath.Path{c}) {
		t.Errorf("Closure(c) = %v", paths(cl))
	}

	var nv *NotValidError
	if _, err := s.Closure(outPath(t, s, "ghost")); !errors.As(err, &nv) {
		t.Errorf("Closure of an invalid path: %v, want NotValidError", err)
	}

	all, _ := s.All()
	// Whatever the input order, references come first.
	for _, in := range [][]PathInfo{cl, reverse(all), all} {
		sorted := SortTopo(in)
		if len(sorted) != len(in) {
			t.Fatalf("SortTopo returned %d of %d", len(sorted), len(in))
		}
		pos := map[storepath.Path]int{}
		for i, info := range sorted {
			pos[info.Path] = i
		}
		for _, info := range sorted {
			for _, r := range info.References {
				if rp, ok := pos[r]; ok && rp > pos[info.Path] {
					t.Errorf("SortTopo put %s after %s, which references it", r, info.Path)
				}
			}
		}
	}
	full, _ := s.Closure(a)
	if order := paths(SortTopo(reverse(full))); !reflect.DeepEqual(order, []storepath.Path{c, b, a}) {
		t.Errorf("SortTopo = %v, want c, b, a", order)
	}
}

func sortPaths(ps []storepath.Path) {
	for i := range ps {
		for j := i + 1; j < len(ps); j++ {
			if ps[j] < ps[i] {
				ps[i], ps[j] = ps[j], ps[i]
			}
		}
	}
}

func reverse(in []PathInfo) []PathInfo {
	out := make([]PathInfo, len(in))
	for i, x := range in {
		out[len(in)-1-i] = x
	}
	return out
}

func TestParsePath(t *testing.T) {
	s := newStore(t)
	p := outPath(t, s, "tool")
	for _, in := range []string{string(p), string(p) + "/bin/go", string(p) + "/"} {
		if got, err := s.ParsePath(in); err != nil || got != p {
			t.Errorf("ParsePath(%q) = %q, %v; want %s", in, got, err, p)
		}
	}
	for _, in := range []string{"/etc/passwd", s.Dir, filepath.Dir(s.Dir) + "/x", s.Dir + "/not-a-store-path"} {
		if got, err := s.ParsePath(in); err == nil {
			t.Errorf("ParsePath(%q) = %q, want an error", in, got)
		}
	}
}

func TestEnsureOnce(t *testing.T) {
	s := newStore(t)
	p := outPath(t, s, "once")
	var calls, made atomic.Int32
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			m, err := s.Ensure(p, func(tmp string) (string, Publish, error) {
				calls.Add(1)
				time.Sleep(50 * time.Millisecond) // let the others pile up on the lock
				if err := os.Mkdir(tmp, 0o755); err != nil {
					return tmp, Publish{}, err
				}
				return tmp, Publish{}, os.WriteFile(filepath.Join(tmp, "f"), []byte("made"), 0o644)
			})
			if m {
				made.Add(1)
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 1 || made.Load() != 1 {
		t.Fatalf("make ran %d times, %d callers reported making it; want 1 and 1", calls.Load(), made.Load())
	}
	assertValid(t, s, p, true)
	if data, _ := os.ReadFile(filepath.Join(string(p), "f")); string(data) != "made" {
		t.Errorf("content = %q", data)
	}
}

func TestEnsureFailure(t *testing.T) {
	s := newStore(t)
	p := outPath(t, s, "fails")
	boom := errors.New("boom")

	// Failing in the temp dir.
	var tmpSeen string
	made, err := s.Ensure(p, func(tmp string) (string, Publish, error) {
		tmpSeen = tmp
		writeFile(t, filepath.Join(tmp, "half"), "half", 0o644)
		return tmp, Publish{}, boom
	})
	if !errors.Is(err, boom) || made {
		t.Fatalf("Ensure = %v, %v; want boom", made, err)
	}
	assertValid(t, s, p, false)
	assertMissing(t, string(p))
	assertMissing(t, tmpSeen)

	// Failing in place, as a build without a sandbox does.
	_, err = s.Ensure(p, func(tmp string) (string, Publish, error) {
		writeFile(t, filepath.Join(string(p), "half"), "half", 0o644)
		return string(p), Publish{}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Ensure = %v, want boom", err)
	}
	assertValid(t, s, p, false)
	assertMissing(t, string(p))

	// Failing at publication (a content hash mismatch).
	wrong := hash.Sum(hash.SHA256, []byte("something else"))
	_, err = s.Ensure(p, func(tmp string) (string, Publish, error) {
		writeFile(t, tmp, "content", 0o644)
		return tmp, Publish{WantNarHash: &wrong}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "hash mismatch") {
		t.Fatalf("Ensure = %v, want a hash mismatch", err)
	}
	assertValid(t, s, p, false)
	assertMissing(t, string(p))
	if ents, _ := os.ReadDir(filepath.Join(s.Dir, TempDirName)); len(ents) != 0 {
		t.Errorf("temp dir not empty: %v", ents)
	}
}

func TestEnsureCleansDebris(t *testing.T) {
	s := newStore(t)
	p := outPath(t, s, "debris")

	// A build that dies in place leaves an unregistered, read-only directory at the final path,
	// and a temp directory named after the path.
	_, err := s.Ensure(p, func(tmp string) (string, Publish, error) {
		writeFile(t, filepath.Join(string(p), "sub", "stale"), "stale", 0o444)
		os.Chmod(filepath.Join(string(p), "sub"), 0o555)
		return tmp, Publish{}, errors.New("killed")
	})
	if err == nil {
		t.Fatal("Ensure succeeded")
	}
	oldTmp, err := s.NewTemp(p.HashPart())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(oldTmp, "out", "x"), "x", 0o644)
	if _, err := os.Stat(string(p)); err != nil {
		t.Fatalf("debris not in place: %v", err)
	}
	assertValid(t, s, p, false)

	// The next realize runs in place too: its mkdir fails unless the debris is gone.
	made, err := s.Ensure(p, func(tmp string) (string, Publish, error) {
		if err := os.Mkdir(string(p), 0o755); err != nil {
			return string(p), Publish{}, err
		}
		return string(p), Publish{}, os.WriteFile(filepath.Join(string(p), "fresh"), []byte("fresh"), 0o644)
	})
	if err != nil || !made {
		t.Fatalf("Ensure = %v, %v", made, err)
	}
	assertValid(t, s, p, true)
	assertMissing(t, filepath.Join(string(p), "sub"))
	assertMissing(t, oldTmp)
	assertCanonical(t, filepath.Join(string(p), "fresh"), 0o444)
	assertCanonical(t, string(p), 0o555)
}

// The trees of Nix's tests/functional/add.sh (test_add_symlink: my-bin -> /bin, added as a
// symlink) and of issue 15 are the user's own data: den store add keeps every link as written,
// where a build output with the same links is refused (TestPublishRejects). The paths equal
// nix-store --add's; testdata/script/store_add_nix.txtar compares them with Nix itself.
func TestAddPathKeepsLinksAnywhere(t *testing.T) {
	s := newStore(t)
	src := t.TempDir()
	tree := filepath.Join(src, "tree")
	writeFile(t, filepath.Join(tree, ".gitignore"), "*.o\n", 0o644)
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	inTree := map[string]string{"abs": "/absolute/target", "bin": "/bin", "up": "..", "sub/up": "..", "sub/upup": "../.."}
	top := map[string]string{"my-bin": "/bin", "dangling": "/absolute/target", "dotdot": ".."}
	for dir, links := range map[string]map[string]string{tree: inTree, src: top} {
		for link, target := range links {
			if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
				t.Fatal(err)
			}
		}
	}
	added := map[string]storepath.Path{}
	for name, from := range map[string]string{"tree": tree, ".gitignore": filepath.Join(tree, ".gitignore"),
		"my-bin": filepath.Join(src, "my-bin"), "dangling": filepath.Join(src, "dangling"), "dotdot": filepath.Join(src, "dotdot")} {
		h, _, err := nar.Hash(from)
		if err != nil {
			t.Fatal(err)
		}
		want, err := storepath.Source(s.Dir, h, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p := addPath(t, s, from, name); p != want {
			t.Errorf("AddPath(%s) = %s, want %s", name, p, want)
		}
		added[name] = want
	}
	for name, target := range top {
		if got, err := os.Readlink(string(added[name])); err != nil || got != target {
			t.Errorf("%s links to %q (%v), want %q", added[name], got, err, target)
		}
	}
	for link, target := range inTree {
		if got, err := os.Readlink(filepath.Join(string(added["tree"]), link)); err != nil || got != target {
			t.Errorf("tree/%s links to %q (%v), want %q", link, got, err, target)
		}
	}
	if bad, err := s.Verify(true, nil); err != nil || len(bad) != 0 {
		t.Errorf("Verify = %v, %v", bad, err)
	}
}

func TestPublishRejects(t *testing.T) {
	s := newStore(t)
	for _, tc := range []struct {
		name, want string
		fill       func(out string) error
	}{
		{"abs-outside", "outside the store", func(out string) error {
			return os.Symlink("/etc/passwd", filepath.Join(out, "escape"))
		}},
		{"abs-store-prefix", "outside the store", func(out string) error {
			return os.Symlink(s.Dir+"-other/x", filepath.Join(out, "escape"))
		}},
		{"relative-dotdot", "outside the output", func(out string) error {
			os.Mkdir(filepath.Join(out, "sub"), 0o755)
			return os.Symlink("../../x", filepath.Join(out, "sub", "escape"))
		}},
		{"fifo", "a store path holds only files, directories and symlinks", func(out string) error {
			return syscall.Mkfifo(filepath.Join(out, "pipe"), 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := outPath(t, s, tc.name)
			_, err := s.Ensure(p, func(tmp string) (string, Publish, error) {
				if err := os.Mkdir(tmp, 0o755); err != nil {
					return tmp, Publish{}, err
				}
				return tmp, Publish{}, tc.fill(tmp)
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Ensure = %v, want an error saying %q", err, tc.want)
			}
			assertValid(t, s, p, false)
			assertMissing(t, string(p))
		})
	}

	// Links that stay inside the output or the store are fine.
	other := build(t, s, "other", map[string]string{"f": "x"})
	p := outPath(t, s, "links")
	_, err := s.Ensure(p, func(tmp string) (string, Publish, error) {
		writeFile(t, filepath.Join(tmp, "lib", "libx.so"), "elf", 0o755)
		for link, target := range map[string]string{
			"bin/x":   "../lib/libx.so",
			"dangles": "nothing/here",
			"store":   string(other) + "/f",
			"self":    string(p) + "/lib",
		} {
			os.MkdirAll(filepath.Dir(filepath.Join(tmp, link)), 0o755)
			if err := os.Symlink(target, filepath.Join(tmp, link)); err != nil {
				return tmp, Publish{}, err
			}
		}
		return tmp, Publish{Candidates: []storepath.Path{other}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	assertValid(t, s, p, true)
	info := mustInfo(t, s, p)
	want := []storepath.Path{other, p}
	sortPaths(want)
	if !reflect.DeepEqual(info.References, want) {
		t.Errorf("references = %v, want %v (symlink targets count)", info.References, want)
	}
}

func TestPublishReferences(t *testing.T) {
	s := newStore(t)
	dep := build(t, s, "dep", map[string]string{"lib/data": "data"})
	unused := build(t, s, "unused", map[string]string{"f": "unused"})
	p := outPath(t, s, "app")
	tmp, err := s.NewTemp(p.HashPart())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	writeFile(t, filepath.Join(out, "config"), "data="+string(dep)+"/lib/data\nme="+string(p)+"\n", 0o644)
	// A hash part alone is a reference too: it is what Nix scans for.
	writeFile(t, filepath.Join(out, "bin", "app"), "#!/bin/sh\n# "+p.HashPart()+"\n", 0o755)
	info, err := s.Publish(out, p, Publish{Candidates: []storepath.Path{dep, unused}, Deriver: outPath(t, s, "app.drv")})
	if err != nil {
		t.Fatal(err)
	}
	want := []storepath.Path{dep, p}
	sortPaths(want)
	if !reflect.DeepEqual(info.References, want) {
		t.Errorf("references = %v, want %v", info.References, want)
	}
	reg := mustInfo(t, s, p)
	if !reflect.DeepEqual(reg.References, want) || reg.Deriver != outPath(t, s, "app.drv") {
		t.Errorf("registered %+v", reg)
	}
	if h, size, _ := nar.Hash(string(p)); reg.NarHash != h.String() || reg.NarSize != size {
		t.Errorf("registered narHash %s/%d, store has %s/%d", reg.NarHash, reg.NarSize, h, size)
	}
	assertMissing(t, out)
	assertCanonical(t, filepath.Join(string(p), "bin", "app"), 0o555)
	assertCanonical(t, filepath.Join(string(p), "bin"), 0o555)
	assertCanonical(t, filepath.Join(string(p), "config"), 0o444)

	// A dependency is kept alive by the path that references it.
	root(t, s, "app", string(p))
	res, err := s.GC(false)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Deleted, []storepath.Path{unused}) {
		t.Errorf("GC deleted %v, want only %s", res.Deleted, unused)
	}
}

func TestPublishNoOutput(t *testing.T) {
	s := newStore(t)
	p := outPath(t, s, "nothing")
	_, err := s.Ensure(p, func(tmp string) (string, Publish, error) { return tmp, Publish{}, nil })
	if err == nil || !strings.Contains(err.Error(), "no output was produced") {
		t.Fatalf("Ensure = %v", err)
	}
	assertValid(t, s, p, false)
}

func TestPublishSubstituted(t *testing.T) {
	s := newStore(t)
	dep := build(t, s, "dep", map[string]string{"f": "dep"})
	p := outPath(t, s, "substituted")
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "bin", "tool"), "#!/bin/sh\n", 0o755)
	h, size, err := nar.Hash(src)
	if err != nil {
		t.Fatal(err)
	}
	// The registration is taken as given: the references are the narinfo's (including the path
	// itself, as Nix lists them), not what a scan of the tree would find.
	want := PathInfo{Path: p, NarHash: h.String(), NarSize: size, References: []storepath.Path{p, dep},
		Deriver: outPath(t, s, "substituted.drv"), Signatures: []string{"cache-1:c2ln"}}
	fill := func(info PathInfo) func(tmp string) (string, Publish, error) {
		return func(tmp string) (string, Publish, error) {
			if err := os.CopyFS(tmp, os.DirFS(src)); err != nil {
				return tmp, Publish{}, err
			}
			return tmp, Publish{Substituted: &info}, nil
		}
	}

	for _, bad := range []struct {
		name string
		info PathInfo
		msg  string
	}{
		{"another path", PathInfo{Path: dep, NarHash: want.NarHash, NarSize: size}, "registration is for"},
		{"no hash", PathInfo{Path: p, NarSize: size}, "no valid NAR hash"},
		{"reference elsewhere", PathInfo{Path: p, NarHash: want.NarHash, NarSize: size, References: []storepath.Path{storepath.Path("/elsewhere/" + dep.Base())}}, "not in the store"},
		{"invalid reference", PathInfo{Path: p, NarHash: want.NarHash, NarSize: size, References: []storepath.Path{outPath(t, s, "missing")}}, "is not valid"},
	} {
		_, err := s.Ensure(p, fill(bad.info))
		if err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%s: Ensure error = %v, want one saying %q", bad.name, err, bad.msg)
		}
		assertValid(t, s, p, false)
		assertMissing(t, string(p))
	}

	if _, err := s.Ensure(p, fill(want)); err != nil {
		t.Fatal(err)
	}
	got := mustInfo(t, s, p)
	got.RegistrationTime = 0
	sortPaths(want.References)
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("registered %+v, want %+v", *got, want)
	}
	assertCanonical(t, filepath.Join(string(p), "bin", "tool"), 0o555)
	assertCanonical(t, filepath.Join(string(p), "bin"), 0o555)
}
