// Package stdenv owns the standard build environment: the compiler wrapper every C and C++ build
// compiles with, and the setup that points a build at its inputs' headers, libraries and
// pkg-config files.
//
// The wrapper (as Nix's cc-wrapper, written anew for den's unit layout) is a set of bash scripts
// that run the store's GCC so that it sees only the store. Its choices, and why:
//
//   - --sysroot=<wrapper>/sysroot, an empty directory of the wrapper's own output. GCC prefixes
//     every standard directory it was configured with (/usr/include, /usr/local/include, the
//     /lib and /usr/lib start-file and library dirs) with the sysroot and passes it on to ld,
//     which prefixes its own built-in SEARCH_DIRs and /etc/ld.so.conf with it: none of the host's
//     headers or libraries is ever searched, by the compiler or the linker. GCC's own headers and
//     libraries (stddef.h, libstdc++'s headers, crtbegin.o, libgcc) are found relative to the
//     gcc binary, not through the sysroot, so they keep working; -nostdinc would drop them too.
//   - -B<libc>/lib/<triplet>/ (and the same for the Extra units): crt1.o, crti.o and libc.so are
//     found there, before any -L of GCC's; -B<binutils>/bin/: as and ld (through collect2) come
//     from the store, not from PATH.
//   - -idirafter for the C library's and the kernel's headers (multiarch dirs first, as Debian's
//     /usr/include/<triplet> precedes /usr/include): they come after the user's -I, CPATH and
//     GCC's own dirs, for C and for C++, where libstdc++'s <cstdlib> must precede glibc's
//     <stdlib.h> for its #include_next to work. -isystem would put glibc before libstdc++.
//   - When linking a dynamic executable: -Wl,--dynamic-linker=<libc>'s loader (unless the
//     command gives one), and -Wl,-rpath for the build's own $out/lib (first: its libraries are
//     installed after its programs are linked), for the C library, for the gcc unit's runtime
//     libraries when linking C++ (or naming libstdc++ or libgcc_s), and for every directory
//     under the store (a -L, a LIBRARY_PATH entry, an Extra unit's lib dir) that holds a shared
//     library the link names with -l, or that holds a shared library given by path: so outputs
//     find their libraries with no LD_LIBRARY_PATH, and reference only the inputs they use.
//     -shared gets the rpaths without an interpreter, -static and -static-pie neither; a command
//     that does not link (-c, -S, -E, -M, -MM, -fsyntax-only, -r, or no input file) gets no
//     linker flags at all, because GCC takes -Wl options as linker inputs and would try to link.
//   - With DEN_ENFORCE_PURITY=1 in the environment (den's stdenv builds set it), -I, -L,
//     -isystem and -idirafter options naming an absolute directory outside the store, the build
//     directory and the temporary directory are dropped, as Nix does: a configure script that
//     adds -I/usr/include cannot bring the host back.
//
// GCC reads CPATH and LIBRARY_PATH itself; pkg-config reads PKG_CONFIG_PATH: SetupEnv computes
// them from a build's inputs.
package stdenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Toolchain names the store paths a wrapper is made of (see the package comment for the unit
// layout: bin/, lib/<triplet>/, include/ at the top of each).
type Toolchain struct {
	GCC          string // the gcc unit: gcc-N, g++-N, cpp-N, cc1, libstdc++, libgcc
	Binutils     string // the binutils unit: as, ld, ar, ...
	Libc         string // the glibc unit: libc6 + libc6-dev, with the dynamic loader
	LinuxHeaders string // the linux unit: linux-libc-dev's kernel headers
	Shell        string // a bash executable, the wrapper scripts' interpreter
	Triplet      string // the multiarch triplet, e.g. x86_64-linux-gnu
	GCCVersion   string // the gcc unit's major version, e.g. "12" for gcc-12
	// Extra are further units of the C library that libc6-dev depends on (libxcrypt's
	// libcrypt, libtirpc, libnsl): their headers are system headers after Libc's, and their
	// lib/<triplet> dirs are searched after the user's -L, as Libc's are.
	Extra []string
	// Out is the wrapper's own store path: the scripts name its empty sysroot.
	Out string
	// Cross says GCC and Binutils are Debian's cross tools for Triplet, programs of the build
	// machine that compile for another (gcc-12-aarch64-linux-gnu: bin/aarch64-linux-gnu-gcc-12,
	// its target libraries under <triplet>/lib; binutils' plain-named tools under
	// <triplet>/bin), and Libc and LinuxHeaders are the target's. The wrapper then offers only
	// the prefixed names (aarch64-linux-gnu-gcc, aarch64-linux-gnu-ar, ...): a cross build has
	// the build machine's own cc, ld and ar on its PATH beside them.
	Cross bool
	// Runtime is, for a cross toolchain, the target's unit of libstdc++ and libgcc_s (Debian's
	// libstdc++6 and libgcc-s1 of the target's architecture, relocated for it), which C++
	// outputs load: the cross gcc's own copies are not relocated, and would make the compiler
	// a runtime dependency. "" leaves them the cross gcc's.
	Runtime string
}

// linuxSystems are the systems den has a standard environment for, with Debian's multiarch
// triplet of each (its lib/<triplet> and include/<triplet> dirs), the file name of its glibc's
// dynamic loader, in lib/<triplet>, and the GNU triplet its GCC and binutils are named by
// (i686-linux-gnu-gcc) where that is not the multiarch one.
var linuxSystems = []struct{ system, triplet, loader, prefix string }{
	{"x86_64-linux", "x86_64-linux-gnu", "ld-linux-x86-64.so.2", ""},
	{"aarch64-linux", "aarch64-linux-gnu", "ld-linux-aarch64.so.1", ""},
	// Debian's armhf: ARMv7-A with VFPv3-D16 and the hard-float ABI, which Debian's cross GCC
	// compiles for by default (Go's GOARM=7).
	{"armv7l-linux", "arm-linux-gnueabihf", "ld-linux-armhf.so.3", ""},
	// Debian's i386: its libraries are in lib/i386-linux-gnu, its compilers i686-linux-gnu-*.
	{"i686-linux", "i386-linux-gnu", "ld-linux.so.2", "i686-linux-gnu"},
}

// ToolPrefix is the GNU triplet that a triplet's GCC and binutils are named by: the prefix of
// cross tools (i686-linux-gnu-gcc for i386-linux-gnu), and the name Debian's cross packages
// carry (gcc-12-i686-linux-gnu). It is the triplet itself for all but i386.
func ToolPrefix(triplet string) string {
	for _, s := range linuxSystems {
		if s.triplet == triplet && s.prefix != "" {
			return s.prefix
		}
	}
	return triplet
}

// Triplets are the multiarch triplets den has a standard environment for.
func Triplets() []string {
	var out []string
	for _, s := range linuxSystems {
		out = append(out, s.triplet)
	}
	return out
}

// Loader returns the file name of the dynamic loader of a triplet's glibc.
func Loader(triplet string) (string, error) {
	for _, s := range linuxSystems {
		if s.triplet == triplet {
			return s.loader, nil
		}
	}
	return "", fmt.Errorf("stdenv: no dynamic loader known for the triplet %q (want %s)", triplet, strings.Join(Triplets(), ", "))
}

// Sysroot is the empty directory of a wrapper output that GCC is given as its sysroot.
const Sysroot = "sysroot"

// binutilsTools are the binutils programs a wrapper output offers under their plain names and
// with the triplet prefix, as exec scripts. ld gets no flags of its own: GCC's link is the one
// the wrapper prepares.
var binutilsTools = []string{
	"addr2line", "ar", "as", "c++filt", "elfedit", "gprof", "ld", "ld.bfd", "ld.gold", "nm",
	"objcopy", "objdump", "ranlib", "readelf", "size", "strings", "strip",
}

// Wrapper returns the files of a wrapper output, by slash-separated path relative to it; a path
// ending in "/" is an empty directory. Everything under bin/ is an executable script. It does
// not look at the file system: directories that turn out not to exist are ignored by GCC.
func Wrapper(t Toolchain) (map[string][]byte, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	loader, err := Loader(t.Triplet)
	if err != nil {
		return nil, err
	}
	if t.Cross {
		return t.crossWrapper(loader), nil
	}
	files := map[string][]byte{Sysroot + "/": nil}
	gccBin := t.GCC + "/bin/"
	cc := t.compilerScript(gccBin+"gcc-"+t.GCCVersion, false, loader)
	cxx := t.compilerScript(gccBin+"g++-"+t.GCCVersion, true, loader)
	cpp := t.preprocessorScript(gccBin + "cpp-" + t.GCCVersion)
	for _, name := range []string{"cc", "gcc"} {
		files["bin/"+name] = cc
	}
	for _, name := range []string{"c++", "g++"} {
		files["bin/"+name] = cxx
	}
	files["bin/cpp"] = cpp
	tp := ToolPrefix(t.Triplet)
	files["bin/"+tp+"-gcc"] = cc
	files["bin/"+tp+"-g++"] = cxx
	files["bin/"+tp+"-cpp"] = cpp
	// gcc-ar and friends find the LTO plugin relative to themselves.
	for _, name := range []string{"gcc-ar", "gcc-nm", "gcc-ranlib"} {
		files["bin/"+name] = t.execScript(gccBin + name + "-" + t.GCCVersion)
	}
	for _, name := range binutilsTools {
		s := t.execScript(t.Binutils + "/bin/" + name)
		files["bin/"+name] = s
		files["bin/"+tp+"-"+name] = s
	}
	return files, nil
}

// crossWrapper is Wrapper's files for a cross toolchain: only <triplet>- names (ToolPrefix's).
func (t *Toolchain) crossWrapper(loader string) map[string][]byte {
	files := map[string][]byte{Sysroot + "/": nil}
	tp := ToolPrefix(t.Triplet)
	prefix := t.GCC + "/bin/" + tp + "-"
	cc := t.compilerScript(prefix+"gcc-"+t.GCCVersion, false, loader)
	cxx := t.compilerScript(prefix+"g++-"+t.GCCVersion, true, loader)
	for _, name := range []string{"cc", "gcc"} {
		files["bin/"+tp+"-"+name] = cc
	}
	for _, name := range []string{"c++", "g++"} {
		files["bin/"+tp+"-"+name] = cxx
	}
	files["bin/"+tp+"-cpp"] = t.preprocessorScript(prefix + "cpp-" + t.GCCVersion)
	for _, name := range []string{"gcc-ar", "gcc-nm", "gcc-ranlib"} {
		files["bin/"+tp+"-"+name] = t.execScript(prefix + name + "-" + t.GCCVersion)
	}
	for _, name := range binutilsTools {
		files["bin/"+tp+"-"+name] = t.execScript(t.Binutils + "/bin/" + tp + "-" + name)
	}
	files[ConfigSite] = []byte(fmt.Sprintf(`# den's cross build (core/stdenv): autoconf's configure builds for %[1]s, as with
# --host=%[1]s, and runs none of the programs it compiles.
if test -z "$host_alias"; then
  host_alias=%[1]s
  ac_tool_prefix=%[1]s-
fi
cross_compiling=yes
`, tp))
	return files
}

// ConfigSite is the autoconf site file of a cross wrapper output, which a cross build's
// CONFIG_SITE names: configure then cross-compiles without a --host in the recipe's script, as
// Nix's stdenv adds --host to configureFlags.
const ConfigSite = "share/config.site"

// CrossEnv is what a build cross-compiling with a cross wrapper output at wrapper gets in its
// environment: the usual variables naming the prefixed tools (CC, CXX, AR, LD, ...), and
// CONFIG_SITE.
func CrossEnv(wrapper, triplet string) map[string]string {
	tp := ToolPrefix(triplet)
	env := map[string]string{"CONFIG_SITE": wrapper + "/" + ConfigSite, "DEN_TARGET_TRIPLET": triplet}
	for k, tool := range map[string]string{
		"CC": "gcc", "CXX": "g++", "CPP": "cpp", "AR": "ar", "AS": "as", "LD": "ld", "NM": "nm",
		"RANLIB": "ranlib", "STRIP": "strip", "OBJCOPY": "objcopy", "OBJDUMP": "objdump", "READELF": "readelf",
	} {
		env[k] = tp + "-" + tool
	}
	return env
}

// CrossFixup is Fixup for a cross build: its outputs are the target's ELF files, which only
// the target's strip reads.
func CrossFixup(triplet string) string {
	return strings.Replace(Fixup, "strip -S", ToolPrefix(triplet)+"-strip -S", 1)
}

// binutilsDir is where GCC finds as and ld under their plain names.
func (t *Toolchain) binutilsDir() string {
	if t.Cross {
		return t.Binutils + "/" + ToolPrefix(t.Triplet) + "/bin/"
	}
	return t.Binutils + "/bin/"
}

// gccLibDir holds the gcc unit's runtime libraries for the output's system (libstdc++).
func (t *Toolchain) gccLibDir() string {
	if t.Cross && t.Runtime != "" {
		return t.Runtime + "/lib/" + t.Triplet
	}
	if t.Cross {
		return t.GCC + "/" + ToolPrefix(t.Triplet) + "/lib"
	}
	return t.GCC + "/lib/" + t.Triplet
}

func (t *Toolchain) check() error {
	for _, f := range []struct{ name, path string }{
		{"GCC", t.GCC}, {"Binutils", t.Binutils}, {"Libc", t.Libc}, {"LinuxHeaders", t.LinuxHeaders},
		{"Shell", t.Shell}, {"Out", t.Out},
	} {
		if !path.IsAbs(f.path) || path.Clean(f.path) != f.path {
			return fmt.Errorf("stdenv: the toolchain's %s %q is not a clean absolute path", f.name, f.path)
		}
	}
	if t.Runtime != "" && (!t.Cross || !path.IsAbs(t.Runtime) || path.Clean(t.Runtime) != t.Runtime) {
		return fmt.Errorf("stdenv: the toolchain's runtime %q is not a clean absolute path of a cross toolchain", t.Runtime)
	}
	for _, e := range t.Extra {
		if !path.IsAbs(e) || path.Clean(e) != e {
			return fmt.Errorf("stdenv: the toolchain's extra unit %q is not a clean absolute path", e)
		}
	}
	if t.GCCVersion == "" || strings.ContainsAny(t.GCCVersion, "/ ") {
		return fmt.Errorf("stdenv: the toolchain's GCCVersion %q is not a version like 12", t.GCCVersion)
	}
	return nil
}

// storeDir is the directory the toolchain's units lie in: the store the wrapper was made for.
func (t *Toolchain) storeDir() string { return path.Dir(t.Libc) }

// headerDirs are the system header dirs, in search order.
func (t *Toolchain) headerDirs() []string {
	units := append([]string{t.Libc, t.LinuxHeaders}, t.Extra...)
	var dirs []string
	for _, u := range units {
		dirs = append(dirs, u+"/include/"+t.Triplet)
	}
	for _, u := range units {
		dirs = append(dirs, u+"/include")
	}
	return dirs
}

func (t *Toolchain) header(b *strings.Builder, what string) {
	fmt.Fprintf(b, "#!%s\n# %s, generated by den (core/stdenv): it runs the store's GCC with the store's\n", t.Shell, what)
	b.WriteString("# C library, headers and binutils, and never the host's.\n")
}

// preprocessorScript runs cpp with the sysroot and system headers, never linking.
func (t *Toolchain) preprocessorScript(real string) []byte {
	var b strings.Builder
	t.header(&b, "the C preprocessor")
	fmt.Fprintf(&b, "real=%s\nsysroot=%s\nstore=${NIX_STORE:-%s}\n", quote(real), quote(t.Out+"/"+Sysroot), quote(t.storeDir()))
	b.WriteString(purityFilter)
	b.WriteString("headers=()\nif [[ $nostdinc == 0 ]]; then\n")
	for _, d := range t.headerDirs() {
		fmt.Fprintf(&b, "  headers+=(-idirafter %s)\n", quote(d))
	}
	b.WriteString("fi\n")
	b.WriteString(`exec "$real" --sysroot="$sysroot" "${args[@]}" "${headers[@]}"` + "\n")
	return []byte(b.String())
}

// compilerScript is the gcc or g++ wrapper.
func (t *Toolchain) compilerScript(real string, cxx bool, loader string) []byte {
	var b strings.Builder
	what := "the C compiler"
	if cxx {
		what = "the C++ compiler"
	}
	t.header(&b, what)
	cxxFlag := 0
	if cxx {
		cxxFlag = 1
	}
	fmt.Fprintf(&b, "real=%s\ncxx=%d\nsysroot=%s\nstore=${NIX_STORE:-%s}\n", quote(real), cxxFlag, quote(t.Out+"/"+Sysroot), quote(t.storeDir()))
	fmt.Fprintf(&b, "loader=%s\nlibc_lib=%s\ngcc_lib=%s\n", quote(t.Libc+"/lib/"+t.Triplet+"/"+loader), quote(t.Libc+"/lib/"+t.Triplet), quote(t.gccLibDir()))
	b.WriteString("pre=(")
	for _, u := range append([]string{t.Libc}, t.Extra...) {
		fmt.Fprintf(&b, "-B%s ", quote(u+"/lib/"+t.Triplet+"/"))
	}
	fmt.Fprintf(&b, "-B%s --sysroot=\"$sysroot\")\n", quote(t.binutilsDir()))
	b.WriteString("extra_libdirs=(")
	for i, u := range t.Extra {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(quote(u + "/lib/" + t.Triplet))
	}
	b.WriteString(")\n")
	b.WriteString(purityFilter)
	if t.Cross {
		b.WriteString(crossLibraryPath)
	}
	b.WriteString("headers=()\nif [[ $nostdinc == 0 ]]; then\n")
	for _, d := range t.headerDirs() {
		fmt.Fprintf(&b, "  headers+=(-idirafter %s)\n", quote(d))
	}
	b.WriteString("fi\n")
	b.WriteString(linkLogic)
	return []byte(b.String())
}

// purityFilter reads "$@" into args, dropping impure directory options when DEN_ENFORCE_PURITY
// is 1, and notes -nostdinc.
const purityFilter = `nostdinc=0
impure() {
  [[ ${DEN_ENFORCE_PURITY:-} == 1 && $1 == /* ]] || return 1
  local ok
  for ok in "$store" "${DEN_BUILD_TOP:-}" "${TMPDIR:-}" /build /tmp; do
    [[ -n $ok && ( $1 == "$ok" || $1 == "$ok"/* ) ]] && return 1
  done
  return 0
}
args=()
skip=
for a in "$@"; do
  if [[ -n $skip ]]; then
    skip=
    impure "$a" && { unset 'args[${#args[@]}-1]'; continue; }
    args+=("$a")
    continue
  fi
  case $a in
    -nostdinc) nostdinc=1 ;;
    -I|-L|-isystem|-idirafter) skip=1 ;;
    -I*|-L*) impure "${a:2}" && continue ;;
    -isystem*) impure "${a:8}" && continue ;;
    -idirafter*) impure "${a:10}" && continue ;;
  esac
  args+=("$a")
done
`

// crossLibraryPath gives a cross GCC the LIBRARY_PATH it ignores (GCC reads it only as a
// native compiler): its dirs become -L options after the command's own, which the link logic
// then finds rpaths in as it does for any -L.
const crossLibraryPath = `IFS=: read -r -a cross_lp <<<"${LIBRARY_PATH:-}"
for d in "${cross_lp[@]}"; do
  [[ -n $d ]] && args+=("-L$d")
done
`

// linkLogic decides whether the command links, and execs GCC with the link flags it needs.
const linkLogic = `link=1 inputs=0 static=0 shared=0 loader_given=0
ldirs=() libs=() sodirs=()
linker_arg() {
  case $1 in
    -dynamic-linker|--dynamic-linker|-dynamic-linker=*|--dynamic-linker=*|-I|-I*) loader_given=1 ;;
    -l*) libs+=("${1:2}") ;;
    -L*) ldirs+=("${1:2}") ;;
    -r|--relocatable) link=0 ;;
    -shared|-Bshareable) shared=1 ;;
  esac
}
expect=
for a in "${args[@]}"; do
  if [[ -n $expect ]]; then
    case $expect in
      L) ldirs+=("$a") ;;
      l) libs+=("$a") ;;
      X) linker_arg "$a" ;;
    esac
    expect=
    continue
  fi
  case $a in
    -c|-S|-E|-M|-MM|-fsyntax-only|-r) link=0 ;;
    -static|-static-pie) static=1 ;;
    -shared) shared=1 ;;
    -L) expect=L ;;
    -L*) ldirs+=("${a:2}") ;;
    -l) expect=l ;;
    -l*) libs+=("${a:2}") ;;
    -Xlinker) expect=X ;;
    -Wl,*)
      IFS=, read -r -a wl <<<"${a:4}"
      for w in "${wl[@]}"; do linker_arg "$w"; done ;;
    -o|-x|-I|-include|-imacros|-isystem|-idirafter|-iquote|-iprefix|-iwithprefix|-iwithprefixbefore|-isysroot|-imultilib|-MF|-MT|-MQ|-Xassembler|-Xpreprocessor|-u|-T|-aux-info|--param|-z|-D|-U|-A|-e|-wrapper|-dumpdir|-dumpbase|-dumpbase-ext|-specs|--sysroot)
      expect=skip ;;
    -) inputs=$((inputs + 1)) ;;
    -*) ;;
    *)
      inputs=$((inputs + 1))
      case $a in *.so | *.so.*) [[ $a == */* ]] && sodirs+=("${a%/*}") ;; esac ;;
  esac
done
[[ $inputs == 0 ]] && link=0
for l in "${libs[@]}"; do
  [[ $l == stdc++ || $l == gcc_s ]] && cxx=1
done

if [[ $link == 0 ]]; then
  exec "$real" "${pre[@]}" "${args[@]}" "${headers[@]}"
fi
early=()
if [[ $static == 0 && $shared == 0 && $loader_given == 0 ]]; then
  early+=("-Wl,--dynamic-linker=$loader")
fi
late=()
if [[ $static == 0 ]]; then
  rpath=()
  # A build's own libraries, installed after its programs are linked.
  [[ -n ${out:-} && $out == "$store"/* ]] && rpath+=("$out/lib")
  rpath+=("$libc_lib")
  [[ $cxx == 1 ]] && rpath+=("$gcc_lib")
  IFS=: read -r -a lp <<<"${LIBRARY_PATH:-}"
  for d in "${ldirs[@]}" "${lp[@]}" "${extra_libdirs[@]}"; do
    d=${d%/}
    [[ $d == "$store"/* ]] || continue
    for l in "${libs[@]}"; do
      if [[ $l == :* ]]; then f=$d/${l:1}; else f=$d/lib$l.so; fi
      if [[ -e $f && $f == *.so* ]]; then
        # Through a profile's link, the library's own store path, not the profile's: a program
        # must not depend on the environment it was built in.
        found=$d
        if [[ -L $f ]] && r=$(readlink -f -- "$f" 2>/dev/null) && [[ $r == "$store"/* ]]; then
          found=${r%/*}
        fi
        # A linker script in the C library's own dirs (libc.so, libm.so) names libraries of
        # libc_lib, which is on the RUNPATH already: its dir is not needed at run time.
        magic=
        [[ " ${extra_libdirs[*]} " == *" $found "* ]] && LC_ALL=C IFS= read -r -n 4 magic <"$f"
        [[ -n $magic && $magic != $'\x7fELF' ]] || rpath+=("$found")
        break
      fi
    done
  done
  for d in "${sodirs[@]}"; do
    [[ $d == "$store"/* ]] && rpath+=("$d")
  done
  seen=:
  for d in "${rpath[@]}"; do
    [[ $seen == *":$d:"* ]] && continue
    seen+="$d:"
    late+=("-Wl,-rpath,$d")
  done
fi
# ld finds the libraries that linked shared libraries need through their RUNPATH, which
# --sysroot would send into the empty sysroot: it is told the store's dirs instead. These add
# no references to the output.
if [[ $static == 0 ]]; then
  seen=:
  for d in "$libc_lib" "$gcc_lib" "${rpath[@]}" "${ldirs[@]}" "${lp[@]}" "${extra_libdirs[@]}"; do
    d=${d%/}
    [[ $d == "$store"/* ]] || continue
    [[ $seen == *":$d:"* ]] && continue
    seen+="$d:"
    late+=("-Wl,-rpath-link,$d")
  done
fi
exec "$real" "${pre[@]}" "${early[@]}" "${args[@]}" "${headers[@]}" "${late[@]}"
`

// execScript runs one program of a unit.
func (t *Toolchain) execScript(real string) []byte {
	return []byte(fmt.Sprintf("#!%s\nexec %s \"$@\"\n", t.Shell, quote(real)))
}

// quote quotes s for bash.
func quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-=:@,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// SetupEnv is the setup every stdenv build gets for its inputs (store paths, in the order given,
// which is the order of precedence): CPATH their include/<triplet> and include dirs,
// LIBRARY_PATH their lib/<triplet> and lib dirs, PKG_CONFIG_PATH their lib/<triplet>/pkgconfig,
// lib/pkgconfig and share/pkgconfig dirs, PATH their bin dirs, each only with the dirs that
// exist (a variable with none is left out), and CC=cc, CXX=c++.
func SetupEnv(inputs []string, triplet string) map[string]string {
	vars := []struct {
		name string
		subs []string
	}{
		{"CPATH", []string{"include/" + triplet, "include"}},
		{"LIBRARY_PATH", []string{"lib/" + triplet, "lib"}},
		{"PKG_CONFIG_PATH", []string{"lib/" + triplet + "/pkgconfig", "lib/pkgconfig", "share/pkgconfig"}},
		{"PATH", []string{"bin"}},
	}
	env := map[string]string{"CC": "cc", "CXX": "c++"}
	for _, v := range vars {
		var dirs []string
		seen := map[string]bool{}
		for _, in := range inputs {
			for _, sub := range v.subs {
				d := filepath.Join(in, sub)
				if seen[d] {
					continue
				}
				if fi, err := os.Stat(d); err == nil && fi.IsDir() {
					seen[d] = true
					dirs = append(dirs, d)
				}
			}
		}
		if len(dirs) > 0 {
			env[v.name] = strings.Join(dirs, ":")
		}
	}
	return env
}

// Names lists a wrapper's files in a stable order, directories first: for writing them out.
func Names(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		di, dj := strings.HasSuffix(names[i], "/"), strings.HasSuffix(names[j], "/")
		if di != dj {
			return di
		}
		return names[i] < names[j]
	})
	return names
}

// Triplet is the multiarch triplet of a den system ("x86_64-linux" -> "x86_64-linux-gnu"): the
// lib/<triplet> and include/<triplet> dirs of Debian's units.
func Triplet(system string) (string, error) {
	var systems []string
	for _, s := range linuxSystems {
		if s.system == system {
			return s.triplet, nil
		}
		systems = append(systems, s.system)
	}
	return "", fmt.Errorf("stdenv: no standard environment for %s (%s have one)", system, strings.Join(systems, ", "))
}

// Env is t as the Env of a BuilderCCWrapper derivation (without Out: that is the derivation's
// output). ToolchainFromEnv reads it back.
func (t Toolchain) Env() map[string]string {
	env := map[string]string{
		"gcc": t.GCC, "binutils": t.Binutils, "libc": t.Libc, "linuxHeaders": t.LinuxHeaders,
		"shell": t.Shell, "triplet": t.Triplet, "gccVersion": t.GCCVersion,
	}
	if len(t.Extra) > 0 {
		env["extra"] = strings.Join(t.Extra, " ")
	}
	if t.Cross {
		env["cross"] = "true"
	}
	if t.Runtime != "" {
		env["runtime"] = t.Runtime
	}
	return env
}

// ToolchainFromEnv reads a BuilderCCWrapper derivation's Env, for the wrapper output out.
func ToolchainFromEnv(env map[string]string, out string) (Toolchain, error) {
	t := Toolchain{
		GCC: env["gcc"], Binutils: env["binutils"], Libc: env["libc"], LinuxHeaders: env["linuxHeaders"],
		Shell: env["shell"], Triplet: env["triplet"], GCCVersion: env["gccVersion"],
		Extra: strings.Fields(env["extra"]), Out: out, Cross: env["cross"] == "true", Runtime: env["runtime"],
	}
	if c, ok := env["cross"]; ok && c != "true" {
		return Toolchain{}, fmt.Errorf("stdenv: the compiler wrapper's cross setting is %q; want true or none", c)
	}
	want := Revision()
	if t.Cross {
		want = CrossRevision()
	}
	if r, ok := env["revision"]; ok && r != want {
		return Toolchain{}, fmt.Errorf("stdenv: this compiler wrapper was planned by another den (revision %s, this den writes %s); plan it again", r, want)
	}
	known := map[string]bool{"gcc": true, "binutils": true, "libc": true, "linuxHeaders": true, "shell": true, "triplet": true, "gccVersion": true, "extra": true, "revision": true, "cross": true, "runtime": true}
	for k := range env {
		if !known[k] {
			return Toolchain{}, fmt.Errorf("stdenv: the compiler wrapper has no setting %q (it knows %s)", k, "gcc, binutils, libc, linuxHeaders, shell, triplet, gccVersion, extra, cross, runtime")
		}
	}
	if _, err := Loader(t.Triplet); err != nil {
		return Toolchain{}, err
	}
	return t, t.check()
}

// Units are the store paths a wrapper's scripts name, its shell's included: a wrapper
// derivation must have each among its inputs, or the scripts would name paths outside its
// closure.
func (t Toolchain) Units() []string {
	units := append([]string{t.GCC, t.Binutils, t.Libc, t.LinuxHeaders, t.Shell}, t.Extra...)
	if t.Runtime != "" {
		units = append(units, t.Runtime)
	}
	return units
}

// Fixup runs after a stdenv build's script, as Nix's fixup phase does: it strips debug
// information from the ELF files of $out (strip -S, keeping symbols), because debug information
// names the build directory and every include directory of the build's inputs, which would make
// the whole toolchain a runtime reference of a program that needs only glibc. A build that wants
// its debug information sets dontStrip=1 in its env.
const Fixup = `
if [ -z "${dontStrip:-}" ] && [ -d "$out" ]; then
  find "$out" -type f \( -perm -u+x -o -name '*.so' -o -name '*.so.*' -o -name '*.a' -o -name '*.o' \) -print0 |
  while IFS= read -r -d '' f; do
    if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || [ "${f%.a}" != "$f" ]; then
      strip -S "$f" 2>/dev/null || true
    fi
  done
fi
`

// Revision identifies what Wrapper writes for a given toolchain: the hash of the wrapper it
// generates for a fixed sample one. A wrapper derivation carries it, so that a den whose wrapper
// scripts changed builds a new wrapper (and everything built with it) instead of reusing a path
// whose content an older den decided.
func Revision() string {
	return revision(Toolchain{
		GCC: "/s/g", Binutils: "/s/b", Libc: "/s/l", LinuxHeaders: "/s/k", Shell: "/s/sh/bin/bash",
		Triplet: "x86_64-linux-gnu", GCCVersion: "12", Extra: []string{"/s/e"}, Out: "/s/o",
	})
}

// CrossRevision is Revision for a cross toolchain's wrapper: the native wrapper's revision, and
// with it every native path, stays as it was when the cross scripts change.
func CrossRevision() string {
	return revision(Toolchain{
		GCC: "/s/g", Binutils: "/s/b", Libc: "/s/l", LinuxHeaders: "/s/k", Shell: "/s/sh/bin/bash",
		Triplet: "aarch64-linux-gnu", GCCVersion: "12", Extra: []string{"/s/e"}, Out: "/s/o", Cross: true, Runtime: "/s/r",
	})
}

func revision(sample Toolchain) string {
	files, err := Wrapper(sample)
	if err != nil {
		panic(err) // the sample is valid: a failure is a bug caught by the tests
	}
	h := sha256.New()
	for _, name := range Names(files) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(files[name]))
		h.Write(files[name])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
