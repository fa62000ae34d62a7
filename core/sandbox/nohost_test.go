package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// probeSource is a static program that reports what a build sees: its argv[0], working
// directory and TMPDIR, whether each path given exists, and whether a file written through /tmp
// shows up in TMPDIR.
const probeSource = `package main

import (
	"fmt"
	"os"
)

func main() {
	wd, _ := os.Getwd()
	fmt.Printf("argv0=%s\npwd=%s\ntmpdir=%s\n", os.Args[0], wd, os.Getenv("TMPDIR"))
	for _, p := range os.Args[1:] {
		_, err := os.Lstat(p)
		fmt.Printf("%s=%v\n", p, err == nil)
	}
	err := os.WriteFile("/tmp/through-tmp", []byte("x"), 0o644)
	_, err2 := os.Stat(os.Getenv("TMPDIR") + "/through-tmp")
	fmt.Printf("tmp-is-build=%v\n", err == nil && err2 == nil)
}
`

// staticProbe builds probeSource without cgo into the input of f, so that a build can run it
// with nothing of the host visible, and returns its path.
func staticProbe(t *testing.T, f *fixture) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build a static probe")
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(probeSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module probe\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(f.input, "bin", "probe")
	cmd := exec.Command(goCmd, "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, out)
	}
	return bin
}

func probeReport(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

// TestWithoutTheHost runs a build that sees no host path: no /usr, no host libraries, /bin/sh
// only as the link the caller asked for, /etc synthesized, the build dir at /build with /tmp
// linking to it.
func TestWithoutTheHost(t *testing.T) {
	requireSandbox(t)
	// Below /tmp, the store's mount points would keep /tmp from being the build dir.
	base, err := os.MkdirTemp("/var/tmp", "den-sandbox-test-")
	if err != nil {
		t.Skipf("no directory outside /tmp: %v", err)
	}
	defer os.RemoveAll(base)
	f := newFixtureIn(t, base)
	probe := staticProbe(t, f)
	if err := os.MkdirAll(f.build+"/src", 0o755); err != nil {
		t.Fatal(err)
	}
	s := f.spec
	s.HostPaths = []string{}
	s.BuildPath = "/build"
	s.Dir = f.build + "/src"
	s.Env = []string{"TMPDIR=/build"}
	s.Links = map[string]string{"/bin/sh": probe, "/bin/bash": probe, "/usr/bin/env": probe}
	s.Args = []string{"/bin/sh", "/usr/include", "/usr/lib", "/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/bin/env",
		"/bin/bash", "/etc/passwd", "/etc/ld.so.cache", "/etc/alternatives", "/dev/null", f.build, f.input, f.secret}
	out, stderr, err := f.run(t, context.Background(), s, "")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr)
	}
	got := probeReport(out)
	for k, want := range map[string]string{
		"argv0": "/bin/sh", "pwd": "/build/src", "tmpdir": "/build",
		"/usr/include": "false", "/usr/lib": "false", "/lib/x86_64-linux-gnu": "false", "/lib64": "false", "/lib": "false",
		"/etc/ld.so.cache": "false", "/etc/alternatives": "false",
		"/usr/bin/env": "true", "/bin/bash": "true", "/etc/passwd": "true", "/dev/null": "true",
		f.build: "false", f.input: "true", f.secret: "false",
		"tmp-is-build": "true",
	} {
		if got[k] != want {
			t.Errorf("%s: %q, want %q (report:\n%s)", k, got[k], want, out)
		}
	}
	if _, err := os.Stat(f.build + "/through-tmp"); err != nil {
		t.Errorf("the file written to /tmp is not in the build dir on the host: %v", err)
	}
}

// TestBuildPathAndLinksChecked refuses links and build paths that cannot work, before any
// namespace is made.
func TestBuildPathAndLinksChecked(t *testing.T) {
	f := newFixture(t)
	for name, mod := range map[string]func(*Spec){
		"relative build path":     func(s *Spec) { s.BuildPath = "build" },
		"root build path":         func(s *Spec) { s.BuildPath = "/" },
		"build path in /proc":     func(s *Spec) { s.BuildPath = "/proc/x" },
		"build path in the store": func(s *Spec) { s.BuildPath = f.store + "/build" },
		"build path over store":   func(s *Spec) { s.BuildPath = filepath.Dir(f.store) },
		"relative link":           func(s *Spec) { s.Links = map[string]string{"bin/sh": "/x"} },
		"link without a target":   func(s *Spec) { s.Links = map[string]string{"/bin/sh": ""} },
	} {
		s := f.spec
		s.Args = []string{"/bin/true"}
		mod(&s)
		if err := s.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	requireSandbox(t)
	// A link over a path the root already has is an error, not a silent no-op.
	s := f.spec
	s.Links = map[string]string{"/etc/passwd": "/x"}
	if _, _, err := f.run(t, context.Background(), s, "true"); err == nil || !strings.Contains(err.Error(), "/etc/passwd") {
		t.Errorf("a link over /etc/passwd: %v", err)
	}
	// Links through a host path's symbolic link (/bin -> usr/bin) cannot be made before the pivot.
	if fi, err := os.Lstat("/bin"); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		s = f.spec
		s.Links = map[string]string{"/bin/sh-too": "/x"}
		if _, _, err := f.run(t, context.Background(), s, "true"); err == nil {
			t.Error("a link below the host's /bin symlink was made")
		}
	}
}
