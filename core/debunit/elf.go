package debunit

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// PatchError is a patchelf run that failed.
type PatchError struct {
	Files  []string // unit-relative names of the files of the run
	Args   []string // patchelf's arguments before the files
	Err    error
	Output string
}

func (e *PatchError) Error() string {
	files := strings.Join(e.Files, ", ")
	if len(e.Files) > 3 {
		files = strings.Join(e.Files[:3], ", ") + fmt.Sprintf(" and %d more", len(e.Files)-3)
	}
	msg := fmt.Sprintf("patchelf %s on %s: %v", strings.Join(e.Args, " "), files, e.Err)
	if out := strings.TrimSpace(e.Output); out != "" {
		msg += ": " + out
	}
	return msg
}

func (e *PatchError) Unwrap() error { return e.Err }

// elfPlan is what one ELF file needs: the patchelf arguments, before the file names.
type elfPlan struct {
	name string
	args []string
	err  error
}

// machines maps a triplet to the ELF machine of its programs; an ELF file for any other one
// (firmware, BPF objects) is left alone.
var machines = map[string]elf.Machine{
	"x86_64-linux-gnu":    elf.EM_X86_64,
	"aarch64-linux-gnu":   elf.EM_AARCH64,
	"arm-linux-gnueabihf": elf.EM_ARM,
	"i386-linux-gnu":      elf.EM_386,
}

// patch plans every ELF file, then runs patchelf on batches of files that need the same
// arguments, a few at a time.
func (r *relocator) patch(ctx context.Context, elves []string) error {
	jobs := jobs(r.s)
	libs, libsIn := r.libIndex()
	r.libsIn = libsIn
	depDirs := r.depLibDirs()
	plans := make([]elfPlan, len(elves))
	parallel(len(elves), jobs, func(i int) {
		plans[i] = elfPlan{name: elves[i]}
		plans[i].args, plans[i].err = r.plan(elves[i], libs, depDirs)
	})
	groups := map[string][]string{}
	var keys []string
	argsOf := map[string][]string{}
	for _, p := range plans {
		if p.err != nil {
			return p.err
		}
		if len(p.args) == 0 {
			continue
		}
		k := strings.Join(p.args, "\x00")
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
			argsOf[k] = p.args
		}
		groups[k] = append(groups[k], p.name)
	}
	sort.Strings(keys)
	type batch struct {
		args  []string
		files []string
	}
	var batches []batch
	for _, k := range keys {
		files := groups[k]
		size := min(64, max(1, (len(files)+jobs-1)/jobs))
		for len(files) > 0 {
			n := min(size, len(files))
			batches = append(batches, batch{args: argsOf[k], files: files[:n]})
			files = files[n:]
		}
	}
	errs := make([]error, len(batches))
	var logMu sync.Mutex
	parallel(len(batches), jobs, func(i int) {
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			return
		}
		b := batches[i]
		argv := append(append([]string{}, r.s.Patchelf[1:]...), b.args...)
		for _, f := range b.files {
			argv = append(argv, filepath.Join(r.s.Out, f))
		}
		cmd := exec.CommandContext(ctx, r.s.Patchelf[0], argv...)
		cmd.Env = []string{}
		cmd.Dir = r.s.Out
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		logMu.Lock()
		r.s.Log.Write(out.Bytes())
		logMu.Unlock()
		if err != nil {
			errs[i] = &PatchError{Files: b.files, Args: b.args, Err: err, Output: out.String()}
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// parallel calls fn(0..n-1) on at most jobs goroutines.
func parallel(n, jobs int, fn func(int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(jobs, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// isLib says whether a file name is a shared library's (libz.so, libz.so.1.2.13).
func isLib(base string) bool {
	return strings.HasSuffix(base, ".so") || strings.Contains(base, ".so.")
}

// libIndex maps each shared library name in the unit to the directories holding it, sorted,
// and each directory to the library names in it.
func (r *relocator) libIndex() (dirsOf, libsIn map[string][]string) {
	dirsOf, libsIn = map[string][]string{}, map[string][]string{}
	for _, name := range r.t.names() {
		n := r.t.nodes[name]
		base := path.Base(name)
		if n.kind == kindDir || !isLib(base) || strings.HasPrefix(name, "lib/debug/") {
			continue
		}
		dirsOf[base] = append(dirsOf[base], path.Dir(name))
		libsIn[path.Dir(name)] = append(libsIn[path.Dir(name)], base)
	}
	return dirsOf, libsIn
}

// libDirs are a unit's standard library directories, in search order.
func (r *relocator) libDirs() []string {
	return []string{"lib/" + r.s.Triplet, "lib"}
}

// depLib is a standard library directory of a dependency unit and the libraries in it.
type depLib struct {
	dir  string // absolute
	libs map[string]bool
}

// depLibDirs are the dependency units' standard library directories that hold libraries, in
// search order.
func (r *relocator) depLibDirs() []depLib {
	var dirs []depLib
	for i, root := range r.deps.roots {
		for _, d := range r.libDirs() {
			f, err := root.Open(d)
			if err != nil {
				continue
			}
			names, _ := f.Readdirnames(-1)
			f.Close()
			dl := depLib{dir: r.deps.paths[i] + "/" + d, libs: map[string]bool{}}
			for _, n := range names {
				if isLib(n) {
					dl.libs[n] = true
				}
			}
			if len(dl.libs) > 0 {
				dirs = append(dirs, dl)
			}
		}
	}
	return dirs
}

// plan reads one ELF file and returns the patchelf arguments it needs (none if it is to be
// left alone).
func (r *relocator) plan(name string, libs map[string][]string, depDirs []depLib) ([]string, error) {
	f, err := r.t.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		fmt.Fprintf(r.s.Log, "debunit: %s: not patched, unreadable ELF: %v\n", name, err)
		return nil, nil
	}
	defer ef.Close()
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return nil, nil
	}
	if ef.Machine != machines[r.s.Triplet] {
		fmt.Fprintf(r.s.Log, "debunit: %s: not patched, an ELF file for %s\n", name, ef.Machine)
		return nil, nil
	}
	dynamic, interp := false, false
	for _, p := range ef.Progs {
		switch p.Type {
		case elf.PT_DYNAMIC:
			dynamic = true
		case elf.PT_INTERP:
			interp = true
		}
	}
	if !dynamic {
		return nil, nil // a static executable
	}
	needed, err := ef.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("debunit: %s: reading its DT_NEEDED: %w", name, err)
	}
	var old []string
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vs, err := ef.DynString(tag)
		if err != nil {
			return nil, fmt.Errorf("debunit: %s: reading its %s: %w", name, tag, err)
		}
		for _, v := range vs {
			old = append(old, strings.Split(v, ":")...)
		}
	}
	var args []string
	if interp && r.s.Interp != "" {
		args = append(args, "--set-interpreter", r.s.Interp)
	}
	if len(needed) > 0 || len(old) > 0 {
		if rpath := r.runpath(needed, old, libs, depDirs); rpath != strings.Join(old, ":") {
			args = append(args, "--set-rpath", rpath)
		}
	}
	return args, nil
}

// runpath is the RUNPATH of a file that needs the libraries needed and had old: its $ORIGIN
// entries, the unit's library directories, the unit's directories its old entries named, the
// unit's other directories holding what it needs, then, for each library it needs that the
// unit does not hold, the first dependency library directory that does. Only those: as Nix's
// patchelf --shrink-rpath, a RUNPATH names what the file loads, so that a unit whose
// development package depends on glibc's (zlib1g-dev on libc6-dev) does not make every
// program linking its library reference glibc's headers and their closure.
func (r *relocator) runpath(needed, old []string, libs map[string][]string, depDirs []depLib) string {
	var out []string
	seen := map[string]bool{}
	add := func(d string) {
		if d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, e := range old {
		if strings.Contains(e, "$ORIGIN") || strings.Contains(e, "${ORIGIN}") {
			add(e)
		}
	}
	std := map[string]bool{}
	for _, d := range r.libDirs() {
		if len(r.libsIn[d]) > 0 {
			std[d] = true
			add(r.s.FinalOut + "/" + d)
		}
	}
	for _, e := range old {
		if !path.IsAbs(e) {
			continue
		}
		to := merged(strings.TrimPrefix(path.Clean(e), "/"))
		if r.t.isDir(to) {
			add(r.s.FinalOut + "/" + to)
		} else if abs := r.deps.find(to); abs != "" {
			add(abs)
		}
	}
	var private, elsewhere []string
	for _, lib := range needed {
		dirs := libs[lib]
		found := false
		for _, d := range dirs {
			if std[d] {
				found = true
			}
		}
		if !found {
			private = append(private, dirs...)
		}
		if len(dirs) == 0 {
			elsewhere = append(elsewhere, lib)
		}
	}
	sort.Strings(private)
	for _, d := range private {
		add(r.s.FinalOut + "/" + d)
	}
	for _, lib := range elsewhere {
		for _, d := range depDirs {
			if d.libs[lib] {
				add(d.dir)
				break
			}
		}
	}
	return strings.Join(out, ":")
}
