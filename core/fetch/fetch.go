// Package fetch owns fixed-output downloads: getting a file from the first mirror that serves the expected bytes.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/httpclient"
)

// DefaultMaxSize bounds a download when Request.MaxSize is zero.
const DefaultMaxSize = 8 << 30

// Request says what to fetch and where to put it.
type Request struct {
	// URLs are tried in order until one serves bytes with Hash: http, https, file:///abs/path,
	// plain local paths, and any scheme Resolve expands.
	URLs []string
	// Hash is the expected sha256 or sha512 of the file's bytes.
	Hash hash.Hash
	// Dir receives the verified file under a temporary name; put it on the same filesystem as
	// the file's final place so that the caller can rename it there.
	Dir string
	// Progress, if set, is called as bytes arrive; total is -1 when the size is unknown.
	Progress func(done, total int64)
	// Client does HTTP; nil means one with den's default timeouts (core/httpclient).
	Client *http.Client
	// Resolve expands a URL of another scheme (mirror://debian/…) into candidate URLs, tried in
	// order. Nil makes such URLs an error.
	Resolve func(u *url.URL) ([]string, error)
	// Header is sent with every HTTP request (an auth token, say).
	Header http.Header
	// MaxSize bounds the download in bytes; zero means DefaultMaxSize.
	MaxSize int64
	// LegacySHA1 accepts a sha1 Hash. Old npm packages are pinned by sha1 alone in lockfiles;
	// only a caller whose result a strong hash checks in turn (npm-deps-hash) may set it.
	LegacySHA1 bool
}

// Result is a verified download.
type Result struct {
	Path string // the verified file in Request.Dir; the caller renames or removes it
	URL  string // the source that served it
	Size int64
}

// HashMismatchError reports a source that served bytes other than the expected ones.
type HashMismatchError struct {
	URL       string
	Want, Got hash.Hash
}

func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("fetch %s: hash mismatch: expected %s, got %s", e.URL, e.Want.SRI(), e.Got.SRI())
}

// SourcesError reports that every source failed; Errs holds their errors in the order tried.
type SourcesError struct {
	Errs []error
}

func (e *SourcesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fetch failed from all %d sources:", len(e.Errs))
	for _, err := range e.Errs {
		b.WriteString("\n\t")
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *SourcesError) Unwrap() []error { return e.Errs }

// Fetch downloads the file from the first source that serves the expected bytes. A source that
// fails or serves the wrong bytes is skipped, so one bad mirror cannot poison the result; if all
// fail the error is the one source's error, or a *SourcesError listing each. Nothing is left in
// Dir on failure. The returned file has been hashed and fsynced.
func Fetch(ctx context.Context, req Request) (Result, error) {
	if len(req.URLs) == 0 {
		return Result{}, errors.New("fetch: no URLs given")
	}
	strong := req.Hash.Algo == hash.SHA256 || req.Hash.Algo == hash.SHA512 || (req.LegacySHA1 && req.Hash.Algo == hash.SHA1)
	if !strong || len(req.Hash.Digest) != req.Hash.Algo.Size() {
		return Result{}, fmt.Errorf("fetch %s: expected hash must be sha256 or sha512, not %q", req.URLs[0], req.Hash.Algo)
	}
	if req.Dir == "" {
		return Result{}, fmt.Errorf("fetch %s: no download directory given", req.URLs[0])
	}
	if req.MaxSize <= 0 {
		req.MaxSize = DefaultMaxSize
	}
	if req.Client == nil {
		req.Client = httpclient.New(httpclient.Timeouts{})
		defer req.Client.CloseIdleConnections()
	}

	var errs []error
	for _, raw := range req.URLs {
		for _, src := range expand(raw, req.Resolve, &errs) {
			res, err := fetchOne(ctx, req, src)
			if err == nil {
				return res, nil
			}
			if ctx.Err() != nil {
				// The caller gave up; trying the other mirrors would only delay saying so.
				return Result{}, fmt.Errorf("fetch %s: %w", src, context.Cause(ctx))
			}
			errs = append(errs, err)
		}
	}
	if len(errs) == 1 {
		return Result{}, errs[0]
	}
	return Result{}, &SourcesError{Errs: errs}
}

// expand turns one entry of Request.URLs into the sources to try, recording why when there are none.
func expand(raw string, resolve func(*url.URL) ([]string, error), errs *[]error) []string {
	u, err := url.Parse(raw)
	if isLocalPath(raw) || err != nil || u.Scheme == "" || u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "file" {
		return []string{raw}
	}
	if resolve == nil {
		*errs = append(*errs, fmt.Errorf("fetch %s: unknown URL scheme %q (nothing resolves it to URLs)", raw, u.Scheme))
		return nil
	}
	srcs, err := resolve(u)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("fetch %s: %w", raw, err))
		return nil
	}
	if len(srcs) == 0 {
		*errs = append(*errs, fmt.Errorf("fetch %s: no URLs for it", raw))
	}
	return srcs
}

// isLocalPath recognises a path that url.Parse might mistake for a URL, such as "./a:b".
func isLocalPath(s string) bool {
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../")
}

// fetchOne gets one source into a temporary file in req.Dir and verifies it.
func fetchOne(ctx context.Context, req Request, src string) (res Result, err error) {
	body, total, shown, err := open(ctx, req, src)
	if err != nil {
		return Result{}, err
	}
	defer body.Close()
	if total > req.MaxSize {
		return Result{}, fmt.Errorf("fetch %s: size %d exceeds the limit of %d bytes", shown, total, req.MaxSize)
	}

	f, err := os.CreateTemp(req.Dir, ".fetch-*")
	if err != nil {
		return Result{}, fmt.Errorf("fetch %s: %w", shown, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()

	h := req.Hash.Algo.New()
	w := &progressWriter{w: io.MultiWriter(f, h), total: total, progress: req.Progress}
	if req.Progress != nil {
		req.Progress(0, total)
	}
	// One byte past the limit tells an oversized body from one exactly at it.
	n, err := io.Copy(w, &io.LimitedReader{R: &ctxReader{ctx: ctx, r: body}, N: req.MaxSize + 1})
	if err != nil {
		return Result{}, fmt.Errorf("fetch %s: %w", shown, err)
	}
	if n > req.MaxSize {
		return Result{}, fmt.Errorf("fetch %s: larger than the limit of %d bytes", shown, req.MaxSize)
	}
	if total >= 0 && n != total {
		return Result{}, fmt.Errorf("fetch %s: got %d bytes, expected %d", shown, n, total)
	}
	if got := hash.FromHasher(req.Hash.Algo, h); !got.Equal(req.Hash) {
		return Result{}, &HashMismatchError{URL: shown, Want: req.Hash, Got: got}
	}
	if err := f.Sync(); err != nil {
		return Result{}, fmt.Errorf("fetch %s: %w", shown, err)
	}
	if err := f.Close(); err != nil {
		return Result{}, fmt.Errorf("fetch %s: %w", shown, err)
	}
	return Result{Path: f.Name(), URL: src, Size: n}, nil
}

// open starts reading a source. It returns the body, its size if known (else -1), and the
// source's spelling for messages, which hides any password in the URL.
func open(ctx context.Context, req Request, src string) (io.ReadCloser, int64, string, error) {
	u, err := url.Parse(src)
	if isLocalPath(src) || err != nil || u.Scheme == "" {
		return openFile(src, src)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, 0, src, fmt.Errorf("fetch %s: file URLs must name a local path (file:///abs/path)", src)
		}
		return openFile(src, u.Path)
	case "http", "https":
		return openHTTP(ctx, req, u)
	}
	return nil, 0, src, fmt.Errorf("fetch %s: unknown URL scheme %q", src, u.Scheme)
}

func openFile(src, name string) (io.ReadCloser, int64, string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, src, fmt.Errorf("fetch %s: %w", src, err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		f.Close()
		return nil, 0, src, fmt.Errorf("fetch %s: %w", src, err)
	}
	return f, st.Size(), src, nil
}

func openHTTP(ctx context.Context, req Request, u *url.URL) (io.ReadCloser, int64, string, error) {
	shown := u.Redacted()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, shown, fmt.Errorf("fetch %s: %w", shown, err)
	}
	for k, vs := range req.Header {
		hreq.Header[k] = append([]string(nil), vs...)
	}
	// Asking for the bytes as stored stops Go's transport from transparently gunzipping a .tar.gz
	// that a server labels Content-Encoding: gzip, which would change the hash.
	hreq.Header.Set("Accept-Encoding", "identity")
	resp, err := req.Client.Do(hreq)
	if err != nil {
		// *url.Error repeats the method and URL; the cause is what this mirror said.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, shown, fmt.Errorf("fetch %s: %w", shown, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, 0, shown, fmt.Errorf("fetch %s: server said %s", shown, resp.Status)
	}
	return resp.Body, resp.ContentLength, shown, nil
}

type progressWriter struct {
	w        io.Writer
	done     int64
	total    int64
	progress func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.progress != nil {
		p.progress(p.done, p.total)
	}
	return n, err
}

// ctxReader stops a copy when the context ends; a local file would otherwise be read to the end.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}
