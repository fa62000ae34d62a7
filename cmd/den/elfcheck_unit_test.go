package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hostELF copies a dynamically linked program of the host into dir, or skips.
func hostELF(t *testing.T, dir string) string {
	t.Helper()
	p, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true on PATH")
	}
	if p, err = filepath.EvalSymlinks(p); err != nil {
		t.Skip(err)
	}
	f, ok := openELF(p)
	if !ok || interpreter(f) == "" {
		t.Skipf("%s is not a dynamically linked ELF", p)
	}
	f.Close()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "true")
	if err := os.WriteFile(out, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// The host's own programs fail the check: their interpreter and libc are the host's.
func TestELFCheckRefusesHostPrograms(t *testing.T) {
	store := t.TempDir()
	unit := filepath.Join(store, "00000000000000000000000000000000-true")
	if err := os.MkdirAll(unit, 0o755); err != nil {
		t.Fatal(err)
	}
	hostELF(t, unit)
	r, err := checkELFs(store, []string{unit})
	if err != nil {
		t.Fatal(err)
	}
	if r.files != 1 {
		t.Fatalf("%d ELF files, want 1", r.files)
	}
	var interp, libc bool
	for _, p := range r.problems {
		interp = interp || strings.Contains(p, "interpreter /") && strings.Contains(p, "outside")
		libc = libc || strings.Contains(p, "needs libc.so.6")
	}
	if !interp || !libc {
		t.Fatalf("problems %q: want the interpreter and libc.so.6 named", r.problems)
	}
}

// A program whose interpreter and RUNPATH name a copy of the host's C library inside the store
// passes, and fails again once its RUNPATH points outside.
func TestELFCheckAcceptsStorePrograms(t *testing.T) {
	patchelf, err := exec.LookPath("patchelf")
	if err != nil {
		t.Skip("no patchelf on PATH")
	}
	store := t.TempDir()
	libc := filepath.Join(store, "00000000000000000000000000000000-libc")
	prog := filepath.Join(store, "11111111111111111111111111111111-true")
	for _, d := range []string{libc, prog} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := hostELF(t, prog)
	f, _ := openELF(exe)
	loader := interpreter(f)
	needed, _ := f.DynString(elf.DT_NEEDED)
	f.Close()
	hostLibDir := ""
	for _, d := range []string{"/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/lib64", "/lib"} {
		if _, err := os.Stat(filepath.Join(d, "libc.so.6")); err == nil {
			hostLibDir = d
			break
		}
	}
	if hostLibDir == "" {
		t.Skip("no libc.so.6 on the host")
	}
	copyTo := func(src, dst string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Skip(err)
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ld := filepath.Join(libc, filepath.Base(loader))
	copyTo(loader, ld)
	libs := []string{}
	for _, n := range append(needed, "libc.so.6") {
		dst := filepath.Join(libc, n)
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		copyTo(filepath.Join(hostLibDir, n), dst)
		libs = append(libs, dst)
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(patchelf, args...).CombinedOutput(); err != nil {
			t.Fatalf("patchelf %q: %v\n%s", args, err, out)
		}
	}
	run("--set-interpreter", ld, "--set-rpath", libc, exe)
	for _, l := range libs {
		run("--set-rpath", libc, l)
		if g, ok := openELF(l); ok {
			if interpreter(g) != "" { // libc.so.6 runs as a program too
				run("--set-interpreter", ld, l)
			}
			g.Close()
		}
	}
	r, err := checkELFs(store, []string{libc, prog})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.problems) > 0 || r.files < 3 {
		t.Fatalf("%d files, problems %q: want none", r.files, r.problems)
	}
	run("--set-rpath", hostLibDir, exe)
	if r, _ := checkELFs(store, []string{prog}); len(r.problems) == 0 {
		t.Fatal("a RUNPATH naming the host's library dir passed")
	}
}
