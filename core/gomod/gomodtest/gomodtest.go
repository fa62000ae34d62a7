// Package gomodtest serves a fake Go module proxy and checksum database on loopback, for tests.
//
// The proxy answers the GOPROXY protocol (list, @latest, info, mod, zip) from modules given as
// in-memory files, zipped with golang.org/x/mod/zip exactly as real proxies zip them. The checksum
// database is golang.org/x/mod/sumdb's test server over the same modules, signed with a key made
// for each Proxy; it answers both directly (SumDBURL, for GOSUMDB's URL field) and through the
// proxy's /sumdb/<name>/ endpoint. Knobs break either one the ways that verification must catch.
package gomodtest

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	modzip "golang.org/x/mod/zip"
)

// SumDBName is the name of every fake checksum database; .test is reserved for testing.
const SumDBName = "sum.den.test"

// ToolchainModule is the module path of Go toolchains.
const ToolchainModule = "golang.org/toolchain"

// Files are a module version's files by slash-separated path relative to the module root. Without
// a "go.mod", the proxy serves a go.mod of just the module line, as real proxies do.
type Files map[string]string

// Proxy is a running fake module proxy and checksum database.
type Proxy struct {
	URL      string // the proxy, as GOPROXY takes it
	SumDBKey string // the database's verifier key, name+hash+key
	SumDBURL string // where the database answers directly

	t        testing.TB
	skey     string
	verifier note.Verifier

	mu            sync.Mutex
	modules       map[string]map[string]*version
	db            *sumdb.TestServer
	otherSigner   note.Signer
	tamperRecords bool
	failStatus    int
	noSumDBProxy  bool
	emptyList     map[string]bool
	failLists     bool
	requests      []string
}

type version struct {
	honest  []byte // the zip the database hashes
	served  []byte // the zip the proxy serves
	zipFile string // served instead when served is nil (AddZip)
	mod     []byte
	zipHash string
	modHash string
}

// NewProxy starts a proxy serving modules (module path → version → files) and a checksum
// database for exactly those modules. Both stop when the test ends.
func NewProxy(t testing.TB, modules map[string]map[string]Files) *Proxy {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, SumDBName)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, skey: skey, verifier: verifier, SumDBKey: vkey,
		modules: map[string]map[string]*version{}, emptyList: map[string]bool{}}
	p.db = sumdb.NewTestServer(skey, p.gosum)
	for mod, versions := range modules {
		for v, files := range versions {
			p.Add(mod, v, files)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(srv.Close)
	p.URL = srv.URL + "/mod"
	p.SumDBURL = srv.URL + "/sumdb"
	return p
}

// Add makes one more module version available.
func (p *Proxy) Add(mod, vers string, files Files) {
	p.t.Helper()
	zipData := p.zip(mod, vers, files)
	modData := []byte(files["go.mod"])
	if _, ok := files["go.mod"]; !ok {
		modData = []byte(fmt.Sprintf("module %s\n", mod))
	}
	zipHash, err := hashZipBytes(zipData)
	if err != nil {
		p.t.Fatal(err)
	}
	modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(modData)), nil
	})
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.modules[mod] == nil {
		p.modules[mod] = map[string]*version{}
	}
	p.modules[mod][vers] = &version{honest: zipData, served: zipData, mod: modData, zipHash: zipHash, modHash: modHash}
}

// AddZip makes one more module version available from a module zip on disk, served as is, for
// zips too big to hold in memory (a real Go toolchain). Its go.mod is the module line alone. The
// file must stay until the test ends.
func (p *Proxy) AddZip(mod, vers, zipFile string) {
	p.t.Helper()
	zipHash, err := dirhash.HashZip(zipFile, dirhash.Hash1)
	if err != nil {
		p.t.Fatal(err)
	}
	modData := []byte(fmt.Sprintf("module %s\n", mod))
	modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(modData)), nil
	})
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.modules[mod] == nil {
		p.modules[mod] = map[string]*version{}
	}
	p.modules[mod][vers] = &version{zipFile: zipFile, mod: modData, zipHash: zipHash, modHash: modHash}
}

// ServeOtherZip makes the proxy serve a zip of files for module@vers while the checksum database
// keeps the hash of the original: a proxy serving tampered content.
func (p *Proxy) ServeOtherZip(mod, vers string, files Files) {
	p.t.Helper()
	data := p.zip(mod, vers, files)
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.modules[mod][vers]
	if v == nil {
		p.t.Fatalf("gomodtest: ServeOtherZip: no %s@%s", mod, vers)
	}
	v.served = data
}

// SignWithOtherKey makes the database sign its tree heads with a new key of the same name, so
// that they no longer verify with SumDBKey.
func (p *Proxy) SignWithOtherKey() {
	p.t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, SumDBName)
	if err != nil {
		p.t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.otherSigner = signer
	p.mu.Unlock()
}

// ForkSumDB restarts the database's tree from empty under the same key, so that the trees it
// signs from now on contradict those it signed before, as a database showing users different
// histories would.
func (p *Proxy) ForkSumDB() {
	p.mu.Lock()
	p.db = sumdb.NewTestServer(p.skey, p.gosum)
	p.mu.Unlock()
}

// TamperSumDBRecords makes lookups answer records whose hashes were altered after signing.
func (p *Proxy) TamperSumDBRecords() {
	p.mu.Lock()
	p.tamperRecords = true
	p.mu.Unlock()
}

// FailWith makes every request to the proxy (URL and everything under it, its /sumdb/ endpoint
// included) answer status; 0 restores normal service. The direct database is unaffected.
func (p *Proxy) FailWith(status int) {
	p.mu.Lock()
	p.failStatus = status
	p.mu.Unlock()
}

// ProxySumDB says whether the proxy offers the checksum database at /sumdb/<name>/ (it does
// until told otherwise); without it, clients must reach the database at SumDBURL.
func (p *Proxy) ProxySumDB(on bool) {
	p.mu.Lock()
	p.noSumDBProxy = !on
	p.mu.Unlock()
}

// EmptyList makes @v/list answer no versions for mod, so that clients fall back on @latest.
func (p *Proxy) EmptyList(mod string) {
	p.mu.Lock()
	p.emptyList[mod] = true
	p.mu.Unlock()
}

// FailLists makes version listings (@v/list and @latest) fail with 500 while module files are
// still served: a machine that can fetch what a lock names but not look up versions.
func (p *Proxy) FailLists(on bool) {
	p.mu.Lock()
	p.failLists = on
	p.mu.Unlock()
}

// GOSUMDB is the database as GOSUMDB takes it, with its direct URL: "name+key url".
func (p *Proxy) GOSUMDB() string { return p.SumDBKey + " " + p.SumDBURL }

// Getenv is an environment holding only GOPROXY=URL, GOSUMDB=name+key (so the database is found
// through the proxy) and GOENV=off, so that no test reads the developer's own Go settings.
func (p *Proxy) Getenv(key string) string {
	switch key {
	case "GOPROXY":
		return p.URL
	case "GOSUMDB":
		return p.SumDBKey
	case "GOENV":
		return "off"
	}
	return ""
}

// Hashes returns the h1: hashes the database records for module@vers: the zip's and go.mod's.
func (p *Proxy) Hashes(mod, vers string) (zipHash, modHash string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.modules[mod][vers]
	if v == nil {
		p.t.Fatalf("gomodtest: Hashes: no %s@%s", mod, vers)
	}
	return v.zipHash, v.modHash
}

// Requests returns the paths asked of the server so far, in order.
func (p *Proxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// ToolchainVersion is the golang.org/toolchain version of a Go release for a platform:
// ToolchainVersion("go1.22.3", "linux", "amd64") is "v0.0.1-go1.22.3.linux-amd64".
func ToolchainVersion(goVersion, goos, goarch string) string {
	return "v0.0.1-" + goVersion + "." + goos + "-" + goarch
}

// ToolchainFiles is a small stand-in for a toolchain zip's GOROOT: bin/go is a shell script
// printing "go version <goVersion> <goos>/<goarch>", and the tree has files in each place whose
// execute bits the go command restores, files where it does not, and _go.mod files.
func ToolchainFiles(goVersion, goos, goarch string) Files {
	script := "#!/bin/sh\necho 'go version " + goVersion + " " + goos + "/" + goarch + "'\n"
	return Files{
		"VERSION":   goVersion + "\n",
		"bin/go":    script,
		"bin/gofmt": "#!/bin/sh\ncat\n",
		"pkg/tool/" + goos + "_" + goarch + "/compile": "#!/bin/sh\nexit 0\n",
		"lib/wasm/go_js_wasm_exec":                     "#!/bin/sh\nexit 0\n",
		"lib/time/zoneinfo.zip":                        "not a command\n",
		"src/_go.mod":                                  "module std\n",
		"src/cmd/_go.mod":                              "module cmd\n",
		"src/fmt/print.go":                             "package fmt\n",
	}
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.requests = append(p.requests, r.URL.Path)
	fail, noSumDBProxy := p.failStatus, p.noSumDBProxy
	p.mu.Unlock()

	switch path := r.URL.Path; {
	case strings.HasPrefix(path, "/sumdb/"):
		p.serveSumDB(w, r, strings.TrimPrefix(path, "/sumdb"))
	case strings.HasPrefix(path, "/mod/"):
		if fail != 0 {
			http.Error(w, "gomodtest: failing as told", fail)
			return
		}
		rest := strings.TrimPrefix(path, "/mod/")
		if dbPath, ok := strings.CutPrefix(rest, "sumdb/"+SumDBName+"/"); ok {
			if noSumDBProxy {
				http.NotFound(w, r)
				return
			}
			if dbPath == "supported" {
				return
			}
			p.serveSumDB(w, r, "/"+dbPath)
			return
		}
		p.serveModule(w, r, rest)
	default:
		http.NotFound(w, r)
	}
}

func (p *Proxy) serveModule(w http.ResponseWriter, r *http.Request, rest string) {
	var escMod, file string
	if m, ok := strings.CutSuffix(rest, "/@latest"); ok {
		escMod, file = m, "@latest"
	} else if m, f, ok := strings.Cut(rest, "/@v/"); ok {
		escMod, file = m, f
	} else {
		http.NotFound(w, r)
		return
	}
	mod, err := module.UnescapePath(escMod)
	if err != nil {
		http.Error(w, "bad module path: "+err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	versions := p.modules[mod]
	var list []string
	for v := range versions {
		list = append(list, v)
	}
	emptyList := p.emptyList[mod]
	failLists := p.failLists
	p.mu.Unlock()
	if failLists && (file == "list" || file == "@latest") {
		http.Error(w, "version lists are down", http.StatusInternalServerError)
		return
	}
	semver.Sort(list)
	if len(list) == 0 {
		http.Error(w, "not found: unknown module "+mod, http.StatusNotFound)
		return
	}

	switch {
	case file == "list":
		if !emptyList {
			io.WriteString(w, strings.Join(list, "\n")+"\n")
		}
		return
	case file == "@latest":
		writeInfo(w, list[len(list)-1])
		return
	}
	dot := strings.LastIndex(file, ".")
	if dot < 0 {
		http.NotFound(w, r)
		return
	}
	vers, err := module.UnescapeVersion(file[:dot])
	if err != nil {
		http.Error(w, "bad version: "+err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	v := versions[vers]
	p.mu.Unlock()
	if v == nil {
		http.Error(w, "not found: unknown revision "+vers, http.StatusNotFound)
		return
	}
	switch file[dot:] {
	case ".info":
		writeInfo(w, vers)
	case ".mod":
		w.Write(v.mod)
	case ".zip":
		w.Header().Set("Content-Type", "application/zip")
		if v.served == nil {
			http.ServeFile(w, r, v.zipFile)
			return
		}
		w.Write(v.served)
	default:
		http.NotFound(w, r)
	}
}

// writeInfo answers .info and @latest with a fixed time, so that answers are reproducible.
func writeInfo(w http.ResponseWriter, vers string) {
	json.NewEncoder(w).Encode(struct {
		Version string
		Time    time.Time
	}{vers, time.Date(2024, 5, 7, 0, 0, 0, 0, time.UTC)})
}

func (p *Proxy) serveSumDB(w http.ResponseWriter, r *http.Request, path string) {
	r2 := r.Clone(r.Context())
	r2.URL.Path = path
	r2.URL.RawPath = ""
	p.mu.Lock()
	tamper := p.tamperRecords
	p.mu.Unlock()
	srv := sumdb.NewServer(sumdbOps{p})
	if !tamper || !strings.HasPrefix(path, "/lookup/") {
		srv.ServeHTTP(w, r2)
		return
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, r2)
	body := rec.Body.Bytes()
	if i := bytes.Index(body, []byte(" h1:")); i >= 0 && rec.Code == http.StatusOK {
		c := &body[i+len(" h1:")]
		if *c == 'A' {
			*c = 'B'
		} else {
			*c = 'A'
		}
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// sumdbOps is the test server with the knobs applied: it reads the current tree (which
// ForkSumDB replaces) and re-signs tree heads when SignWithOtherKey was called.
type sumdbOps struct{ p *Proxy }

func (o sumdbOps) current() (*sumdb.TestServer, note.Signer) {
	o.p.mu.Lock()
	defer o.p.mu.Unlock()
	return o.p.db, o.p.otherSigner
}

func (o sumdbOps) Signed(ctx context.Context) ([]byte, error) {
	db, other := o.current()
	signed, err := db.Signed(ctx)
	if err != nil || other == nil {
		return signed, err
	}
	n, err := note.Open(signed, note.VerifierList(o.p.verifier))
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: n.Text}, other)
}

func (o sumdbOps) ReadRecords(ctx context.Context, id, n int64) ([][]byte, error) {
	db, _ := o.current()
	return db.ReadRecords(ctx, id, n)
}

func (o sumdbOps) Lookup(ctx context.Context, m module.Version) (int64, error) {
	db, _ := o.current()
	return db.Lookup(ctx, m)
}

func (o sumdbOps) ReadTileData(ctx context.Context, t tlog.Tile) ([]byte, error) {
	db, _ := o.current()
	return db.ReadTileData(ctx, t)
}

// gosum is the database's record for module@vers: its go.sum lines, hashing the honest zip.
func (p *Proxy) gosum(mod, vers string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.modules[mod][vers]
	if v == nil {
		return nil, os.ErrNotExist
	}
	return []byte(fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", mod, vers, v.zipHash, mod, vers, v.modHash)), nil
}

// zip builds the module zip of files, as a proxy would serve it.
func (p *Proxy) zip(mod, vers string, files Files) []byte {
	p.t.Helper()
	var list []modzip.File
	for name, content := range files {
		list = append(list, memFile{name, []byte(content)})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path() < list[j].Path() })
	var buf bytes.Buffer
	if err := modzip.Create(&buf, module.Version{Path: mod, Version: vers}, list); err != nil {
		p.t.Fatalf("gomodtest: zipping %s@%s: %v", mod, vers, err)
	}
	return buf.Bytes()
}

func hashZipBytes(data []byte) (string, error) {
	z, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", err
	}
	var names []string
	files := map[string]*zip.File{}
	for _, f := range z.File {
		names = append(names, f.Name)
		files[f.Name] = f
	}
	return dirhash.Hash1(names, func(name string) (io.ReadCloser, error) { return files[name].Open() })
}

type memFile struct {
	path string
	data []byte
}

func (f memFile) Path() string                 { return f.path }
func (f memFile) Lstat() (os.FileInfo, error)  { return memInfo(f), nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type memInfo memFile

func (i memInfo) Name() string       { return i.path[strings.LastIndex(i.path, "/")+1:] }
func (i memInfo) Size() int64        { return int64(len(i.data)) }
func (i memInfo) Mode() fs.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
