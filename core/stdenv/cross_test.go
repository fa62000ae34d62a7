package stdenv

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The native wrapper's revision is part of every native stdenv path: it changes only when
// Wrapper's native output does, deliberately.
func TestNativeRevisionUnchanged(t *testing.T) {
	if got := Revision(); got != "f716a8df34b8413d" {
		t.Errorf("Revision() = %s: the native wrapper changed, and with it every native stdenv path; update this test only if that is meant", got)
	}
	if CrossRevision() == Revision() {
		t.Error("the cross wrapper's revision is the native one's")
	}
}

// newCrossFake is newFake for a cross toolchain for triplet laid out as Debian's cross packages
// are, after usr-merging: bin/<triplet>-gcc-12 in the gcc unit, the plain tools under
// <triplet>/bin in binutils'.
func newCrossFake(t *testing.T, triplet string) *fakeToolchain {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run the wrapper scripts")
	}
	store := t.TempDir()
	u := func(name string) string { return filepath.Join(store, "00000000000000000000000000000000-"+name) }
	f := &fakeToolchain{store: store, out: u("cc-wrapper-" + triplet)}
	f.t = Toolchain{
		GCC: u("gcc-12-cross"), Binutils: u("binutils"), Libc: u("glibc-" + triplet), LinuxHeaders: u("linux-" + triplet),
		Shell: bash, Triplet: triplet, GCCVersion: "12", Out: f.out, Cross: true,
		Runtime: u("gcc-12-" + triplet),
	}
	echo := "#!" + bash + "\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n"
	for _, p := range []string{"bin/" + triplet + "-gcc-12", "bin/" + triplet + "-g++-12", "bin/" + triplet + "-cpp-12"} {
		write(t, filepath.Join(f.t.GCC, p), echo, 0o755)
	}
	write(t, u("zlib-"+triplet)+"/lib/"+triplet+"/libz.so", "", 0o644)
	f.writeWrapper(t)
	return f
}

func TestCrossWrapperFiles(t *testing.T) {
	f := newCrossFake(t, "aarch64-linux-gnu")
	files, err := Wrapper(f.t)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"bin/aarch64-linux-gnu-gcc", "bin/aarch64-linux-gnu-cc", "bin/aarch64-linux-gnu-g++", "bin/aarch64-linux-gnu-c++",
		"bin/aarch64-linux-gnu-cpp", "bin/aarch64-linux-gnu-ar", "bin/aarch64-linux-gnu-ld", "bin/aarch64-linux-gnu-ranlib",
		"bin/aarch64-linux-gnu-strip", "bin/aarch64-linux-gnu-gcc-ar", "sysroot/", ConfigSite,
	} {
		if _, ok := files[name]; !ok {
			t.Errorf("no %s among the cross wrapper's files", name)
		}
	}
	// The build machine's cc, ld and strip come from the stdenv, beside these.
	for name := range files {
		if strings.HasPrefix(name, "bin/") && !strings.HasPrefix(name, "bin/aarch64-linux-gnu-") {
			t.Errorf("the cross wrapper has %s, which would shadow the build machine's", name)
		}
	}
	if got := string(files["bin/aarch64-linux-gnu-ar"]); !strings.Contains(got, "exec "+f.t.Binutils+"/bin/aarch64-linux-gnu-ar \"$@\"") {
		t.Errorf("ar = %q", got)
	}
	site := string(files[ConfigSite])
	if !strings.Contains(site, "host_alias=aarch64-linux-gnu\n") || !strings.Contains(site, "ac_tool_prefix=aarch64-linux-gnu-\n") || !strings.Contains(site, "cross_compiling=yes") {
		t.Errorf("config.site:\n%s", site)
	}
	env := f.t.Env()
	back, err := ToolchainFromEnv(env, f.out)
	if err != nil || !back.Cross || env["cross"] != "true" {
		t.Fatalf("ToolchainFromEnv(%v) = %+v, %v", env, back, err)
	}
	env["revision"] = Revision()
	if _, err := ToolchainFromEnv(env, f.out); err == nil || !strings.Contains(err.Error(), "planned by another den") {
		t.Errorf("a cross wrapper with the native revision: %v", err)
	}
}

func TestCrossLink(t *testing.T) {
	f := newCrossFake(t, "aarch64-linux-gnu")
	zlib := f.unit("zlib-aarch64-linux-gnu") + "/lib/aarch64-linux-gnu"
	env := []string{"NIX_STORE=" + f.store, "LIBRARY_PATH=" + zlib}
	args := f.run(t, "aarch64-linux-gnu-gcc", env, "z.c", "-lz", "-o", "z")
	for _, want := range []string{
		"-B" + f.t.Libc + "/lib/aarch64-linux-gnu/",
		"-B" + f.t.Binutils + "/aarch64-linux-gnu/bin/",
		"-Wl,--dynamic-linker=" + f.t.Libc + "/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
		"-idirafter", f.t.Libc + "/include/aarch64-linux-gnu",
		// GCC ignores LIBRARY_PATH as a cross compiler: the wrapper passes it as -L.
		"-L" + zlib,
		"-Wl,-rpath," + f.t.Libc + "/lib/aarch64-linux-gnu",
		"-Wl,-rpath," + zlib,
	} {
		if !slices.Contains(args, want) {
			t.Errorf("the cross gcc was not given %s: %q", want, args)
		}
	}
	cxx := f.run(t, "aarch64-linux-gnu-g++", []string{"NIX_STORE=" + f.store}, "x.cc")
	if !slices.Contains(cxx, "-Wl,-rpath,"+f.t.Runtime+"/lib/aarch64-linux-gnu") || slices.Contains(cxx, "-Wl,-rpath,"+f.t.GCC+"/aarch64-linux-gnu/lib") {
		t.Errorf("C++ links without the target's libstdc++ dir, or with the cross gcc's: %q", cxx)
	}
	f.t.Runtime = ""
	if files, _ := Wrapper(f.t); !strings.Contains(string(files["bin/aarch64-linux-gnu-g++"]), "gcc_lib="+f.t.GCC+"/aarch64-linux-gnu/lib\n") {
		t.Error("without a runtime unit, C++ outputs load the cross gcc's libstdc++")
	}
	// Compiling only: no linker flags, and the -L of LIBRARY_PATH does no harm.
	if fl := linkerFlags(f.run(t, "aarch64-linux-gnu-gcc", env, "-c", "z.c")); len(fl) != 0 {
		t.Errorf("-c got linker flags %q", fl)
	}
}

func TestCrossEnvAndFixup(t *testing.T) {
	env := CrossEnv("/s/w", "aarch64-linux-gnu")
	for k, v := range map[string]string{"CC": "aarch64-linux-gnu-gcc", "CXX": "aarch64-linux-gnu-g++", "AR": "aarch64-linux-gnu-ar",
		"STRIP": "aarch64-linux-gnu-strip", "CONFIG_SITE": "/s/w/" + ConfigSite} {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	fx := CrossFixup("aarch64-linux-gnu")
	if !strings.Contains(fx, "aarch64-linux-gnu-strip -S") || strings.Contains(strings.ReplaceAll(fx, "aarch64-linux-gnu-strip", ""), "strip -S") {
		t.Errorf("cross fixup:\n%s", fx)
	}
}

// Debian's armhf (armv7l-linux) is a 32-bit target whose triplet is not its system's
// architecture: the same wrapper, with arm-linux-gnueabihf's dirs and its glibc's loader.
func TestCrossLinkArmhf(t *testing.T) {
	f := newCrossFake(t, "arm-linux-gnueabihf")
	files, err := Wrapper(f.t)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bin/arm-linux-gnueabihf-gcc", "bin/arm-linux-gnueabihf-g++", "bin/arm-linux-gnueabihf-strip"} {
		if _, ok := files[name]; !ok {
			t.Errorf("no %s among the cross wrapper's files", name)
		}
	}
	zlib := f.unit("zlib-arm-linux-gnueabihf") + "/lib/arm-linux-gnueabihf"
	args := f.run(t, "arm-linux-gnueabihf-gcc", []string{"NIX_STORE=" + f.store, "LIBRARY_PATH=" + zlib}, "z.c", "-lz", "-o", "z")
	for _, want := range []string{
		"-B" + f.t.Libc + "/lib/arm-linux-gnueabihf/",
		"-B" + f.t.Binutils + "/arm-linux-gnueabihf/bin/",
		"-Wl,--dynamic-linker=" + f.t.Libc + "/lib/arm-linux-gnueabihf/ld-linux-armhf.so.3",
		"-idirafter", f.t.Libc + "/include/arm-linux-gnueabihf",
		"-Wl,-rpath," + f.t.Libc + "/lib/arm-linux-gnueabihf",
		"-Wl,-rpath," + zlib,
	} {
		if !slices.Contains(args, want) {
			t.Errorf("the cross gcc was not given %s: %q", want, args)
		}
	}
	cxx := f.run(t, "arm-linux-gnueabihf-g++", []string{"NIX_STORE=" + f.store}, "x.cc")
	if !slices.Contains(cxx, "-Wl,-rpath,"+f.t.Runtime+"/lib/arm-linux-gnueabihf") {
		t.Errorf("C++ links without the target's libstdc++ dir: %q", cxx)
	}
}

// Debian's i386 (i686-linux) has its libraries in lib/i386-linux-gnu and its cross tools named
// i686-linux-gnu-*: the wrapper's names, binutils dir and config.site take the tools' name,
// its -B, headers and loader the multiarch one.
func TestCrossLinkI386(t *testing.T) {
	f := newCrossFake(t, "i386-linux-gnu")
	for _, p := range []string{"bin/i686-linux-gnu-gcc-12", "bin/i686-linux-gnu-g++-12", "bin/i686-linux-gnu-cpp-12"} {
		write(t, filepath.Join(f.t.GCC, p), "#!"+f.t.Shell+"\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n", 0o755)
	}
	files, err := Wrapper(f.t)
	if err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if strings.HasPrefix(name, "bin/") && !strings.HasPrefix(name, "bin/i686-linux-gnu-") {
			t.Errorf("the i386 cross wrapper has %s", name)
		}
	}
	if site := string(files[ConfigSite]); !strings.Contains(site, "host_alias=i686-linux-gnu\n") {
		t.Errorf("config.site:\n%s", site)
	}
	args := f.run(t, "i686-linux-gnu-gcc", []string{"NIX_STORE=" + f.store}, "z.c", "-o", "z")
	for _, want := range []string{
		"-B" + f.t.Libc + "/lib/i386-linux-gnu/",
		"-B" + f.t.Binutils + "/i686-linux-gnu/bin/",
		"-Wl,--dynamic-linker=" + f.t.Libc + "/lib/i386-linux-gnu/ld-linux.so.2",
		"-idirafter", f.t.Libc + "/include/i386-linux-gnu",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("the cross gcc was not given %s: %q", want, args)
		}
	}
	if env := CrossEnv("/s/w", "i386-linux-gnu"); env["CC"] != "i686-linux-gnu-gcc" || env["DEN_TARGET_TRIPLET"] != "i386-linux-gnu" {
		t.Errorf("CrossEnv: %v", env)
	}
	if ToolPrefix("arm-linux-gnueabihf") != "arm-linux-gnueabihf" {
		t.Error("ToolPrefix renames a triplet other than i386's")
	}
}
