// Package debunit turns Debian packages into one relocated store tree: the .debs of a unit (the
// binary packages of one Debian source that a closure needs) are unpacked together, usr-merged,
// and rewritten so that nothing in them leads to the host's /usr, /lib or loader.
//
// The steps, in order, each deterministic (paths are visited sorted, never in map order):
//
//  1. Unpack. Each .deb is an ar archive (debian-binary, control.tar.*, data.tar with no,
//     xz, zstd, gzip or bzip2 compression); its data.tar is unpacked defensively, as
//     core/archive does for sources (no "..", no absolute names, no devices, size limits,
//     writes through an os.Root), with two differences that are why this package reads the
//     tar itself: absolute symlink targets are Debian's normal (they are rewritten in step 2),
//     and several archives fill one tree, where a path provided twice must be the same.
//     Directories are 0755, files 0644 or 0755. Hard links become copies.
//  2. Usr-merge, while unpacking: /usr/X and /X both land at X (lib, bin, sbin merge; lib64
//     stays). Every symlink is then re-spelled for its new place: to a relative link when its
//     target is in the unit, else to the absolute path in the first dependency unit that has
//     it, else to a (dangling) relative link into the unit — a store path may not point at the
//     host.
//  3. GNU ld scripts (libc.so and friends): absolute file names become the unit's own or a
//     dependency's store paths, by the same rule; names found nowhere stay.
//  4. Shebangs #!/usr/bin/X, #!/bin/X (and sbin) become bin/X of this unit or of the first
//     dependency that has it; others stay. pkg-config files (*.pc in a pkgconfig directory)
//     get their absolute directories (prefix=/usr, -I/usr/include/x) the same way, so that
//     pkg-config names store paths, never the host's /usr.
//  5. ELF: every dynamically linked executable and shared object (not the loader, not lib/debug,
//     not kernel modules, not static executables) gets the given interpreter, if it has one,
//     and a RUNPATH of its own $ORIGIN entries, the unit's library directories and those
//     holding the libraries it needs, and the dependency units' library directories that hold
//     a library it needs (the first that has it). The
//     patching is done by the patchelf the caller names (Debian's own, from a bootstrap unit,
//     through its loader), in batches of files that need the same arguments, in parallel.
package debunit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Revision names the rewriting rules above. A unit's derivation records it, so that a den whose
// rules differ (a new kind of file relocated) plans other store paths instead of reusing units
// made by the old rules; bump it with every change to what a unit holds.
const Revision = "3" // 2: pkg-config files; 3: RUNPATHs name only the dirs of needed libraries

// Spec says what to build.
type Spec struct {
	Debs []string // the .deb files, unpacked in this order
	// Out is where the tree is made (it must not exist; its parent must); FinalOut is the store
	// path it will be published as, which rewritten links and RUNPATHs name.
	Out, FinalOut string
	// Deps are the dependency units (store paths), in the order they are searched for a link's
	// target, a shebang's interpreter and RUNPATH entries.
	Deps []string
	// Interp is the absolute loader path set as the interpreter of every executable that has
	// one; "" leaves interpreters alone.
	Interp string
	// Patchelf is the argv prefix that runs patchelf; nil patches no ELF file (the bootstrap
	// unit, which holds patchelf itself).
	Patchelf []string
	Triplet  string    // x86_64-linux-gnu, aarch64-linux-gnu, arm-linux-gnueabihf or i386-linux-gnu
	Log      io.Writer // patchelf's output and notes on what was left unrewritten; nil discards
	// Jobs bounds how many patchelf processes run at once; 0 means GOMAXPROCS.
	Jobs int
}

// Build makes the relocated tree of s.Debs at s.Out. On error s.Out is removed.
func Build(ctx context.Context, s Spec) (err error) {
	if len(s.Debs) == 0 {
		return errors.New("debunit: no .deb files to unpack")
	}
	if _, ok := machines[s.Triplet]; !ok {
		return fmt.Errorf("debunit: triplet %q: want x86_64-linux-gnu, aarch64-linux-gnu, arm-linux-gnueabihf or i386-linux-gnu", s.Triplet)
	}
	if !path.IsAbs(s.FinalOut) {
		return fmt.Errorf("debunit: the final output %q is not an absolute path", s.FinalOut)
	}
	if s.Interp != "" && !path.IsAbs(s.Interp) {
		return fmt.Errorf("debunit: the interpreter %q is not an absolute path", s.Interp)
	}
	if s.Log == nil {
		s.Log = io.Discard
	}
	if s.Out, err = filepath.Abs(s.Out); err != nil {
		return err
	}
	if err := os.Mkdir(s.Out, 0o755); err != nil {
		return fmt.Errorf("debunit: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(s.Out)
		}
	}()
	root, err := os.OpenRoot(s.Out)
	if err != nil {
		return err
	}
	defer root.Close()
	deps, err := openDeps(s.Deps)
	if err != nil {
		return err
	}
	defer deps.close()
	t := &tree{dir: s.Out, root: root, nodes: map[string]*node{}}
	if err := unpack(ctx, t, s); err != nil {
		return err
	}
	r := &relocator{s: s, t: t, deps: deps}
	if err := r.symlinks(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	elves, err := r.files()
	if err != nil {
		return err
	}
	if len(s.Patchelf) == 0 {
		return nil
	}
	return r.patch(ctx, elves)
}

// unpack fills t with the .debs of s: each is unpacked on its own beside s.Out, several at
// once (decompressing xz is most of a unit's build time), then merged into t in their order.
func unpack(ctx context.Context, t *tree, s Spec) error {
	stage := s.Out + ".debs"
	os.RemoveAll(stage) // what a killed build left
	if err := os.Mkdir(stage, 0o755); err != nil {
		return fmt.Errorf("debunit: %w", err)
	}
	defer os.RemoveAll(stage)
	trees := make([]*tree, len(s.Debs))
	errs := make([]error, len(s.Debs))
	parallel(len(s.Debs), jobs(s), func(i int) {
		if errs[i] = ctx.Err(); errs[i] != nil {
			return
		}
		dir := filepath.Join(stage, strconv.Itoa(i))
		if errs[i] = os.Mkdir(dir, 0o755); errs[i] != nil {
			return
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			errs[i] = err
			return
		}
		defer root.Close()
		trees[i] = &tree{dir: dir, deb: s.Debs[i], root: root, nodes: map[string]*node{}}
		errs[i] = trees[i].unpackDeb(s.Debs[i])
	})
	for i := range trees {
		if errs[i] != nil {
			return errs[i]
		}
		if err := t.merge(trees[i], trees[i].dir); err != nil {
			return err
		}
	}
	return nil
}

// jobs is how many .debs are unpacked, or patchelf processes run, at once.
func jobs(s Spec) int {
	if s.Jobs > 0 {
		return s.Jobs
	}
	return runtime.GOMAXPROCS(0)
}

// depUnits are the dependency units, opened so that looking into them never follows a link out.
type depUnits struct {
	paths []string
	roots []*os.Root
}

func openDeps(paths []string) (*depUnits, error) {
	d := &depUnits{paths: paths}
	for _, p := range paths {
		if !path.IsAbs(p) {
			d.close()
			return nil, fmt.Errorf("debunit: dependency unit %q is not an absolute path", p)
		}
		r, err := os.OpenRoot(p)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("debunit: dependency unit: %w", err)
		}
		d.roots = append(d.roots, r)
	}
	return d, nil
}

func (d *depUnits) close() {
	for _, r := range d.roots {
		r.Close()
	}
}

// find returns the absolute path of name in the first dependency unit that has it, or "".
func (d *depUnits) find(name string) string {
	for i, r := range d.roots {
		if _, err := r.Lstat(name); err == nil {
			return d.paths[i] + "/" + name
		}
	}
	return ""
}

// relocator rewrites an unpacked tree.
type relocator struct {
	s    Spec
	t    *tree
	deps *depUnits
	// libsIn lists the shared libraries directly in each directory of the unit.
	libsIn map[string][]string
}

// locate says where the unit-relative name is once published: in this unit, or in a dependency
// ("" if neither has it).
func (r *relocator) locate(name string) (abs string, inUnit bool) {
	if r.t.has(name) {
		return r.s.FinalOut + "/" + name, true
	}
	return r.deps.find(name), false
}

// symlinks writes every symlink of the tree with its rewritten target.
func (r *relocator) symlinks() error {
	for _, name := range r.t.names() {
		n := r.t.nodes[name]
		if n.kind != kindSymlink {
			continue
		}
		dir := path.Dir(name)
		var link string
		switch abs, inUnit := r.locate(n.to); {
		case inUnit:
			link = relative(dir, n.to)
			// Keep Debian's own spelling when it still leads to the same place.
			if !strings.HasPrefix(n.target, "/") && path.Join(dir, n.target) == n.to {
				link = n.target
			}
		case abs != "":
			link = abs
		default:
			link = relative(dir, n.to)
			if !strings.HasPrefix(n.target, "/") && path.Join(dir, n.target) == n.to {
				link = n.target
			} else {
				fmt.Fprintf(r.s.Log, "debunit: %s -> %s: in neither the unit nor its dependencies; left dangling as %s\n", name, n.target, link)
			}
		}
		if err := r.t.root.Symlink(link, name); err != nil {
			return fmt.Errorf("debunit: %w", err)
		}
	}
	return nil
}

// files reads the start of every regular file, rewrites ld scripts and shebangs, and returns
// the ELF files to patch.
func (r *relocator) files() ([]string, error) {
	var elves []string
	for _, name := range r.t.names() {
		n := r.t.nodes[name]
		if n.kind != kindFile || n.size < 4 {
			continue
		}
		head, err := r.head(name)
		if err != nil {
			return nil, err
		}
		switch {
		case strings.HasPrefix(head, "\x7fELF"):
			if r.patchable(name) {
				elves = append(elves, name)
			}
		case strings.HasPrefix(head, "#!"):
			if err := r.shebang(name, n); err != nil {
				return nil, err
			}
		case strings.HasPrefix(head, "/* GNU ld script") && n.size <= maxLdScript:
			if err := r.ldScript(name, n); err != nil {
				return nil, err
			}
		case strings.HasSuffix(name, ".pc") && path.Base(path.Dir(name)) == "pkgconfig" && n.size <= maxLdScript:
			if err := r.pkgConfig(name, n); err != nil {
				return nil, err
			}
		}
	}
	return elves, nil
}

func (r *relocator) head(name string) (string, error) {
	f, err := r.t.root.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var b [32]byte
	n, err := io.ReadFull(f, b[:])
	if err != nil && err != io.ErrUnexpectedEOF {
		return "", fmt.Errorf("debunit: reading %s: %w", name, err)
	}
	return string(b[:n]), nil
}

// patchable says whether an ELF file's place makes it one to relocate: the loader runs as it
// is, and debug files and kernel modules are never loaded by ld.so.
func (r *relocator) patchable(name string) bool {
	base := path.Base(name)
	switch {
	case strings.HasPrefix(base, "ld-linux"):
		return false
	case strings.HasPrefix(name, "lib/debug/"), strings.HasPrefix(name, "lib/modules/"):
		return false
	case strings.HasSuffix(base, ".ko"), strings.HasSuffix(base, ".o"), strings.HasSuffix(base, ".a"):
		return false
	}
	return true
}

// maxLdScript bounds what is read as an ld script; real ones are a few hundred bytes.
const maxLdScript = 64 << 10

// rewrite replaces the content of a regular file of the tree, keeping its mode.
func (r *relocator) rewrite(name string, n *node, data []byte) error {
	perm := os.FileMode(0o644)
	if n.exec {
		perm = 0o755
	}
	f, err := r.t.root.OpenFile(name, os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		n.size = int64(len(data))
	}
	return err
}

// shebang points a script's #!/usr/bin/X or #!/bin/X at X in the unit or a dependency.
func (r *relocator) shebang(name string, n *node) error {
	data, err := r.t.root.ReadFile(name)
	if err != nil {
		return err
	}
	end := strings.IndexByte(string(data[:min(len(data), 512)]), '\n')
	if end < 0 {
		end = min(len(data), 512)
	}
	rest := strings.TrimLeft(string(data[2:end]), " \t")
	interp := rest
	if i := strings.IndexAny(rest, " \t"); i >= 0 {
		interp = rest[:i]
	}
	var sub string
	for _, p := range [][2]string{{"/usr/bin/", "bin/"}, {"/bin/", "bin/"}, {"/usr/sbin/", "sbin/"}, {"/sbin/", "sbin/"}} {
		if x, ok := strings.CutPrefix(interp, p[0]); ok && x != "" && !strings.Contains(x, "/") {
			sub = p[1] + x
			break
		}
	}
	if sub == "" {
		return nil
	}
	abs, _ := r.locate(sub)
	if abs == "" {
		return nil
	}
	out := append([]byte("#!"+abs+rest[len(interp):]), data[end:]...)
	return r.rewrite(name, n, out)
}

// ldScript points a GNU ld script's absolute file names into the store.
func (r *relocator) ldScript(name string, n *node) error {
	data, err := r.t.root.ReadFile(name)
	if err != nil {
		return err
	}
	var out []byte
	changed := false
	for i := 0; i < len(data); {
		switch {
		case strings.HasPrefix(string(data[i:]), "/*"):
			end := strings.Index(string(data[i+2:]), "*/")
			if end < 0 {
				out = append(out, data[i:]...)
				i = len(data)
				continue
			}
			out = append(out, data[i:i+2+end+2]...)
			i += 2 + end + 2
		case data[i] == '/' && (i == 0 || strings.IndexByte(" \t\n(,=", data[i-1]) >= 0):
			j := i
			for j < len(data) && strings.IndexByte(" \t\n(),", data[j]) < 0 {
				j++
			}
			file := string(data[i:j])
			to := merged(strings.TrimPrefix(path.Clean(file), "/"))
			if abs, _ := r.locate(to); abs != "" {
				file = abs
				changed = true
			}
			out = append(out, file...)
			i = j
		default:
			out = append(out, data[i])
			i++
		}
	}
	if !changed {
		return nil
	}
	return r.rewrite(name, n, out)
}

// pkgConfig points a pkg-config file's absolute directories into the store: a variable whose
// value is one (prefix=/usr, libdir=/usr/lib/x86_64-linux-gnu) and the -I/-L flags of its
// fields, each to this unit or the first dependency that has the directory. The unit's root
// stands for /usr itself. Paths found nowhere stay as they are.
func (r *relocator) pkgConfig(name string, n *node) error {
	data, err := r.t.root.ReadFile(name)
	if err != nil {
		return err
	}
	where := func(p string) (string, bool) {
		to := merged(strings.TrimPrefix(path.Clean(p), "/"))
		if to == "." {
			return r.s.FinalOut, true
		}
		abs, _ := r.locate(to)
		return abs, abs != ""
	}
	lines := strings.SplitAfter(string(data), "\n")
	changed := false
	for i, line := range lines {
		body := strings.TrimRight(line, "\r\n")
		eq, colon := strings.IndexByte(body, '='), strings.IndexByte(body, ':')
		switch {
		case eq > 0 && (colon < 0 || eq < colon) && !strings.ContainsAny(body[:eq], " \t"):
			// A variable: its whole value, when it is an absolute directory.
			if v := strings.TrimSpace(body[eq+1:]); strings.HasPrefix(v, "/") && !strings.ContainsAny(v, " \t$") {
				if abs, ok := where(v); ok {
					lines[i] = body[:eq+1] + abs + line[len(body):]
					changed = true
				}
			}
		case colon > 0:
			// A field: its -I/dir and -L/dir flags.
			fields := strings.Fields(body[colon+1:])
			edited := false
			for j, f := range fields {
				for _, flag := range []string{"-I", "-L"} {
					if d, ok := strings.CutPrefix(f, flag); ok && strings.HasPrefix(d, "/") {
						if abs, ok := where(d); ok {
							fields[j], edited = flag+abs, true
						}
					}
				}
			}
			if edited {
				lines[i] = body[:colon+1] + " " + strings.Join(fields, " ") + line[len(body):]
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	return r.rewrite(name, n, []byte(strings.Join(lines, "")))
}
