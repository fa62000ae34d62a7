package stdenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fakeToolchain lays out units in a temporary store whose gcc, g++ and cpp print their
// arguments one per line, so that a test sees exactly what the wrapper passes on.
type fakeToolchain struct {
	store string
	t     Toolchain
	out   string
}

func newFake(t *testing.T) *fakeToolchain {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run the wrapper scripts")
	}
	store := t.TempDir()
	u := func(name string) string { return filepath.Join(store, "00000000000000000000000000000000-"+name) }
	f := &fakeToolchain{store: store, out: u("cc-wrapper")}
	f.t = Toolchain{
		GCC: u("gcc-12"), Binutils: u("binutils"), Libc: u("glibc"), LinuxHeaders: u("linux"),
		Shell: bash, Triplet: "x86_64-linux-gnu", GCCVersion: "12", Extra: []string{u("libxcrypt")},
		Out: f.out,
	}
	echo := "#!" + bash + "\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n"
	for _, p := range []string{"bin/gcc-12", "bin/g++-12", "bin/cpp-12"} {
		write(t, filepath.Join(f.t.GCC, p), echo, 0o755)
	}
	for _, lib := range []string{
		f.t.Libc + "/lib/x86_64-linux-gnu/libc.so", f.t.Extra[0] + "/lib/x86_64-linux-gnu/libcrypt.so",
		u("zlib") + "/lib/x86_64-linux-gnu/libz.so", u("zlib") + "/lib/x86_64-linux-gnu/libz.a",
		u("bar") + "/lib/libbar.so", u("static") + "/lib/libstatic.a",
	} {
		write(t, lib, "", 0o644)
	}
	// glibc's development unit has linker scripts for libraries of its runtime unit.
	write(t, f.t.Extra[0]+"/lib/x86_64-linux-gnu/libm.so", "/* GNU ld script\n*/\nGROUP ( "+f.t.Libc+"/lib/x86_64-linux-gnu/libm.so.6 )\n", 0o644)
	f.writeWrapper(t)
	return f
}

func write(t *testing.T, name, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func (f *fakeToolchain) unit(name string) string {
	return filepath.Join(f.store, "00000000000000000000000000000000-"+name)
}

// run runs a wrapper program of the fake with env (and nothing of the test's environment) and
// returns the arguments the real program got.
func (f *fakeToolchain) run(t *testing.T, prog string, env []string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(filepath.Join(f.out, "bin", prog), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", prog, args, err, out)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

func linkerFlags(args []string) []string {
	var fl []string
	for _, a := range args {
		if strings.HasPrefix(a, "-Wl,") {
			fl = append(fl, a)
		}
	}
	return fl
}

func TestWrapperFiles(t *testing.T) {
	f := newFake(t)
	files, err := Wrapper(f.t)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"bin/cc", "bin/gcc", "bin/c++", "bin/g++", "bin/cpp", "bin/x86_64-linux-gnu-gcc",
		"bin/x86_64-linux-gnu-g++", "bin/x86_64-linux-gnu-cpp", "bin/ld", "bin/as", "bin/ar",
		"bin/nm", "bin/ranlib", "bin/strip", "bin/objdump", "bin/objcopy", "bin/readelf",
		"bin/x86_64-linux-gnu-ld", "sysroot/",
	} {
		if _, ok := files[name]; !ok {
			t.Errorf("no %s among the wrapper's files", name)
		}
	}
	if !reflect.DeepEqual(files["bin/cc"], files["bin/gcc"]) || reflect.DeepEqual(files["bin/cc"], files["bin/c++"]) {
		t.Error("cc and gcc should be the same C wrapper, c++ another")
	}
	if got := string(files["bin/ar"]); !strings.Contains(got, "exec "+f.t.Binutils+"/bin/ar \"$@\"") {
		t.Errorf("bin/ar = %q, want an exec of binutils' ar", got)
	}
	for name, data := range files {
		if strings.HasPrefix(name, "bin/") && !strings.HasPrefix(string(data), "#!"+f.t.Shell+"\n") {
			t.Errorf("%s does not start with #!%s", name, f.t.Shell)
		}
	}
	if Names(files)[0] != "sysroot/" {
		t.Errorf("Names should list the directory first: %q", Names(files)[:2])
	}
}

func TestWrapperRefusesBadToolchains(t *testing.T) {
	good := Toolchain{GCC: "/s/g", Binutils: "/s/b", Libc: "/s/c", LinuxHeaders: "/s/l", Shell: "/s/bash/bin/bash",
		Triplet: "x86_64-linux-gnu", GCCVersion: "12", Out: "/s/w"}
	if _, err := Wrapper(good); err != nil {
		t.Fatalf("a good toolchain: %v", err)
	}
	for name, mod := range map[string]func(*Toolchain){
		"relative gcc":     func(t *Toolchain) { t.GCC = "gcc" },
		"no out":           func(t *Toolchain) { t.Out = "" },
		"unclean libc":     func(t *Toolchain) { t.Libc = "/s/c/" },
		"unknown triplet":  func(t *Toolchain) { t.Triplet = "mips-linux-gnu" },
		"no gcc version":   func(t *Toolchain) { t.GCCVersion = "" },
		"relative extra":   func(t *Toolchain) { t.Extra = []string{"x"} },
		"no shell at all":  func(t *Toolchain) { t.Shell = "" },
		"unclean binutils": func(t *Toolchain) { t.Binutils = "/s/../b" },
	} {
		tc := good
		mod(&tc)
		if _, err := Wrapper(tc); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for triplet, want := range map[string]string{"aarch64-linux-gnu": "ld-linux-aarch64.so.1", "arm-linux-gnueabihf": "ld-linux-armhf.so.3", "i386-linux-gnu": "ld-linux.so.2"} {
		if l, _ := Loader(triplet); l != want {
			t.Errorf("%s loader = %q, want %q", triplet, l, want)
		}
	}
}

func TestCompileOnlyGetsNoLinkerFlags(t *testing.T) {
	f := newFake(t)
	for _, args := range [][]string{
		{"-c", "x.c", "-o", "x.o"}, {"-S", "x.c"}, {"-E", "x.c"}, {"-M", "x.c"}, {"-fsyntax-only", "x.c"},
		{"--version"}, {"-v"}, {"-print-prog-name=ld"}, {"-r", "a.o", "b.o", "-o", "ab.o"},
	} {
		got := f.run(t, "cc", nil, args...)
		if fl := linkerFlags(got); len(fl) > 0 {
			t.Errorf("cc %q passed linker flags %q", args, fl)
		}
		for _, want := range []string{"--sysroot=" + f.out + "/sysroot", "-B" + f.t.Libc + "/lib/x86_64-linux-gnu/", "-B" + f.t.Binutils + "/bin/"} {
			if !slices.Contains(got, want) {
				t.Errorf("cc %q: no %s in %q", args, want, got)
			}
		}
	}
}

func TestHeaderOrder(t *testing.T) {
	f := newFake(t)
	got := f.run(t, "c++", nil, "-c", "x.cc", "-Iinc")
	var dirs []string
	for i, a := range got {
		if a == "-idirafter" {
			dirs = append(dirs, got[i+1])
		}
	}
	want := []string{
		f.t.Libc + "/include/x86_64-linux-gnu", f.t.LinuxHeaders + "/include/x86_64-linux-gnu", f.t.Extra[0] + "/include/x86_64-linux-gnu",
		f.t.Libc + "/include", f.t.LinuxHeaders + "/include", f.t.Extra[0] + "/include",
	}
	if !reflect.DeepEqual(dirs, want) {
		t.Errorf("-idirafter dirs = %q, want %q", dirs, want)
	}
	if slices.Index(got, "-Iinc") < 0 {
		t.Errorf("the user's -I was lost: %q", got)
	}
	if got := f.run(t, "cc", nil, "-nostdinc", "-c", "x.c"); slices.Contains(got, "-idirafter") {
		t.Errorf("-nostdinc still got the C library's headers: %q", got)
	}
	cpp := f.run(t, "cpp", nil, "x.c")
	if !slices.Contains(cpp, "-idirafter") || !slices.Contains(cpp, "--sysroot="+f.out+"/sysroot") || len(linkerFlags(cpp)) > 0 {
		t.Errorf("cpp = %q, want the sysroot and headers and no linker flags", cpp)
	}
}

func TestLinkFlags(t *testing.T) {
	f := newFake(t)
	loader := "-Wl,--dynamic-linker=" + f.t.Libc + "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
	libc := "-Wl,-rpath," + f.t.Libc + "/lib/x86_64-linux-gnu"
	gccLib := "-Wl,-rpath," + f.t.GCC + "/lib/x86_64-linux-gnu"
	zlib := f.unit("zlib") + "/lib/x86_64-linux-gnu"
	bar := f.unit("bar") + "/lib"
	static := f.unit("static") + "/lib"
	outside := t.TempDir()
	write(t, outside+"/libz.so", "", 0o644)
	env := []string{"NIX_STORE=" + f.store}

	for _, c := range []struct {
		name string
		prog string
		env  []string
		args []string
		want []string
	}{
		{"plain C", "cc", env, []string{"x.c"}, []string{loader, libc}},
		{"C++ adds gcc's runtime", "c++", env, []string{"x.cc"}, []string{loader, libc, gccLib}},
		{"C naming libstdc++", "cc", env, []string{"x.o", "-lstdc++"}, []string{loader, libc, gccLib}},
		{"-L dirs with the named library, once", "cc", env,
			[]string{"x.c", "-L" + zlib, "-L", zlib + "/", "-lz", "-L" + static, "-lstatic", "-L" + outside},
			[]string{loader, libc, "-Wl,-rpath," + zlib}},
		{"LIBRARY_PATH", "cc", append(env, "LIBRARY_PATH="+outside+":"+bar+":"+zlib),
			[]string{"x.c", "-lbar", "-l", "z"}, []string{loader, libc, "-Wl,-rpath," + bar, "-Wl,-rpath," + zlib}},
		{"a library outside the store gets no rpath", "cc", env, []string{"x.c", "-L" + outside, "-lz"}, []string{loader, libc}},
		{"-l:file", "cc", env, []string{"x.c", "-L" + zlib, "-l:libz.so"}, []string{loader, libc, "-Wl,-rpath," + zlib}},
		{"a static archive by -l: gets no rpath", "cc", env, []string{"x.c", "-L" + zlib, "-l:libz.a"}, []string{loader, libc}},
		{"an Extra unit's library", "cc", env, []string{"x.c", "-lcrypt"},
			[]string{loader, libc, "-Wl,-rpath," + f.t.Extra[0] + "/lib/x86_64-linux-gnu"}},
		{"an Extra unit's linker script for the C library's own", "cc", env, []string{"x.c", "-lm"}, []string{loader, libc}},
		{"a shared library by path", "cc", env, []string{"x.c", bar + "/libbar.so"}, []string{loader, libc, "-Wl,-rpath," + bar}},
		{"-Wl,-l and -Xlinker", "cc", env, []string{"x.c", "-Wl,-L" + bar + ",-lbar", "-Xlinker", "-lz", "-L" + zlib},
			[]string{loader, "-Wl,-L" + bar + ",-lbar", libc, "-Wl,-rpath," + bar, "-Wl,-rpath," + zlib}},
		{"-shared: no interpreter", "cc", env, []string{"-shared", "x.c", "-o", "libx.so"}, []string{libc}},
		{"-static: nothing", "cc", env, []string{"-static", "x.c"}, nil},
		{"-static-pie: nothing", "cc", env, []string{"-static-pie", "x.c"}, nil},
		{"the command's own loader wins", "cc", env, []string{"x.c", "-Wl,--dynamic-linker=/x/ld.so"},
			[]string{"-Wl,--dynamic-linker=/x/ld.so", libc}},
		{"a build's own $out/lib first", "cc", append(env, "out="+f.unit("app")), []string{"x.c"},
			[]string{loader, "-Wl,-rpath," + f.unit("app") + "/lib", libc}},
		{"no $out/lib outside the store", "cc", append(env, "out=/elsewhere/app"), []string{"x.c"}, []string{loader, libc}},
		{"the baked-in store without NIX_STORE", "cc", nil, []string{"x.c", "-L" + zlib, "-lz"},
			[]string{loader, libc, "-Wl,-rpath," + zlib}},
	} {
		all := f.run(t, c.prog, c.env, c.args...)
		var got []string
		for _, a := range linkerFlags(all) {
			if !strings.HasPrefix(a, "-Wl,-rpath-link,") {
				got = append(got, a)
			}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: cc %q: linker flags\n %q\nwant\n %q", c.name, c.args, got, c.want)
		}
	}
	// ld looks for what linked libraries need (libsqlite3.so needs libm.so.6) in the store's
	// dirs, not through their RUNPATH into the empty sysroot; that adds no rpath.
	got := f.run(t, "cc", append(env, "LIBRARY_PATH="+zlib), "x.c", "-lz")
	for _, want := range []string{"-Wl,-rpath-link," + f.t.Libc + "/lib/x86_64-linux-gnu", "-Wl,-rpath-link," + zlib} {
		if !slices.Contains(got, want) {
			t.Errorf("no %s in %q", want, got)
		}
	}
	for _, a := range linkerFlags(f.run(t, "cc", env, "-static", "x.c")) {
		if strings.HasPrefix(a, "-Wl,-rpath-link") {
			t.Errorf("-static got %s", a)
		}
	}
	// The wrapper's loader comes before the command's arguments, the rpaths after them.
	got = f.run(t, "cc", env, "x.c", "-Wl,-rpath,/mine")
	if i, j, k := slices.Index(got, loader), slices.Index(got, "-Wl,-rpath,/mine"), slices.Index(got, libc); !(i < j && j < k) {
		t.Errorf("order: %q", got)
	}
}

func TestEnforcePurity(t *testing.T) {
	f := newFake(t)
	zlib := f.unit("zlib")
	args := []string{"-c", "x.c", "-I/usr/include", "-I", "/usr/local/include", "-isystem/opt/inc", "-idirafter", "/usr/x",
		"-I" + zlib + "/include", "-Irelative", "-L/usr/lib", "-I/build/src", "-L", "/tmp/l"}
	got := f.run(t, "cc", []string{"DEN_ENFORCE_PURITY=1", "NIX_STORE=" + f.store}, args...)
	for _, bad := range []string{"-I/usr/include", "/usr/local/include", "-isystem/opt/inc", "/usr/x", "-L/usr/lib"} {
		if slices.Contains(got, bad) {
			t.Errorf("purity: %s kept in %q", bad, got)
		}
	}
	for _, good := range []string{"-I" + zlib + "/include", "-Irelative", "-I/build/src", "/tmp/l"} {
		if !slices.Contains(got, good) {
			t.Errorf("purity: %s dropped from %q", good, got)
		}
	}
	if i := slices.Index(got, "/tmp/l"); i < 1 || got[i-1] != "-L" {
		t.Errorf("a split -L lost its flag: %q", got)
	}
	if slices.Contains(got, "-I") || slices.Contains(got, "-idirafter") && got[slices.Index(got, "-idirafter")+1] == "-I"+zlib+"/include" {
		t.Errorf("a dropped split option left its flag behind: %q", got)
	}
	// Without the variable, nothing is dropped.
	got = f.run(t, "cc", nil, args...)
	if !slices.Contains(got, "-I/usr/include") || !slices.Contains(got, "/usr/local/include") {
		t.Errorf("without DEN_ENFORCE_PURITY the command changed: %q", got)
	}
}

func TestSetupEnv(t *testing.T) {
	dir := t.TempDir()
	a, b, c := dir+"/a", dir+"/b", dir+"/c"
	for _, d := range []string{
		a + "/include", a + "/lib/x86_64-linux-gnu/pkgconfig", a + "/bin", a + "/lib",
		b + "/include/x86_64-linux-gnu", b + "/include", b + "/lib/pkgconfig", b + "/share/pkgconfig", b + "/bin",
		c + "/share/doc",
	} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, c+"/bin", "not a dir", 0o644)
	got := SetupEnv([]string{a, b, c, a}, "x86_64-linux-gnu")
	want := map[string]string{
		"CPATH":           a + "/include:" + b + "/include/x86_64-linux-gnu:" + b + "/include",
		"LIBRARY_PATH":    a + "/lib/x86_64-linux-gnu:" + a + "/lib:" + b + "/lib",
		"PKG_CONFIG_PATH": a + "/lib/x86_64-linux-gnu/pkgconfig:" + b + "/lib/pkgconfig:" + b + "/share/pkgconfig",
		"PATH":            a + "/bin:" + b + "/bin",
		"CC":              "cc", "CXX": "c++",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SetupEnv =\n %q\nwant\n %q", got, want)
	}
	if got := SetupEnv(nil, "x86_64-linux-gnu"); !reflect.DeepEqual(got, map[string]string{"CC": "cc", "CXX": "c++"}) {
		t.Errorf("SetupEnv(nil) = %q", got)
	}
}

func TestToolchainEnv(t *testing.T) {
	tc := Toolchain{GCC: "/s/g", Binutils: "/s/b", Libc: "/s/c", LinuxHeaders: "/s/l", Shell: "/s/bash/bin/bash",
		Triplet: "aarch64-linux-gnu", GCCVersion: "12", Extra: []string{"/s/x", "/s/y"}}
	got, err := ToolchainFromEnv(tc.Env(), "/s/w")
	tc.Out = "/s/w"
	if err != nil || !reflect.DeepEqual(got, tc) {
		t.Errorf("ToolchainFromEnv(Env()) = %+v, %v; want %+v", got, err, tc)
	}
	env := tc.Env()
	env["cflags"] = "-O3"
	if _, err := ToolchainFromEnv(env, "/s/w"); err == nil || !strings.Contains(err.Error(), "cflags") {
		t.Errorf("an unknown setting: %v", err)
	}
	delete(env, "cflags")
	delete(env, "libc")
	if _, err := ToolchainFromEnv(env, "/s/w"); err == nil {
		t.Error("a toolchain without libc was accepted")
	}
	for sys, want := range map[string]string{
		"x86_64-linux": "x86_64-linux-gnu", "aarch64-linux": "aarch64-linux-gnu", "armv7l-linux": "arm-linux-gnueabihf",
		"i686-linux": "i386-linux-gnu", "riscv64-linux": "", "aarch64-darwin": "",
	} {
		if got, err := Triplet(sys); got != want || (want == "") != (err != nil) {
			t.Errorf("Triplet(%s) = %q, %v", sys, got, err)
		}
	}
}

// writeWrapper writes the wrapper's files for f.t into f.out.
func (f *fakeToolchain) writeWrapper(t *testing.T) {
	t.Helper()
	files, err := Wrapper(f.t)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		p := filepath.Join(f.out, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		write(t, p, string(data), 0o755)
	}
}
