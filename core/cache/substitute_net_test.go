package cache

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/den-sh/den/core/httpclient"
	"github.com/den-sh/den/core/storepath"
)

// Timeouts small enough to keep the tests fast. What the tests check is that substitution
// ends and says why, never how long it took.
var shortTimeouts = httpclient.Timeouts{Connect: 300 * time.Millisecond, Response: 300 * time.Millisecond, Stall: 300 * time.Millisecond}

// hostile serves the fixture's cache over loopback HTTP, except where bad handles a request
// (returning true); it counts requests by path. Handlers that hang are released when the
// test ends.
type hostile struct {
	srv    *httptest.Server
	counts *sync.Map
	done   chan struct{}
}

func serveHostile(t *testing.T, dir string, bad func(h *hostile, w http.ResponseWriter, r *http.Request) bool) *hostile {
	t.Helper()
	h := &hostile{counts: &sync.Map{}, done: make(chan struct{})}
	files := DirHandler(dir)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := h.counts.LoadOrStore(r.URL.Path, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		if bad == nil || !bad(h, w, r) {
			files.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(func() { close(h.done); h.srv.Close() })
	return h
}

// hang waits until the client or the test gives up.
func (h *hostile) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-h.done:
	}
}

func (h *hostile) total() int {
	n := 0
	h.counts.Range(func(_, v any) bool { n += int(v.(*atomic.Int32).Load()); return true })
	return n
}

func (h *hostile) cache(t *testing.T) Cache {
	t.Helper()
	c, err := Open(h.srv.URL, httpclient.New(shortTimeouts))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// substituteEnds substitutes p and fails the test if that does not end within a generous
// bound; it returns whether p was substituted.
func substituteEnds(t *testing.T, s *Substituter, p storepath.Path) bool {
	t.Helper()
	type result struct {
		ok  bool
		err error
	}
	ch := make(chan result, 1)
	go func() {
		ok, err := s.Substitute(context.Background(), p)
		ch <- result{ok, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Substitute(%s): %v", p.Name(), r.err)
		}
		return r.ok
	case <-time.After(time.Minute):
		t.Fatalf("Substitute(%s) never ended", p.Name())
		return false
	}
}

func wantSaid(t *testing.T, w *warnings, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(w.String()) {
			t.Errorf("warnings do not match %q:\n%s", p, w)
		}
	}
}

func TestSubstituteHungCache(t *testing.T) {
	// A cache that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	f := newFixture(t, "zstd")
	c, err := Open("http://"+ln.Addr().String(), httpclient.New(shortTimeouts))
	if err != nil {
		t.Fatal(err)
	}
	// The hung cache first, a good one after it: den gives up on the first and goes on.
	s, w := f.substituter(t, f.storeB(t), c, f.open(t, "?priority=60"))
	if !substituteEnds(t, s, f.top) {
		t.Fatalf("not substituted from the good cache:\n%s", w)
	}
	wantSaid(t, w, `cannot substitute top from http://127\.0\.0\.1:\d+: reading its nix-cache-info: .*sent no response within 300ms \(response-timeout\)`)
}

func TestSubstituteHungNarInfo(t *testing.T) {
	// nix-cache-info answers; narinfos never do. Once one look-up has run out of time, the
	// cache is asked nothing more, or every path would wait as long.
	f := newFixture(t, "zstd")
	h := serveHostile(t, f.cacheDir, func(h *hostile, w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, ".narinfo") {
			h.hang(r)
			return true
		}
		return false
	})
	s, w := f.substituter(t, f.storeB(t), h.cache(t))
	if substituteEnds(t, s, f.top) {
		t.Fatal("substituted from a cache that never answers")
	}
	wantSaid(t, w, `cannot substitute top from http://.*: .*sent no response within 300ms \(response-timeout\)`, `ran out of time; den asks it nothing more`)
	before := h.total()
	if substituteEnds(t, s, f.big) {
		t.Fatal("substituted big")
	}
	if n := h.total() - before; n != 0 {
		t.Errorf("the cache that ran out of time was asked %d more times", n)
	}
}

func TestSubstituteStalledNAR(t *testing.T) {
	// Headers and a few bytes of the NAR, then nothing.
	f := newFixture(t, "zstd")
	h := serveHostile(t, f.cacheDir, func(h *hostile, w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/nar/") {
			return false
		}
		data, _ := os.ReadFile(filepath.Join(f.cacheDir, filepath.FromSlash(r.URL.Path)))
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		h.hang(r)
		return true
	})
	s, w := f.substituter(t, f.storeB(t), h.cache(t))
	expectEnded(t, s, w, f.top, `cannot substitute dep-1\.0 from http://.*: reading nar/.*stalled: no data for 300ms \(stalled-download-timeout\)`)
}

// expectEnded is expectRejected for a substitution that must end at all.
func expectEnded(t *testing.T, s *Substituter, w *warnings, p storepath.Path, patterns ...string) {
	t.Helper()
	if substituteEnds(t, s, p) {
		t.Fatalf("substituted %s:\n%s", p.Name(), w)
	}
	wantSaid(t, w, patterns...)
	if all, err := s.Store.All(); err != nil || len(all) != 0 {
		t.Errorf("registered %v (%v), want nothing", all, err)
	}
}

// endless is the NAR file, then zeros without end; sent counts the bytes written.
func endless(f *fixture, w http.ResponseWriter, r *http.Request, sent *atomic.Int64) {
	data, _ := os.ReadFile(filepath.Join(f.cacheDir, filepath.FromSlash(r.URL.Path)))
	w.Write(data)
	zeros := make([]byte, 64<<10)
	for r.Context().Err() == nil {
		n, err := w.Write(zeros)
		sent.Add(int64(n))
		if err != nil {
			return
		}
	}
}

func TestSubstituteEndlessNAR(t *testing.T) {
	for _, tc := range []struct {
		name, compression string
		noFileSize        bool
		says              string
	}{
		{"zstd, FileSize given", "zstd", false, `nar/\S+ is larger than the \d+ bytes its narinfo allows`},
		// The zeros after the NAR's frame are no zstd frame: the decompressor says so first.
		{"zstd, no FileSize", "zstd", true, `reading nar/.*: invalid input`},
		{"uncompressed, no FileSize", "none", true, `(the NAR|nar/\S+) is larger than the \d+ bytes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.compression)
			if tc.noFileSize {
				for _, p := range []storepath.Path{f.dep, f.top} {
					f.editNarInfo(t, p, func(n *NarInfo) { n.FileSize = 0 })
				}
			}
			var sent atomic.Int64
			h := serveHostile(t, f.cacheDir, func(h *hostile, w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasPrefix(r.URL.Path, "/nar/") {
					return false
				}
				endless(f, w, r, &sent)
				return true
			})
			s, w := f.substituter(t, f.storeB(t), h.cache(t))
			expectEnded(t, s, w, f.top, `cannot substitute dep-1\.0 from http://[^:]*:\d+: `+tc.says)
			// Beyond what the narinfo allows only the socket buffers' worth was sent.
			if n := sent.Load(); n > 64<<20 {
				t.Errorf("den read on for %d bytes past the NAR", n)
			}
		})
	}
}

func TestSubstituteNarURLStaysOnCache(t *testing.T) {
	f := newFixture(t, "zstd")
	elsewhere := serveHostile(t, f.cacheDir, nil) // another host: another port of loopback
	h := serveHostile(t, f.cacheDir, nil)
	rel := f.narInfo(t, f.dep).URL
	for _, tc := range []struct {
		name, url string
		cache     func(t *testing.T) Cache
		reasons   []string
	}{{
		name:    "file URL from an http cache",
		url:     "file:///etc/passwd",
		cache:   h.cache,
		reasons: []string{`cannot substitute dep-1\.0 from http://.*: its URL file:///etc/passwd is not on this cache`},
	}, {
		name:    "another host",
		url:     elsewhere.srv.URL + "/" + rel,
		cache:   h.cache,
		reasons: []string{`its URL http://127\.0\.0\.1:\d+/nar/.* is not on this cache \(a narinfo's URL must be relative, or have the cache's own scheme and host\)`},
	}, {
		name:    "a path that climbs out of the cache",
		url:     "../../etc/passwd",
		cache:   h.cache,
		reasons: []string{`invalid cache file name "\.\./\.\./etc/passwd"`},
	}, {
		name:    "scheme-relative URL",
		url:     "//" + strings.TrimPrefix(elsewhere.srv.URL, "http://") + "/" + rel,
		cache:   h.cache,
		reasons: []string{`invalid cache file name`},
	}, {
		name:    "file URL outside a file cache",
		url:     "file:///etc/passwd",
		cache:   func(t *testing.T) Cache { return f.open(t, "") },
		reasons: []string{`its URL file:///etc/passwd is outside the cache directory`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f.editNarInfo(t, f.dep, func(n *NarInfo) { n.URL = tc.url })
			defer f.editNarInfo(t, f.dep, func(n *NarInfo) { n.URL = rel })
			s, w := f.substituter(t, f.storeB(t), tc.cache(t))
			before := elsewhere.total()
			expectEnded(t, s, w, f.top, tc.reasons...)
			if n := elsewhere.total() - before; n != 0 {
				t.Errorf("the other host was asked %d times", n)
			}
		})
	}

	// The control: absolute URLs on the cache itself are followed, inside its prefix or not.
	for _, tc := range []struct {
		name, url string
		cache     func(t *testing.T) Cache
	}{
		{"absolute, on the http cache", h.srv.URL + "/" + rel, h.cache},
		{"absolute, inside the file cache", "file://" + f.cacheDir + "/" + rel, func(t *testing.T) Cache { return f.open(t, "") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.editNarInfo(t, f.dep, func(n *NarInfo) { n.URL = tc.url })
			defer f.editNarInfo(t, f.dep, func(n *NarInfo) { n.URL = rel })
			s, w := f.substituter(t, f.storeB(t), tc.cache(t))
			if !substituteEnds(t, s, f.top) {
				t.Fatalf("not substituted:\n%s", w)
			}
		})
	}
}
