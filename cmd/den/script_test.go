package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/den-sh/den/core/gomod/gomodtest"
	"github.com/den-sh/den/core/npm"
	"github.com/den-sh/den/core/npm/npmtest"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/resolve"
	"github.com/den-sh/den/core/sandbox"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

func TestMain(m *testing.M) {
	// The sandbox re-executes this binary as /proc/self/exe, a name testscript does not know.
	if len(os.Args) > 1 && os.Args[1] == sandbox.InitArg {
		sandbox.Main()
	}
	testscript.Main(m, map[string]func(){
		"den": func() { main() },
	})
}

// TestScript runs the hermetic CLI scripts in testdata/script.
func TestScript(t *testing.T) {
	if os.Getenv("DEN_REQUIRE_NIX") == "1" {
		if _, err := exec.LookPath("nix-store"); err != nil {
			t.Fatal("DEN_REQUIRE_NIX=1 but nix-store is not on PATH (install Debian's nix-bin)")
		}
	}
	t.Cleanup(removeRealGo)
	testscript.Run(t, scriptParams("../../testdata/script"))
}

func scriptParams(dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		UpdateScripts:       os.Getenv("DEN_UPDATE_SCRIPTS") == "1",
		Setup:               setupScript,
		Cmds:                allScriptCmds(),
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Geteuid() == 0, nil
			case "weed":
				// SeaweedFS's server, for the real-S3 journey; under DEN_REQUIRE_WEED=1 (CI) a
				// machine without one fails the script instead.
				_, err := exec.LookPath("weed")
				return err == nil || os.Getenv("DEN_REQUIRE_WEED") == "1", nil
			case "sandbox":
				// Under DEN_REQUIRE_SANDBOX=1 a host without one fails the script instead.
				return os.Getenv("DEN_REQUIRE_SANDBOX") == "1" || sandbox.Available() == nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	}
}

// setupScript gives each script its own home, store, state and cache, and points every registry
// at a dead loopback address, so a script that reaches for a real registry by accident fails.
func setupScript(env *testscript.Env) error {
	w := env.WorkDir
	for k, v := range map[string]string{
		"HOME":                w + "/home",
		"XDG_CONFIG_HOME":     w + "/home/.config",
		"XDG_DATA_HOME":       w + "/home/.local/share",
		"XDG_STATE_HOME":      w + "/home/.local/state",
		"XDG_CACHE_HOME":      w + "/home/.cache",
		"DEN_STORE":           w + "/store",
		"DEN_STATE":           w + "/state",
		"DEN_CACHE":           w + "/cache",
		"GOPROXY":             "off",
		"GOSUMDB":             "off",
		"GOFLAGS":             "-mod=mod",
		"npm_config_registry": "http://127.0.0.1:9/",
		"HTTP_PROXY":          "http://127.0.0.1:9",
		"HTTPS_PROXY":         "http://127.0.0.1:9",
		"NO_PROXY":            "127.0.0.1,localhost",
		"PATH":                os.Getenv("PATH"),
		"DEN_REQUIRE_SANDBOX": os.Getenv("DEN_REQUIRE_SANDBOX"),
		// A process of this user that runs as long as the script: the test itself.
		"TESTPID": strconv.Itoa(os.Getpid()),
		// This system, and another Linux one to refuse builds for.
		"THIS":  platform.Current().String(),
		"OTHER": otherSystem(),
	} {
		env.Setenv(k, v)
	}
	// testscript runs each script as a subtest of a *testing.T, which the fakes need.
	if tb, ok := env.T().(testing.TB); ok {
		env.Values["goproxy"] = &fakeGoProxy{tb: tb}
		env.Values["debian"] = &fakeDebian{tb: tb}
	}
	env.Values["npm"] = &fakeNPM{}
	env.Values["s3"] = &fakeS3{}
	return os.MkdirAll(w+"/home", 0o755)
}

// otherSystem is a Linux system that is not this one.
func otherSystem() string {
	if platform.Current().String() == "aarch64-linux" {
		return "x86_64-linux"
	}
	return "aarch64-linux"
}

// fakeGoProxy is a script's fake Go module proxy, started by its first goproxy command.
type fakeGoProxy struct {
	tb testing.TB
	p  *gomodtest.Proxy
}

func goProxyOf(ts *testscript.TestScript) *fakeGoProxy {
	f, ok := ts.Value("goproxy").(*fakeGoProxy)
	if !ok {
		ts.Fatalf("the script harness has no fake Go proxy")
	}
	if f.p == nil {
		f.p = gomodtest.NewProxy(f.tb, nil)
	}
	return f
}

// fakeNPM is a script's fake npm registry.
type fakeNPM struct{ r *npmtest.Registry }

// fakeNode stands in for node: it answers --version and runs "JavaScript" files as shell
// scripts, which is enough to check the wrappers and the node_modules layout.
func fakeNode(v string) string {
	return "#!/bin/sh\nif [ \"$1\" = --version ]; then echo v" + v + "; exit 0; fi\nexec /bin/sh \"$@\"\n"
}

// fakeNPMReleases stand in for npm, which comes with node (npmtest.NPMReleases).
func fakeNPMReleases() []npmtest.Package { return npmtest.NPMReleases() }

var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// npmregistry: start a fake npm registry on loopback with node (20.1.0, 22.3.0) and esbuild
	// (0.20.0) platform packages for den's default systems, npm (fakeNPMReleases), left-pad 1.0.0
	// and 1.3.0, and greeter 1.0.0 (depends on left-pad ^1, command greet); point
	// npm_config_registry at it.
	"npmregistry": func(ts *testscript.TestScript, neg bool, args []string) {
		r := npmtest.Start("/")
		ts.Defer(r.Close)
		for _, sys := range resolve.DefaultSystems() {
			ns, err := npm.SystemFor(sys)
			ts.Check(err)
			for _, v := range []string{"20.1.0", "22.3.0"} {
				r.Add(npmtest.Package{Name: "node-" + ns.OS + "-" + ns.CPU, Version: v, OS: []string{ns.OS}, CPU: []string{ns.CPU},
					Bin: map[string]string{"node": "bin/node"}, Files: map[string]string{"bin/node": fakeNode(v)}})
			}
			r.Add(npmtest.Package{Name: "@esbuild/" + ns.OS + "-" + ns.CPU, Version: "0.20.0", OS: []string{ns.OS}, CPU: []string{ns.CPU},
				Files: map[string]string{"bin/esbuild": "#!/bin/sh\necho esbuild 0.20.0 " + ns.OS + "-" + ns.CPU + "\n"}})
		}
		for _, p := range fakeNPMReleases() {
			r.Add(p)
		}
		for _, v := range []string{"1.0.0", "1.3.0"} {
			r.Add(npmtest.Package{Name: "left-pad", Version: v, Files: map[string]string{"index.js": "left-pad " + v + "\n"}})
		}
		r.Add(npmtest.Package{Name: "greeter", Version: "1.0.0", Deps: map[string]string{"left-pad": "^1.0.0"},
			Bin:   map[string]string{"greet": "bin/greet.js"},
			Files: map[string]string{"bin/greet.js": "d=$(dirname \"$0\")\necho hello from greet\ncat \"$d/../../left-pad/index.js\"\n"}})
		ts.Value("npm").(*fakeNPM).r = r
		ts.Setenv("npm_config_registry", r.URL)
		u, _ := url.Parse(r.URL)
		ts.Setenv("NPM_AUTH_KEY", "//"+u.Host+u.Path)
	},
	// npm-add NAME@VERSION [dir=DIR] [engines=RANGE] [bin=CMD:FILE]... [os=OS cpu=CPU]: publish
	// a version on the fake registry, its files from DIR of the script's directory.
	"npm-add": func(ts *testscript.TestScript, neg bool, args []string) {
		at := strings.LastIndexByte(args[0], '@')
		if at <= 0 {
			ts.Fatalf("usage: npm-add NAME@VERSION [key=value]...")
		}
		p := npmtest.Package{Name: args[0][:at], Version: args[0][at+1:]}
		bins := map[string]string{}
		for _, kv := range args[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "dir":
				p.Files = map[string]string(moduleFiles(ts, v))
			case "engines":
				p.Engines = map[string]string{"node": v}
			case "bin":
				cmd, file, _ := strings.Cut(v, ":")
				bins[cmd] = file
			case "os":
				p.OS = []string{v}
			case "cpu":
				p.CPU = []string{v}
			default:
				ts.Fatalf("npm-add: unknown %s", k)
			}
		}
		if len(bins) > 0 {
			p.Bin = bins
		}
		ts.Value("npm").(*fakeNPM).r.Add(p)
	},
	// npm-tag NAME TAG VERSION: point a dist-tag of NAME at VERSION.
	"npm-tag": func(ts *testscript.TestScript, neg bool, args []string) {
		ts.Value("npm").(*fakeNPM).r.Tag(args[0], args[1], args[2])
	},
	// npm-add-node [-current | -systems SYS,...] VERSION...: publish fake node releases for
	// den's default systems, with -current for this system only, or with -systems for those
	// ("current" is this one).
	"npm-add-node": func(ts *testscript.TestScript, neg bool, args []string) {
		systems := resolve.DefaultSystems()
		switch {
		case len(args) > 0 && args[0] == "-current":
			systems, args = systems[:1], args[1:]
		case len(args) > 1 && args[0] == "-systems":
			systems, args = scriptSystems(ts, args[1]), args[2:]
		}
		for _, sys := range systems {
			ns, err := npm.SystemFor(sys)
			ts.Check(err)
			for _, v := range args {
				ts.Value("npm").(*fakeNPM).r.Add(npmtest.Package{Name: "node-" + ns.OS + "-" + ns.CPU, Version: v, OS: []string{ns.OS}, CPU: []string{ns.CPU},
					Bin: map[string]string{"node": "bin/node"}, Files: map[string]string{"bin/node": fakeNode(v)}})
			}
		}
	},
	// npm-hits VAR: VAR gets how many package documents the fake npm registry has served.
	"npm-hits": func(ts *testscript.TestScript, neg bool, args []string) {
		n := 0
		for _, q := range ts.Value("npm").(*fakeNPM).r.Requests() {
			if !strings.Contains(q.Path, "/-/") {
				n++
			}
		}
		ts.Setenv(args[0], strconv.Itoa(n))
	},
	// npm-tamper NAME VERSION | npm-token TOKEN: serve a tarball that does not match its
	// integrity, or require a bearer token.
	"npm-tamper": func(ts *testscript.TestScript, neg bool, args []string) {
		ts.Value("npm").(*fakeNPM).r.Tamper(args[0], args[1])
	},
	"npm-token": func(ts *testscript.TestScript, neg bool, args []string) {
		ts.Value("npm").(*fakeNPM).r.RequireToken(args[0])
	},
	// npm-integrity NAME VERSION VAR: VAR gets the SRI sha512 of a published version's tarball,
	// for a script to write a package-lock.json.
	"npm-integrity": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 3 {
			ts.Fatalf("usage: npm-integrity NAME VERSION VAR")
		}
		i := ts.Value("npm").(*fakeNPM).r.Integrity(args[0], args[1])
		if i == "" {
			ts.Fatalf("npm-integrity: %s@%s is not published", args[0], args[1])
		}
		ts.Setenv(args[2], i)
	},
	// goproxy [-systems SYS,...] GOVERSION...: start a fake Go module proxy with a checksum
	// database serving golang.org/toolchain for those Go releases (den's default systems, or
	// only those named; "current" is this one), and point GOPROXY and GOSUMDB at it.
	"goproxy": func(ts *testscript.TestScript, neg bool, args []string) {
		p := goProxyOf(ts).p
		systems := resolve.DefaultSystems()
		if len(args) > 1 && args[0] == "-systems" {
			systems = scriptSystems(ts, args[1])
			args = args[2:]
		}
		for _, v := range args {
			for _, sys := range systems {
				p.Add(gomodtest.ToolchainModule, gomodtest.ToolchainVersion(v, sys.GOOS(), sys.GOARCH()), gomodtest.ToolchainFiles(v, sys.GOOS(), sys.GOARCH()))
			}
		}
		ts.Setenv("GOPROXY", p.URL)
		ts.Setenv("GOSUMDB", p.SumDBKey)
		ts.Setenv("GOENV", "off")
	},
	// goproxy-hits REGEXP VAR: VAR gets how many requests to the fake Go proxy matched REGEXP.
	"goproxy-hits": func(ts *testscript.TestScript, neg bool, args []string) {
		re, err := regexp.Compile(args[0])
		ts.Check(err)
		n := 0
		for _, q := range goProxyOf(ts).p.Requests() {
			if re.MatchString(q) {
				n++
			}
		}
		ts.Setenv(args[1], strconv.Itoa(n))
	},
	// goproxy-tamper zip GOVERSION | sumdb-key | lists-down: make the fake proxy serve a
	// different toolchain zip than the database recorded, sign the database with another key, or
	// fail every version listing.
	"goproxy-tamper": func(ts *testscript.TestScript, neg bool, args []string) {
		p := goProxyOf(ts).p
		switch args[0] {
		case "zip":
			cur := platform.Current()
			files := gomodtest.ToolchainFiles(args[1], cur.GOOS(), cur.GOARCH())
			files["bin/go"] = "#!/bin/sh\necho pwned\n"
			p.ServeOtherZip(gomodtest.ToolchainModule, gomodtest.ToolchainVersion(args[1], cur.GOOS(), cur.GOARCH()), files)
		case "sumdb-key":
			p.SignWithOtherKey()
		case "sumdb-records":
			p.TamperSumDBRecords()
		case "lists-down":
			p.FailLists(true)
		default:
			ts.Fatalf("unknown tampering %q", args[0])
		}
	},
	// goproxy-realgo: like goproxy, but the toolchain is the host's own Go (its GOROOT, zipped
	// once per test binary) as golang.org/toolchain for this system, so that go-source builds
	// really compile. The same release for the other common systems is a stand-in, enough to
	// lock it. GOVER gets the release (go1.26.8).
	"goproxy-realgo": func(ts *testscript.TestScript, neg bool, args []string) {
		goVersion, zipFile, err := realGoZip()
		ts.Check(err)
		p := goProxyOf(ts).p
		cur := platform.Current()
		p.AddZip(gomodtest.ToolchainModule, gomodtest.ToolchainVersion(goVersion, cur.GOOS(), cur.GOARCH()), zipFile)
		for _, sys := range [][2]string{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}} {
			if sys != [2]string{cur.GOOS(), cur.GOARCH()} {
				p.Add(gomodtest.ToolchainModule, gomodtest.ToolchainVersion(goVersion, sys[0], sys[1]), gomodtest.ToolchainFiles(goVersion, sys[0], sys[1]))
			}
		}
		ts.Setenv("GOPROXY", p.URL)
		ts.Setenv("GOSUMDB", p.SumDBKey)
		ts.Setenv("GOENV", "off")
		ts.Setenv("GOVER", goVersion)
	},
	// goproxy-add [-sum] MODULE VERSION DIR: serve the files under DIR as MODULE@VERSION on the
	// fake proxy (and its checksum database). With -sum, DIR first gets a go.sum for the
	// requirements of its go.mod, from the hashes of the modules the proxy already serves.
	"goproxy-add": func(ts *testscript.TestScript, neg bool, args []string) {
		withSum := len(args) > 0 && args[0] == "-sum"
		if withSum {
			args = args[1:]
		}
		if len(args) != 3 {
			ts.Fatalf("usage: goproxy-add [-sum] MODULE VERSION DIR")
		}
		p := goProxyOf(ts).p
		files := moduleFiles(ts, args[2])
		if withSum {
			f, err := modfile.Parse("go.mod", []byte(files["go.mod"]), nil)
			ts.Check(err)
			var sum strings.Builder
			for _, r := range f.Require {
				zipHash, modHash := p.Hashes(r.Mod.Path, r.Mod.Version)
				fmt.Fprintf(&sum, "%s %s %s\n%s %s/go.mod %s\n", r.Mod.Path, r.Mod.Version, zipHash, r.Mod.Path, r.Mod.Version, modHash)
			}
			files["go.sum"] = sum.String()
		}
		p.Add(args[0], args[1], files)
	},
	// goproxy-tamper-module MODULE VERSION DIR: make the fake proxy serve the files under DIR as
	// MODULE@VERSION while the checksum database keeps the hash of the original.
	"goproxy-tamper-module": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 3 {
			ts.Fatalf("usage: goproxy-tamper-module MODULE VERSION DIR")
		}
		goProxyOf(ts).p.ServeOtherZip(args[0], args[1], moduleFiles(ts, args[2]))
	},
	// httpserve DIR VAR: serve DIR on loopback; VAR gets the base URL.
	"httpserve": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: httpserve DIR VAR")
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		srv := &http.Server{Handler: http.FileServer(http.Dir(ts.MkAbs(args[0])))}
		go srv.Serve(ln)
		ts.Defer(func() { srv.Close() })
		ts.Setenv(args[1], "http://"+ln.Addr().String())
	},
	// tcplisten VAR: accept loopback TCP connections, greeting each; VAR gets the port.
	"tcplisten": func(ts *testscript.TestScript, neg bool, args []string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("hello from the host\n"))
				c.Close()
			}
		}()
		ts.Defer(func() { ln.Close() })
		ts.Setenv(args[0], fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
	},
	// freeport VAR: VAR gets a loopback TCP port that was free a moment ago, for a server the
	// script starts in the background.
	"freeport": func(ts *testscript.TestScript, neg bool, args []string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		ts.Setenv(args[0], fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
		ln.Close()
	},
	// waitport HOST:PORT: wait up to a minute for something to listen there.
	"waitport": func(ts *testscript.TestScript, neg bool, args []string) {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			if c, err := net.DialTimeout("tcp", args[0], time.Second); err == nil {
				c.Close()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		ts.Fatalf("nothing listens on %s", args[0])
	},
	// flipbyte GLOB: invert one bit of the middle byte of every file matching GLOB (read-only
	// files too), as a disk or a mirror might.
	"flipbyte": func(ts *testscript.TestScript, neg bool, args []string) {
		files, _ := filepath.Glob(ts.MkAbs(args[0]))
		if len(files) == 0 {
			ts.Fatalf("no file matches %s", args[0])
		}
		for _, f := range files {
			fi, err := os.Stat(f)
			ts.Check(err)
			data, err := os.ReadFile(f)
			ts.Check(err)
			if len(data) == 0 {
				ts.Fatalf("%s is empty", f)
			}
			data[len(data)/2] ^= 0x01
			ts.Check(os.Chmod(f, 0o644))
			ts.Check(os.WriteFile(f, data, 0o644))
			ts.Check(os.Chmod(f, fi.Mode().Perm()))
		}
	},
	// sri FILE VAR: VAR gets the sha256 SRI hash of FILE.
	"sri": func(ts *testscript.TestScript, neg bool, args []string) {
		data, err := os.ReadFile(ts.MkAbs(args[0]))
		ts.Check(err)
		sum := sha256.Sum256(data)
		ts.Setenv(args[1], "sha256-"+base64.StdEncoding.EncodeToString(sum[:]))
	},
	// subst FILE...: replace ${VAR} (braced only, so a build script's $out stays) with the
	// script's environment.
	"subst": func(ts *testscript.TestScript, neg bool, args []string) {
		for _, f := range args {
			p := ts.MkAbs(f)
			data, err := os.ReadFile(p)
			ts.Check(err)
			out := bracedVar.ReplaceAllStringFunc(string(data), func(m string) string {
				if v := ts.Getenv(m[2 : len(m)-1]); v != "" {
					return v
				}
				return m
			})
			ts.Check(os.WriteFile(p, []byte(out), 0o644))
		}
	},
	// mktgz DIR OUT: write DIR as a gzipped tarball with one top directory named after DIR.
	"mktgz": func(ts *testscript.TestScript, neg bool, args []string) {
		ts.Check(writeTarGz(ts.MkAbs(args[0]), ts.MkAbs(args[1])))
	},
	// mkevil OUT KIND: write a gzipped tarball that tries to escape: KIND is dotdot (a "../"
	// entry) or symlink (a link to /etc followed by a file written through it).
	"mkevil": func(ts *testscript.TestScript, neg bool, args []string) {
		ts.Check(os.MkdirAll(filepath.Dir(ts.MkAbs(args[0])), 0o755))
		f, err := os.Create(ts.MkAbs(args[0]))
		ts.Check(err)
		defer f.Close()
		gz := gzip.NewWriter(f)
		tw := tar.NewWriter(gz)
		file := func(name, body string) {
			ts.Check(tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
			tw.Write([]byte(body))
		}
		switch args[1] {
		case "dotdot":
			file("src/ok.txt", "ok\n")
			file("src/../../evil.txt", "evil\n")
		case "symlink":
			ts.Check(tw.WriteHeader(&tar.Header{Name: "src/etc", Linkname: "/etc", Typeflag: tar.TypeSymlink}))
			file("src/etc/evil.conf", "evil\n")
		default:
			ts.Fatalf("unknown kind %q", args[1])
		}
		ts.Check(tw.Close())
		ts.Check(gz.Close())
	},
	// lastline VAR: VAR gets the last line of the previous command's stdout.
	"lastline": func(ts *testscript.TestScript, neg bool, args []string) {
		lines := strings.Split(strings.TrimSpace(ts.ReadFile("stdout")), "\n")
		ts.Setenv(args[0], strings.TrimSpace(lines[len(lines)-1]))
	},
	// waitfor GLOB SUBSTRING: wait up to a minute for a file matching GLOB to contain SUBSTRING.
	"waitfor": func(ts *testscript.TestScript, neg bool, args []string) {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			files, _ := filepath.Glob(ts.MkAbs(args[0]))
			for _, f := range files {
				if data, err := os.ReadFile(f); err == nil && strings.Contains(string(data), args[1]) {
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		ts.Fatalf("%s never contained %q", args[0], args[1])
	},
	// countlines FILE N: FILE has exactly N lines.
	"countlines": func(ts *testscript.TestScript, neg bool, args []string) {
		data, _ := os.ReadFile(ts.MkAbs(args[0]))
		n := strings.Count(string(data), "\n")
		if fmt.Sprint(n) != args[1] {
			ts.Fatalf("%s has %d lines, want %s:\n%s", args[0], n, args[1], data)
		}
	},
	// mode PATH OCTAL: the permission bits of PATH (not following symlinks) equal OCTAL.
	"mode": func(ts *testscript.TestScript, neg bool, args []string) {
		fi, err := os.Lstat(ts.MkAbs(args[0]))
		ts.Check(err)
		got := fmt.Sprintf("%o", fi.Mode().Perm())
		if (got == args[1]) == neg {
			ts.Fatalf("%s has mode %s, want %s%s", args[0], got, map[bool]string{true: "not ", false: ""}[neg], args[1])
		}
	},
}

// scriptSystems reads a comma-separated list of systems, "current" being this one.
func scriptSystems(ts *testscript.TestScript, list string) []platform.System {
	var out []platform.System
	for _, name := range strings.Split(list, ",") {
		if name == "current" {
			name = platform.Current().String()
		}
		sys, err := platform.Parse(name)
		ts.Check(err)
		if !slices.Contains(out, sys) {
			out = append(out, sys)
		}
	}
	return out
}

// moduleFiles reads the files under a script's directory as a module's files.
func moduleFiles(ts *testscript.TestScript, dir string) gomodtest.Files {
	root := ts.MkAbs(dir)
	files := gomodtest.Files{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	ts.Check(err)
	return files
}

// realGo is the host's Go toolchain as a golang.org/toolchain zip, made once per test binary
// (zipping a GOROOT takes seconds) and removed when TestScript ends.
var realGo struct {
	once      sync.Once
	dir       string
	goVersion string
	zipFile   string
	err       error
}

func realGoZip() (goVersion, zipFile string, err error) {
	realGo.once.Do(func() {
		realGo.goVersion, realGo.zipFile, realGo.err = makeRealGoZip()
	})
	return realGo.goVersion, realGo.zipFile, realGo.err
}

func removeRealGo() {
	if realGo.dir != "" {
		os.RemoveAll(realGo.dir)
	}
}

// makeRealGoZip zips the host's GOROOT the way golang.org/toolchain zips are laid out: every
// file under golang.org/toolchain@VERSION/, go.mod files renamed _go.mod. Files are stored, not
// deflated, so that it is quick; the test suites (test/, testdata/) are left out, as no build
// needs them, and so are the few names a module zip may not hold. go.env says GOTOOLCHAIN=auto,
// as in the toolchains Go publishes.
func makeRealGoZip() (string, string, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env GOROOT: %v", err)
	}
	goroot := strings.TrimSpace(string(out))
	data, err := os.ReadFile(filepath.Join(goroot, "VERSION"))
	if err != nil {
		return "", "", err
	}
	goVersion, _, _ := strings.Cut(string(data), "\n")
	goVersion = strings.TrimSpace(goVersion)
	cur := platform.Current()
	mv := gomodtest.ToolchainVersion(goVersion, cur.GOOS(), cur.GOARCH())
	realGo.dir, err = os.MkdirTemp("", "den-realgo-")
	if err != nil {
		return "", "", err
	}
	zipFile := filepath.Join(realGo.dir, mv+".zip")
	f, err := os.Create(zipFile)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	prefix := gomodtest.ToolchainModule + "@" + mv + "/"
	folded := map[string]bool{}
	err = filepath.WalkDir(goroot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(goroot, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "test" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if d.Name() == "go.mod" {
			rel = path.Join(path.Dir(rel), "_go.mod")
		}
		if module.CheckFilePath(rel) != nil || folded[strings.ToLower(rel)] {
			return nil
		}
		folded[strings.ToLower(rel)] = true
		w, err := zw.CreateHeader(&zip.FileHeader{Name: prefix + rel, Method: zip.Store})
		if err != nil {
			return err
		}
		if rel == "go.env" {
			// A published toolchain switches to the one a go.mod asks for (the host's go.env
			// may have been edited to stop it); its proxy and database lines are left out, as
			// every script names its own.
			_, err := io.WriteString(w, "GOTOOLCHAIN=auto\n")
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(w, src)
		return err
	})
	if err != nil {
		return "", "", err
	}
	if err := zw.Close(); err != nil {
		return "", "", err
	}
	return goVersion, zipFile, f.Close()
}

var bracedVar = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

func writeTarGz(dir, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	top := filepath.Base(dir)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		name := filepath.ToSlash(filepath.Join(top, rel))
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = name
		hdr.ModTime = time.Unix(0, 0)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			_, err = io.Copy(tw, src)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}
