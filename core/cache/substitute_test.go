package cache

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// fixture is a cache written from store A, whose directories are gone by the time the test
// substitutes into a fresh store B at the same store dir (a store dir is part of every path).
type fixture struct {
	root     string
	storeDir string
	cacheDir string
	key      SecretKey
	dep, top storepath.Path // top references dep
	big      storepath.Path // several pipe chunks
	infos    map[storepath.Path]store.PathInfo
}

func newFixture(t *testing.T, compression string) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{root: root, storeDir: filepath.Join(root, "store"), cacheDir: filepath.Join(root, "cache"), infos: map[storepath.Path]store.PathInfo{}}
	a, err := store.Open(f.storeDir, filepath.Join(root, "stateA"))
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "src")
	write := func(name, content string, mode os.FileMode) {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("bin/tool", "#!/bin/sh\necho hello dep\n", 0o755)
	write("share/doc/README", "hello dep readme\n", 0o644)
	write("share/empty", "", 0o644)
	if err := os.Symlink("../share/doc/README", filepath.Join(src, "bin", "readme")); err != nil {
		t.Fatal(err)
	}
	if f.dep, err = a.AddPath(src, "dep-1.0"); err != nil {
		t.Fatal(err)
	}
	if f.top, err = a.AddText("top", []byte("uses "+string(f.dep)+"/bin/tool\n"), []storepath.Path{f.dep}); err != nil {
		t.Fatal(err)
	}
	bigSrc := filepath.Join(root, "big")
	noise := make([]byte, 3<<20)
	rand.Read(noise)
	if err := os.WriteFile(bigSrc, noise, 0o644); err != nil {
		t.Fatal(err)
	}
	if f.big, err = a.AddPath(bigSrc, "big"); err != nil {
		t.Fatal(err)
	}
	if f.key, err = GenerateKey("test-cache-1"); err != nil {
		t.Fatal(err)
	}
	c := f.open(t, "")
	if _, _, err := Push(context.Background(), a, c, []storepath.Path{f.top, f.big}, PushOptions{Key: &f.key, Compression: compression}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []storepath.Path{f.dep, f.top, f.big} {
		info, err := a.Info(p)
		if err != nil || info == nil {
			t.Fatalf("store A has no %s: %v", p, err)
		}
		f.infos[p] = *info
	}
	if err := store.RemoveTree(f.storeDir); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) open(t *testing.T, query string) Cache {
	t.Helper()
	c, err := Open("file://"+f.cacheDir+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// storeB opens a fresh store at the fixture's store dir.
func (f *fixture) storeB(t *testing.T) *store.Store {
	t.Helper()
	state, err := os.MkdirTemp(f.root, "stateB")
	if err != nil {
		t.Fatal(err)
	}
	b, err := store.Open(f.storeDir, state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(f.storeDir) })
	return b
}

// warnings collects Warn's lines.
type warnings struct {
	mu    sync.Mutex
	lines []string
}

func (w *warnings) add(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, msg)
}

func (w *warnings) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

func (f *fixture) substituter(t *testing.T, st *store.Store, caches ...Cache) (*Substituter, *warnings) {
	t.Helper()
	if caches == nil {
		caches = []Cache{f.open(t, "")}
	}
	w := &warnings{}
	return &Substituter{Store: st, Caches: caches, Keys: []PublicKey{f.key.Public()}, Warn: w.add}, w
}

// narInfoFile reads, edits and writes back the cache's narinfo for p.
func (f *fixture) editNarInfo(t *testing.T, p storepath.Path, edit func(n *NarInfo)) {
	t.Helper()
	name := filepath.Join(f.cacheDir, p.HashPart()+".narinfo")
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ParseNarInfo(data, f.storeDir)
	if err != nil {
		t.Fatal(err)
	}
	edit(n)
	if err := os.WriteFile(name, n.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) narInfo(t *testing.T, p storepath.Path) *NarInfo {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.cacheDir, p.HashPart()+".narinfo"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := ParseNarInfo(data, f.storeDir)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSubstitute(t *testing.T) {
	for _, compression := range []string{"zstd", "xz", "none"} {
		t.Run(compression, func(t *testing.T) {
			f := newFixture(t, compression)
			b := f.storeB(t)
			s, w := f.substituter(t, b)
			for _, p := range []storepath.Path{f.top, f.big} {
				ok, err := s.Substitute(context.Background(), p)
				if err != nil || !ok {
					t.Fatalf("Substitute(%s) = %v, %v; warnings:\n%s", p.Name(), ok, err, w)
				}
			}
			if w.String() != "" {
				t.Errorf("unexpected warnings:\n%s", w)
			}
			for p, want := range f.infos {
				got, err := b.Info(p)
				if err != nil || got == nil {
					t.Fatalf("%s not registered: %v", p.Name(), err)
				}
				if got.NarHash != want.NarHash || got.NarSize != want.NarSize || !reflect.DeepEqual(got.References, want.References) || got.CA != want.CA {
					t.Errorf("%s registered as %+v, store A had %+v", p.Name(), got, want)
				}
				if len(got.Signatures) != 1 || !strings.HasPrefix(got.Signatures[0], "test-cache-1:") {
					t.Errorf("%s signatures = %q, want the cache's", p.Name(), got.Signatures)
				}
				// The tree on disk is the NAR that was verified.
				h, size, err := nar.Hash(string(p))
				if err != nil || h.String() != want.NarHash || size != want.NarSize {
					t.Errorf("%s on disk hashes to %s (%d bytes), want %s: %v", p.Name(), h, size, want.NarHash, err)
				}
			}
			fi, err := os.Stat(filepath.Join(string(f.dep), "bin", "tool"))
			if err != nil || fi.Mode().Perm() != 0o555 || fi.ModTime().Unix() != 1 {
				t.Errorf("substituted file is not canonical: %v %v", fi.Mode(), err)
			}
			// A second look is a no-op.
			if ok, err := s.Substitute(context.Background(), f.top); !ok || err != nil {
				t.Errorf("second Substitute = %v, %v", ok, err)
			}
		})
	}
}

// expectRejected checks that substituting p fails with a warning containing each of reasons and
// that nothing was registered or left in the store.
func expectRejected(t *testing.T, s *Substituter, w *warnings, p storepath.Path, reasons ...string) {
	t.Helper()
	ok, err := s.Substitute(context.Background(), p)
	if err != nil || ok {
		t.Fatalf("Substitute = %v, %v; want false, nil", ok, err)
	}
	t.Logf("warnings:\n%s", w)
	for _, r := range reasons {
		if !strings.Contains(w.String(), r) {
			t.Errorf("warnings do not say %q:\n%s", r, w)
		}
	}
	if !strings.Contains(w.String(), "cannot substitute ") {
		t.Errorf("warnings do not say what they could not substitute:\n%s", w)
	}
	all, err := s.Store.All()
	if err != nil || len(all) != 0 {
		t.Errorf("registered %v (%v), want nothing", all, err)
	}
	ents, _ := os.ReadDir(s.Store.Dir)
	for _, e := range ents {
		if e.Name() != store.TempDirName && e.Name() != store.MarkerName {
			t.Errorf("store holds %s after a rejected substitution", e.Name())
		}
	}
	tmp, _ := os.ReadDir(filepath.Join(s.Store.Dir, store.TempDirName))
	if len(tmp) != 0 {
		t.Errorf("temp area holds %d entries after a rejected substitution", len(tmp))
	}
}

// flip changes one byte of the file at name: the first byte of needle, or the middle byte.
func flip(t *testing.T, name, needle string) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	i := len(data) / 2
	if needle != "" {
		if i = bytes.Index(data, []byte(needle)); i < 0 {
			t.Fatalf("%s does not hold %q", name, needle)
		}
	}
	data[i] ^= 0x20
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSubstituteRejects(t *testing.T) {
	other, err := GenerateKey("someone-else-1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		compression string
		tamper      func(t *testing.T, f *fixture)
		reasons     []string
	}{{
		name: "flipped byte in a compressed NAR",
		tamper: func(t *testing.T, f *fixture) {
			flip(t, filepath.Join(f.cacheDir, f.narInfo(t, f.dep).URL), "")
		},
		reasons: []string{"dep-1.0 from file://", "reading nar/"},
	}, {
		name:        "flipped byte in the NAR's contents",
		compression: "none",
		tamper: func(t *testing.T, f *fixture) {
			// Without FileHash and FileSize only the NAR's own hash can catch it.
			f.editNarInfo(t, f.dep, func(n *NarInfo) { n.FileHash, n.FileSize = hash.Hash{}, 0 })
			flip(t, filepath.Join(f.cacheDir, f.narInfo(t, f.dep).URL), "hello dep readme")
		},
		reasons: []string{"hash mismatch in the NAR", "NarHash"},
	}, {
		name:        "flipped byte in the NAR's structure",
		compression: "none",
		tamper: func(t *testing.T, f *fixture) {
			f.editNarInfo(t, f.dep, func(n *NarInfo) { n.FileHash, n.FileSize = hash.Hash{}, 0 })
			flip(t, filepath.Join(f.cacheDir, f.narInfo(t, f.dep).URL), "directory")
		},
		reasons: []string{"the NAR is invalid"},
	}, {
		name: "NarSize too small",
		tamper: func(t *testing.T, f *fixture) {
			f.editNarInfo(t, f.dep, func(n *NarInfo) { n.NarSize -= 8; n.Sigs = nil; n.Sign(f.key) })
		},
		reasons: []string{"larger than", "NarSize"},
	}, {
		name: "NarSize too large",
		tamper: func(t *testing.T, f *fixture) {
			f.editNarInfo(t, f.dep, func(n *NarInfo) { n.NarSize += 8; n.Sigs = nil; n.Sign(f.key) })
		},
		reasons: []string{"its narinfo says NarSize"},
	}, {
		name: "NarSize changed after signing",
		tamper: func(t *testing.T, f *fixture) {
			f.editNarInfo(t, f.dep, func(n *NarInfo) { n.NarSize += 8 })
		},
		reasons: []string{"signature by test-cache-1 is invalid"},
	}, {
		name: "signed by an untrusted key",
		tamper: func(t *testing.T, f *fixture) {
			f.editNarInfo(t, f.top, func(n *NarInfo) { n.Sigs = nil; n.Sign(other) })
		},
		reasons: []string{"top from file://", "no signature by a trusted key", "someone-else-1"},
	}, {
		name: "no signature",
		tamper: func(t *testing.T, f *fixture) {
			f.editNarInfo(t, f.top, func(n *NarInfo) { n.Sigs = nil })
		},
		reasons: []string{"not signed"},
	}, {
		name: "narinfo for another path",
		tamper: func(t *testing.T, f *fixture) {
			data, err := os.ReadFile(filepath.Join(f.cacheDir, f.dep.HashPart()+".narinfo"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(f.cacheDir, f.top.HashPart()+".narinfo"), data, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		reasons: []string{"top from file://", "describes"},
	}, {
		name: "cache for another store dir",
		tamper: func(t *testing.T, f *fixture) {
			ci := &CacheInfo{StoreDir: "/elsewhere/store", WantMassQuery: true}
			if err := os.WriteFile(filepath.Join(f.cacheDir, "nix-cache-info"), ci.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		reasons: []string{"/elsewhere/store", "this store's"},
	}, {
		name: "reference missing from the cache",
		tamper: func(t *testing.T, f *fixture) {
			if err := os.Remove(filepath.Join(f.cacheDir, f.dep.HashPart()+".narinfo")); err != nil {
				t.Fatal(err)
			}
		},
		reasons: []string{"cannot substitute top from file://", "its reference dep-1.0", "in no cache"},
	}, {
		name: "NAR file missing",
		tamper: func(t *testing.T, f *fixture) {
			if err := os.Remove(filepath.Join(f.cacheDir, f.narInfo(t, f.dep).URL)); err != nil {
				t.Fatal(err)
			}
		},
		reasons: []string{"not in the cache"},
	}, {
		// The CA is not signed: a cache that changes it is caught by what it must agree with.
		name: "CA with another NAR hash",
		tamper: func(t *testing.T, f *fixture) {
			f.editNarInfo(t, f.dep, func(n *NarInfo) { n.CA = "fixed:r:" + hash.Sum(hash.SHA256, []byte("other")).String() })
		},
		reasons: []string{"dep-1.0 from file://", "its CA fixed:r:sha256:", "does not match its NarHash"},
	}, {
		name: "CA of another path",
		tamper: func(t *testing.T, f *fixture) {
			f.editNarInfo(t, f.top, func(n *NarInfo) { n.CA = "text:" + hash.Sum(hash.SHA256, []byte("other text")).String() })
		},
		reasons: []string{"top from file://", "its CA text:sha256:", "is not the content address of"},
	}, {
		name: "flat CA on a path with references",
		tamper: func(t *testing.T, f *fixture) {
			f.editNarInfo(t, f.top, func(n *NarInfo) { n.CA = "fixed:" + hash.Sum(hash.SHA256, []byte("uses")).String() })
		},
		reasons: []string{"is for a single file, which has no references"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			compression := tc.compression
			if compression == "" {
				compression = "zstd"
			}
			f := newFixture(t, compression)
			tc.tamper(t, f)
			b := f.storeB(t)
			s, w := f.substituter(t, b)
			expectRejected(t, s, w, f.top, tc.reasons...)
		})
	}
}

// countingCache counts Gets of NAR files.
type countingCache struct {
	Cache
	nars atomic.Int32
}

func (c *countingCache) Get(ctx context.Context, name string) (rc io.ReadCloser, err error) {
	if strings.HasPrefix(name, "nar/") {
		c.nars.Add(1)
	}
	return c.Cache.Get(ctx, name)
}

func TestSubstitutePriority(t *testing.T) {
	f := newFixture(t, "zstd")
	// A second cache directory with the same content.
	second := filepath.Join(f.root, "cache2")
	if err := os.CopyFS(second, os.DirFS(f.cacheDir)); err != nil {
		t.Fatal(err)
	}
	openAt := func(dir, query string) *countingCache {
		c, err := Open("file://"+dir+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		return &countingCache{Cache: c}
	}

	t.Run("lower first", func(t *testing.T) {
		worse, better := openAt(f.cacheDir, "?priority=40"), openAt(second, "?priority=20")
		s, w := f.substituter(t, f.storeB(t), worse, better)
		if ok, err := s.Substitute(context.Background(), f.top); !ok || err != nil {
			t.Fatalf("Substitute = %v, %v:\n%s", ok, err, w)
		}
		if worse.nars.Load() != 0 || better.nars.Load() != 2 {
			t.Errorf("NARs fetched: %d from priority 40, %d from priority 20; want 0 and 2", worse.nars.Load(), better.nars.Load())
		}
	})

	t.Run("equal priorities keep their order", func(t *testing.T) {
		first, then := openAt(second, ""), openAt(f.cacheDir, "")
		s, w := f.substituter(t, f.storeB(t), first, then)
		if ok, err := s.Substitute(context.Background(), f.top); !ok || err != nil {
			t.Fatalf("Substitute = %v, %v:\n%s", ok, err, w)
		}
		if first.nars.Load() != 2 || then.nars.Load() != 0 {
			t.Errorf("NARs fetched: %d from the first, %d from the second; want 2 and 0", first.nars.Load(), then.nars.Load())
		}
	})

	t.Run("falls back to the next cache", func(t *testing.T) {
		// The better cache's copy of dep is corrupt: it is said, and the worse cache's is used.
		dir := filepath.Join(f.root, "cache3")
		if err := os.CopyFS(dir, os.DirFS(f.cacheDir)); err != nil {
			t.Fatal(err)
		}
		flip(t, filepath.Join(dir, f.narInfo(t, f.dep).URL), "")
		worse, better := openAt(f.cacheDir, "?priority=40"), openAt(dir, "?priority=10")
		s, w := f.substituter(t, f.storeB(t), worse, better)
		if ok, err := s.Substitute(context.Background(), f.top); !ok || err != nil {
			t.Fatalf("Substitute = %v, %v:\n%s", ok, err, w)
		}
		if want := "cannot substitute dep-1.0 from file://" + dir + ": reading nar/"; !strings.Contains(w.String(), want) {
			t.Errorf("warnings do not say %q:\n%s", want, w)
		}
		if worse.nars.Load() != 1 || better.nars.Load() != 2 {
			t.Errorf("NARs fetched: %d from the fallback, %d from the better cache; want 1 and 2", worse.nars.Load(), better.nars.Load())
		}
		info, err := s.Store.Info(f.dep)
		if err != nil || info == nil || info.NarHash != f.infos[f.dep].NarHash {
			t.Errorf("dep registered as %+v, %v", info, err)
		}
	})
}

// serveCache serves the fixture's cache over loopback HTTP and counts requests by name.
func serveCache(t *testing.T, dir string) (*httptest.Server, *sync.Map) {
	counts := &sync.Map{}
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := counts.LoadOrStore(r.URL.Path, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, counts
}

func count(m *sync.Map, path string) int32 {
	n, ok := m.Load(path)
	if !ok {
		return 0
	}
	return n.(*atomic.Int32).Load()
}

func TestSubstituteHTTP(t *testing.T) {
	f := newFixture(t, "zstd")
	srv, counts := serveCache(t, f.cacheDir)
	c, err := Open(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	s, w := f.substituter(t, f.storeB(t), c)
	if ok, err := s.Substitute(context.Background(), f.top); !ok || err != nil {
		t.Fatalf("Substitute = %v, %v:\n%s", ok, err, w)
	}
	if n := count(counts, "/nix-cache-info"); n != 1 {
		t.Errorf("nix-cache-info fetched %d times, want once", n)
	}
}

func TestSubstituteNegativeCache(t *testing.T) {
	f := newFixture(t, "zstd")
	srv, counts := serveCache(t, f.cacheDir)
	missing, err := storepath.Parse(f.storeDir, f.storeDir+"/"+strings.Repeat("a", 32)+"-missing")
	if err != nil {
		t.Fatal(err)
	}
	name := "/" + missing.HashPart() + ".narinfo"
	b := f.storeB(t)
	state := t.TempDir()
	ask := func() {
		t.Helper()
		c, err := Open(srv.URL, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		// A new Substituter each time: another den process, sharing only StateDir.
		s, w := f.substituter(t, b, c)
		s.StateDir = state
		if ok, err := s.Substitute(context.Background(), missing); ok || err != nil {
			t.Fatalf("Substitute = %v, %v, want false, nil", ok, err)
		}
		if w.String() != "" {
			t.Errorf("a path no cache has is not worth a warning:\n%s", w)
		}
	}
	ask()
	ask()
	if n := count(counts, name); n != 1 {
		t.Errorf("narinfo asked %d times within the TTL, want once", n)
	}
	// Once the TTL is over, the cache is asked again.
	ents, _ := filepath.Glob(filepath.Join(state, "narinfo-cache", "*", missing.HashPart()))
	if len(ents) != 1 {
		t.Fatalf("negative answers on disk: %v", ents)
	}
	old := time.Now().Add(-2 * DefaultNegativeTTL)
	if err := os.Chtimes(ents[0], old, old); err != nil {
		t.Fatal(err)
	}
	ask()
	if n := count(counts, name); n != 2 {
		t.Errorf("narinfo asked %d times after the TTL, want twice", n)
	}
}

func TestSubstituteOffline(t *testing.T) {
	f := newFixture(t, "zstd")
	srv, counts := serveCache(t, f.cacheDir)
	c, err := Open(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	b := f.storeB(t)
	s, _ := f.substituter(t, b, c)
	s.Offline = true
	if ok, err := s.Substitute(context.Background(), f.top); ok || err != nil {
		t.Fatalf("offline Substitute from http = %v, %v, want false, nil", ok, err)
	}
	total := 0
	counts.Range(func(k, v any) bool { total += int(v.(*atomic.Int32).Load()); return true })
	if total != 0 {
		t.Errorf("offline substituter made %d requests", total)
	}
	// A file:// cache is still used offline.
	s, w := f.substituter(t, b, c, f.open(t, ""))
	s.Offline = true
	if ok, err := s.Substitute(context.Background(), f.top); !ok || err != nil {
		t.Fatalf("offline Substitute from file = %v, %v:\n%s", ok, err, w)
	}
}

func TestSubstituteConcurrent(t *testing.T) {
	// Two processes (two Substituters) substituting the same closure download each NAR once.
	f := newFixture(t, "zstd")
	b := f.storeB(t)
	c := &countingCache{Cache: f.open(t, "")}
	var wg sync.WaitGroup
	for range 2 {
		other, err := store.Open(f.storeDir, b.StateDir)
		if err != nil {
			t.Fatal(err)
		}
		s, w := f.substituter(t, other, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := s.Substitute(context.Background(), f.top); !ok || err != nil {
				t.Errorf("Substitute = %v, %v:\n%s", ok, err, w)
			}
		}()
	}
	wg.Wait()
	if n := c.nars.Load(); n != 2 {
		t.Errorf("%d NAR downloads for a closure of 2 paths", n)
	}
}

func TestSubstituteFailureRemembered(t *testing.T) {
	// A path whose every copy was rejected is not fetched, nor its rejection said, again in the
	// same process: the builder asks for it again when it falls back to building its referrer.
	f := newFixture(t, "zstd")
	flip(t, filepath.Join(f.cacheDir, f.narInfo(t, f.dep).URL), "")
	c := &countingCache{Cache: f.open(t, "")}
	s, w := f.substituter(t, f.storeB(t), c)
	if ok, err := s.Substitute(context.Background(), f.top); ok || err != nil {
		t.Fatalf("Substitute(top) = %v, %v", ok, err)
	}
	said, fetched := w.String(), c.nars.Load()
	if !strings.Contains(said, "cannot substitute dep-1.0") || fetched != 1 {
		t.Fatalf("first attempt: %d NAR fetches, warnings:\n%s", fetched, said)
	}
	for _, p := range []storepath.Path{f.dep, f.top} {
		if ok, err := s.Substitute(context.Background(), p); ok || err != nil {
			t.Fatalf("Substitute(%s) again = %v, %v", p.Name(), ok, err)
		}
	}
	if w.String() != said || c.nars.Load() != fetched {
		t.Errorf("asking again fetched %d more NARs and said:\n%s", c.nars.Load()-fetched, strings.TrimPrefix(w.String(), said))
	}
	// The rest of the cache is still used.
	if ok, err := s.Substitute(context.Background(), f.big); !ok || err != nil {
		t.Errorf("Substitute(big) = %v, %v:\n%s", ok, err, w)
	}
}

func TestSubstituteCancelled(t *testing.T) {
	f := newFixture(t, "zstd")
	s, _ := f.substituter(t, f.storeB(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, err := s.Substitute(ctx, f.top); ok || !errors.Is(err, context.Canceled) {
		t.Fatalf("Substitute with a cancelled context = %v, %v", ok, err)
	}
	if all, _ := s.Store.All(); len(all) != 0 {
		t.Errorf("registered %v", all)
	}
	// The cancellation is not remembered as the cache's failure.
	if ok, err := s.Substitute(context.Background(), f.top); !ok || err != nil {
		t.Errorf("Substitute after the cancellation = %v, %v", ok, err)
	}
}

// addFlat adds content as a flat fixed-output file (a download) to a store at the fixture's
// store dir and pushes it, signed, to the fixture's cache.
func (f *fixture) addFlat(t *testing.T, name, content string) storepath.Path {
	t.Helper()
	a, err := store.Open(f.storeDir, filepath.Join(f.root, "stateFlat"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := a.AddFlatFile(file, hash.Sum(hash.SHA256, []byte(content)), name)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Push(context.Background(), a, f.open(t, ""), []storepath.Path{p}, PushOptions{Key: &f.key}); err != nil {
		t.Fatal(err)
	}
	if err := store.RemoveTree(f.storeDir); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSubstituteCA(t *testing.T) {
	f := newFixture(t, "zstd")
	real := f.addFlat(t, "src.tar", "the real source\n")
	fake := f.addFlat(t, "fake.tar", "a trojan\n")
	if ca := f.narInfo(t, real).CA; !strings.HasPrefix(ca, "fixed:sha256:") {
		t.Fatalf("a flat file was pushed with CA %q", ca)
	}

	t.Run("kept when it checks out", func(t *testing.T) {
		s, w := f.substituter(t, f.storeB(t))
		for _, p := range []storepath.Path{real, f.top} {
			if ok, err := s.Substitute(context.Background(), p); !ok || err != nil {
				t.Fatalf("Substitute(%s) = %v, %v:\n%s", p.Name(), ok, err, w)
			}
		}
		for p, want := range map[storepath.Path]string{real: f.narInfo(t, real).CA, f.dep: f.infos[f.dep].CA, f.top: f.infos[f.top].CA} {
			if info, _ := s.Store.Info(p); info == nil || info.CA != want || want == "" {
				t.Errorf("%s recorded with CA %+v, want %q", p.Name(), info, want)
			}
		}
	})

	t.Run("a CA den cannot check is dropped", func(t *testing.T) {
		f.editNarInfo(t, f.dep, func(n *NarInfo) { n.CA = "gotoolchain:h1:abc=" })
		defer f.editNarInfo(t, f.dep, func(n *NarInfo) { n.CA = f.infos[f.dep].CA })
		s, w := f.substituter(t, f.storeB(t))
		if ok, err := s.Substitute(context.Background(), f.dep); !ok || err != nil {
			t.Fatalf("Substitute = %v, %v:\n%s", ok, err, w)
		}
		if info, _ := s.Store.Info(f.dep); info == nil || info.CA != "" {
			t.Errorf("dep recorded with CA %+v, want none", info)
		}
	})

	t.Run("a file that is not the CA's content", func(t *testing.T) {
		// The signer vouches for real's path with fake's NAR: the path agrees with the CA, the
		// NAR with NarHash, but the file in it is not the one the CA names.
		fakeInfo := f.narInfo(t, fake)
		f.editNarInfo(t, real, func(n *NarInfo) {
			n.URL, n.Compression, n.FileHash, n.FileSize = fakeInfo.URL, fakeInfo.Compression, fakeInfo.FileHash, fakeInfo.FileSize
			n.NarHash, n.NarSize = fakeInfo.NarHash, fakeInfo.NarSize
			n.Sigs = nil
			n.Sign(f.key)
		})
		s, w := f.substituter(t, f.storeB(t))
		expectRejected(t, s, w, real, "src.tar from file://", "the file in the NAR hashes to", "not to the fixed:sha256:")
	})
}

func TestSubstituteDeriver(t *testing.T) {
	// The deriver is not signed either: a valid one is recorded, anything else dropped.
	f := newFixture(t, "zstd")
	drv, err := storepath.Text(f.storeDir, hash.Sum(hash.SHA256, []byte("drv")), "dep-1.0.drv", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ deriver, want string }{
		{drv.Base(), string(drv)},
		{"../../../etc/passwd", ""},
		{f.top.Base(), ""}, // a store path, but not a derivation
		{strings.Repeat("e", 32) + "-x.drv", ""},
	} {
		name := filepath.Join(f.cacheDir, f.dep.HashPart()+".narinfo")
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		var kept []string
		for _, l := range lines {
			if !strings.HasPrefix(l, "Deriver:") {
				kept = append(kept, l)
			}
		}
		kept = append(kept, "Deriver: "+tc.deriver)
		if err := os.WriteFile(name, []byte(strings.Join(kept, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		s, w := f.substituter(t, f.storeB(t))
		if ok, err := s.Substitute(context.Background(), f.dep); !ok || err != nil {
			t.Fatalf("Deriver %s: Substitute = %v, %v:\n%s", tc.deriver, ok, err, w)
		}
		if info, _ := s.Store.Info(f.dep); info == nil || string(info.Deriver) != tc.want {
			t.Errorf("Deriver %s recorded as %+v, want %q", tc.deriver, info, tc.want)
		}
		store.RemoveTree(f.storeDir)
	}
}
