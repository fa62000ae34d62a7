package stdenv

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/den-sh/den/core/sandbox"
)

// TestMain lets the test binary serve as the sandbox's init.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandbox.InitArg {
		sandbox.Main()
	}
	os.Exit(m.Run())
}

// The tests against real units run only when told where they are:
//
//	DEN_PROTO_UNITS  a directory of usr-merged, relocated Debian units (gcc-12, binutils, glibc,
//	                 linux, and libxcrypt, libtirpc, libnsl if there), as core/debunit makes them
//	DEN_PROTO_ZLIB   zlib1g and zlib1g-dev unpacked and usr-merged together (default: the units'
//	                 zlib, if it has headers)
//	DEN_PROTO_BASH   a bash (with libtinfo) relocated onto the units' glibc, for the compile in a
//	                 sandbox that shows nothing of the host
//
// Every one of them must lie below one directory, which stands in for the store.

// protoUnits returns the directory of real, relocated Debian units (gcc-12, binutils, glibc,
// linux, ...) named by DEN_PROTO_UNITS, and a zlib unit with its headers (zlib1g + zlib1g-dev)
// from DEN_PROTO_ZLIB or the units' own zlib, or skips the test.
func protoUnits(t *testing.T) (units, zlib string) {
	units = os.Getenv("DEN_PROTO_UNITS")
	if units == "" {
		t.Skip("DEN_PROTO_UNITS is not set: it names a directory of relocated Debian units (gcc-12, binutils, glibc, linux, zlib)")
	}
	for _, u := range []string{"gcc-12", "binutils", "glibc", "linux"} {
		if _, err := os.Stat(filepath.Join(units, u)); err != nil {
			t.Fatalf("DEN_PROTO_UNITS=%s: %v", units, err)
		}
	}
	zlib = os.Getenv("DEN_PROTO_ZLIB")
	if zlib == "" {
		zlib = filepath.Join(units, "zlib")
	}
	if _, err := os.Stat(filepath.Join(zlib, "include", "zlib.h")); err != nil {
		t.Skipf("no zlib unit with headers (%v): set DEN_PROTO_ZLIB to zlib1g and zlib1g-dev unpacked and usr-merged together", err)
	}
	return units, zlib
}

// commonDir is the longest directory holding both a and b.
func commonDir(a, b string) string {
	for !strings.HasPrefix(b+"/", a+"/") {
		a = filepath.Dir(a)
	}
	return a
}

// ldScripts writes, when the glibc unit's GNU ld scripts still name /lib and /usr/lib (units
// normalized before core/debunit rewrote them), copies that name the unit instead, for -L.
func ldScripts(t *testing.T, dir, glibc, triplet string) []string {
	libdir := filepath.Join(glibc, "lib", triplet)
	hostPath := regexp.MustCompile(`(/usr)?/lib(64)?(/` + regexp.QuoteMeta(triplet) + `)?/`)
	var flags []string
	for _, name := range []string{"libc.so", "libm.so"} {
		data, err := os.ReadFile(filepath.Join(libdir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte("/* GNU ld script")) || !hostPath.Match(data) || bytes.Contains(data, []byte(libdir)) {
			continue
		}
		fixed := hostPath.ReplaceAll(data, []byte(libdir+"/"))
		if err := os.WriteFile(filepath.Join(dir, name), fixed, 0o644); err != nil {
			t.Fatal(err)
		}
		flags = []string{"-L" + dir}
	}
	if flags != nil {
		t.Logf("%s's ld scripts name host paths; linking with rewritten copies in %s", glibc, dir)
	}
	return flags
}

func protoWrapper(t *testing.T, units string) (Toolchain, string) {
	t.Helper()
	shell := filepath.Join(units, "bash", "bin", "bash")
	if _, err := os.Stat(shell); err != nil {
		if shell, err = exec.LookPath("bash"); err != nil {
			t.Skip("no bash for the wrapper scripts")
		}
	}
	return writeProtoWrapper(t, units, shell, filepath.Join(t.TempDir(), "cc-wrapper"))
}

func writeProtoWrapper(t *testing.T, units, shell, out string) (Toolchain, string) {
	t.Helper()
	tc := Toolchain{
		GCC: filepath.Join(units, "gcc-12"), Binutils: filepath.Join(units, "binutils"), Libc: filepath.Join(units, "glibc"),
		LinuxHeaders: filepath.Join(units, "linux"), Shell: shell, Triplet: "x86_64-linux-gnu", GCCVersion: "12", Out: out,
	}
	for _, e := range []string{"libxcrypt", "libtirpc", "libnsl"} {
		if _, err := os.Stat(filepath.Join(units, e)); err == nil {
			tc.Extra = append(tc.Extra, filepath.Join(units, e))
		}
	}
	files, err := Wrapper(tc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Names(files) {
		p := filepath.Join(out, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		write(t, p, string(files[name]), 0o755)
	}
	return tc, out
}

// checkELF checks that the program's interpreter is the glibc unit's loader and every RUNPATH
// entry lies in one of dirs, and that every needed library is found in its RUNPATH.
func checkELF(t *testing.T, prog, loader string, dirs ...string) {
	t.Helper()
	f, err := elf.Open(prog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			data := make([]byte, p.Filesz)
			if _, err := p.ReadAt(data, 0); err != nil {
				t.Fatal(err)
			}
			interp = strings.TrimRight(string(data), "\x00")
		}
	}
	if interp != loader {
		t.Errorf("%s: interpreter %q, want %q", prog, interp, loader)
	}
	runpath, err := f.DynString(elf.DT_RUNPATH)
	if err != nil || len(runpath) != 1 {
		t.Fatalf("%s: RUNPATH %q, %v", prog, runpath, err)
	}
	entries := strings.Split(runpath[0], ":")
	for _, e := range entries {
		ok := false
		for _, d := range dirs {
			ok = ok || strings.HasPrefix(e, d+"/")
		}
		if !ok {
			t.Errorf("%s: RUNPATH entry %s is outside %q", prog, e, dirs)
		}
	}
	needed, _ := f.DynString(elf.DT_NEEDED)
	for _, n := range needed {
		found := false
		for _, e := range entries {
			if _, err := os.Stat(filepath.Join(e, n)); err == nil {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: %s is in none of its RUNPATH dirs %q", prog, n, entries)
		}
	}
}

// TestProtoUnits compiles and runs C (with zlib found through CPATH and LIBRARY_PATH) and C++
// with the store's gcc, glibc and binutils, with an empty environment, and checks that nothing
// of the host took part: not in gcc's search lists, not among the files ld read, not in the
// programs' interpreter and RUNPATH.
func TestProtoUnits(t *testing.T) {
	units, zlib := protoUnits(t)
	tc, out := protoWrapper(t, units)
	store := commonDir(units, zlib)
	work := t.TempDir()
	tmp := filepath.Join(work, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	lds := ldScripts(t, t.TempDir(), tc.Libc, tc.Triplet)
	loader := tc.Libc + "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
	env := []string{"NIX_STORE=" + store, "TMPDIR=" + tmp}
	for k, v := range SetupEnv([]string{zlib}, tc.Triplet) {
		if k != "PATH" {
			env = append(env, k+"="+v)
		}
	}
	write(t, work+"/z.c", `#include <stdio.h>
#include <string.h>
#include <zlib.h>
int main(void) {
	unsigned char out[64];
	uLongf n = sizeof out;
	if (compress(out, &n, (const Bytef *)"hello hello hello", 17) != Z_OK) return 1;
	printf("zlib %s %lu\n", zlibVersion(), (unsigned long)n);
	return 0;
}
`, 0o644)
	write(t, work+"/hello.cc", `#include <iostream>
#include <cstdlib>
#include <string>
#include <vector>
int main() {
	std::vector<std::string> v{"hello", "from", "c++"};
	for (auto &s : v) std::cout << s << (&s == &v.back() ? "\n" : " ");
	return std::abs(0);
}
`, 0o644)

	cc := func(prog string, args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(out, "bin", prog), args...)
		cmd.Env, cmd.Dir = env, work
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %q: %v\n%s", prog, args, err, b)
		}
		return string(b)
	}
	// What gcc searches: the store only.
	verbose := cc("cc", append([]string{"-v", "z.c", "-lz", "-o", "z-v"}, lds...)...)
	search := verbose[strings.Index(verbose, "#include <...> search starts here:"):strings.Index(verbose, "End of search list.")]
	for _, l := range strings.Split(search, "\n")[1:] {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, store+"/") {
			t.Errorf("gcc searches %s for headers", l)
		}
	}
	for _, l := range strings.Split(verbose, "\n") {
		if v, ok := strings.CutPrefix(l, "LIBRARY_PATH="); ok {
			for _, d := range strings.Split(v, ":") {
				if !strings.HasPrefix(d, store+"/") && !strings.HasPrefix(d, tmp+"/") {
					t.Errorf("gcc searches %s for libraries", d)
				}
			}
		}
	}
	// What ld read: the store, the objects gcc made in TMPDIR, and the ld scripts.
	trace := cc("cc", append([]string{"z.c", "-lz", "-o", "z", "-Wl,--trace"}, lds...)...)
	allowed := []string{store + "/", tmp + "/"}
	if lds != nil {
		allowed = append(allowed, strings.TrimPrefix(lds[0], "-L")+"/")
	}
	for _, l := range strings.Split(strings.TrimSpace(trace), "\n") {
		ok := false
		for _, a := range allowed {
			ok = ok || strings.HasPrefix(l, a)
		}
		if !ok {
			t.Errorf("ld read %s", l)
		}
	}
	cc("c++", append([]string{"hello.cc", "-o", "hello"}, lds...)...)

	for prog, want := range map[string]*regexp.Regexp{
		"z":     regexp.MustCompile(`^zlib 1\.[0-9.]+ [0-9]+\n$`),
		"hello": regexp.MustCompile(`^hello from c\+\+\n$`),
	} {
		cmd := exec.Command(filepath.Join(work, prog))
		cmd.Env = []string{}
		b, err := cmd.CombinedOutput()
		if err != nil || !want.Match(b) {
			t.Errorf("%s with an empty environment: %q, %v; want %s", prog, b, err, want)
		}
		checkELF(t, filepath.Join(work, prog), loader, units, zlib)
	}

	// The C++ program runs where nothing of the host is: a sandbox with only its units.
	if err := sandbox.Available(); err != nil {
		t.Logf("no sandbox here (%v): not running the program without the host", err)
		return
	}
	var stdout, stderr bytes.Buffer
	build := t.TempDir()
	bin := filepath.Join(build, "hello")
	data, err := os.ReadFile(filepath.Join(work, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, bin, string(data), 0o755)
	err = sandbox.Run(context.Background(), sandbox.Spec{
		Args: []string{bin}, BuildDir: build, StoreDir: units, HostPaths: []string{},
		Inputs: []string{tc.Libc, tc.GCC}, Stdout: &stdout, Stderr: &stderr, Mode: sandbox.ModeRequired,
	})
	if err != nil || stdout.String() != "hello from c++\n" {
		t.Errorf("in a sandbox without the host: %q, %v\n%s", stdout.String(), err, stderr.String())
	}
}

// TestProtoUnitsInSandbox compiles and runs the same programs inside a sandbox that shows no
// host path at all: the units, the zlib unit and a relocated bash (DEN_PROTO_BASH, whose
// libraries lie beside the units) are all the build sees.
func TestProtoUnitsInSandbox(t *testing.T) {
	units, zlib := protoUnits(t)
	bash := os.Getenv("DEN_PROTO_BASH")
	if bash == "" {
		t.Skip("DEN_PROTO_BASH is not set: it names a bash relocated onto the units' glibc")
	}
	if err := sandbox.Available(); err != nil {
		t.Skipf("no sandbox here: %v", err)
	}
	// The units' common directory stands in for the store: its children are the inputs.
	store := commonDir(commonDir(units, zlib), bash)
	inputs := map[string]bool{}
	for _, p := range []string{units, zlib, bash} {
		rel, err := filepath.Rel(store, p)
		if err != nil || rel == "." {
			t.Fatalf("%s is not below %s", p, store)
		}
		inputs[filepath.Join(store, strings.SplitN(rel, string(filepath.Separator), 2)[0])] = true
	}
	var ins []string
	for in := range inputs {
		ins = append(ins, in)
	}
	build := t.TempDir()
	tc, out := writeProtoWrapper(t, units, bash, filepath.Join(build, "cc-wrapper"))
	lds := strings.Join(ldScripts(t, build, tc.Libc, tc.Triplet), " ")
	write(t, build+"/z.c", "#include <stdio.h>\n#include <zlib.h>\nint main(void) { printf(\"zlib %s\\n\", zlibVersion()); return 0; }\n", 0o644)
	write(t, build+"/hello.cc", "#include <iostream>\nint main() { std::cout << \"hello from c++\" << std::endl; }\n", 0o644)
	env := []string{"PATH=" + out + "/bin", "NIX_STORE=" + store, "TMPDIR=" + build, "HOME=/homeless-shelter"}
	for k, v := range SetupEnv([]string{zlib}, tc.Triplet) {
		if k != "PATH" {
			env = append(env, k+"="+v)
		}
	}
	script := "set -e; cc " + lds + " z.c -lz -o z; ./z; c++ " + lds + " hello.cc -o hello; ./hello; " +
		"if [ -e /usr/include/stdio.h ] || [ -e /lib/x86_64-linux-gnu/libc.so.6 ] || [ -e /bin/sh ]; then echo host visible; fi"
	var stdout, stderr bytes.Buffer
	err := sandbox.Run(context.Background(), sandbox.Spec{
		Args: []string{bash, "-c", script}, Env: env, BuildDir: build, StoreDir: store, Inputs: ins,
		HostPaths: []string{}, Stdout: &stdout, Stderr: &stderr, Mode: sandbox.ModeRequired,
	})
	if err != nil {
		t.Fatalf("compiling in a sandbox without the host: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if got := stdout.String(); !regexp.MustCompile(`^zlib 1\.[0-9.]+\nhello from c\+\+\n$`).MatchString(got) {
		t.Errorf("output %q\n%s", got, stderr.String())
	}
	loader := tc.Libc + "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
	checkELF(t, build+"/z", loader, units, zlib)
	checkELF(t, build+"/hello", loader, units)
}
