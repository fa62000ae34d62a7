package cache

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/den-sh/den/core/httpclient"
	"github.com/den-sh/den/core/storepath"
)

// ErrNotFound is what Get returns (wrapped) for a file the cache does not have.
var ErrNotFound = errors.New("not in the cache")

// Cache is one binary cache: a directory tree of files reached by name, relative to its root.
type Cache interface {
	URL() string                                                 // as the user wrote it, without the query
	Priority() int                                               // from ?priority=, else nix-cache-info once Info was read, else 50
	Info(ctx context.Context) (*CacheInfo, error)                // nix-cache-info; ErrNotFound if absent
	Get(ctx context.Context, name string) (io.ReadCloser, error) // ErrNotFound if absent
	Has(ctx context.Context, name string) (bool, error)
	Put(ctx context.Context, name string, r io.Reader) error // file: temp+fsync+rename; http: PUT
	List(ctx context.Context) ([]string, error)              // names of the *.narinfo files
}

// DefaultPriority is Nix's priority of a cache that states none.
const DefaultPriority = 50

// ListQuery is the query den's own servers (DirHandler, StoreHandler) answer at the cache root with
// the names of all narinfos, one a line, and the header ListHeader: "1". Nix's protocol has no
// listing, so a static host answers something else, and the missing header tells the client so.
const (
	ListQuery  = "den-list"
	ListHeader = "Den-List"
)

// Bounds on what is read of a cache's small files, so that a body that never ends cannot hold
// den: the largest real narinfos (thousands of references) are a few hundred kilobytes, a
// nix-cache-info is three lines, and a listing holds some 60 bytes per path.
const (
	maxNarInfoSize   = 8 << 20
	maxCacheInfoSize = 64 << 10
	maxListSize      = 256 << 20
)

// Open parses a cache URL: file:///dir, http(s)://host/prefix or s3://bucket/prefix (see s3.go),
// each with an optional "?priority=N" as in Nix. Other query parameters Nix knows (compression=, secret-key=, …) are
// accepted and ignored, so a URL copied from a Nix configuration works. client nil means one
// with den's default timeouts.
func Open(rawURL string, client *http.Client) (Cache, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cache URL %q: %v", rawURL, err)
	}
	prio := 0
	if v := u.Query().Get("priority"); v != "" {
		prio, err = strconv.Atoi(v)
		if err != nil || prio < 0 {
			return nil, fmt.Errorf("cache URL %q: priority %q is not a non-negative integer", rawURL, v)
		}
	}
	bare := rawURL
	if i := strings.IndexByte(bare, '?'); i >= 0 {
		bare = bare[:i]
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("cache URL %q names host %q; write a local directory as file:///dir", rawURL, u.Host)
		}
		if !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("cache URL %q has no absolute directory; write file:///dir", rawURL)
		}
		return &fileCache{baseCache: baseCache{raw: bare, prio: prio}, dir: filepath.Clean(u.Path)}, nil
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("cache URL %q has no host", rawURL)
		}
		if client == nil {
			client = httpclient.New(httpclient.Timeouts{})
		}
		u.RawQuery, u.Fragment = "", ""
		return &httpCache{baseCache: baseCache{raw: bare, prio: prio}, root: strings.TrimRight(u.String(), "/"), client: client}, nil
	case "s3":
		if client == nil {
			client = httpclient.New(httpclient.Timeouts{})
		}
		return openS3(rawURL, bare, u, prio, client)
	}
	return nil, fmt.Errorf("unsupported cache URL %q; use file:///dir, http(s)://host/path or s3://bucket/prefix", rawURL)
}

// baseCache holds what both kinds share: the URL, the priority and the nix-cache-info read once.
type baseCache struct {
	raw  string
	prio int

	mu   sync.Mutex
	info *CacheInfo
}

func (b *baseCache) URL() string { return b.raw }

func (b *baseCache) Priority() int {
	if b.prio != 0 {
		return b.prio
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.info != nil && b.info.Priority != 0 {
		return b.info.Priority
	}
	return DefaultPriority
}

// readInfo reads and remembers nix-cache-info through get.
func (b *baseCache) readInfo(ctx context.Context, get func(context.Context, string) (io.ReadCloser, error)) (*CacheInfo, error) {
	b.mu.Lock()
	info := b.info
	b.mu.Unlock()
	if info != nil {
		return info, nil
	}
	rc, err := get(ctx, "nix-cache-info")
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxCacheInfoSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s/nix-cache-info: %w", b.raw, err)
	}
	if len(data) > maxCacheInfoSize {
		return nil, fmt.Errorf("%s/nix-cache-info is larger than %d bytes", b.raw, maxCacheInfoSize)
	}
	info, err = ParseCacheInfo(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.raw, err)
	}
	b.mu.Lock()
	b.info = info
	b.mu.Unlock()
	return info, nil
}

// checkName refuses names that would leave the cache root.
func checkName(name string) error {
	if name == "" || path.IsAbs(name) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, "\\") {
		return fmt.Errorf("invalid cache file name %q", name)
	}
	return nil
}

// GetNarInfo fetches and parses the narinfo of p. The answer must describe p itself: a cache that
// serves another path under p's hash is broken or hostile.
func GetNarInfo(ctx context.Context, c Cache, p storepath.Path, storeDir string) (*NarInfo, error) {
	n, err := ReadNarInfo(ctx, c, p.HashPart()+".narinfo", storeDir)
	if err != nil {
		return nil, err
	}
	if n.StorePath != p {
		return nil, fmt.Errorf("%s.narinfo describes %s, not %s", p.HashPart(), n.StorePath, p)
	}
	return n, nil
}

// ReadNarInfo fetches and parses the narinfo file name (as List returns them), reading at most
// maxNarInfoSize bytes of it.
func ReadNarInfo(ctx context.Context, c Cache, name, storeDir string) (*NarInfo, error) {
	rc, err := c.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxNarInfoSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxNarInfoSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxNarInfoSize)
	}
	n, err := ParseNarInfo(data, storeDir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// ctxReader stops a long copy when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// fileCache is a cache directory on a local filesystem.
type fileCache struct {
	baseCache
	dir string
}

func (c *fileCache) path(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return filepath.Join(c.dir, filepath.FromSlash(name)), nil
}

func (c *fileCache) Info(ctx context.Context) (*CacheInfo, error) { return c.readInfo(ctx, c.Get) }

func (c *fileCache) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := c.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s/%s: %w", c.raw, name, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (c *fileCache) Has(ctx context.Context, name string) (bool, error) {
	p, err := c.path(name)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Put writes to a temporary file beside the target, fsyncs it and renames it into place, so a
// reader (another den substituting from the same directory) never sees half a file.
func (c *fileCache) Put(ctx context.Context, name string, r io.Reader) (err error) {
	p, err := c.path(name)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cache directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(p)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.Copy(w, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	syncDir(dir)
	return nil
}

// adopt makes the finished temporary file tmp, created in the cache directory, the file name:
// the end of Put without copying the data again.
func (c *fileCache) adopt(tmp *os.File, name string) error {
	p, err := c.path(name)
	if err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	syncDir(filepath.Dir(p))
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func (c *fileCache) List(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", c.raw, err)
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".narinfo") && !strings.HasPrefix(n, ".") && e.Type().IsRegular() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// httpCache is a cache served over HTTP, as Nix's http binary cache store reads and writes it.
type httpCache struct {
	baseCache
	root   string
	client *http.Client
}

func (c *httpCache) Info(ctx context.Context) (*CacheInfo, error) { return c.readInfo(ctx, c.Get) }

func (c *httpCache) do(ctx context.Context, method, name string, body io.Reader) (*http.Response, string, error) {
	if err := checkName(name); err != nil {
		return nil, "", err
	}
	u := c.root + "/" + name
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, u, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, u, requestError(method, u, err)
	}
	return resp, u, nil
}

// missing is how Nix reads a cache's answer: 404, and 403 (what S3 says for a missing key when
// listing is not allowed), mean "not there".
func missing(code int) bool { return code == http.StatusNotFound || code == http.StatusForbidden }

// requestError is a request that got no answer, spelled as statusError spells one that got a
// bad answer; *url.Error's own spelling quotes the URL and repeats the host.
func requestError(method, u string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s %s: %w", method, u, err)
}

func statusError(method, u string, resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	s := strings.TrimSpace(string(msg))
	if s != "" && !strings.ContainsAny(s, "<>") {
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, s)
	}
	return fmt.Errorf("%s %s: %s", method, u, resp.Status)
}

func (c *httpCache) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	resp, u, err := c.do(ctx, http.MethodGet, name, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp.Body, nil
	}
	defer resp.Body.Close()
	if missing(resp.StatusCode) {
		return nil, fmt.Errorf("%s: %w", u, ErrNotFound)
	}
	return nil, statusError("GET", u, resp)
}

func (c *httpCache) Has(ctx context.Context, name string) (bool, error) {
	resp, u, err := c.do(ctx, http.MethodHead, name, nil)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		return true, nil
	case missing(resp.StatusCode):
		return false, nil
	}
	return false, statusError("HEAD", u, resp)
}

// contentType is what Nix's http store sends with each kind of file.
func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".narinfo"):
		return "text/x-nix-narinfo"
	case name == "nix-cache-info":
		return "text/x-nix-cache-info"
	case strings.HasPrefix(name, "nar/"):
		return "application/x-nix-nar"
	}
	return "application/octet-stream"
}

func (c *httpCache) Put(ctx context.Context, name string, r io.Reader) error {
	if err := checkName(name); err != nil {
		return err
	}
	u := c.root + "/" + name
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType(name))
	// Go sends a body of unknown length chunked, which some upload endpoints refuse; a pushed NAR
	// comes from a file, whose length is known.
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			if off, err := f.Seek(0, io.SeekCurrent); err == nil {
				req.ContentLength = fi.Size() - off
			}
		}
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return requestError("PUT", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return statusError("PUT", u, resp)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return nil
}

// List works only against den's own servers; see ListQuery.
func (c *httpCache) List(ctx context.Context) ([]string, error) {
	u := c.root + "/?" + ListQuery
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, requestError("GET", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(ListHeader) != "1" {
		return nil, fmt.Errorf("listing is not supported by %s (only den cache serve lists; Nix's cache protocol has no listing)", c.raw)
	}
	var names []string
	body := &io.LimitedReader{R: resp.Body, N: maxListSize + 1}
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		if n := strings.TrimSpace(sc.Text()); strings.HasSuffix(n, ".narinfo") && checkName(n) == nil && !strings.Contains(n, "/") {
			names = append(names, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", c.raw, err)
	}
	if body.N <= 0 {
		return nil, fmt.Errorf("list %s: the listing is larger than %d bytes", c.raw, maxListSize)
	}
	sort.Strings(names)
	return names, nil
}
