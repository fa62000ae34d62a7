package fetch

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/den-sh/den/core/hash"
)

var payload = bytes.Repeat([]byte("den fetch payload\n"), 5000)

// server serves payload at /good, corrupted bytes at /bad, 404 elsewhere, and counts requests.
func server(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	hits := new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/good", "/good.tar.gz":
			w.Write(payload)
		case "/bad":
			bad := bytes.Clone(payload)
			bad[100] ^= 1
			w.Write(bad)
		case "/auth":
			if r.Header.Get("Authorization") != "Bearer s3cret" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
			w.Write(payload)
		case "/gzip-labelled":
			// A server that labels a compressed file as compressed transfer encoding.
			if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				w.Header().Set("Content-Encoding", "gzip")
			}
			w.Write(payload)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

func mustParse(t *testing.T, s string) hash.Hash {
	t.Helper()
	h, err := hash.Parse(s, "")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// dirEmpty fails the test if dir holds anything, since a failed fetch must leave nothing behind.
func dirEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("%s holds %d files after a failed fetch", dir, len(ents))
	}
}

func checkResult(t *testing.T, res Result, wantURL string) {
	t.Helper()
	b, err := os.ReadFile(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, payload) || res.Size != int64(len(payload)) {
		t.Errorf("got %d bytes (Size %d), want the %d-byte payload", len(b), res.Size, len(payload))
	}
	if res.URL != wantURL {
		t.Errorf("URL = %q, want %q", res.URL, wantURL)
	}
}

func TestFetchHashSpellings(t *testing.T) {
	srv, _ := server(t)
	for _, algo := range []hash.Algo{hash.SHA256, hash.SHA512} {
		h := hash.Sum(algo, payload)
		for _, spelling := range []string{h.SRI(), string(algo) + ":" + h.Nix32(), string(algo) + ":" + h.Hex()} {
			t.Run(spelling[:12], func(t *testing.T) {
				dir := t.TempDir()
				res, err := Fetch(context.Background(), Request{URLs: []string{srv.URL + "/good"}, Hash: mustParse(t, spelling), Dir: dir})
				if err != nil {
					t.Fatal(err)
				}
				checkResult(t, res, srv.URL+"/good")
				if filepath.Dir(res.Path) != dir {
					t.Errorf("Path %s is not in Dir %s", res.Path, dir)
				}
			})
		}
	}
}

func TestFetchWrongHash(t *testing.T) {
	srv, _ := server(t)
	dir := t.TempDir()
	want := hash.Sum(hash.SHA256, []byte("something else"))
	_, err := Fetch(context.Background(), Request{URLs: []string{srv.URL + "/good"}, Hash: want, Dir: dir})
	var hm *HashMismatchError
	if !errors.As(err, &hm) {
		t.Fatalf("Fetch = %v, want *HashMismatchError", err)
	}
	got := hash.Sum(hash.SHA256, payload)
	wantMsg := "fetch " + srv.URL + "/good: hash mismatch: expected " + want.SRI() + ", got " + got.SRI()
	if err.Error() != wantMsg {
		t.Errorf("error %q, want %q", err, wantMsg)
	}
	dirEmpty(t, dir)
}

func TestFetchMirrors(t *testing.T) {
	srv, _ := server(t)
	h := hash.Sum(hash.SHA256, payload)
	for _, tc := range []struct {
		name  string
		first string
	}{
		{"404 then ok", "/missing"},
		{"corrupt then ok", "/bad"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			res, err := Fetch(context.Background(), Request{URLs: []string{srv.URL + tc.first, srv.URL + "/good"}, Hash: h, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, res, srv.URL+"/good")
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("Dir holds %d files, want only the result", len(ents))
			}
		})
	}
}

func TestFetchAllFail(t *testing.T) {
	srv, _ := server(t)
	dir := t.TempDir()
	h := hash.Sum(hash.SHA256, payload)
	// A closed port on loopback gives a network error without leaving the machine.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/good"
	dead.Close()
	_, err := Fetch(context.Background(), Request{URLs: []string{srv.URL + "/missing", srv.URL + "/bad", deadURL}, Hash: h, Dir: dir})
	var se *SourcesError
	if !errors.As(err, &se) || len(se.Errs) != 3 {
		t.Fatalf("Fetch = %v, want a *SourcesError of 3", err)
	}
	msg := err.Error()
	for _, want := range []string{"/missing: server said 404 Not Found", "/bad: hash mismatch", deadURL + ": "} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	var hm *HashMismatchError
	if !errors.As(err, &hm) {
		t.Errorf("the mirror's hash mismatch is not reachable with errors.As")
	}
	dirEmpty(t, dir)
}

func TestFetchLocal(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.tar.gz")
	if err := os.WriteFile(src, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	h := hash.Sum(hash.SHA512, payload)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, src)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"file://" + src, src, rel} {
		t.Run(s, func(t *testing.T) {
			res, err := Fetch(context.Background(), Request{URLs: []string{s}, Hash: h, Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, res, s)
		})
	}
	dir := t.TempDir()
	_, err = Fetch(context.Background(), Request{URLs: []string{src + ".missing"}, Hash: h, Dir: dir})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Fetch of a missing file = %v", err)
	}
	dirEmpty(t, dir)
}

func TestFetchResolve(t *testing.T) {
	srv, _ := server(t)
	h := hash.Sum(hash.SHA256, payload)
	resolve := func(u *url.URL) ([]string, error) {
		if u.Scheme != "mirror" || u.Host != "debian" {
			return nil, errors.New("unknown mirror")
		}
		return []string{srv.URL + "/missing" + u.Path, srv.URL + u.Path}, nil
	}
	res, err := Fetch(context.Background(), Request{URLs: []string{"mirror://debian/good.tar.gz"}, Hash: h, Dir: t.TempDir(), Resolve: resolve})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, srv.URL+"/good.tar.gz")

	_, err = Fetch(context.Background(), Request{URLs: []string{"mirror://debian/good.tar.gz"}, Hash: h, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `unknown URL scheme "mirror"`) {
		t.Errorf("Fetch without Resolve = %v, want an unknown-scheme error", err)
	}
}

func TestFetchHeaderAndProgress(t *testing.T) {
	srv, _ := server(t)
	h := hash.Sum(hash.SHA256, payload)
	var last, total int64
	calls := 0
	res, err := Fetch(context.Background(), Request{
		URLs:     []string{srv.URL + "/auth"},
		Hash:     h,
		Dir:      t.TempDir(),
		Header:   http.Header{"Authorization": {"Bearer s3cret"}},
		Progress: func(done, tot int64) { calls++; last, total = done, tot },
	})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, srv.URL+"/auth")
	if calls < 2 || last != int64(len(payload)) || total != int64(len(payload)) {
		t.Errorf("progress: %d calls, last (%d, %d)", calls, last, total)
	}
}

func TestFetchNoTransparentGunzip(t *testing.T) {
	srv, _ := server(t)
	res, err := Fetch(context.Background(), Request{URLs: []string{srv.URL + "/gzip-labelled"}, Hash: hash.Sum(hash.SHA256, payload), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, srv.URL+"/gzip-labelled")
}

func TestFetchMaxSize(t *testing.T) {
	srv, _ := server(t)
	dir := t.TempDir()
	_, err := Fetch(context.Background(), Request{URLs: []string{srv.URL + "/good"}, Hash: hash.Sum(hash.SHA256, payload), Dir: dir, MaxSize: 1000})
	if err == nil || !strings.Contains(err.Error(), "limit of 1000 bytes") {
		t.Errorf("Fetch = %v, want a size-limit error", err)
	}
	dirEmpty(t, dir)
}

func TestFetchCancel(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(payload[:1000])
		w.(http.Flusher).Flush()
		close(started)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	dir := t.TempDir()
	// The second mirror would serve the file: cancellation must stop the fetch, not fall through.
	other, otherHits := server(t)
	_, err := Fetch(ctx, Request{
		URLs: []string{srv.URL + "/slow", other.URL + "/good"},
		Hash: hash.Sum(hash.SHA256, payload),
		Dir:  dir,
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch = %v, want context.Canceled", err)
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("the next mirror got %d requests after cancellation", n)
	}
	dirEmpty(t, dir)

	// Cancelled before starting: no request at all.
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	srv2, hits2 := server(t)
	_, err = Fetch(done, Request{URLs: []string{srv2.URL + "/good", srv2.URL + "/good"}, Hash: hash.Sum(hash.SHA256, payload), Dir: dir})
	if !errors.Is(err, context.Canceled) || hits2.Load() != 0 {
		t.Errorf("Fetch with a cancelled context = %v after %d requests", err, hits2.Load())
	}
}

func TestFetchBadRequest(t *testing.T) {
	h := hash.Sum(hash.SHA256, payload)
	for _, tc := range []struct {
		name string
		req  Request
		want string
	}{
		{"no urls", Request{Hash: h, Dir: "."}, "no URLs"},
		{"no hash", Request{URLs: []string{"x"}, Dir: "."}, "sha256 or sha512"},
		{"no dir", Request{URLs: []string{"x"}, Hash: h}, "no download directory"},
	} {
		if _, err := Fetch(context.Background(), tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Fetch = %v, want %q", tc.name, err, tc.want)
		}
	}
}
