// Package gomod owns Go module downloads: proxies, checksum database verification, module zips.
//
// The verification chain is the go command's. GOSUMDB names a checksum database and its public
// key; Lookup asks that database (directly, or through a proxy's /sumdb/ endpoint) for a module's
// h1: hashes, and golang.org/x/mod/sumdb checks the answer against a signed tree head and the
// tree's tiles, and the tree head against the last one this machine saw, so that a database
// cannot take back what it once showed. The zip and go.mod a proxy serves are then
// hashed with golang.org/x/mod/sumdb/dirhash and must equal those hashes (VerifyZip, VerifyMod)
// before the caller lets them near the store; den.lock keeps the hashes, so later fetches are
// checked against the lock alone. Modules that GOSUMDB=off or GONOSUMDB/GOPRIVATE exempt get no
// hash from Lookup: the caller records the hash of what it downloaded, trusting it on first use,
// as go.sum does without a checksum database. Toolchains are never exempt, as for the go command.
//
// Go toolchains are modules too (ToolchainModule), so both of den's Go backends come through here.
// Nothing here does what golang.org/x/mod already does (module zips, hashing, the sumdb client);
// this package is the proxy protocol around it and the go command's configuration rules.
package gomod

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/den-sh/den/core/httpclient"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	modzip "golang.org/x/mod/zip"
)

// ToolchainModule is the module whose versions are Go toolchains, one per release and platform:
// v0.0.1-go1.22.3.linux-amd64 holds go1.22.3 for linux/amd64, its GOROOT at the zip's root.
const ToolchainModule = "golang.org/toolchain"

// Bounds on proxy answers other than zips, which modzip.MaxZipFile bounds.
const (
	maxListSize = 16 << 20
	maxInfoSize = 1 << 20
)

// Client fetches modules from the proxies and checks them with the checksum database of a Config.
// It is safe for concurrent use.
type Client struct {
	cfg      *Config
	http     *http.Client
	cacheDir string

	mu sync.Mutex
	// sumdbBase is where the checksum database was found to be reachable; found once per Client
	// because finding it costs a request to each proxy.
	sumdbBase string
	// misbehaved is set once the checksum database has been caught lying. The go command exits at
	// that point; a Client refuses all further lookups instead.
	misbehaved error
}

// NewClient returns a Client for cfg. httpClient nil means one with den's default timeouts. cacheDir keeps the
// checksum database's verified tiles and records and the latest tree head seen.
func NewClient(cfg *Config, httpClient *http.Client, cacheDir string) *Client {
	if httpClient == nil {
		httpClient = httpclient.New(httpclient.Timeouts{})
	}
	return &Client{cfg: cfg, http: httpClient, cacheDir: cacheDir}
}

// Info is a proxy's .info answer.
type Info struct {
	Version string
	Time    time.Time
}

// NoProxyError says a module is excluded from proxies by GONOPROXY (or GOPRIVATE); the go command
// would fetch it from version control, which den does not do.
type NoProxyError struct {
	Module   string
	Patterns string
}

func (e *NoProxyError) Error() string {
	return fmt.Sprintf("%s matches GONOPROXY (%s), so the go command would fetch it from version control, which den does not do", e.Module, e.Patterns)
}

// Hints says how to fetch it through a proxy after all.
func (e *NoProxyError) Hints() []string {
	return []string{"to fetch private modules through your module proxy, set GONOPROXY=none (GOPRIVATE still keeps them out of the checksum database)"}
}

// HTTPError is an unsuccessful answer from a proxy or checksum database. 404 and 410 mean "not
// here" and match fs.ErrNotExist, which is what lets GOPROXY's "," move on to the next proxy.
type HTTPError struct {
	URL    string
	Status string
	Code   int
	Body   string // the start of the answer, which proxies use to say why
}

func (e *HTTPError) Error() string {
	if e.Body != "" {
		return fmt.Sprintf("GET %s: %s: %s", e.URL, e.Status, e.Body)
	}
	return fmt.Sprintf("GET %s: %s", e.URL, e.Status)
}

func (e *HTTPError) Is(target error) bool {
	return target == fs.ErrNotExist && (e.Code == http.StatusNotFound || e.Code == http.StatusGone)
}

// Versions lists the tagged versions of module that the proxies know, in semver order. When a
// proxy lists none, it asks the proxy's @latest, which can name a pseudo-version.
func (c *Client) Versions(ctx context.Context, mod string) ([]string, error) {
	if err := module.CheckPath(mod); err != nil {
		return nil, err
	}
	if err := c.checkProxied(mod); err != nil {
		return nil, err
	}
	var list []string
	err := c.tryProxies(ctx, func(base string) error {
		data, err := c.get(ctx, modURL(base, mod, "@v/list"), maxListSize)
		if err != nil {
			return err
		}
		list = list[:0]
		for line := range strings.SplitSeq(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && semver.IsValid(f[0]) && !module.IsPseudoVersion(f[0]) && module.Check(mod, f[0]) == nil {
				list = append(list, f[0])
			}
		}
		if len(list) > 0 {
			return nil
		}
		info, err := c.info(ctx, base, mod, "@latest")
		if err != nil {
			return err
		}
		list = append(list, info.Version)
		return nil
	})
	if err != nil {
		return nil, &module.ModuleError{Path: mod, Err: err}
	}
	semver.Sort(list)
	return list, nil
}

// Info asks the proxies about one version of module.
func (c *Client) Info(ctx context.Context, mod, version string) (*Info, error) {
	enc, err := c.checkVersion(mod, version)
	if err != nil {
		return nil, err
	}
	var info *Info
	err = c.tryProxies(ctx, func(base string) error {
		i, err := c.info(ctx, base, mod, "@v/"+enc+".info")
		if err != nil {
			return err
		}
		// A proxy must answer for exactly the version asked, not some other one.
		if i.Version != version {
			return fmt.Errorf("proxy %s returned info for %s instead of %s", redact(base), i.Version, version)
		}
		info = i
		return nil
	})
	if err != nil {
		return nil, &module.ModuleError{Path: mod, Version: version, Err: err}
	}
	return info, nil
}

func (c *Client) info(ctx context.Context, base, mod, file string) (*Info, error) {
	data, err := c.get(ctx, modURL(base, mod, file), maxInfoSize)
	if err != nil {
		return nil, err
	}
	var info Info
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("invalid %s from proxy %s: %v", file, redact(base), err)
	}
	if !semver.IsValid(info.Version) {
		return nil, fmt.Errorf("invalid %s from proxy %s: version %q", file, redact(base), info.Version)
	}
	return &info, nil
}

// GoMod returns the go.mod of one version of module, unverified: see VerifyMod.
func (c *Client) GoMod(ctx context.Context, mod, version string) ([]byte, error) {
	enc, err := c.checkVersion(mod, version)
	if err != nil {
		return nil, err
	}
	var data []byte
	err = c.tryProxies(ctx, func(base string) error {
		data, err = c.get(ctx, modURL(base, mod, "@v/"+enc+".mod"), modzip.MaxGoMod)
		return err
	})
	if err != nil {
		return nil, &module.ModuleError{Path: mod, Version: version, Err: err}
	}
	return data, nil
}

// DownloadZip writes the zip of one version of module to destFile. The zip is only known to be
// well formed (every file under module@version/, within the size limit), not to be the right one:
// the caller checks it with VerifyZip before unpacking it anywhere that matters. On failure no
// file is left at destFile.
func (c *Client) DownloadZip(ctx context.Context, mod, version, destFile string) (err error) {
	enc, err := c.checkVersion(mod, version)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = &module.ModuleError{Path: mod, Version: version, Err: err}
		}
	}()
	if err := os.MkdirAll(filepath.Dir(destFile), 0o777); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(destFile), filepath.Base(destFile)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()

	err = c.tryProxies(ctx, func(base string) error {
		// A proxy that failed halfway may be followed by another: start the file afresh.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := f.Truncate(0); err != nil {
			return err
		}
		return c.download(ctx, modURL(base, mod, "@v/"+enc+".zip"), f)
	})
	if err != nil {
		return err
	}
	if err := checkZipNames(f, mod, version); err != nil {
		return err
	}
	// No fsync: the zip is a step on the way to the store, which syncs what it publishes.
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), destFile)
}

type progressKey struct{}

// WithProgress returns a context under which DownloadZip reports the bytes received so far to fn,
// for progress bars; it keeps the Client's API free of display concerns.
func WithProgress(ctx context.Context, fn func(done int64)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

type countingWriter struct {
	w      io.Writer
	n      int64
	report func(int64)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.report(c.n)
	return n, err
}

func (c *Client) download(ctx context.Context, rawURL string, w io.Writer) error {
	body, err := c.open(ctx, rawURL)
	if err != nil {
		return err
	}
	defer body.Close()
	lr := &io.LimitedReader{R: body, N: modzip.MaxZipFile + 1}
	if fn, ok := ctx.Value(progressKey{}).(func(int64)); ok {
		w = &countingWriter{w: w, report: fn}
	}
	if _, err := io.Copy(w, lr); err != nil {
		return fmt.Errorf("reading %s: %w", redact(rawURL), err)
	}
	if lr.N <= 0 {
		return fmt.Errorf("%s: zip larger than %d bytes", redact(rawURL), modzip.MaxZipFile)
	}
	return nil
}

// checkZipNames rejects a zip with files outside module@version/, as the go command does right
// after a download; the full safety rules are applied again when it is unpacked.
func checkZipNames(f *os.File, mod, version string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	z, err := zip.NewReader(f, fi.Size())
	if err != nil {
		return fmt.Errorf("downloaded zip: %v", err)
	}
	prefix := mod + "@" + version + "/"
	for _, zf := range z.File {
		if !strings.HasPrefix(zf.Name, prefix) {
			return fmt.Errorf("downloaded zip has a file outside %s: %s", prefix, zf.Name)
		}
	}
	return nil
}

// checkVersion checks module@version and returns the version case-encoded for URLs. Only
// canonical versions are fetched, so a proxy cannot be asked for a moving target.
func (c *Client) checkVersion(mod, version string) (string, error) {
	if err := module.Check(mod, version); err != nil {
		return "", err
	}
	if version != module.CanonicalVersion(version) {
		return "", &module.ModuleError{Path: mod, Version: version, Err: errors.New("version is not canonical")}
	}
	if err := c.checkProxied(mod); err != nil {
		return "", err
	}
	return module.EscapeVersion(version)
}

func (c *Client) checkProxied(mod string) error {
	if module.MatchPrefixPatterns(c.cfg.NoProxy, mod) {
		return &NoProxyError{Module: mod, Patterns: c.cfg.NoProxy}
	}
	return nil
}

// tryProxies calls f with each proxy's URL until one succeeds, as GOPROXY's separators say: after
// "," only a "not found" moves on, after "|" any error does. The error returned is the most
// useful one seen: a proxy's real failure over a mere "not found".
func (c *Client) tryProxies(ctx context.Context, f func(base string) error) error {
	var best error
	bestIsNotFound := true
	for _, p := range c.cfg.Proxies {
		err := f(p.URL)
		if err == nil {
			return nil
		}
		notFound := errors.Is(err, fs.ErrNotExist)
		if !notFound || bestIsNotFound {
			best, bestIsNotFound = err, notFound
		}
		if ctx.Err() != nil {
			return err
		}
		if !notFound && !p.FallBackOnError {
			break
		}
	}
	return best
}

// modURL joins a proxy URL, a module path and a file under it, case-encoding the path so that
// modules differing only in case stay apart on case-insensitive file systems.
func modURL(base, mod, file string) string {
	enc, err := module.EscapePath(mod)
	if err != nil {
		// Callers have checked the path already.
		panic(err)
	}
	return strings.TrimSuffix(base, "/") + "/" + pathEscape(enc) + "/" + pathEscape(file)
}

// pathEscape escapes s for a URL path but keeps the slashes, which the protocol uses as is.
func pathEscape(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), "%2F", "/")
}

func (c *Client) get(ctx context.Context, rawURL string, limit int64) ([]byte, error) {
	body, err := c.open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", redact(rawURL), err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: answer larger than %d bytes", redact(rawURL), limit)
	}
	return data, nil
}

// open starts reading rawURL: http and https, or file for a proxy laid out in a directory, as the
// go command allows.
func (c *Client) open(ctx context.Context, rawURL string) (io.ReadCloser, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "file" {
		return os.Open(filepath.FromSlash(u.Path))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		body := strings.TrimSpace(string(snippet))
		if i := strings.IndexByte(body, '\n'); i >= 0 {
			body = body[:i]
		}
		return nil, &HTTPError{URL: u.Redacted(), Status: resp.Status, Code: resp.StatusCode, Body: body}
	}
	return resp.Body, nil
}

// redact hides any password in a URL before it goes into an error.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	return u.Redacted()
}
