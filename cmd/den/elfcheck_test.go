package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// closureScriptCmds check what the C world of a closure is made of (the e2e scripts use them).
var closureScriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// elfcheck [-min N] PATH|@FILE...: every ELF executable and shared object under each PATH
	// (or each path that starts a line of FILE, as `den store path-info -r` prints them) has its
	// interpreter inside $DEN_STORE, and every library it needs is found through its own
	// RUNPATH inside $DEN_STORE; where the host has ldd, ldd must agree (judging only the lines
	// of needed libraries: the host's ldd prints the interpreter's line as "=> /lib64/..."). At
	// least N ELF files (default 1) must be found, so the check never passes on nothing.
	"elfcheck": func(ts *testscript.TestScript, neg bool, args []string) {
		min := 1
		if len(args) > 1 && args[0] == "-min" {
			n, err := strconv.Atoi(args[1])
			if err != nil {
				ts.Fatalf("elfcheck: -min %q: %v", args[1], err)
			}
			min, args = n, args[2:]
		}
		if len(args) == 0 {
			ts.Fatalf("usage: elfcheck [-min N] PATH|@FILE...")
		}
		var roots []string
		for _, a := range args {
			if f, ok := strings.CutPrefix(a, "@"); ok {
				for _, l := range strings.Split(ts.ReadFile(f), "\n") {
					if fields := strings.Fields(l); len(fields) > 0 {
						roots = append(roots, fields[0])
					}
				}
				continue
			}
			roots = append(roots, ts.MkAbs(a))
		}
		store := ts.Getenv("DEN_STORE")
		if store == "" {
			ts.Fatalf("elfcheck: DEN_STORE is not set")
		}
		r, err := checkELFs(store, roots)
		ts.Check(err)
		if r.files < min {
			r.problems = append(r.problems, fmt.Sprintf("only %d ELF files under %s, want at least %d", r.files, strings.Join(roots, " "), min))
		}
		ts.Logf("elfcheck: %d ELF files, %d needed libraries, in %d paths%s", r.files, r.needed, len(roots), r.lddNote)
		switch {
		case neg && len(r.problems) == 0:
			ts.Fatalf("elfcheck: every ELF file resolves inside %s", store)
		case !neg && len(r.problems) > 0:
			ts.Fatalf("elfcheck: %d problems:\n%s", len(r.problems), strings.Join(r.problems, "\n"))
		case neg:
			ts.Logf("elfcheck: %d problems, as expected; the first: %s", len(r.problems), r.problems[0])
		}
	},

	// hidetools: PATH becomes one directory of links to every program on PATH but C and C++
	// compilers, assemblers, linkers and make (any triplet prefix or version suffix), and the
	// command fails if gcc, cc, c++, make, ld or as can still be found.
	"hidetools": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 0 {
			ts.Fatalf("usage: hidetools")
		}
		dir := ts.MkAbs(".hostpath")
		ts.Check(os.MkdirAll(dir, 0o755))
		var hidden []string
		seen := map[string]bool{}
		for _, d := range filepath.SplitList(ts.Getenv("PATH")) {
			ents, err := os.ReadDir(d)
			if err != nil || d == "" || d == dir {
				continue
			}
			for _, e := range ents {
				name := e.Name()
				if seen[name] {
					continue
				}
				seen[name] = true
				if hiddenTool.MatchString(name) {
					hidden = append(hidden, name)
					continue
				}
				p := filepath.Join(d, name)
				if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
					continue
				}
				ts.Check(os.Symlink(p, filepath.Join(dir, name)))
			}
		}
		ts.Setenv("PATH", dir)
		for _, t := range []string{"gcc", "cc", "c++", "make", "ld", "as"} {
			if _, err := os.Lstat(filepath.Join(dir, t)); err == nil {
				ts.Fatalf("hidetools: %s is still on PATH", t)
			}
		}
		sort.Strings(hidden)
		ts.Logf("hidetools: hid %s", strings.Join(hidden, " "))
	},
}

// hiddenTool matches the names of the host's compilers, assemblers, linkers and make.
var hiddenTool = regexp.MustCompile(`^([A-Za-z0-9_]+-linux-gnu[a-z0-9]*-)?(cc|c\+\+|gcc|g\+\+|cpp|c89|c99|c89-gcc|c99-gcc|clang|clang\+\+|clang-cpp|tcc|pcc|ld|ld\.[a-z]+|lld|as|make|gmake|bmake|ccache)(-[0-9][0-9.]*)?$`)

// elfReport is what checkELFs found.
type elfReport struct {
	files, needed int
	problems      []string
	lddNote       string
}

// checkELFs checks every ELF executable and shared object under roots: an interpreter inside
// store, and each DT_NEEDED library found, as the dynamic loader would find it through the
// object's own DT_RUNPATH (or DT_RPATH), inside store. A library the RUNPATH misses is a
// problem even if the host has it: the loader would fall back to the host's directories.
// Where the host has ldd, its view of each object must show every needed library in the store.
func checkELFs(store string, roots []string) (*elfReport, error) {
	store = filepath.Clean(store)
	inStore := func(p string) bool { return strings.HasPrefix(p, store+"/") }
	ldd, lddErr := exec.LookPath("ldd")
	r := &elfReport{lddNote: "; ldd agrees"}
	if lddErr != nil {
		r.lddNote = "; no ldd on this host to compare with"
	}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil // links are checked where they point, which is in the closure too
			}
			f, ok := openELF(p)
			if !ok {
				return nil
			}
			defer f.Close()
			if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
				return nil
			}
			r.files++
			for _, prob := range checkELF(f, p, store, inStore, &r.needed) {
				r.problems = append(r.problems, p+": "+prob)
			}
			if lddErr == nil && hasDynamic(f) && !isLoader(f) {
				for _, prob := range lddCheck(ldd, p, inStore) {
					r.problems = append(r.problems, p+": ldd: "+prob)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// openELF opens p if it starts with the ELF magic.
func openELF(p string) (*elf.File, bool) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, false
	}
	magic := make([]byte, 4)
	if _, err := io.ReadFull(fh, magic); err != nil || !bytes.Equal(magic, []byte(elf.ELFMAG)) {
		fh.Close()
		return nil, false
	}
	fh.Close()
	f, err := elf.Open(p)
	if err != nil {
		return nil, false
	}
	return f, true
}

func hasDynamic(f *elf.File) bool {
	for _, pr := range f.Progs {
		if pr.Type == elf.PT_DYNAMIC {
			return true
		}
	}
	return false
}

// isLoader reports whether f is the dynamic loader itself (it needs nothing and ldd refuses it).
func isLoader(f *elf.File) bool {
	soname, _ := f.DynString(elf.DT_SONAME)
	return len(soname) == 1 && strings.HasPrefix(soname[0], "ld-linux")
}

func interpreter(f *elf.File) string {
	for _, pr := range f.Progs {
		if pr.Type == elf.PT_INTERP {
			b, err := io.ReadAll(pr.Open())
			if err != nil {
				return ""
			}
			return strings.TrimRight(string(b), "\x00")
		}
	}
	return ""
}

func checkELF(f *elf.File, p, store string, inStore func(string) bool, needed *int) []string {
	var probs []string
	if in := interpreter(f); in != "" {
		if !inStore(in) {
			probs = append(probs, fmt.Sprintf("interpreter %s is outside %s", in, store))
		} else if _, err := os.Stat(in); err != nil {
			probs = append(probs, fmt.Sprintf("interpreter %s does not exist", in))
		}
	}
	if !hasDynamic(f) {
		return probs
	}
	libs, _ := f.DynString(elf.DT_NEEDED)
	path, _ := f.DynString(elf.DT_RUNPATH)
	if len(path) == 0 {
		path, _ = f.DynString(elf.DT_RPATH)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		real = p
	}
	origin := filepath.Dir(real)
	var dirs []string
	for _, rp := range path {
		for _, d := range strings.Split(rp, ":") {
			d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
			if d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	for _, lib := range libs {
		*needed++
		if strings.Contains(lib, "/") {
			if !inStore(lib) {
				probs = append(probs, fmt.Sprintf("needs %s, outside the store", lib))
			}
			continue
		}
		found := ""
		for _, d := range dirs {
			c := filepath.Join(d, lib)
			if g, ok := openELF(c); ok {
				same := g.Class == f.Class && g.Machine == f.Machine
				g.Close()
				if same {
					found = c
					break
				}
			}
		}
		switch {
		case found == "":
			probs = append(probs, fmt.Sprintf("needs %s, which its RUNPATH %q does not have (the loader would look on the host)", lib, strings.Join(dirs, ":")))
		default:
			if rf, err := filepath.EvalSymlinks(found); err != nil || !inStore(rf) {
				probs = append(probs, fmt.Sprintf("needs %s, found at %s outside the store", lib, found))
			}
		}
	}
	return probs
}

// lddCheck runs the host's ldd on p and reports each needed library it shows outside the
// store or not found. Lines whose left side is a path (the interpreter, which the host's ldd
// shows as "=> /lib64/..." whatever PT_INTERP says) and the vDSO are not libraries p needs.
func lddCheck(ldd, p string, inStore func(string) bool) []string {
	cmd := exec.Command(ldd, p)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("not a dynamic executable")) || bytes.Contains(out, []byte("statically linked")) {
			return nil
		}
		return []string{fmt.Sprintf("%v: %s", err, bytes.TrimSpace(out))}
	}
	var probs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		name, target, ok := strings.Cut(line, " => ")
		if !ok || strings.HasPrefix(name, "/") {
			continue
		}
		target, _, _ = strings.Cut(target, " (")
		switch {
		case target == "not found":
			probs = append(probs, name+" not found")
		case !inStore(target):
			probs = append(probs, fmt.Sprintf("%s => %s, outside the store", name, target))
		}
	}
	return probs
}
