package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/den-sh/den/core/backend/recipes"
	"github.com/den-sh/den/core/emulator"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/stdenv"
	"github.com/den-sh/den/envs"
)

// rustTargets are Rust's target triples of den's systems (CARGO_BUILD_TARGET).
var rustTargets = map[string]string{
	"x86_64-linux":   "x86_64-unknown-linux-gnu",
	"aarch64-linux":  "aarch64-unknown-linux-gnu",
	"armv7l-linux":   "armv7-unknown-linux-gnueabihf",
	"riscv64-linux":  "riscv64gc-unknown-linux-gnu",
	"i686-linux":     "i686-unknown-linux-gnu",
	"x86_64-darwin":  "x86_64-apple-darwin",
	"aarch64-darwin": "aarch64-apple-darwin",
}

// npmCPU is npm's process.arch of target's processor ("" where node has none).
func npmCPU(target platform.System) string {
	if target.Arch == "riscv64" {
		return ""
	}
	return index.NPMCPU(target)
}

// cmakeProcessors are CMake's CMAKE_SYSTEM_PROCESSOR of den's architectures.
var cmakeProcessors = map[string]string{"x86_64": "x86_64", "aarch64": "aarch64", "armv7l": "armv7l", "riscv64": "riscv64", "i686": "i686"}

// targetEnv is what an environment that builds for another system gets on top of the
// project's: the variables the usual build tools read to cross-compile (Go's, a C cross
// toolchain's, Cargo's, CMake's and meson's), and a note for what it cannot give. The C cross
// toolchain is den's index's cross-SYSTEM package (Debian's cross GCC with the target's glibc),
// and the emulator that runs the target's programs is the store's QEMU (the project's den.lock
// pins both when it has them).
type targetEnv struct {
	vars      []envs.Var
	notes     []string
	emulators string   // the emulator package's store path, when realized
	libraries []string // the store paths of den.toml's [targets.SYSTEM] libraries
}

func (a *App) targetEnv(root string, target platform.System, frozen bool) (*targetEnv, error) {
	here := platform.Current()
	te := &targetEnv{}
	set := func(name, value string) { te.vars = append(te.vars, envs.Var{Name: name, Value: value, Op: envs.Set}) }
	set("DEN_TARGET", target.String())
	set("GOOS", target.GOOS())
	set("GOARCH", target.GOARCH())
	if target.Arch == "armv7l" {
		set("GOARM", "7")
	}
	// npm installs the optional packages of the target's platform (esbuild's @esbuild/linux-arm64,
	// not this machine's). (node-gyp's npm_config_arch is not set: npm warns of it on every
	// command, as a config it does not know.)
	if cpu := npmCPU(target); cpu != "" {
		set("npm_config_os", target.OS)
		set("npm_config_cpu", cpu)
		if target.OS == "linux" {
			set("npm_config_libc", "glibc")
		}
	}
	rust := rustTargets[target.String()]
	if rust != "" {
		set("CARGO_BUILD_TARGET", rust)
	}
	if target == here {
		return te, nil
	}
	cargoVar := "CARGO_TARGET_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(rust)) + "_"

	// A C cross toolchain: cgo, $CC, Cargo's linker.
	cc := ""
	ix, err := index.Load()
	if err != nil {
		return nil, err
	}
	name := recipes.CrossToolchain(target)
	out := ""
	if _, err := ix.Lookup(name); err != nil || target.OS != "linux" || here.OS != "linux" {
		te.notes = append(te.notes, fmt.Sprintf("cgo is off (CGO_ENABLED=0): den has no C cross toolchain for %s on %s, so pure Go cross-compiles and C does not", target, here))
		set("CGO_ENABLED", "0")
	} else if out, err = a.realizeForProject(root, name, here, target, frozen); err != nil {
		// Without it the environment still runs the target's programs and builds pure Go;
		// den says why cgo is off.
		te.notes = append(te.notes, fmt.Sprintf("cgo is off (CGO_ENABLED=0): the C cross toolchain (%s): %v", name, err))
		set("CGO_ENABLED", "0")
	} else {
		triplet, err := stdenv.Triplet(target.String())
		if err != nil {
			return nil, err
		}
		bin := filepath.Join(out, "bin")
		te.vars = append(te.vars, envs.Var{Name: "PATH", Value: bin, Op: envs.Prepend})
		tool := func(t string) string { return filepath.Join(bin, stdenv.ToolPrefix(triplet)+"-"+t) }
		cc = tool("gcc")
		for _, v := range [][2]string{
			{"CC", cc}, {"CXX", tool("g++")}, {"CPP", tool("cpp")}, {"AR", tool("ar")}, {"LD", tool("ld")},
			{"RANLIB", tool("ranlib")}, {"STRIP", tool("strip")}, {"NM", tool("nm")}, {"OBJCOPY", tool("objcopy")},
			{"CC_FOR_TARGET", cc}, {"CXX_FOR_TARGET", tool("g++")},
			{"CGO_ENABLED", "1"},
			{"CC_FOR_" + target.GOOS() + "_" + target.GOARCH(), cc},
			{"CXX_FOR_" + target.GOOS() + "_" + target.GOARCH(), tool("g++")},
		} {
			set(v[0], v[1])
		}
		if rust != "" {
			set(cargoVar+"LINKER", cc)
		}
		// den.toml's [targets.SYSTEM] libraries, realized for the target: their headers,
		// libraries and pkg-config files, and only theirs (none of the build machine's).
		libs, outs, err := a.targetLibraries(root, target, triplet, frozen)
		if err != nil {
			return nil, err
		}
		te.vars = append(te.vars, libs...)
		te.libraries = outs
	}

	// The emulator: go test and go run (-exec), cargo test and run (_RUNNER) and CMake's
	// try_run run the target's programs under it.
	qemu := ""
	if target.OS == "linux" && here.OS == "linux" && emulator.Needed(target, here) {
		if prog, err := emulator.Program(target); err == nil {
			// Without it the environment still builds; only running the target's
			// programs here is lost, and den says so.
			if out, err := a.emulators(root, target, frozen); err != nil {
				te.notes = append(te.notes, fmt.Sprintf("%s programs will not run here: %v", target, err))
			} else {
				te.emulators, qemu = out, filepath.Join(out, "bin", prog)
			}
		}
		if qemu != "" {
			// qemu-aarch64-static ./app, by hand.
			te.vars = append(te.vars, envs.Var{Name: "PATH", Value: filepath.Dir(qemu), Op: envs.Prepend})
			goflags := "-exec=" + qemu
			if g := os.Getenv("GOFLAGS"); g != "" {
				goflags = g + " " + goflags
			}
			set("GOFLAGS", goflags)
			set("CMAKE_CROSSCOMPILING_EMULATOR", qemu)
			if rust != "" {
				set(cargoVar+"RUNNER", qemu)
			}
		}
	}

	// A CMake toolchain file and a meson cross file, in the project's .den (den x has none),
	// and with the target's libraries a <triplet>-pkg-config over their .pc files, the name
	// autoconf's PKG_PROG_PKG_CONFIG looks for first in a cross build.
	if cc != "" && root != "" {
		if libdir := lastSet(te.vars, "PKG_CONFIG_LIBDIR"); libdir != "" {
			dir, err := writePkgConfig(root, target, strings.TrimSuffix(filepath.Base(cc), "-gcc"), libdir)
			if err != nil {
				return nil, err
			}
			te.vars = append(te.vars, envs.Var{Name: "PATH", Value: dir, Op: envs.Prepend})
		}
		files, err := writeCrossFiles(root, target, te.vars, te.libraries, qemu)
		if err != nil {
			return nil, err
		}
		set("CMAKE_TOOLCHAIN_FILE", files[0])
		set("DEN_MESON_CROSS_FILE", files[1])
	}
	return te, nil
}

// lastSet is the value vars set name to last ("" if none).
func lastSet(vars []envs.Var, name string) string {
	v := ""
	for _, x := range vars {
		if x.Name == name && x.Op == envs.Set {
			v = x.Value
		}
	}
	return v
}

// writePkgConfig writes, below the project's .den, PREFIX-pkg-config: the pkg-config on PATH
// over the target's .pc files only (libdir), and returns its directory.
func writePkgConfig(root string, target platform.System, prefix, libdir string) (string, error) {
	sub := "bin-" + target.String()
	script := fmt.Sprintf("#!/bin/sh\n# Written by den for --target %s: pkg-config over the target's .pc files only.\nPKG_CONFIG_LIBDIR='%s'\nPKG_CONFIG_PATH=\nexport PKG_CONFIG_LIBDIR PKG_CONFIG_PATH\nexec pkg-config \"$@\"\n", target, libdir)
	if err := envs.WriteStateFile(root, sub+"/"+prefix+"-pkg-config", []byte(script), 0o755); err != nil {
		return "", err
	}
	return envs.StatePath(root, sub), nil
}

// realizeForProject realizes the index package name for sys as the project at root's den.lock
// has it: among its packages, or what it locks for target (den.toml's [targets]); else
// resolved now, which --frozen refuses.
func (a *App) realizeForProject(root, name string, sys, target platform.System, frozen bool) (string, error) {
	ctx, stop := signalContext()
	defer stop()
	if p := lockedFor(root, name, sys, target); p != nil {
		return a.realizeLocked(ctx, nil, p, sys, false)
	}
	if frozen {
		return "", &usageError{err: fmt.Errorf("--frozen: den.lock has no %s for %s", name, sys),
			hints: []string{fmt.Sprintf("a [targets.%s] table in den.toml locks it in den.lock (den sync)", target)}}
	}
	return a.buildPackage(ctx, name, sys, false)
}

// lockedFor is the package name as den.lock of the project at root locks it for the build
// system sys, among its packages or its [targets.TARGET] (nil when it does not).
func lockedFor(root, name string, sys, target platform.System) *lock.Package {
	if root == "" {
		return nil
	}
	f, _, err := lock.Read(root)
	if err != nil {
		return nil
	}
	for _, p := range []*lock.Package{f.Get(name), f.Target(target.String()).Get(name)} {
		if p != nil && p.HasSystem(sys.String()) {
			return p
		}
	}
	return nil
}

// writeCrossFiles writes, below the project's .den, a CMake toolchain file and a meson cross
// file for target from the toolchain variables vars and the target's libraries, and returns
// their paths.
func writeCrossFiles(root string, target platform.System, vars []envs.Var, libraries []string, emulator string) ([2]string, error) {
	v := map[string]string{}
	for _, x := range vars {
		if x.Op == envs.Set {
			v[x.Name] = x.Value
		}
	}
	system := map[string]string{"linux": "Linux", "darwin": "Darwin"}[target.OS]
	var cm strings.Builder
	fmt.Fprintf(&cm, "# Written by den for --target %s.\nset(CMAKE_SYSTEM_NAME %s)\nset(CMAKE_SYSTEM_PROCESSOR %s)\n", target, system, cmakeProcessors[target.Arch])
	fmt.Fprintf(&cm, "set(CMAKE_C_COMPILER %q)\nset(CMAKE_CXX_COMPILER %q)\nset(CMAKE_AR %q)\nset(CMAKE_RANLIB %q)\nset(CMAKE_STRIP %q)\n",
		v["CC"], v["CXX"], v["AR"], v["RANLIB"], v["STRIP"])
	if emulator != "" {
		fmt.Fprintf(&cm, "set(CMAKE_CROSSCOMPILING_EMULATOR %q)\n", emulator)
	}
	cm.WriteString("set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)\n")
	if len(libraries) > 0 {
		// find_package, find_library and find_path look in the target's libraries only,
		// never in the build machine's.
		triplet, _ := stdenv.Triplet(target.String())
		fmt.Fprintf(&cm, "set(CMAKE_LIBRARY_ARCHITECTURE %s)\nset(CMAKE_FIND_ROOT_PATH", triplet)
		for _, l := range libraries {
			fmt.Fprintf(&cm, " %q", l)
		}
		cm.WriteString(")\nset(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)\nset(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)\nset(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)\n")
	}
	cpuFamily := map[string]string{"x86_64": "x86_64", "aarch64": "aarch64", "armv7l": "arm", "riscv64": "riscv64", "i686": "x86"}[target.Arch]
	var ms strings.Builder
	fmt.Fprintf(&ms, "# Written by den for --target %s: meson setup --cross-file $DEN_MESON_CROSS_FILE\n[binaries]\n", target)
	fmt.Fprintf(&ms, "c = '%s'\ncpp = '%s'\nar = '%s'\nstrip = '%s'\n", v["CC"], v["CXX"], v["AR"], v["STRIP"])
	if emulator != "" {
		fmt.Fprintf(&ms, "exe_wrapper = '%s'\n", emulator)
	}
	if v["PKG_CONFIG_LIBDIR"] != "" {
		// The target's .pc files only (meson's name for it changed in 1.3).
		ms.WriteString("pkg-config = 'pkg-config'\npkgconfig = 'pkg-config'\n")
		fmt.Fprintf(&ms, "\n[properties]\npkg_config_libdir = ['%s']\n", strings.Join(filepath.SplitList(v["PKG_CONFIG_LIBDIR"]), "', '"))
	}
	fmt.Fprintf(&ms, "\n[host_machine]\nsystem = '%s'\ncpu_family = '%s'\ncpu = '%s'\nendian = 'little'\n", target.OS, cpuFamily, target.Arch)
	paths := [2]string{}
	for i, f := range []struct{ name, data string }{{"toolchain.cmake", cm.String()}, {"meson-cross.ini", ms.String()}} {
		rel := "targets/" + target.String() + "." + f.name
		if err := envs.WriteStateFile(root, rel, []byte(f.data), 0o644); err != nil {
			return paths, err
		}
		paths[i] = envs.StatePath(root, rel)
	}
	return paths, nil
}

// parseTarget reads a --target flag ("" for none).
func parseTarget(s string) (platform.System, error) {
	if s == "" {
		return platform.System{}, nil
	}
	t, err := platform.Parse(s)
	if err != nil {
		return platform.System{}, &usageError{err: fmt.Errorf("--target: %w", err)}
	}
	return t, nil
}

// noteTarget says, once, what a target environment cannot give.
func (a *App) noteTarget(te *targetEnv) {
	for _, n := range te.notes {
		if !a.Globals.Quiet {
			fmt.Fprintf(a.Stderr, "den: %s\n", n)
		}
	}
}

// targetLibraries realizes den.toml's [targets.SYSTEM] libraries for target and returns the
// variables that point a cross build at them: CPATH, LIBRARY_PATH (the cross wrapper passes it
// as -L and gives each linked library's dir a RUNPATH), and PKG_CONFIG_PATH and
// PKG_CONFIG_LIBDIR, so that pkg-config finds the target's .pc files and never the build
// machine's; and their store paths.
func (a *App) targetLibraries(root string, target platform.System, triplet string, frozen bool) ([]envs.Var, []string, error) {
	m, err := a.Project()
	if err != nil || m.Root != root {
		return nil, nil, nil
	}
	libs := m.TargetLibraries(target.String())
	if len(libs) == 0 {
		return nil, nil, nil
	}
	ctx, stop := signalContext()
	defer stop()
	here := platform.Current()
	f, _, err := lock.Read(root)
	if err != nil {
		return nil, nil, err
	}
	var outs []string
	for _, lib := range libs {
		p := f.Target(target.String()).Get(lib)
		if p == nil || p.Target != target.String() || !p.HasSystem(here.String()) {
			// den.toml's libraries that den.lock does not have yet (den env --target
			// does not write den.lock): resolved now, as den sync will lock them.
			if frozen {
				return nil, nil, &usageError{err: fmt.Errorf("--frozen: den.lock has no %s for the target %s on %s", lib, target, here),
					hints: []string{"den sync locks den.toml's [targets] in den.lock"}}
			}
			r, err := a.Resolver()
			if err != nil {
				return nil, nil, err
			}
			if p, err = r.LockRefTarget(ctx, lib, []platform.System{here}, target); err != nil {
				return nil, nil, fmt.Errorf("[targets.%s] libraries: %s: %w", target, lib, err)
			}
		}
		if p.Target != target.String() {
			return nil, nil, &usageError{err: fmt.Errorf("[targets.%s] libraries: %s comes from the %s backend, which den does not build for another system", target, lib, p.Backend),
				hints: []string{"a target's libraries are Debian-backed packages of den's index: zlib, openssl, libffi, libsqlite3…"}}
		}
		out, err := a.realizeLocked(ctx, nil, p, here, false)
		if err != nil {
			return nil, nil, fmt.Errorf("[targets.%s] libraries: %s: %w", target, lib, err)
		}
		outs = append(outs, out)
	}
	setup := stdenv.SetupEnv(outs, triplet)
	var vars []envs.Var
	for _, name := range []string{"CPATH", "LIBRARY_PATH", "PKG_CONFIG_PATH"} {
		vars = append(vars, envs.Var{Name: name, Value: setup[name], Op: envs.Set})
	}
	vars = append(vars, envs.Var{Name: "PKG_CONFIG_LIBDIR", Value: setup["PKG_CONFIG_PATH"], Op: envs.Set})
	return vars, outs, nil
}
