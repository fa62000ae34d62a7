package deb

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"

	"github.com/den-sh/den/core/httpclient"
)

// maxInRelease bounds an InRelease download. Debian's run to a few hundred kilobytes.
const maxInRelease = 64 << 20

// maxPackages bounds a decompressed Packages file whose size InRelease does not give.
// Debian's largest are around 60 MB.
const maxPackages = 2 << 30

// offlineGrace is how old a cached InRelease may be and still stand in for a fresh one when
// the archive cannot be reached. A day keeps an offline laptop working without letting a
// stale index hide security updates for long.
const offlineGrace = 24 * time.Hour

// Archive reads the indexes of Debian archives.
type Archive struct {
	Sources []Source
	// Client makes the requests; nil means one with den's default timeouts.
	Client *http.Client
	// CacheDir holds verified index files: InRelease/<name> (the last verified InRelease of
	// each suite) and Packages/<arch>/<hex> (decompressed Packages files, named by the SHA256
	// that InRelease gives for them). A successful Index removes the Packages files of its
	// architecture that it did not use, which the archive has replaced. Empty means no cache.
	CacheDir string
	// Now is the clock Valid-Until and key expiry are checked against; nil means time.Now.
	Now func() time.Time
	// Keyrings verify the sources without Signed-By; nil means DefaultKeyrings("/etc/apt").
	Keyrings []string
}

// HTTPError is a request the archive answered with a status other than 200.
type HTTPError struct {
	URL    string
	Status string
	Code   int
}

func (e *HTTPError) Error() string { return fmt.Sprintf("GET %s: %s", e.URL, e.Status) }

// NetworkError is a request that got no answer at all.
type NetworkError struct {
	URL string
	Err error
}

func (e *NetworkError) Error() string { return fmt.Sprintf("GET %s: %v", e.URL, e.Err) }
func (e *NetworkError) Unwrap() error { return e.Err }

// SuiteError is an InRelease that is not the suite the source asked for: a mirror serving
// another suite's (validly signed) index under this suite's name.
type SuiteError struct {
	URL, Want, Suite, Codename string
}

func (e *SuiteError) Error() string {
	return fmt.Sprintf("%s is the index of suite %q (codename %q), not of %q", e.URL, e.Suite, e.Codename, e.Want)
}

func (a *Archive) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Archive) client() *http.Client {
	if a.Client != nil {
		return a.Client
	}
	return httpclient.New(httpclient.Timeouts{})
}

// Index reads the package indexes of every source and suite for arch (a Debian architecture:
// amd64, arm64) and merges them: for each name the highest version wins, so that
// bookworm-security and bookworm-updates override bookworm; between equal versions the
// earlier source wins. Sources restricted to other architectures, and deb-src-only entries,
// are left out.
func (a *Archive) Index(ctx context.Context, arch string) (*Index, error) {
	type job struct {
		src   Source
		suite string
	}
	var jobs []job
	for _, s := range a.Sources {
		if !s.HasType("deb") || (len(s.Architectures) > 0 && !contains(s.Architectures, arch)) {
			continue
		}
		for _, suite := range s.Suites {
			jobs = append(jobs, job{s, suite})
		}
	}
	if len(a.Sources) == 0 {
		return nil, &NoSourceError{AptDir: "/etc/apt"}
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("none of the %d Debian sources has binary packages for %s (Types: deb, and Architectures, if given, naming %s)", len(a.Sources), arch, arch)
	}
	cache := a.CacheDir
	if cache == "" {
		tmp, err := os.MkdirTemp("", "den-deb-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		cache = tmp
	}
	defaults := a.Keyrings
	if defaults == nil {
		defaults = DefaultKeyrings("/etc/apt")
	}
	f := &fetcher{a: a, client: a.client(), cache: cache, now: a.now(), arch: arch}
	keys := make([]openpgp.EntityList, len(jobs))
	byKeyring := map[string]openpgp.EntityList{} // one read per keyring
	for i, j := range jobs {
		el, ok := byKeyring[j.src.Keyring]
		if !ok {
			var err error
			if el, err = keyring(j.src, defaults); err != nil {
				return nil, err
			}
			byKeyring[j.src.Keyring] = el
		}
		keys[i] = el
	}
	results := make([][]*Package, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = f.suite(ctx, j.src, j.suite, keys[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	f.prune()
	ix := newIndex(arch)
	for _, ps := range results {
		for _, p := range ps {
			ix.add(p)
		}
	}
	ix.finish()
	return ix, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fetcher is one Index call's downloads.
type fetcher struct {
	a      *Archive
	client *http.Client
	cache  string
	now    time.Time
	arch   string

	mu   sync.Mutex
	used map[string]bool // the Packages files this call read
}

func (f *fetcher) packagesDir() string { return filepath.Join(f.cache, "Packages", f.arch) }

// prune removes the cached Packages files of the architecture that this call did not read
// (replaced by newer ones), and temporary files left by a crash.
func (f *fetcher) prune() {
	dir := f.packagesDir()
	entries, _ := os.ReadDir(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			// Another process may be writing it right now.
			if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < time.Hour {
				continue
			}
		} else if f.used[name] {
			continue
		}
		os.Remove(filepath.Join(dir, name))
	}
}

func (f *fetcher) suite(ctx context.Context, src Source, suite string, keys openpgp.EntityList) ([]*Package, error) {
	base := strings.TrimRight(src.URI, "/") + "/dists/" + suite + "/"
	u := base + "InRelease"
	data, cached, err := f.inRelease(ctx, u)
	if err != nil {
		return nil, err
	}
	rel, err := verifyRelease(u, data, keys, f.now)
	var se *SignatureError
	if errors.As(err, &se) {
		se.Keyring, se.Origin = strings.TrimSpace(src.Keyring), src.Origin
	}
	if err != nil {
		return nil, err
	}
	if suite != rel.Suite && suite != rel.Codename {
		return nil, &SuiteError{URL: u, Want: suite, Suite: rel.Suite, Codename: rel.Codename}
	}
	if !rel.ValidUntil.IsZero() && f.now.After(rel.ValidUntil) && !src.IgnoreValidUntil {
		return nil, &ExpiredError{URL: u, ValidUntil: rel.ValidUntil, Now: f.now, Origin: src.Origin}
	}
	if !cached {
		if err := f.keepInRelease(u, data); err != nil {
			return nil, err
		}
	}
	var out []*Package
	for _, comp := range src.Components {
		ps, err := f.packages(ctx, src, suite, base, rel, comp)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

// inReleaseFile is where the last verified InRelease of u is kept.
func (f *fetcher) inReleaseFile(u string) string {
	name := u
	if i := strings.Index(name, "://"); i >= 0 {
		name = name[i+3:]
	}
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, name)
	sum := sha256.Sum256([]byte(u))
	return filepath.Join(f.cache, "InRelease", name+"-"+hex.EncodeToString(sum[:4]))
}

// inRelease fetches u; when the archive cannot be reached, it falls back to the copy kept from
// a fetch less than offlineGrace ago (which the caller verifies again like a fresh one).
func (f *fetcher) inRelease(ctx context.Context, u string) (data []byte, cached bool, err error) {
	var buf strings.Builder
	n, err := f.get(ctx, u, maxInRelease+1, &buf)
	if err == nil && n > maxInRelease {
		return nil, false, fmt.Errorf("GET %s: longer than %d bytes: not an InRelease file", u, maxInRelease)
	}
	if err == nil {
		return []byte(buf.String()), false, nil
	}
	var ne *NetworkError
	if !errors.As(err, &ne) || ctx.Err() != nil {
		return nil, false, err
	}
	file := f.inReleaseFile(u)
	st, serr := os.Stat(file)
	if serr != nil {
		return nil, false, err
	}
	if age := f.now.Sub(st.ModTime()); age > offlineGrace {
		return nil, false, fmt.Errorf("%w (the copy from %s ago is too old to stand in: at most %s)", err, age.Round(time.Minute), offlineGrace)
	}
	data, rerr := os.ReadFile(file)
	if rerr != nil {
		return nil, false, err
	}
	return data, true, nil
}

func (f *fetcher) keepInRelease(u string, data []byte) error {
	file := f.inReleaseFile(u)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// The modification time is the fetch time, by the same clock as the offline check.
	if err := os.Chtimes(tmp.Name(), f.now, f.now); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// packages reads component comp's Packages index for the fetcher's arch: from the cache when
// a file with the hash InRelease gives is there, else downloaded (xz, else gz, else plain),
// checked against InRelease's size and SHA256, decompressed, checked again when InRelease
// gives the plain file's hash, and only then cached and parsed.
func (f *fetcher) packages(ctx context.Context, src Source, suite, base string, rel *release, comp string) ([]*Package, error) {
	name := comp + "/binary-" + f.arch + "/Packages"
	plain, hasPlain := rel.Files[name]
	var ext string
	var sum fileSum
	for _, e := range []string{".xz", ".gz", ""} {
		if s, ok := rel.Files[name+e]; ok {
			ext, sum = e, s
			break
		}
	}
	if sum.Hex == "" {
		return nil, fmt.Errorf("%sInRelease lists no %s: the archive has no component %q for %s", base, name, comp, f.arch)
	}
	key := sum.Hex + ext + "-unpacked"
	if hasPlain {
		key = plain.Hex
	}
	file := filepath.Join(f.packagesDir(), key)
	f.mu.Lock()
	if f.used == nil {
		f.used = map[string]bool{}
	}
	f.used[key] = true
	f.mu.Unlock()
	meta := pkgMeta{mirror: src.Mirror, suite: suite, arch: f.arch, where: base + name}
	if ps, err := f.parseCached(file, plain, hasPlain, meta); err == nil {
		return ps, nil
	}
	if err := f.download(ctx, base, name, ext, sum, plain, hasPlain, rel.AcquireByHash, file); err != nil {
		return nil, err
	}
	return f.parseCached(file, plain, hasPlain, meta)
}

// parseCached parses a cached Packages file, checking its hash on the way when it is known;
// a file that fails the check is removed, so that it is downloaded again.
func (f *fetcher) parseCached(file string, plain fileSum, hasPlain bool, meta pkgMeta) ([]*Package, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	h := sha256.New()
	ps, err := parsePackages(io.TeeReader(fh, h), meta)
	if err != nil {
		return nil, err
	}
	if hasPlain && hex.EncodeToString(h.Sum(nil)) != plain.Hex {
		os.Remove(file)
		return nil, fmt.Errorf("%s: the cached file is corrupt", file)
	}
	return ps, nil
}

func (f *fetcher) download(ctx context.Context, base, name, ext string, sum, plain fileSum, hasPlain, byHash bool, dest string) error {
	dir := filepath.Dir(dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	packed, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	defer func() { packed.Close(); os.Remove(packed.Name()) }()

	// By-hash names do not change while the archive updates, so the file cannot be replaced
	// between reading InRelease and reading it; archives without them have the plain name only.
	u := base + name + ext
	if byHash {
		u = base + strings.TrimSuffix(name, "Packages") + "by-hash/SHA256/" + sum.Hex
	}
	h := sha256.New()
	n, err := f.get(ctx, u, sum.Size+1, io.MultiWriter(packed, h))
	var he *HTTPError
	if byHash && errors.As(err, &he) && he.Code == http.StatusNotFound {
		u = base + name + ext
		if err := restart(packed, h); err != nil {
			return err
		}
		n, err = f.get(ctx, u, sum.Size+1, io.MultiWriter(packed, h))
	}
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != sum.Size || got != sum.Hex {
		return &HashMismatchError{URL: u, WantSize: sum.Size, GotSize: n, WantHex: sum.Hex, GotHex: got}
	}
	if _, err := packed.Seek(0, io.SeekStart); err != nil {
		return err
	}
	// The decompressors read a byte at a time: unbuffered, that is a system call per byte.
	var r io.Reader = bufio.NewReaderSize(packed, 1<<20)
	switch ext {
	case ".xz":
		xr, err := xz.NewReader(r)
		if err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		r = xr
	case ".gz":
		gr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		defer gr.Close()
		r = gr
	}
	out, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	defer func() { out.Close(); os.Remove(out.Name()) }()
	limit := int64(maxPackages)
	if hasPlain {
		limit = plain.Size + 1
	}
	ph := sha256.New()
	m, err := io.Copy(io.MultiWriter(out, ph), io.LimitReader(r, limit))
	if err != nil {
		return fmt.Errorf("%s: decompressing: %w", u, err)
	}
	if hasPlain {
		if got := hex.EncodeToString(ph.Sum(nil)); m != plain.Size || got != plain.Hex {
			return &HashMismatchError{URL: u + " (decompressed)", WantSize: plain.Size, GotSize: m, WantHex: plain.Hex, GotHex: got}
		}
	} else if m >= limit {
		return fmt.Errorf("%s: decompresses to more than %d bytes", u, limit)
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(out.Name(), dest)
}

func restart(f *os.File, h hash.Hash) error {
	h.Reset()
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// get copies the body of u into w, at most limit bytes; the caller checks the length.
func (f *fetcher) get(ctx context.Context, u string, limit int64, w io.Writer) (int64, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return 0, err
	}
	var body io.ReadCloser
	if pu.Scheme == "file" {
		fh, err := os.Open(pu.Path)
		if errors.Is(err, os.ErrNotExist) {
			return 0, &HTTPError{URL: u, Status: "404 Not Found (no such file)", Code: http.StatusNotFound}
		}
		if err != nil {
			return 0, err
		}
		body = fh
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, err
		}
		resp, err := f.client.Do(req)
		if err != nil {
			return 0, &NetworkError{URL: u, Err: err}
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return 0, &HTTPError{URL: u, Status: resp.Status, Code: resp.StatusCode}
		}
		body = resp.Body
	}
	defer body.Close()
	n, err := io.Copy(w, io.LimitReader(body, limit))
	if err != nil {
		return n, &NetworkError{URL: u, Err: err}
	}
	return n, nil
}
