package cache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/den-sh/den/core/storepath"
)

// writableDir serves dir like DirHandler and accepts PUT, as an upload-enabled cache host does;
// like some such hosts, it wants to know the length of what is uploaded.
func writableDir(t *testing.T, dir string) *httptest.Server {
	fc := &fileCache{dir: dir}
	read := DirHandler(dir)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			if r.ContentLength < 0 {
				http.Error(w, "length required", http.StatusLengthRequired)
				return
			}
			if err := fc.Put(r.Context(), strings.TrimPrefix(r.URL.Path, "/prefix/"), r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
			}
			return
		}
		http.StripPrefix("/prefix", read).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPCache(t *testing.T) {
	dir := t.TempDir()
	srv := writableDir(t, dir)
	c, err := Open(srv.URL+"/prefix/", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	exerciseCache(t, c)
	names, err := c.List(context.Background())
	if err != nil || strings.Join(names, " ") != "abc.narinfo def.narinfo" {
		t.Fatalf("List: %v %v", names, err)
	}
	// What the http cache wrote is what a file cache of the same dir reads.
	fc, _ := Open("file://"+dir, nil)
	if got := readAll(t, fc, "abc.narinfo"); got != "one again" {
		t.Fatalf("file view: %q", got)
	}
}

func TestHTTPStatuses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/forbidden.narinfo":
			http.Error(w, "denied", http.StatusForbidden)
		case "/broken.narinfo":
			http.Error(w, "database on fire", http.StatusInternalServerError)
		case "/":
			w.Write([]byte("<html>an index page</html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, _ := Open(srv.URL, srv.Client())
	ctx := context.Background()
	if _, err := c.Get(ctx, "forbidden.narinfo"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("403: %v", err)
	}
	if ok, err := c.Has(ctx, "forbidden.narinfo"); ok || err != nil {
		t.Fatalf("403 Has: %v %v", ok, err)
	}
	_, err := c.Get(ctx, "broken.narinfo")
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), srv.URL+"/broken.narinfo") ||
		!strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "database on fire") {
		t.Fatalf("500: %v", err)
	}
	if ok, err := c.Has(ctx, "broken.narinfo"); ok || err == nil {
		t.Fatalf("500 Has: %v %v", ok, err)
	}
	if err := c.Put(ctx, "x.narinfo", strings.NewReader("x")); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("PUT to a read-only host: %v", err)
	}
	if _, err := c.List(ctx); err == nil || err.Error() != "listing is not supported by "+srv.URL+" (only den cache serve lists; Nix's cache protocol has no listing)" {
		t.Fatalf("List of a static host: %v", err)
	}
}

func TestDirHandler(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "nar"), 0o755)
	os.WriteFile(filepath.Join(dir, "abc.narinfo"), []byte("StorePath: x\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "nar", "f.nar.zst"), []byte("0123456789"), 0o644)
	os.WriteFile(filepath.Join(dir, ".tmp-abc.narinfo-1"), []byte("half"), 0o644)
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte("secret"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "leak.narinfo"))
	srv := httptest.NewServer(DirHandler(dir))
	defer srv.Close()

	get := func(method, path string, hdr ...string) (int, string, http.Header) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, body, h := get("GET", "/abc.narinfo"); code != 200 || body != "StorePath: x\n" || h.Get("Content-Type") != "text/x-nix-narinfo" {
		t.Fatalf("narinfo: %d %q %v", code, body, h)
	}
	if code, body, _ := get("GET", "/nar/f.nar.zst", "Range", "bytes=2-4"); code != 206 || body != "234" {
		t.Fatalf("range: %d %q", code, body)
	}
	if code, body, h := get("HEAD", "/nar/f.nar.zst"); code != 200 || body != "" || h.Get("Content-Length") != "10" {
		t.Fatalf("head: %d %q %v", code, body, h)
	}
	for _, p := range []string{"/", "/nar", "/nar/", "/.tmp-abc.narinfo-1", "/leak.narinfo", "/../secret", "/nar/../../secret", "/missing.narinfo"} {
		if code, body, _ := get("GET", p); code != 404 || strings.Contains(body, "secret") || strings.Contains(body, "half") {
			t.Errorf("GET %s: %d %q", p, code, body)
		}
	}
	if code, _, _ := get("PUT", "/x.narinfo"); code != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %d", code)
	}
	c, _ := Open(srv.URL, srv.Client())
	if names, err := c.List(context.Background()); err != nil || strings.Join(names, " ") != "abc.narinfo" {
		t.Fatalf("List: %v %v", names, err)
	}
}

// Push over HTTP into a directory, then read it back through DirHandler: the round trip Nix users
// make with an upload-enabled host.
func TestPushOverHTTP(t *testing.T) {
	f := newPushFixture(t)
	key, _ := GenerateKey("http-1")
	srv := writableDir(t, t.TempDir())
	c, _ := Open(srv.URL+"/prefix", srv.Client())
	pushed, skipped, err := Push(context.Background(), f.st, c, []storepath.Path{f.top}, PushOptions{Key: &key})
	if err != nil || pushed != 4 || skipped != 0 {
		t.Fatalf("push: %d %d %v", pushed, skipped, err)
	}
	checkCacheHolds(t, c, f.st, f.closureMembers, key.Public())
	pushed, skipped, err = Push(context.Background(), f.st, c, []storepath.Path{f.top}, PushOptions{Key: &key})
	if err != nil || pushed != 0 || skipped != 4 {
		t.Fatalf("second push: %d %d %v", pushed, skipped, err)
	}
}

func TestStoreHandler(t *testing.T) {
	f := newPushFixture(t)
	key, _ := GenerateKey("serve-1")
	srv := httptest.NewServer(StoreHandler(f.st, &key))
	defer srv.Close()
	c, _ := Open(srv.URL, srv.Client())
	ctx := context.Background()
	checkCacheHolds(t, c, f.st, f.closureMembers, key.Public())

	n, err := GetNarInfo(ctx, c, f.lib, f.st.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if n.Compression != "zstd" || !n.FileHash.IsZero() || n.FileSize != 0 || !strings.HasPrefix(n.URL, "nar/"+f.lib.HashPart()+"-") {
		t.Fatalf("served narinfo:\n%s", n.Bytes())
	}
	if ok, err := c.Has(ctx, n.URL); !ok || err != nil {
		t.Fatalf("HEAD nar: %v %v", ok, err)
	}
	// A NAR name with a stale NAR hash, an unknown hash part, and garbage are all 404.
	stale := "nar/" + f.lib.HashPart() + "-" + strings.Repeat("0", 52) + ".nar.zst"
	gone := storepath.Path(f.st.Dir + "/" + strings.Repeat("1", 32) + "-gone")
	for _, name := range []string{stale, gone.HashPart() + ".narinfo", "zzz.narinfo", "nar/x.nar.zst", "other"} {
		if _, err := c.Get(ctx, name); !errors.Is(err, ErrNotFound) {
			t.Errorf("GET %s: %v", name, err)
		}
	}
	if _, err := GetNarInfo(ctx, c, gone, f.st.Dir); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing path: %v", err)
	}
	names, err := c.List(ctx)
	if err != nil || len(names) != 4 {
		t.Fatalf("List: %v %v", names, err)
	}

	// Without a key, narinfos carry only the store's own signatures (none here).
	plain := httptest.NewServer(StoreHandler(f.st, nil))
	defer plain.Close()
	pc, _ := Open(plain.URL, plain.Client())
	n, err = GetNarInfo(ctx, pc, f.top, f.st.Dir)
	if err != nil || len(n.Sigs) != 0 {
		t.Fatalf("unsigned narinfo: %v %v", n, err)
	}
	if err := n.Verify([]PublicKey{key.Public()}); err == nil {
		t.Fatal("unsigned narinfo verified")
	}
}

// GetNarInfo refuses a narinfo that describes another path than the one asked for.
func TestGetNarInfoWrongPath(t *testing.T) {
	f := newPushFixture(t)
	dir := t.TempDir()
	c, _ := Open("file://"+dir, nil)
	if _, _, err := Push(context.Background(), f.st, c, []storepath.Path{f.lib}, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, f.lib.HashPart()+".narinfo"))
	os.WriteFile(filepath.Join(dir, f.app.HashPart()+".narinfo"), data, 0o644)
	_, err := GetNarInfo(context.Background(), c, f.app, f.st.Dir)
	if err == nil || !strings.Contains(err.Error(), "describes "+string(f.lib)) {
		t.Fatalf("wrong path: %v", err)
	}
}
