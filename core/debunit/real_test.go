package debunit

import (
	"archive/tar"
	"bufio"
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/den-sh/den/core/nar"
	"github.com/ulikunitz/xz"
)

// debControl returns a .deb's Package and Source (its Package when it names none).
func debControl(t *testing.T, deb string) (pkg, source string) {
	t.Helper()
	f, err := os.Open(deb)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if _, err := br.Discard(8); err != nil {
		t.Fatal(err)
	}
	for {
		var hdr [60]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			t.Fatalf("%s: no control member: %v", deb, err)
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[:16])), "/")
		size, _ := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		body := io.LimitReader(br, size)
		if name != "control.tar.xz" {
			io.Copy(io.Discard, body)
			if size%2 == 1 {
				br.Discard(1)
			}
			continue
		}
		xr, err := xz.NewReader(body)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(xr)
		for {
			h, err := tr.Next()
			if err != nil {
				t.Fatalf("%s: no control file: %v", deb, err)
			}
			if h.Name != "./control" {
				continue
			}
			data, _ := io.ReadAll(tr)
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "Package: "); ok {
					pkg = v
				}
				if v, ok := strings.CutPrefix(line, "Source: "); ok {
					source, _, _ = strings.Cut(v, " ")
				}
			}
			if source == "" {
				source = pkg
			}
			return pkg, source
		}
	}
}

// TestRealDebs builds units from real Debian .debs (DEN_REAL_DEB_DIR, bookworm amd64: glibc,
// gcc-12, binutils, make, patchelf and their libraries), checks every ELF file's interpreter
// and that every library it needs resolves through its RUNPATH inside the units, runs the
// relocated make with an empty environment, and compiles and runs a C program with the
// relocated gcc.
func TestRealDebs(t *testing.T) {
	dir := os.Getenv("DEN_REAL_DEB_DIR")
	if dir == "" {
		t.Skip("DEN_REAL_DEB_DIR is not set (a directory of bookworm amd64 .debs)")
	}
	if runtime.GOARCH != "amd64" || runtime.GOOS != "linux" {
		t.Skip("the real .debs are for linux/amd64")
	}
	const triplet = "x86_64-linux-gnu"
	files, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	sort.Strings(files)
	bySource := map[string][]string{}
	byPackage := map[string]string{}
	for _, f := range files {
		pkg, src := debControl(t, f)
		bySource[src] = append(bySource[src], f)
		byPackage[pkg] = f
	}
	root := os.Getenv("DEN_REAL_UNIT_DIR") // to keep the units for a look afterwards
	if root == "" {
		root = t.TempDir()
	}
	ctx := context.Background()
	units := map[string]string{}
	specs := map[string]Spec{}
	var log strings.Builder
	build := func(name string, debs []string, deps []string, relocate bool) time.Duration {
		t.Helper()
		if len(debs) == 0 {
			t.Fatalf("no .debs for unit %s in %s", name, dir)
		}
		out := filepath.Join(root, name)
		os.RemoveAll(out)
		s := Spec{Debs: debs, Out: out, FinalOut: out, Triplet: triplet, Log: &log}
		for _, d := range deps {
			s.Deps = append(s.Deps, units[d])
		}
		if relocate {
			boot := units["bootstrap"]
			s.Patchelf = []string{boot + "/lib/" + triplet + "/ld-linux-x86-64.so.2", "--library-path", boot + "/lib/" + triplet, boot + "/bin/patchelf"}
			glibc := units["glibc"]
			if name == "glibc" {
				glibc = out
			}
			s.Interp = glibc + "/lib/" + triplet + "/ld-linux-x86-64.so.2"
		}
		start := time.Now()
		if err := Build(ctx, s); err != nil {
			t.Fatalf("unit %s: %v\nlog:\n%s", name, err, log.String())
		}
		took := time.Since(start)
		t.Logf("unit %s: %d debs in %s", name, len(debs), took.Round(time.Millisecond))
		units[name] = out
		specs[name] = s
		return took
	}
	pkgs := func(names ...string) []string {
		var out []string
		for _, n := range names {
			if byPackage[n] == "" {
				t.Fatalf("no .deb of %s in %s", n, dir)
			}
			out = append(out, byPackage[n])
		}
		return out
	}
	build("bootstrap", pkgs("patchelf", "libc6", "libstdc++6", "libgcc-s1"), nil, false)
	glibcTime := build("glibc", bySource["glibc"], nil, true)
	for _, u := range []struct {
		name string
		deps []string
	}{
		{"zlib", []string{"glibc"}},
		{"libzstd", []string{"glibc"}},
		{"jansson", []string{"glibc"}},
		{"gmp", []string{"glibc"}},
		{"mpfr4", []string{"gmp", "glibc"}},
		{"mpclib3", []string{"mpfr4", "gmp", "glibc"}},
		{"isl", []string{"gmp", "glibc"}},
		{"linux", nil},
		{"make-dfsg", []string{"glibc"}},
	} {
		build(u.name, bySource[u.name], u.deps, true)
	}
	gccTime := build("gcc-12", bySource["gcc-12"], []string{"glibc", "gmp", "mpfr4", "mpclib3", "isl", "libzstd", "zlib"}, true)
	build("binutils", bySource["binutils"], []string{"gcc-12", "glibc", "zlib", "libzstd", "jansson"}, true)
	t.Logf("glibc unit: %s; gcc-12 unit: %s", glibcTime.Round(time.Millisecond), gccTime.Round(time.Millisecond))

	glibc := units["glibc"]
	loader := glibc + "/lib/" + triplet + "/ld-linux-x86-64.so.2"
	for name, u := range units {
		if name == "bootstrap" {
			continue
		}
		checkELFs(t, u, root, loader)
	}

	// The relocated make runs with nothing from the environment.
	out, err := exec.Command("env", "-i", units["make-dfsg"]+"/bin/make", "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "GNU Make 4.3") {
		t.Fatalf("relocated make --version: %v\n%s", err, out)
	}

	// The relocated gcc compiles and links a program against the relocated glibc.
	work := t.TempDir()
	src := filepath.Join(work, "t.c")
	os.WriteFile(src, []byte("#include <stdio.h>\nint main(void) { printf(\"relocated %d\\n\", 42); return 0; }\n"), 0o644)
	gl := glibc + "/lib/" + triplet
	cc := exec.Command(units["gcc-12"]+"/bin/gcc-12", "-B"+gl+"/", "-B"+units["binutils"]+"/bin/",
		"-idirafter", glibc+"/include/"+triplet, "-idirafter", glibc+"/include", "-idirafter", units["linux"]+"/include",
		"-L"+gl, "-Wl,--dynamic-linker="+loader, "-Wl,-rpath,"+gl, src, "-o", filepath.Join(work, "t"))
	cc.Env = []string{}
	cc.Dir = work
	if out, err := cc.CombinedOutput(); err != nil {
		t.Fatalf("relocated gcc: %v\n%s", err, out)
	}
	out, err = exec.Command("env", "-i", filepath.Join(work, "t")).CombinedOutput()
	if err != nil || string(out) != "relocated 42\n" {
		t.Fatalf("compiled program: %v\n%q", err, out)
	}

	// Same inputs, same bytes: built again elsewhere, one patchelf at a time, glibc and gcc-12
	// have the same NAR hashes.
	for _, name := range []string{"glibc", "gcc-12"} {
		first, _, err := nar.Hash(units[name])
		if err != nil {
			t.Fatal(err)
		}
		s := specs[name]
		s.Out, s.Jobs = filepath.Join(root, name+"-again"), 1
		os.RemoveAll(s.Out)
		if err := Build(ctx, s); err != nil {
			t.Fatal(err)
		}
		second, _, err := nar.Hash(s.Out)
		if err != nil {
			t.Fatal(err)
		}
		if !first.Equal(second) {
			t.Errorf("two builds of the %s unit differ: %s and %s", name, first, second)
		}
	}
	if l := log.String(); l != "" {
		t.Logf("build log:\n%s", l)
	}
}

// checkELFs checks every relocatable ELF file of a unit: a store loader as interpreter, and
// every needed library found through the RUNPATH, inside root.
func checkELFs(t *testing.T, unit, root, loader string) {
	t.Helper()
	checked := 0
	err := filepath.WalkDir(unit, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(unit, p)
		if strings.HasPrefix(filepath.Base(p), "ld-linux") || strings.HasPrefix(rel, "lib/debug/") {
			return nil
		}
		f, err := elf.Open(p)
		if err != nil {
			return nil // not ELF
		}
		defer f.Close()
		if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
			return nil
		}
		dynamic := false
		for _, pr := range f.Progs {
			switch pr.Type {
			case elf.PT_DYNAMIC:
				dynamic = true
			case elf.PT_INTERP:
				data, _ := io.ReadAll(pr.Open())
				if got := strings.TrimRight(string(data), "\x00"); got != loader {
					t.Errorf("%s: interpreter %s, want %s", rel, got, loader)
				}
			}
		}
		if !dynamic {
			return nil
		}
		checked++
		needed, _ := f.ImportedLibraries()
		runpath, _ := f.DynString(elf.DT_RUNPATH)
		var dirs []string
		for _, rp := range runpath {
			for _, e := range strings.Split(rp, ":") {
				e = strings.ReplaceAll(strings.ReplaceAll(e, "${ORIGIN}", filepath.Dir(p)), "$ORIGIN", filepath.Dir(p))
				if !strings.HasPrefix(filepath.Clean(e), root+"/") {
					t.Errorf("%s: RUNPATH entry %s is outside the units", rel, e)
				}
				dirs = append(dirs, e)
			}
		}
		for _, lib := range needed {
			found := false
			for _, d := range dirs {
				if _, err := os.Stat(filepath.Join(d, lib)); err == nil {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s: needs %s, which its RUNPATH %q does not have", rel, lib, dirs)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	t.Logf("%s: %d dynamic ELF files checked", filepath.Base(unit), checked)
}
