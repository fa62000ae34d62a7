// Package npmtest owns a fake npm registry on loopback for tests: packuments and real tarballs built in memory.
package npmtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Package is one version to publish.
type Package struct {
	Name, Version string
	Deps          map[string]string // dependencies
	Optional      map[string]string // optionalDependencies
	Peer          map[string]string // peerDependencies
	PeerOptional  []string          // names in Peer marked optional in peerDependenciesMeta
	// Bin is written as given: a string or a map[string]string.
	Bin           any
	OS, CPU, Libc []string
	Engines       map[string]string // engines: {"node": ">=18"}
	Scripts       map[string]string // an install, preinstall or postinstall sets hasInstallScript
	Deprecated    string
	Files         map[string]string // extra files, by path inside the package
	NoIntegrity   bool              // publish only the sha1 shasum, as very old versions have
	TarballURL    string            // serve this dist.tarball instead of the registry's own URL
	ExtraManifest map[string]any    // more fields for the packument's version entry
}

// Request is one request the registry received.
type Request struct {
	Method, Path  string // Path as sent, still escaped
	Authorization string
	Accept        string
}

// Registry is a running fake registry.
type Registry struct {
	// URL is the registry base, with a trailing slash, as a user would put in .npmrc.
	URL string

	srv  *httptest.Server
	base string // path prefix, with a trailing slash

	mu       sync.Mutex
	pkgs     map[string]map[string]*published
	tags     map[string]map[string]string
	token    string
	tampered map[string]bool
	requests []Request
}

type published struct {
	pkg       Package
	tgz       []byte
	integrity string
	shasum    string
}

// New starts a registry at the server's root, publishes pkgs, and stops it when the test ends.
func New(t testing.TB, pkgs ...Package) *Registry { return NewAt(t, "/", pkgs...) }

// NewAt is New with the registry under a path ("/npm/"), as behind a proxy or an artifact
// server, so tests see that tarball paths stay relative to the base and not the host.
func NewAt(t testing.TB, base string, pkgs ...Package) *Registry {
	t.Helper()
	r := Start(base, pkgs...)
	t.Cleanup(r.Close)
	return r
}

// Start is NewAt for callers without a testing.TB (a testscript Setup); they call Close.
func Start(base string, pkgs ...Package) *Registry {
	base = "/" + strings.Trim(base, "/") + "/"
	if base == "//" {
		base = "/"
	}
	r := &Registry{
		base:     base,
		pkgs:     map[string]map[string]*published{},
		tags:     map[string]map[string]string{},
		tampered: map[string]bool{},
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL + base
	for _, p := range pkgs {
		r.Add(p)
	}
	return r
}

// Close stops the server.
func (r *Registry) Close() { r.srv.Close() }

// Add publishes a version. The "latest" tag moves to the highest version added so far that has
// no prerelease, as publishing does; Tag overrides it.
func (r *Registry) Add(p Package) {
	tgz := Tarball(p)
	sum := sha512.Sum512(tgz)
	sha := sha1.Sum(tgz)
	pub := &published{pkg: p, tgz: tgz, integrity: "sha512-" + base64.StdEncoding.EncodeToString(sum[:]), shasum: hex.EncodeToString(sha[:])}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pkgs[p.Name] == nil {
		r.pkgs[p.Name] = map[string]*published{}
		r.tags[p.Name] = map[string]string{}
	}
	r.pkgs[p.Name][p.Version] = pub
	if !strings.Contains(p.Version, "-") && (r.tags[p.Name]["latest"] == "" || newer(p.Version, r.tags[p.Name]["latest"])) {
		r.tags[p.Name]["latest"] = p.Version
	}
}

// newer compares plain x.y.z versions, enough for choosing a fake "latest".
func newer(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if len(pa[i]) != len(pb[i]) {
			return len(pa[i]) > len(pb[i])
		}
		if pa[i] != pb[i] {
			return pa[i] > pb[i]
		}
	}
	return len(pa) > len(pb)
}

// Tag points a dist-tag at a version; an empty version removes the tag.
func (r *Registry) Tag(name, tag, version string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tags[name] == nil {
		r.tags[name] = map[string]string{}
	}
	if version == "" {
		delete(r.tags[name], tag)
		return
	}
	r.tags[name][tag] = version
}

// RequireToken makes every request need "Authorization: Bearer <token>"; empty turns it off.
func (r *Registry) RequireToken(token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.token = token
}

// Tamper makes the registry serve a version's tarball with one byte changed while its
// packument keeps the original integrity, as a compromised mirror would.
func (r *Registry) Tamper(name, version string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tampered[name+"@"+version] = true
}

// Integrity is the SRI sha512 of a published version's tarball.
func (r *Registry) Integrity(name, version string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pkgs[name][version]; p != nil {
		return p.integrity
	}
	return ""
}

// TarballBytes is a published version's tarball, untampered.
func (r *Registry) TarballBytes(name, version string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pkgs[name][version]; p != nil {
		return append([]byte(nil), p.tgz...)
	}
	return nil
}

// TarballPath is where the registry serves a version's tarball, relative to URL: npm's own
// "<name>/-/<unscoped name>-<version>.tgz".
func TarballPath(name, version string) string {
	file := name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		file = name[i+1:]
	}
	return name + "/-/" + file + "-" + version + ".tgz"
}

// Requests lists what the registry has received, in order.
func (r *Registry) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// PackumentRequests counts the packument requests for a package.
func (r *Registry) PackumentRequests(name string) int {
	n := 0
	for _, q := range r.Requests() {
		if !strings.Contains(q.Path, "/-/") {
			if p, err := url.PathUnescape(strings.TrimPrefix(q.Path, r.base)); err == nil && p == name {
				n++
			}
		}
	}
	return n
}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, Request{Method: req.Method, Path: req.URL.EscapedPath(), Authorization: req.Header.Get("Authorization"), Accept: req.Header.Get("Accept")})
	token := r.token
	r.mu.Unlock()

	if token != "" && req.Header.Get("Authorization") != "Bearer "+token {
		w.Header().Set("WWW-Authenticate", `Bearer realm="npmtest"`)
		jsonError(w, http.StatusUnauthorized, "authentication required")
		return
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		jsonError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	rest, ok := strings.CutPrefix(req.URL.EscapedPath(), r.base)
	if !ok {
		jsonError(w, http.StatusNotFound, "not found")
		return
	}
	if name, file, ok := strings.Cut(rest, "/-/"); ok {
		r.serveTarball(w, name, file)
		return
	}
	name, err := url.PathUnescape(rest)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "bad name")
		return
	}
	r.servePackument(w, name)
}

func (r *Registry) serveTarball(w http.ResponseWriter, escName, file string) {
	name, _ := url.PathUnescape(escName)
	r.mu.Lock()
	defer r.mu.Unlock()
	for v, p := range r.pkgs[name] {
		if TarballPath(name, v) != name+"/-/"+file {
			continue
		}
		data := p.tgz
		if r.tampered[name+"@"+v] {
			data = append([]byte(nil), data...)
			data[len(data)/2] ^= 0xff
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
		return
	}
	jsonError(w, http.StatusNotFound, "not found")
}

func (r *Registry) servePackument(w http.ResponseWriter, name string) {
	r.mu.Lock()
	versions := r.pkgs[name]
	if versions == nil {
		r.mu.Unlock()
		jsonError(w, http.StatusNotFound, "not found")
		return
	}
	doc := map[string]any{"name": name, "dist-tags": copyMap(r.tags[name])}
	vs := map[string]any{}
	for v, p := range versions {
		vs[v] = r.versionDoc(p)
	}
	doc["versions"] = vs
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/vnd.npm.install-v1+json")
	json.NewEncoder(w).Encode(doc)
}

func (r *Registry) versionDoc(p *published) map[string]any {
	d := manifest(p.pkg)
	dist := map[string]any{"shasum": p.shasum, "tarball": r.URL + TarballPath(p.pkg.Name, p.pkg.Version)}
	if !p.pkg.NoIntegrity {
		dist["integrity"] = p.integrity
	}
	if p.pkg.TarballURL != "" {
		dist["tarball"] = p.pkg.TarballURL
	}
	d["dist"] = dist
	if p.pkg.Deprecated != "" {
		d["deprecated"] = p.pkg.Deprecated
	}
	for _, k := range []string{"preinstall", "install", "postinstall"} {
		if p.pkg.Scripts[k] != "" {
			d["hasInstallScript"] = true
		}
	}
	delete(d, "scripts")
	for k, v := range p.pkg.ExtraManifest {
		d[k] = v
	}
	return d
}

// manifest is the package.json of a version.
func manifest(p Package) map[string]any {
	d := map[string]any{"name": p.Name, "version": p.Version}
	set := func(k string, v map[string]string) {
		if len(v) > 0 {
			d[k] = v
		}
	}
	set("dependencies", p.Deps)
	set("optionalDependencies", p.Optional)
	set("peerDependencies", p.Peer)
	set("scripts", p.Scripts)
	set("engines", p.Engines)
	if len(p.PeerOptional) > 0 {
		meta := map[string]any{}
		for _, n := range p.PeerOptional {
			meta[n] = map[string]bool{"optional": true}
		}
		d["peerDependenciesMeta"] = meta
	}
	if p.Bin != nil {
		d["bin"] = p.Bin
	}
	for k, v := range map[string][]string{"os": p.OS, "cpu": p.CPU, "libc": p.Libc} {
		if len(v) > 0 {
			d[k] = v
		}
	}
	return d
}

// Tarball builds a version's .tgz the way npm pack lays it out: everything under "package/",
// package.json first, the rest sorted, fixed times and modes, so equal input gives equal bytes.
func Tarball(p Package) []byte {
	pj, _ := json.MarshalIndent(manifest(p), "", "  ")
	files := map[string][]byte{"package.json": pj}
	for name, body := range p.Files {
		files[name] = []byte(body)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		if n != "package.json" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	names = append([]string{"package.json"}, names...)

	// npm pack gives every entry this time, so tarballs are reproducible.
	mtime := time.Date(1985, 10, 26, 8, 15, 0, 0, time.UTC)
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: "package/" + n, Mode: 0o644, Size: int64(len(files[n])), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR})
		tw.Write(files[n])
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// NPMReleases stand in for npm, which comes with node: the newest whose engines accept a node is
// locked with it (9.9.0 with node 20.1.0, 10.5.0 with 22.3.0). Their commands are shell scripts
// that a fake node, which runs its argument with sh, can run.
func NPMReleases() []Package {
	var out []Package
	for v, engines := range map[string]string{"9.9.0": ">=18", "10.5.0": "^18.17.0 || >=20.5.0", "11.0.0": "^20.17.0 || >=22.9.0"} {
		out = append(out, Package{Name: "npm", Version: v, Engines: map[string]string{"node": engines},
			Bin: map[string]string{"npm": "bin/npm-cli.js", "npx": "bin/npx-cli.js"},
			Files: map[string]string{
				"bin/npm-cli.js": "if [ \"$1\" = --version ]; then echo " + v + "; else echo \"npm " + v + " $*\"; fi\n",
				"bin/npx-cli.js": "echo \"npx " + v + " $*\"\n",
			}})
	}
	return out
}
