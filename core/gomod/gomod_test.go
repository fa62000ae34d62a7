package gomod_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/den-sh/den/core/gomod"
	"github.com/den-sh/den/core/gomod/gomodtest"
)

const (
	toml    = "example.com/BurntSushi/toml" // upper case, to exercise case-encoding
	hello   = "example.com/hello"
	private = "corp.example/secret"
)

func modules() map[string]map[string]gomodtest.Files {
	return map[string]map[string]gomodtest.Files{
		toml: {
			"v1.2.0":  {"go.mod": "module " + toml + "\n\ngo 1.18\n", "decode.go": "package toml\n"},
			"v1.10.0": {"go.mod": "module " + toml + "\n\ngo 1.18\n", "decode.go": "package toml // v1.10\n"},
			"v1.3.0":  {"go.mod": "module " + toml + "\n\ngo 1.18\n", "decode.go": "package toml // v1.3\n"},
		},
		hello: {
			"v0.1.0": {"hello.go": "package main\n\nfunc main() {}\n"},
		},
		private: {
			"v1.0.0": {"go.mod": "module " + private + "\n", "secret.go": "package secret\n"},
		},
		gomodtest.ToolchainModule: {
			gomodtest.ToolchainVersion("go1.22.3", "linux", "amd64"): gomodtest.ToolchainFiles("go1.22.3", "linux", "amd64"),
		},
	}
}

// loopbackOnly fails the test on any request that would leave the machine.
type loopbackOnly struct{ t *testing.T }

func (l loopbackOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if ip := net.ParseIP(req.URL.Hostname()); ip == nil || !ip.IsLoopback() {
		l.t.Errorf("request to %s would leave the machine", req.URL)
		return nil, errors.New("gomod test: refusing a non-loopback request")
	}
	return http.DefaultTransport.RoundTrip(req)
}

// newClient loads a Config from env (over GOENV=off and no go command) and returns its Client.
func newClient(t *testing.T, env map[string]string) *gomod.Client {
	t.Helper()
	cfg, err := gomod.LoadConfigFrom(envOf(env), nil)
	if err != nil {
		t.Fatal(err)
	}
	return gomod.NewClient(cfg, &http.Client{Transport: loopbackOnly{t}}, t.TempDir())
}

func proxyEnv(p *gomodtest.Proxy) map[string]string {
	return map[string]string{"GOPROXY": p.URL, "GOSUMDB": p.SumDBKey}
}

func TestProxyProtocol(t *testing.T) {
	p := gomodtest.NewProxy(t, modules())
	c := newClient(t, proxyEnv(p))
	ctx := context.Background()

	versions, err := c.Versions(ctx, toml)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"v1.2.0", "v1.3.0", "v1.10.0"}; !reflect.DeepEqual(versions, want) {
		t.Errorf("Versions = %v, want %v", versions, want)
	}
	if !slices.Contains(p.Requests(), "/mod/example.com/!burnt!sushi/toml/@v/list") {
		t.Errorf("the module path was not case-encoded: %q", p.Requests())
	}

	p.EmptyList(hello)
	versions, err = c.Versions(ctx, hello)
	if err != nil || !reflect.DeepEqual(versions, []string{"v0.1.0"}) {
		t.Errorf("Versions with an empty list = %v, %v; want @latest's v0.1.0", versions, err)
	}

	info, err := c.Info(ctx, toml, "v1.3.0")
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != "v1.3.0" || info.Time.IsZero() {
		t.Errorf("Info = %+v", info)
	}

	mod, err := c.GoMod(ctx, toml, "v1.3.0")
	if err != nil || string(mod) != "module "+toml+"\n\ngo 1.18\n" {
		t.Errorf("GoMod = %q, %v", mod, err)
	}
	mod, err = c.GoMod(ctx, hello, "v0.1.0")
	if err != nil || string(mod) != "module "+hello+"\n" {
		t.Errorf("GoMod of a module without go.mod = %q, %v", mod, err)
	}

	zipFile := filepath.Join(t.TempDir(), "dl", "toml.zip")
	if err := c.DownloadZip(ctx, toml, "v1.3.0", zipFile); err != nil {
		t.Fatal(err)
	}
	wantZip, wantMod := p.Hashes(toml, "v1.3.0")
	if err := gomod.VerifyZip(zipFile, wantZip); err != nil {
		t.Error(err)
	}
	if err := gomod.VerifyMod(mod, wantMod); err == nil {
		t.Error("hello's go.mod verified against toml's hash")
	}
	dir := filepath.Join(t.TempDir(), "toml")
	if err := gomod.UnzipModule(zipFile, toml, "v1.3.0", dir); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "decode.go")); err != nil || string(data) != "package toml // v1.3\n" {
		t.Errorf("decode.go = %q, %v", data, err)
	}

	_, err = c.Info(ctx, toml, "v1.9.9")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unknown version: err = %v, want not found", err)
	}
	if _, err := c.Versions(ctx, "example.com/nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unknown module: err = %v, want not found", err)
	}
	if _, err := c.Info(ctx, toml, "v1.3"); err == nil {
		t.Error("Info accepted a non-canonical version")
	}
	bad := filepath.Join(t.TempDir(), "none.zip")
	if err := c.DownloadZip(ctx, toml, "v1.9.9", bad); err == nil {
		t.Error("DownloadZip of an unknown version succeeded")
	}
	if entries, _ := os.ReadDir(filepath.Dir(bad)); len(entries) != 0 {
		t.Errorf("a failed download left %v behind", entries)
	}
}

func TestProxyFallthrough(t *testing.T) {
	empty := gomodtest.NewProxy(t, nil)
	full := gomodtest.NewProxy(t, modules())
	ctx := context.Background()
	sumdb := full.SumDBKey

	// "," moves on after a 404.
	c := newClient(t, map[string]string{"GOPROXY": empty.URL + "," + full.URL, "GOSUMDB": sumdb})
	if v, err := c.Versions(ctx, toml); err != nil || len(v) != 3 {
		t.Errorf("after a 404 with \",\": %v, %v", v, err)
	}

	// "," stops at a 500, and reports it.
	empty.FailWith(http.StatusInternalServerError)
	before := len(full.Requests())
	_, err := c.Versions(ctx, toml)
	var he *gomod.HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusInternalServerError {
		t.Errorf("after a 500 with \",\": err = %v, want the 500", err)
	}
	if len(full.Requests()) != before {
		t.Errorf("the second proxy was asked after a 500 with \",\": %q", full.Requests()[before:])
	}

	// "|" moves on after any error.
	c = newClient(t, map[string]string{"GOPROXY": empty.URL + "|" + full.URL, "GOSUMDB": sumdb})
	zipFile := filepath.Join(t.TempDir(), "hello.zip")
	if err := c.DownloadZip(ctx, hello, "v0.1.0", zipFile); err != nil {
		t.Errorf("after a 500 with \"|\": %v", err)
	}

	// A real failure is reported over a later "not found".
	full404 := gomodtest.NewProxy(t, nil)
	c = newClient(t, map[string]string{"GOPROXY": empty.URL + "|" + full404.URL, "GOSUMDB": sumdb})
	if _, err := c.Info(ctx, toml, "v1.2.0"); !errors.As(err, &he) || he.Code != http.StatusInternalServerError {
		t.Errorf("err = %v, want the 500 over the 404", err)
	}
}

func TestFileProxy(t *testing.T) {
	dir := t.TempDir()
	v := filepath.Join(dir, "example.com", "!burnt!sushi", "toml", "@v")
	if err := os.MkdirAll(v, 0o777); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(v, "list"), []byte("v1.0.0\nv0.9.0\n"), 0o666)
	os.WriteFile(filepath.Join(v, "v1.0.0.info"), []byte(`{"Version":"v1.0.0"}`), 0o666)
	full := gomodtest.NewProxy(t, modules())
	c := newClient(t, map[string]string{"GOPROXY": "file://" + filepath.ToSlash(dir) + "," + full.URL, "GOSUMDB": "off"})
	ctx := context.Background()
	if versions, err := c.Versions(ctx, toml); err != nil || !reflect.DeepEqual(versions, []string{"v0.9.0", "v1.0.0"}) {
		t.Errorf("Versions from a file proxy = %v, %v", versions, err)
	}
	if info, err := c.Info(ctx, toml, "v1.0.0"); err != nil || info.Version != "v1.0.0" {
		t.Errorf("Info from a file proxy = %v, %v", info, err)
	}
	// A file missing from the directory counts as "not found", so "," moves on.
	if mod, err := c.GoMod(ctx, toml, "v1.2.0"); err != nil || !strings.HasPrefix(string(mod), "module ") {
		t.Errorf("GoMod past a file proxy = %q, %v", mod, err)
	}
}

func TestLookup(t *testing.T) {
	p := gomodtest.NewProxy(t, modules())
	ctx := context.Background()
	wantZip, wantMod := p.Hashes(toml, "v1.2.0")

	// Through the proxy's /sumdb/ endpoint when GOSUMDB has no URL.
	c := newClient(t, proxyEnv(p))
	zipHash, modHash, err := c.Lookup(ctx, toml, "v1.2.0")
	if err != nil {
		t.Fatal(err)
	}
	if zipHash != wantZip || modHash != wantMod {
		t.Errorf("Lookup = %s %s, want %s %s", zipHash, modHash, wantZip, wantMod)
	}
	reqs := strings.Join(p.Requests(), "\n")
	if !strings.Contains(reqs, "/mod/sumdb/"+gomodtest.SumDBName+"/supported") || !strings.Contains(reqs, "/mod/sumdb/"+gomodtest.SumDBName+"/lookup/") {
		t.Errorf("the database was not reached through the proxy: %s", reqs)
	}

	// Directly at GOSUMDB's URL, which bypasses the proxies.
	p.ProxySumDB(false)
	c = newClient(t, map[string]string{"GOPROXY": p.URL, "GOSUMDB": p.GOSUMDB()})
	zipHash, modHash, err = c.Lookup(ctx, hello, "v0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if wz, wm := p.Hashes(hello, "v0.1.0"); zipHash != wz || modHash != wm {
		t.Errorf("Lookup = %s %s, want %s %s", zipHash, modHash, wz, wm)
	}

	// With neither, the go command's rule is https://<name>; the loopback-only transport refuses
	// it, which the test expects, so give it a transport that records the attempt instead.
	cfg, err := gomod.LoadConfigFrom(envOf(proxyEnv(p)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var tried string
	record := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.URL.Hostname() == "127.0.0.1" {
			return http.DefaultTransport.RoundTrip(req)
		}
		tried = req.URL.Scheme + "://" + req.URL.Host
		return nil, errors.New("offline")
	})
	c = gomod.NewClient(cfg, &http.Client{Transport: record}, t.TempDir())
	if _, _, err := c.Lookup(ctx, hello, "v0.1.0"); err == nil {
		t.Error("Lookup succeeded offline")
	}
	if tried != "https://"+gomodtest.SumDBName {
		t.Errorf("tried %q, want the database's own name over https", tried)
	}

	// The toolchain's versions are listed, and its hashes and the zip the proxy serves agree.
	c = newClient(t, proxyEnv(p))
	p.ProxySumDB(true)
	tv := gomodtest.ToolchainVersion("go1.22.3", "linux", "amd64")
	if versions, err := c.Versions(ctx, gomod.ToolchainModule); err != nil || !reflect.DeepEqual(versions, []string{tv}) {
		t.Errorf("toolchain versions = %v, %v", versions, err)
	}
	zipHash, _, err = c.Lookup(ctx, gomod.ToolchainModule, tv)
	if err != nil {
		t.Fatal(err)
	}
	zipFile := filepath.Join(t.TempDir(), "go.zip")
	if err := c.DownloadZip(ctx, gomod.ToolchainModule, tv, zipFile); err != nil {
		t.Fatal(err)
	}
	if err := gomod.VerifyZip(zipFile, zipHash); err != nil {
		t.Error(err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func TestTamperedZip(t *testing.T) {
	p := gomodtest.NewProxy(t, modules())
	p.ServeOtherZip(toml, "v1.2.0", gomodtest.Files{"go.mod": "module " + toml + "\n\ngo 1.18\n", "decode.go": "package toml; func init() { steal() }\n"})
	c := newClient(t, proxyEnv(p))
	ctx := context.Background()
	zipHash, _, err := c.Lookup(ctx, toml, "v1.2.0")
	if err != nil {
		t.Fatal(err)
	}
	zipFile := filepath.Join(t.TempDir(), "toml.zip")
	if err := c.DownloadZip(ctx, toml, "v1.2.0", zipFile); err != nil {
		t.Fatal(err)
	}
	err = gomod.VerifyZip(zipFile, zipHash)
	var mismatch *gomod.ChecksumMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("err = %v, want *ChecksumMismatchError", err)
	}
	got, _ := gomod.HashZip(zipFile)
	want := gomod.ChecksumMismatchError{Module: toml, Version: "v1.2.0", File: "zip", Want: zipHash, Got: got}
	if *mismatch != want {
		t.Errorf("error = %+v, want %+v", *mismatch, want)
	}
	for _, s := range []string{zipHash, got, "the module proxy served content that differs from the checksum database", toml + "@v1.2.0"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}

	_, modHash, _ := c.Lookup(ctx, toml, "v1.2.0")
	err = gomod.VerifyMod([]byte("module "+toml+"\n\ngo 1.99\n"), modHash)
	if !errors.As(err, &mismatch) || mismatch.Module != toml || mismatch.File != "go.mod" {
		t.Errorf("tampered go.mod: err = %v", err)
	}
	if err := gomod.VerifyZip(zipFile, ""); err == nil || errors.As(err, &mismatch) {
		t.Errorf("empty expected hash: err = %v, want a plain error", err)
	}
}

func TestSumDBWrongKey(t *testing.T) {
	p := gomodtest.NewProxy(t, modules())
	p.SignWithOtherKey()
	c := newClient(t, proxyEnv(p))
	_, _, err := c.Lookup(context.Background(), toml, "v1.2.0")
	var se *gomod.SecurityError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *SecurityError", err)
	}
	if !strings.Contains(err.Error(), "not signed by the key in GOSUMDB") || se.Module != toml || len(se.Hints()) == 0 {
		t.Errorf("error = %v (%+v)", err, se)
	}
	// Once caught, the Client trusts the database with nothing more.
	if _, _, err := c.Lookup(context.Background(), hello, "v0.1.0"); !errors.As(err, &se) {
		t.Errorf("next lookup: err = %v, want the same *SecurityError", err)
	}
}

func TestSumDBFork(t *testing.T) {
	p := gomodtest.NewProxy(t, modules())
	ctx := context.Background()
	cfg, err := gomod.LoadConfigFrom(envOf(proxyEnv(p)), nil)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	client := &http.Client{Transport: loopbackOnly{t}}
	if _, _, err := gomod.NewClient(cfg, client, cache).Lookup(ctx, toml, "v1.2.0"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := gomod.NewClient(cfg, client, cache).Lookup(ctx, hello, "v0.1.0"); err != nil {
		t.Fatal(err)
	}
	// A later run, against a database that now shows another history.
	p.ForkSumDB()
	_, _, err = gomod.NewClient(cfg, client, cache).Lookup(ctx, toml, "v1.3.0")
	var se *gomod.SecurityError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *SecurityError", err)
	}
	if !strings.Contains(se.Reason, "contradicts") || !strings.Contains(se.Detail, "proof of misbehavior") {
		t.Errorf("error = %v, want a fork with its proof", err)
	}
	if !strings.Contains(se.StateDir, cache) {
		t.Errorf("StateDir = %q, want it under %s", se.StateDir, cache)
	}
}

func TestSumDBTamperedRecord(t *testing.T) {
	p := gomodtest.NewProxy(t, modules())
	p.TamperSumDBRecords()
	c := newClient(t, proxyEnv(p))
	_, _, err := c.Lookup(context.Background(), toml, "v1.2.0")
	var se *gomod.SecurityError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *SecurityError", err)
	}
	if !strings.Contains(se.Reason, "not in the tree it signed") {
		t.Errorf("error = %v, want it to say the record is not in the tree", err)
	}
}

func TestNoSumDB(t *testing.T) {
	p := gomodtest.NewProxy(t, modules())
	ctx := context.Background()
	env := proxyEnv(p)
	env["GOPRIVATE"] = "corp.example,*.internal.example"
	c := newClient(t, env)

	before := len(p.Requests())
	zipHash, modHash, err := c.Lookup(ctx, private, "v1.0.0")
	var skip *gomod.NoChecksumDBError
	if !errors.As(err, &skip) || zipHash != "" || modHash != "" {
		t.Fatalf("Lookup of a GOPRIVATE module = %q %q %v, want empty hashes and *NoChecksumDBError", zipHash, modHash, err)
	}
	if reqs := p.Requests()[before:]; len(reqs) != 0 {
		t.Errorf("the database was asked about a private module: %q", reqs)
	}
	// GOPRIVATE also means GONOPROXY, and den will not go to version control.
	var np *gomod.NoProxyError
	if _, err := c.Versions(ctx, private); !errors.As(err, &np) || len(np.Hints()) == 0 {
		t.Errorf("Versions of a GOPRIVATE module: err = %v, want *NoProxyError", err)
	}
	// The caller computes the hash itself; with GONOPROXY=none the private module comes through
	// the proxy.
	env["GONOPROXY"] = "none"
	c = newClient(t, env)
	zipFile := filepath.Join(t.TempDir(), "secret.zip")
	if err := c.DownloadZip(ctx, private, "v1.0.0", zipFile); err != nil {
		t.Fatal(err)
	}
	if h, err := gomod.HashZip(zipFile); err != nil || !strings.HasPrefix(h, "h1:") {
		t.Errorf("HashZip = %q, %v", h, err)
	}

	// Patterns match path prefixes, element by element.
	for mod, want := range map[string]bool{"corp.example/x/y": true, "a.internal.example/z": true, "corp.example.com/x": false, "example.com/corp.example": false} {
		_, _, err := c.Lookup(ctx, mod, "v1.0.0")
		if got := errors.As(err, &skip); got != want {
			t.Errorf("%s: skipped = %v, want %v (err %v)", mod, got, want, err)
		}
	}

	// Toolchains are checked whatever GONOSUMDB says.
	env["GONOSUMDB"] = gomod.ToolchainModule
	c = newClient(t, env)
	if _, _, err := c.Lookup(ctx, gomod.ToolchainModule, gomodtest.ToolchainVersion("go1.22.3", "linux", "amd64")); err != nil {
		t.Errorf("toolchain lookup with GONOSUMDB matching it: %v", err)
	}

	// GOSUMDB=off: modules are trusted on first use, toolchains refused.
	c = newClient(t, map[string]string{"GOPROXY": p.URL, "GOSUMDB": "off"})
	if _, _, err := c.Lookup(ctx, toml, "v1.2.0"); !errors.As(err, &skip) {
		t.Errorf("GOSUMDB=off: err = %v, want *NoChecksumDBError", err)
	}
	_, _, err = c.Lookup(ctx, gomod.ToolchainModule, gomodtest.ToolchainVersion("go1.22.3", "linux", "amd64"))
	if err == nil || errors.As(err, &skip) || !strings.Contains(err.Error(), "GOSUMDB=off") {
		t.Errorf("toolchain with GOSUMDB=off: err = %v, want a refusal", err)
	}
}

func TestUnzipToolchain(t *testing.T) {
	p := gomodtest.NewProxy(t, modules())
	c := newClient(t, proxyEnv(p))
	ctx := context.Background()
	tv := gomodtest.ToolchainVersion("go1.22.3", "linux", "amd64")
	zipFile := filepath.Join(t.TempDir(), "go.zip")
	if err := c.DownloadZip(ctx, gomod.ToolchainModule, tv, zipFile); err != nil {
		t.Fatal(err)
	}
	goroot := filepath.Join(t.TempDir(), "go")
	if err := gomod.UnzipToolchain(zipFile, tv, goroot); err != nil {
		t.Fatal(err)
	}
	for name, exec := range map[string]bool{
		"bin/go":                       true,
		"bin/gofmt":                    true,
		"pkg/tool/linux_amd64/compile": true,
		"lib/wasm/go_js_wasm_exec":     true,
		"lib/time/zoneinfo.zip":        false,
		"src/fmt/print.go":             false,
		"VERSION":                      false,
	} {
		fi, err := os.Stat(filepath.Join(goroot, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if got := fi.Mode()&0o111 == 0o111; got != exec && runtime.GOOS != "windows" {
			t.Errorf("%s: mode %v, executable = %v, want %v", name, fi.Mode(), got, exec)
		}
	}
	for _, dir := range []string{"src", "src/cmd"} {
		data, err := os.ReadFile(filepath.Join(goroot, dir, "go.mod"))
		if err != nil || !strings.HasPrefix(string(data), "module ") {
			t.Errorf("%s/go.mod = %q, %v; want _go.mod's copy", dir, data, err)
		}
	}
	if runtime.GOOS != "windows" {
		out, err := exec.Command(filepath.Join(goroot, "bin", "go"), "version").Output()
		if err != nil || string(out) != "go version go1.22.3 linux/amd64\n" {
			t.Errorf("bin/go version = %q, %v", out, err)
		}
	}
	if err := gomod.UnzipToolchain(zipFile, tv, goroot); err == nil {
		t.Error("unpacked over a non-empty directory")
	}
	// A zip for another version does not unpack as this one.
	other := gomodtest.ToolchainVersion("go1.22.4", "linux", "amd64")
	if err := gomod.UnzipToolchain(zipFile, other, filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("unpacked a zip under another version")
	}
}
