package debpkg

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/deb"
	"github.com/den-sh/den/core/deb/debtest"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/stdenv"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/version"
)

// crossWorld is a small Debian with what a cross toolchain for aarch64 needs on amd64: the
// cross gcc (whose arm64-cross libraries depend on the arm64-cross C library, which the index
// entry excludes), binutils, bash and the build machine's libc6 and patchelf; and, in the arm64
// index, the target's libc6, libc6-dev, linux-libc-dev and zlib; and the same for armhf and
// i386.
func crossWorld() []debtest.Deb {
	d := func(name, version, arch, source, depends string) debtest.Deb {
		return debtest.Deb{Name: name, Version: version, Arch: arch, Source: source, Depends: depends,
			Files: map[string]debtest.File{"usr/share/doc/" + name + "/README": {Data: name + " " + arch + "\n"}}}
	}
	var out []debtest.Deb
	for _, arch := range []string{"amd64", "arm64", "armhf", "i386"} {
		out = append(out,
			d("libc6", "2.36-9+deb12u4", arch, "glibc", ""),
			d("libc6-dev", "2.36-9+deb12u4", arch, "glibc", "libc6 (= 2.36-9+deb12u4), linux-libc-dev"),
			d("linux-libc-dev", "6.1.76-1", arch, "linux", ""),
			d("zlib1g", "1:1.2.13.dfsg-1", arch, "zlib", "libc6 (>= 2.14)"),
			d("zlib1g-dev", "1:1.2.13.dfsg-1", arch, "zlib", "zlib1g (= 1:1.2.13.dfsg-1), libc6-dev | libc-dev"),
			d("patchelf", "0.14.3-1+b1", arch, "patchelf (0.14.3-1)", "libc6 (>= 2.34)"),
			d("bash", "5.2.15-2+b2", arch, "bash", "libc6 (>= 2.36)"),
			d("libgcc-s1", "12.2.0-14+deb12u1", arch, "gcc-12", "libc6 (>= 2.35)"),
			d("libstdc++6", "12.2.0-14+deb12u1", arch, "gcc-12", "libgcc-s1 (>= 4.2), libc6 (>= 2.36)"),
		)
	}
	return append(out,
		d("gcc-12-aarch64-linux-gnu", "12.2.0-14cross1", "amd64", "gcc-12-cross (15)", "binutils-aarch64-linux-gnu (>= 2.40), libgcc-12-dev-arm64-cross (>= 12.2.0-14cross1), libc6 (>= 2.36)"),
		d("g++-12-aarch64-linux-gnu", "12.2.0-14cross1", "amd64", "gcc-12-cross (15)", "gcc-12-aarch64-linux-gnu (= 12.2.0-14cross1), libc6 (>= 2.36)"),
		d("libgcc-12-dev-arm64-cross", "12.2.0-14cross1", "all", "gcc-12-cross (15)", "libgcc-s1-arm64-cross"),
		d("libgcc-s1-arm64-cross", "12.2.0-14cross1", "all", "gcc-12-cross (15)", "libc6-arm64-cross (>= 2.36)"),
		d("libc6-arm64-cross", "2.36-8cross1", "all", "cross-toolchain-base", ""),
		d("binutils-aarch64-linux-gnu", "2.40-2", "amd64", "binutils", "libc6 (>= 2.34)"),
		d("gcc-12-arm-linux-gnueabihf", "12.2.0-14cross1", "amd64", "gcc-12-cross (15)", "binutils-arm-linux-gnueabihf (>= 2.40), libgcc-12-dev-armhf-cross (>= 12.2.0-14cross1), libc6 (>= 2.36)"),
		d("g++-12-arm-linux-gnueabihf", "12.2.0-14cross1", "amd64", "gcc-12-cross (15)", "gcc-12-arm-linux-gnueabihf (= 12.2.0-14cross1), libc6 (>= 2.36)"),
		d("libgcc-12-dev-armhf-cross", "12.2.0-14cross1", "all", "gcc-12-cross (15)", "libgcc-s1-armhf-cross"),
		d("libgcc-s1-armhf-cross", "12.2.0-14cross1", "all", "gcc-12-cross (15)", "libc6-armhf-cross (>= 2.36)"),
		d("libc6-armhf-cross", "2.36-8cross1", "all", "cross-toolchain-base", ""),
		d("binutils-arm-linux-gnueabihf", "2.40-2", "amd64", "binutils", "libc6 (>= 2.34)"),
		d("gcc-12-i686-linux-gnu", "12.2.0-14cross1", "amd64", "gcc-12-cross (15)", "binutils-i686-linux-gnu (>= 2.40), libc6-i386-cross (>= 2.36), libc6 (>= 2.36)"),
		d("g++-12-i686-linux-gnu", "12.2.0-14cross1", "amd64", "gcc-12-cross (15)", "gcc-12-i686-linux-gnu (= 12.2.0-14cross1)"),
		d("libc6-i386-cross", "2.36-8cross1", "all", "cross-toolchain-base", ""),
		d("binutils-i686-linux-gnu", "2.40-2", "amd64", "binutils", "libc6 (>= 2.34)"),
	)
}

func crossEnv(t *testing.T) (*backend.Env, *index.Index) {
	t.Helper()
	s := debtest.New(t, debtest.Archive{Packages: crossWorld(), Archs: []string{"amd64", "arm64", "armhf", "i386"}})
	srcs, err := deb.Sources(s.AptDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	arc := &deb.Archive{Sources: srcs, CacheDir: filepath.Join(t.TempDir(), "cache"), Keyrings: []string{}}
	st, err := store.Open(filepath.Join(t.TempDir(), "store"), filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.Load()
	if err != nil {
		t.Fatal(err)
	}
	x86, _ := platform.Parse("x86_64-linux")
	return &backend.Env{Store: st, Current: x86, Index: ix, Debian: func() (*deb.Archive, error) { return arc, nil }}, ix
}

func names(p *lock.Package, sys string) []string {
	var out []string
	for _, s := range p.SourcesFor(sys) {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

// TestLockCrossToolchain locks the index's cross toolchain: build-machine tools and the arm64
// C library in one lock, for the build system, the target's packages qualified.
func TestLockCrossToolchain(t *testing.T) {
	env, ix := crossEnv(t)
	p := lockCross(t, env, ix, "cross-aarch64-linux")
	if p.Target != "aarch64-linux" || p.Version != "12.2.0-14cross1" {
		t.Errorf("target %q version %q, want aarch64-linux 12.2.0-14cross1", p.Target, p.Version)
	}
	want := []string{
		"bash", "binutils-aarch64-linux-gnu", "g++-12-aarch64-linux-gnu", "gcc-12-aarch64-linux-gnu",
		"libc6", "libc6-dev:arm64", "libc6:arm64", "libgcc-12-dev-arm64-cross", "libgcc-s1-arm64-cross",
		"libgcc-s1:arm64", "libstdc++6:arm64", "linux-libc-dev:arm64", "patchelf",
	}
	if got := names(p, "x86_64-linux"); !slices.Equal(got, want) {
		t.Errorf("locked debs\n got %v\nwant %v", got, want)
	}
	for _, s := range p.SourcesFor("x86_64-linux") {
		arm := strings.HasSuffix(s.Name, ":arm64")
		if arm != strings.HasSuffix(s.URL, "_arm64.deb") {
			t.Errorf("%s is locked at %s", s.Name, s.URL)
		}
		if s.Name == "libc6-dev:arm64" && s.Needs != "libc6:arm64 linux-libc-dev:arm64" {
			t.Errorf("libc6-dev:arm64 needs %q, want the target's packages", s.Needs)
		}
	}
	if p.Attrs["roots"] != "gcc-12-aarch64-linux-gnu g++-12-aarch64-linux-gnu binutils-aarch64-linux-gnu bash" || p.Attrs["target-roots"] != "libc6-dev linux-libc-dev libstdc++6" {
		t.Errorf("attrs %v", p.Attrs)
	}

	// Planned from the lock as den.lock keeps it.
	data, err := lock.Encode(&lock.File{Version: lock.FormatVersion, Packages: []*lock.Package{p}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := lock.Decode("den.lock", data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Backend{}.Plan(context.Background(), env, f.Packages[0], env.Current)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Backend{}.Plan(context.Background(), env, p, env.Current)
	if err != nil || again.Out != out.Out {
		t.Fatalf("planned from den.lock: %s, from the resolution: %s (%v)", out.Out, again.Out, err)
	}
	if out.Builder != derivation.BuilderUnion || out.System != "x86_64-linux" || out.Host != "x86_64-linux" {
		t.Errorf("output %s: builder %s system %s host %s", out.Name, out.Builder, out.System, out.Host)
	}
	w := out.Needs[0]
	if w.Builder != derivation.BuilderCCWrapper || w.Env["cross"] != "true" || w.Env["triplet"] != "aarch64-linux-gnu" || w.Env["revision"] != stdenv.CrossRevision() {
		t.Fatalf("the output's first part is %s %v, want the cross wrapper", w.Name, w.Env)
	}
	tc, err := stdenv.ToolchainFromEnv(w.Env, string(w.Out))
	if err != nil {
		t.Fatal(err)
	}
	byOut := map[string]*derivation.Derivation{}
	var walk func(d *derivation.Derivation)
	walk = func(d *derivation.Derivation) {
		byOut[string(d.Out)] = d
		for _, n := range d.Needs {
			walk(n)
		}
	}
	walk(out)
	libc := byOut[tc.Libc]
	if libc == nil || !strings.Contains(libc.Name, "glibc-aarch64-linux-gnu-2.36") {
		t.Fatalf("the wrapper's libc %s is not the target's glibc unit", tc.Libc)
	}
	if libc.System != "x86_64-linux" || libc.Host != "aarch64-linux" || libc.Env["triplet"] != "aarch64-linux-gnu" ||
		libc.Env["interp"] != "$out/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1" {
		t.Errorf("target glibc unit: system %s host %s env %v", libc.System, libc.Host, libc.Env)
	}
	// The build machine's patchelf relocates the target's units.
	boot := ""
	for _, n := range libc.Needs {
		if n.Name == "deb-bootstrap" {
			boot = n.Env["debs"]
		}
	}
	if !strings.Contains(boot, "patchelf_0.14.3-1+b1_amd64.deb") || !strings.HasPrefix(libc.Env["patchelf"], "/") ||
		!strings.Contains(libc.Env["patchelf"], "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") {
		t.Errorf("target glibc is relocated by %q (bootstrap %q), want the amd64 patchelf", libc.Env["patchelf"], boot)
	}
	// C++ outputs load the target's libstdc++, relocated for it, not the cross gcc's copy.
	rt := byOut[tc.Runtime]
	if rt == nil || rt.Host != "aarch64-linux" || !strings.Contains(rt.Name, "gcc-12-aarch64-linux-gnu-12.2.0") {
		t.Fatalf("the wrapper's runtime %q is not the target's gcc-12 unit", tc.Runtime)
	}
	gcc := byOut[tc.GCC]
	if gcc == nil || gcc.Host != "x86_64-linux" || gcc.Env["triplet"] != "x86_64-linux-gnu" || !strings.Contains(gcc.Env["interp"], "-glibc-2.36/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") {
		t.Fatalf("cross gcc unit %v", gcc)
	}
	// The output's PATH has the build machine's tools, not the target's C library.
	for _, part := range out.Needs {
		if part.Host != "x86_64-linux" {
			t.Errorf("the toolchain's output merges %s, for %s", part.Name, part.Host)
		}
	}
}

// TestLockForTarget locks a library for a target: the target's index gives its closure, the
// build machine's the bootstrap, and the plan relocates it with the target's loader.
func TestLockForTarget(t *testing.T) {
	env, ix := crossEnv(t)
	e, err := ix.Lookup("zlib")
	if err != nil {
		t.Fatal(err)
	}
	arm, _ := platform.Parse("aarch64-linux")
	tenv := *env
	tenv.Target = arm
	any, _ := version.ParseConstraint("*")
	p, err := Backend{}.Lock(context.Background(), &tenv, e, any, []platform.System{env.Current})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"libc6", "libc6-dev:arm64", "libc6:arm64", "linux-libc-dev:arm64", "patchelf", "zlib1g-dev:arm64", "zlib1g:arm64"}
	if got := names(p, "x86_64-linux"); !slices.Equal(got, want) || p.Target != "aarch64-linux" {
		t.Fatalf("target %q, debs %v, want %v", p.Target, got, want)
	}
	if _, ok := p.Attrs["roots"]; ok || p.Attrs["target-roots"] != "zlib1g-dev" {
		t.Errorf("attrs %v", p.Attrs)
	}
	out, err := Backend{}.Plan(context.Background(), env, p, env.Current)
	if err != nil {
		t.Fatal(err)
	}
	if out.Host != "aarch64-linux" || out.System != "x86_64-linux" || !strings.Contains(out.Name, "aarch64-linux-gnu") {
		t.Fatalf("zlib for aarch64: %s system %s host %s", out.Name, out.System, out.Host)
	}
	if !strings.Contains(out.Env["interp"], "-glibc-aarch64-linux-gnu-2.36/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1") {
		t.Errorf("zlib's units load %q, want the target glibc's loader", out.Env["interp"])
	}
	// The same library natively is another store path.
	native, err := Backend{}.Lock(context.Background(), env, e, any, []platform.System{env.Current})
	if err != nil {
		t.Fatal(err)
	}
	nd, err := Backend{}.Plan(context.Background(), env, native, env.Current)
	if err != nil {
		t.Fatal(err)
	}
	if nd.Out == out.Out || nd.Host != "x86_64-linux" {
		t.Errorf("native zlib %s (host %s), cross %s", nd.Out, nd.Host, out.Out)
	}
}

// TestLockCrossArmhf locks the armv7l-linux cross toolchain: Debian's armhf packages for the
// target, its triplet (arm-linux-gnueabihf, not the system's architecture) and its loader.
func TestLockCrossArmhf(t *testing.T) {
	env, ix := crossEnv(t)
	p := lockCross(t, env, ix, "cross-armv7l-linux")
	want := []string{
		"bash", "binutils-arm-linux-gnueabihf", "g++-12-arm-linux-gnueabihf", "gcc-12-arm-linux-gnueabihf",
		"libc6", "libc6-dev:armhf", "libc6:armhf", "libgcc-12-dev-armhf-cross", "libgcc-s1-armhf-cross",
		"libgcc-s1:armhf", "libstdc++6:armhf", "linux-libc-dev:armhf", "patchelf",
	}
	if got := names(p, "x86_64-linux"); p.Target != "armv7l-linux" || !slices.Equal(got, want) {
		t.Errorf("target %q, locked debs\n got %v\nwant %v", p.Target, got, want)
	}
	for _, s := range p.SourcesFor("x86_64-linux") {
		if strings.HasSuffix(s.Name, ":armhf") != strings.HasSuffix(s.URL, "_armhf.deb") {
			t.Errorf("%s is locked at %s", s.Name, s.URL)
		}
	}
	out, err := Backend{}.Plan(context.Background(), env, p, env.Current)
	if err != nil {
		t.Fatal(err)
	}
	w := out.Needs[0]
	if w.Builder != derivation.BuilderCCWrapper || w.Env["triplet"] != "arm-linux-gnueabihf" || w.Name != "cc-wrapper-arm-linux-gnueabihf-gcc-12" {
		t.Fatalf("the output's first part is %s %v, want the armhf cross wrapper", w.Name, w.Env)
	}
	tc, err := stdenv.ToolchainFromEnv(w.Env, string(w.Out))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range w.Needs {
		switch string(n.Out) {
		case tc.Libc:
			if n.Host != "armv7l-linux" || !strings.Contains(n.Name, "glibc-arm-linux-gnueabihf-2.36") || n.Env["triplet"] != "arm-linux-gnueabihf" ||
				n.Env["interp"] != "$out/lib/arm-linux-gnueabihf/ld-linux-armhf.so.3" {
				t.Errorf("target glibc unit %s: host %s env %v", n.Name, n.Host, n.Env)
			}
		case tc.Runtime:
			if n.Host != "armv7l-linux" || !strings.Contains(n.Env["interp"], "-glibc-arm-linux-gnueabihf-2.36/lib/arm-linux-gnueabihf/ld-linux-armhf.so.3") {
				t.Errorf("target runtime unit %s: host %s env %v", n.Name, n.Host, n.Env)
			}
		case tc.GCC:
			if n.Host != "x86_64-linux" || n.Env["triplet"] != "x86_64-linux-gnu" {
				t.Errorf("cross gcc unit %s: host %s env %v", n.Name, n.Host, n.Env)
			}
		}
	}
	if tc.Runtime == "" {
		t.Error("the armhf wrapper has no target runtime (libstdc++6:armhf)")
	}
}

// i686-linux's packages are Debian's i386 (libc6:i386, lib/i386-linux-gnu), and its cross tools
// are named i686-linux-gnu: the wrapper is over gcc-12-i686-linux-gnu, for i386-linux-gnu.
func TestLockCrossI686(t *testing.T) {
	env, ix := crossEnv(t)
	e, err := ix.Lookup("cross-i686-linux")
	if err != nil {
		t.Fatal(err)
	}
	any, _ := version.ParseConstraint("*")
	p, err := Backend{}.Lock(context.Background(), env, e, any, []platform.System{env.Current})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(p, "x86_64-linux"); !slices.Contains(got, "libc6:i386") || slices.Contains(got, "libc6-i386-cross") {
		t.Errorf("locked debs %v, want the i386 index's libc6", got)
	}
	out, err := Backend{}.Plan(context.Background(), env, p, env.Current)
	if err != nil {
		t.Fatal(err)
	}
	w := out.Needs[0]
	tc, err := stdenv.ToolchainFromEnv(w.Env, string(w.Out))
	if err != nil || w.Name != "cc-wrapper-i386-linux-gnu-gcc-12" || tc.Triplet != "i386-linux-gnu" || !strings.Contains(tc.GCC, "-gcc-12-cross-") {
		t.Fatalf("the i686 wrapper %s: %+v, %v", w.Name, tc, err)
	}
}

// lockCross locks the index's cross toolchain name for the build machine of env.
func lockCross(t *testing.T, env *backend.Env, ix *index.Index, name string) *lock.Package {
	t.Helper()
	e, err := ix.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	any, _ := version.ParseConstraint("*")
	p, err := Backend{}.Lock(context.Background(), env, e, any, []platform.System{env.Current})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
