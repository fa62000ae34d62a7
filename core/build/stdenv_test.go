package build

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/sandbox"
	"github.com/den-sh/den/core/stdenv"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// TestMain lets the test binary serve as the sandbox's init when a build re-executes it.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandbox.InitArg {
		sandbox.Main()
	}
	os.Exit(m.Run())
}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	// Outside /tmp, where the sandbox's /tmp can be the build dir.
	root, err := os.MkdirTemp("/var/tmp", "den-build-test-")
	if err != nil {
		root = t.TempDir()
	} else {
		t.Cleanup(func() { os.RemoveAll(root) })
	}
	st, err := store.Open(filepath.Join(root, "store"), filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(st.Dir) })
	return st
}

// addUnit adds a directory with the given files (path -> content; "dir/" is a directory) to
// the store.
func addUnit(t *testing.T, st *store.Store, name string, files map[string]string) storepath.Path {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	for p, content := range files {
		full := filepath.Join(dir, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p, err := st.AddPath(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCCWrapperBuilder(t *testing.T) {
	st := newStore(t)
	units := map[string]storepath.Path{}
	for _, u := range []string{"gcc-12", "binutils", "glibc", "linux", "libxcrypt"} {
		units[u] = addUnit(t, st, u, map[string]string{"share/doc/" + u: u})
	}
	bash := addUnit(t, st, "bash", map[string]string{"bin/bash": "not really bash"})
	tc := stdenv.Toolchain{
		GCC: string(units["gcc-12"]), Binutils: string(units["binutils"]), Libc: string(units["glibc"]),
		LinuxHeaders: string(units["linux"]), Shell: string(bash) + "/bin/bash", Triplet: "x86_64-linux-gnu",
		GCCVersion: "12", Extra: []string{string(units["libxcrypt"])},
	}
	inputs := []storepath.Path{bash}
	for _, u := range units {
		inputs = append(inputs, u)
	}
	d := &derivation.Derivation{
		Name: "cc-wrapper-12", System: "x86_64-linux", Host: "x86_64-linux", Builder: derivation.BuilderCCWrapper,
		Env: tc.Env(), Inputs: inputs,
	}
	if err := d.Seal(st.Dir); err != nil {
		t.Fatal(err)
	}
	b := &Builder{Store: st, Sandbox: sandbox.ModeOff}
	if err := b.Realize(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	tc.Out = string(d.Out)
	want, err := stdenv.Wrapper(tc)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range want {
		p := filepath.Join(string(d.Out), name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.HasSuffix(name, "/") {
			if !fi.IsDir() {
				t.Errorf("%s is not a directory", name)
			}
			continue
		}
		got, _ := os.ReadFile(p)
		if string(got) != string(data) {
			t.Errorf("%s differs from Wrapper's", name)
		}
		if strings.HasPrefix(name, "bin/") && fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable: %v", name, fi.Mode())
		}
	}
	info, err := st.Info(d.Out)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range inputs {
		if !slices.Contains(info.References, u) {
			t.Errorf("the wrapper does not reference %s: %v", u, info.References)
		}
	}

	// A unit the scripts would name outside the closure is refused.
	bad := *d
	bad.Inputs = slices.DeleteFunc(slices.Clone(inputs), func(p storepath.Path) bool { return p == units["glibc"] })
	bad.Env = tc.Env()
	bad.Env["gccVersion"] = "13" // another path
	if err := bad.Seal(st.Dir); err != nil {
		t.Fatal(err)
	}
	err = b.Realize(context.Background(), &bad)
	if err == nil || !strings.Contains(err.Error(), string(units["glibc"])) || !strings.Contains(err.Error(), "none of its inputs") {
		t.Errorf("a wrapper naming a unit outside its inputs: %v", err)
	}
	if ok, _ := st.IsValid(bad.Out); ok {
		t.Error("the refused wrapper was stored")
	}
}

// shellProbe is a static program that stands in for bash in a stdenv build: it writes what
// the build sees into $out/report.
const shellProbe = `package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	var b strings.Builder
	wd, _ := os.Getwd()
	fmt.Fprintf(&b, "pwd=%s\nscript=%s\n", wd, os.Args[len(os.Args)-1])
	for _, k := range []string{"TMPDIR", "DEN_BUILD_TOP", "PATH", "CPATH", "LIBRARY_PATH", "PKG_CONFIG_PATH", "DEN_ENFORCE_PURITY", "CC", "CXX", "shell"} {
		fmt.Fprintf(&b, "%s=%s\n", k, os.Getenv(k))
	}
	for _, p := range []string{"/usr/lib", "/usr/share", "/lib", "/lib64", "/usr/include"} {
		_, err := os.Lstat(p)
		fmt.Fprintf(&b, "%s=%v\n", p, err == nil)
	}
	for _, p := range []string{"/bin/sh", "/bin/bash", "/usr/bin/env", "/tmp"} {
		l, _ := os.Readlink(p)
		fmt.Fprintf(&b, "%s=%s\n", p, l)
	}
	if _, err := os.Stat(os.Args[len(os.Args)-1]); err != nil {
		fmt.Fprintf(&b, "script-missing=%v\n", err)
	}
	if err := os.WriteFile(os.Getenv("out")+"/report", []byte(b.String()), 0o644); err != nil {
		os.Exit(1)
	}
}
`

func buildProbe(t *testing.T, src string) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build a static probe")
	}
	dir := t.TempDir()
	for name, content := range map[string]string{"main.go": src, "go.mod": "module probe\n\ngo 1.21\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(t.TempDir(), "probe")
	cmd := exec.Command(goCmd, "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestStdenvBuild runs a stdenv derivation in the sandbox: the host's /usr and /lib are gone,
// /bin/sh is the stdenv's bash, the build dir is /build, and the inputs' dirs are set up.
func TestStdenvBuild(t *testing.T) {
	if err := sandbox.Available(); err != nil {
		if os.Getenv("DEN_REQUIRE_SANDBOX") == "1" {
			t.Fatal(err)
		}
		t.Skipf("no sandbox here: %v", err)
	}
	st := newStore(t)
	bash := addUnit(t, st, "bash", map[string]string{"bin/bash": buildProbe(t, shellProbe)})
	zlib := addUnit(t, st, "zlib", map[string]string{
		"include/zlib.h": "", "lib/x86_64-linux-gnu/libz.so": "", "lib/x86_64-linux-gnu/pkgconfig/zlib.pc": "",
	})
	coreutils := addUnit(t, st, "coreutils", map[string]string{"bin/env": "", "bin/true": ""})
	d := &derivation.Derivation{
		Name: "app-1.0", System: "x86_64-linux", Host: "x86_64-linux", Builder: derivation.BuilderScript,
		Script: "make install", Env: map[string]string{"shell": string(bash) + "/bin/bash"},
		Inputs: []storepath.Path{bash, zlib, coreutils}, Stdenv: true,
	}
	if err := d.Seal(st.Dir); err != nil {
		t.Fatal(err)
	}
	b := &Builder{Store: st, Sandbox: sandbox.ModeRequired}
	if err := b.Realize(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(string(d.Out), "report"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	shell := string(bash) + "/bin/bash"
	for k, want := range map[string]string{
		"pwd": "/build", "script": "/build/.den/build.sh", "TMPDIR": "/build", "DEN_BUILD_TOP": "/build",
		"PATH":               string(bash) + "/bin:" + string(coreutils) + "/bin",
		"CPATH":              string(zlib) + "/include",
		"LIBRARY_PATH":       string(zlib) + "/lib/x86_64-linux-gnu:" + string(zlib) + "/lib",
		"PKG_CONFIG_PATH":    string(zlib) + "/lib/x86_64-linux-gnu/pkgconfig",
		"DEN_ENFORCE_PURITY": "1", "CC": "cc", "CXX": "c++", "shell": shell,
		"/usr/lib": "false", "/usr/share": "false", "/lib": "false", "/lib64": "false", "/usr/include": "false",
		"/bin/sh": shell, "/bin/bash": shell, "/usr/bin/env": string(coreutils) + "/bin/env", "/tmp": "/build",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if v, ok := got["script-missing"]; ok {
		t.Errorf("the script is not where the build is told it is: %s", v)
	}

	// A shell outside the inputs is refused before anything runs.
	bad := *d
	bad.Inputs = []storepath.Path{zlib}
	if err := bad.Seal(st.Dir); err != nil {
		t.Fatal(err)
	}
	if err := b.Realize(context.Background(), &bad); err == nil || !strings.Contains(err.Error(), "none of its inputs") {
		t.Errorf("a stdenv build whose shell is not an input: %v", err)
	}
}
