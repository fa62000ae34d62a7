package envs

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	dir := t.TempDir()
	s, err := store.Open(filepath.Join(dir, "store"), filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(s.Dir) })
	return s
}

// fakePackage adds a package whose files are given as name -> content; a content starting with
// "->" makes a symlink.
func fakePackage(t *testing.T, s *store.Store, name string, files map[string]string) storepath.Path {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	os.Mkdir(dir, 0o755)
	for f, content := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p, err := s.AddPath(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func build(t *testing.T, s *store.Store, pkgs ...Package) *Profile {
	t.Helper()
	prof, err := BuildProfile(s, "profile", pkgs)
	if err != nil {
		t.Fatalf("BuildProfile: %v", err)
	}
	return prof
}

func TestProfileForest(t *testing.T) {
	s := newStore(t)
	node := fakePackage(t, s, "node-20", map[string]string{
		"bin/node":                            "node",
		"bin/npm":                             "->../lib/node_modules/npm/bin/npm-cli.js",
		"lib/node_modules/npm/bin/npm-cli.js": "npm",
		"share/man/man1/node.1":               "man",
		"include/node/node.h":                 "h",
		"lib/libnode.so":                      "not merged",
	})
	goPkg := fakePackage(t, s, "go-1.22", map[string]string{
		"bin/go":              "go",
		"bin/gofmt":           "gofmt",
		"share/man/man1/go.1": "man",
		"lib/pkgconfig/x.pc":  "pc",
		"src/fmt/print.go":    "not merged",
	})
	pkgs := []Package{
		{Name: "node", Out: node},
		{Name: "go", Out: goPkg, Vars: map[string]string{"GOROOT": string(goPkg)}},
	}
	prof := build(t, s, pkgs...)
	p := string(prof.Path)

	links := map[string]string{}
	filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(p, f)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(f)
			links[rel] = target
		case d.IsDir():
		case rel != EnvFile:
			t.Errorf("%s is a regular file in the profile", rel)
		}
		return nil
	})
	want := map[string]string{
		"bin/node":              string(node) + "/bin/node",
		"bin/npm":               string(node) + "/bin/npm",
		"share/man/man1/node.1": string(node) + "/share/man/man1/node.1",
		"include/node/node.h":   string(node) + "/include/node/node.h",
		"bin/go":                string(goPkg) + "/bin/go",
		"bin/gofmt":             string(goPkg) + "/bin/gofmt",
		"share/man/man1/go.1":   string(goPkg) + "/share/man/man1/go.1",
		"lib/pkgconfig/x.pc":    string(goPkg) + "/lib/pkgconfig/x.pc",
	}
	if !reflect.DeepEqual(links, want) {
		t.Errorf("forest links:\n%v\nwant\n%v", links, want)
	}
	if data, err := os.ReadFile(p + "/bin/npm"); err != nil || string(data) != "npm" {
		t.Errorf("bin/npm reads %q, %v; want the package's own link followed", data, err)
	}
	if fi, err := os.Lstat(p + "/share/man/man1"); err != nil || !fi.IsDir() {
		t.Errorf("share/man/man1 is not a real directory: %v", err)
	}

	// Identical inputs, identical path; the order of packages is part of the input.
	if again := build(t, s, pkgs...); again.Path != prof.Path {
		t.Errorf("second build %s, want %s", again.Path, prof.Path)
	}
	if other := build(t, s, pkgs[1], pkgs[0]); other.Path == prof.Path {
		t.Errorf("reordered packages gave the same profile")
	}

	// References: every package, so GC keeps them with the profile.
	info, err := s.Info(prof.Path)
	if err != nil || info == nil {
		t.Fatalf("profile not registered: %v", err)
	}
	refs := []storepath.Path{node, goPkg}
	slices.Sort(refs)
	if !reflect.DeepEqual(info.References, refs) {
		t.Errorf("references %v, want %v", info.References, refs)
	}

	// den-env.json records the packages and their variables.
	read, err := ReadProfile(prof.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read.Packages, pkgs) {
		t.Errorf("ReadProfile packages %v, want %v", read.Packages, pkgs)
	}
	var f envFile
	data, _ := os.ReadFile(p + "/" + EnvFile)
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	wantVars := []Var{
		{Name: "PATH", Value: "bin", Op: Prepend},
		{Name: "MANPATH", Value: "share/man", Op: Prepend},
		{Name: "PKG_CONFIG_PATH", Value: "lib/pkgconfig", Op: Prepend},
		{Name: "CPATH", Value: "include", Op: Prepend},
		{Name: "XDG_DATA_DIRS", Value: "share", Op: Prepend},
		{Name: "GOROOT", Value: string(goPkg), Op: Set},
	}
	if !reflect.DeepEqual(f.Vars, wantVars) {
		t.Errorf("den-env.json vars\n%v\nwant\n%v", f.Vars, wantVars)
	}
}

func TestProfileConflict(t *testing.T) {
	s := newStore(t)
	a := fakePackage(t, s, "node-20", map[string]string{"bin/node": "20"})
	b := fakePackage(t, s, "node-22", map[string]string{"bin/node": "22"})
	_, err := BuildProfile(s, "profile", []Package{{Name: "node@20", Out: a}, {Name: "node@22", Out: b}})
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *ConflictError", err)
	}
	if ce.File != "bin/node" || !reflect.DeepEqual(ce.Packages, []string{"node@20", "node@22"}) {
		t.Errorf("conflict %+v", ce)
	}
	if msg := err.Error(); !strings.Contains(msg, "node@20") || !strings.Contains(msg, "node@22") || !strings.Contains(msg, "bin/node") {
		t.Errorf("message %q does not name both packages and the file", msg)
	}

	// A file where another package has a directory is a conflict too.
	c := fakePackage(t, s, "dir", map[string]string{"bin/node/x": "x"})
	if _, err := BuildProfile(s, "profile", []Package{{Name: "a", Out: a}, {Name: "c", Out: c}}); !errors.As(err, &ce) {
		t.Errorf("file vs directory: err = %v, want a *ConflictError", err)
	}

	// Two links to one file are not a conflict.
	shared := fakePackage(t, s, "shared", map[string]string{"bin/tool": "tool"})
	l1 := fakePackage(t, s, "l1", map[string]string{"bin/tool": "->" + string(shared) + "/bin/tool", "bin/one": "1"})
	l2 := fakePackage(t, s, "l2", map[string]string{"bin/tool": "->" + string(shared) + "/bin/tool", "bin/two": "2"})
	if _, err := BuildProfile(s, "profile", []Package{{Name: "l1", Out: l1}, {Name: "l2", Out: l2}}); err != nil {
		t.Errorf("same target: %v", err)
	}

	// Two packages setting one variable differently.
	_, err = BuildProfile(s, "profile", []Package{
		{Name: "x", Out: l1, Vars: map[string]string{"FOO": "1"}},
		{Name: "y", Out: shared, Vars: map[string]string{"FOO": "2"}},
	})
	var ve *VarConflictError
	if !errors.As(err, &ve) || ve.Name != "FOO" || !reflect.DeepEqual(ve.Packages, []string{"x", "y"}) {
		t.Errorf("err = %v, want a *VarConflictError for FOO naming x and y", err)
	}
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func value(vars []Var, name string) (Var, bool) {
	for _, v := range slices.Backward(vars) {
		if v.Name == name {
			return v, true
		}
	}
	return Var{}, false
}

func TestVariables(t *testing.T) {
	s := newStore(t)
	goPkg := fakePackage(t, s, "go", map[string]string{"bin/go": "go"})
	pkgs := []Package{{Name: "go", Out: goPkg, Vars: map[string]string{"GOROOT": string(goPkg)}}}
	prof := build(t, s, pkgs...)
	project := []manifest.EnvVar{
		{Name: "DATA_DIR", Value: "$DEN_ROOT/.data", Pos: manifest.Position{Line: 3, Col: 1}},
		{Name: "CACHE", Value: "${DATA_DIR}/cache"},
		{Name: "PRICE", Value: "$$5 and $5 and $"},
		{Name: "GREETING", Value: "hello $USER${NOPE}!"},
		{Name: "GOPATH", Value: "$HOME/go"},
		{Name: "TOOLS", Value: "$GOROOT/bin"},
		{Name: "PATH", Value: "$DEN_ROOT/scripts:$PATH"},
	}
	vars, err := Variables(prof.Path, pkgs, project, "/proj", env("USER", "ann", "HOME", "/home/ann", "PATH", "/usr/bin"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Var{
		"DATA_DIR":    {Name: "DATA_DIR", Value: "/proj/.data", Op: Set},
		"CACHE":       {Name: "CACHE", Value: "/proj/.data/cache", Op: Set},
		"PRICE":       {Name: "PRICE", Value: "$5 and $5 and $", Op: Set},
		"GREETING":    {Name: "GREETING", Value: "hello ann!", Op: Set},
		"GOPATH":      {Name: "GOPATH", Value: "/home/ann/go", Op: Set},
		"TOOLS":       {Name: "TOOLS", Value: string(goPkg) + "/bin", Op: Set},
		"PATH":        {Name: "PATH", Value: "/proj/scripts", Op: Prepend},
		"GOROOT":      {Name: "GOROOT", Value: string(goPkg), Op: Set},
		"DEN_ROOT":    {Name: "DEN_ROOT", Value: "/proj", Op: Set},
		"DEN_PROFILE": {Name: "DEN_PROFILE", Value: string(prof.Path), Op: Set},
	}
	for name, w := range want {
		if got, _ := value(vars, name); got != w {
			t.Errorf("%s = %+v, want %+v", name, got, w)
		}
	}
	if v := vars[0]; v != (Var{Name: "PATH", Value: string(prof.Path) + "/bin", Op: Prepend}) {
		t.Errorf("first variable %+v, want the profile's bin prepended to PATH", v)
	}
	if _, ok := value(vars, "MANPATH"); ok {
		t.Errorf("MANPATH set though the profile has no share/man")
	}

	got := Apply([]string{"PATH=/usr/bin", "HOME=/home/ann", "USER=ann", "DATA_DIR=old"}, vars)
	m := map[string]string{}
	for _, kv := range got {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := m[k]; dup {
			t.Errorf("%s twice in %v", k, got)
		}
		m[k] = v
	}
	if want := "/proj/scripts:" + string(prof.Path) + "/bin:/usr/bin"; m["PATH"] != want {
		t.Errorf("PATH = %q, want %q", m["PATH"], want)
	}
	if m["DATA_DIR"] != "/proj/.data" || m["HOME"] != "/home/ann" || m["DEN_ROOT"] != "/proj" || m["DEN_PROFILE"] != string(prof.Path) {
		t.Errorf("environment %v", m)
	}

	// A den shell inside a den shell: the same variables over the applied environment.
	outer := func(k string) string { return m[k] }
	vars2, err := Variables(prof.Path, pkgs, project, "/proj", outer)
	if err != nil {
		t.Fatal(err)
	}
	twice := Apply(got, vars2)
	slices.Sort(got)
	slices.Sort(twice)
	if !reflect.DeepEqual(got, twice) {
		t.Errorf("applying twice changed the environment:\n%v\n%v", got, twice)
	}

	// Errors name the entry.
	_, err = Variables(prof.Path, pkgs, []manifest.EnvVar{{Name: "BAD", Value: "${OOPS", Pos: manifest.Position{Line: 7, Col: 1}}}, "/proj", nil)
	if err == nil || !strings.Contains(err.Error(), "den.toml:7:1") {
		t.Errorf("err = %v, want it to name den.toml:7:1", err)
	}
}

func TestApplySearchPaths(t *testing.T) {
	vars := []Var{
		{Name: "PATH", Value: "/p/bin:/p/sbin", Op: Prepend},
		{Name: "MANPATH", Value: "/p/share/man", Op: Prepend},
		{Name: "XDG_DATA_DIRS", Value: "/p/share", Op: Prepend},
	}
	once := Apply([]string{"PATH=/usr/bin:/p/sbin:/bin:"}, vars)
	twice := Apply(once, vars)
	want := []string{
		"PATH=/p/bin:/p/sbin:/usr/bin:/bin:",
		"MANPATH=/p/share/man:", // the empty entry keeps man's defaults
		"XDG_DATA_DIRS=/p/share:/usr/local/share:/usr/share",
	}
	if !reflect.DeepEqual(once, want) || !reflect.DeepEqual(twice, want) {
		t.Errorf("Apply once %v, twice %v; want %v", once, twice, want)
	}
}

func TestExpand(t *testing.T) {
	look := env("A", "1", "B_2", "two")
	for in, want := range map[string]string{
		"$A":        "1",
		"${A}x":     "1x",
		"$Ax":       "",
		"$B_2/$A":   "two/1",
		"$$A":       "$A",
		"a$":        "a$",
		"$-x $1":    "$-x $1",
		"${UNSET}y": "y",
	} {
		if got, err := Expand(in, look); err != nil || got != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"${A", "${}", "${A B}"} {
		if _, err := Expand(in, look); err == nil {
			t.Errorf("Expand(%q) succeeded", in)
		}
	}
}

func TestGenerations(t *testing.T) {
	s := newStore(t)
	root := t.TempDir()
	if _, err := Current(root); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Current with no generation: %v, want ErrNotExist", err)
	}
	if gens, err := List(root); err != nil || len(gens) != 0 {
		t.Errorf("List = %v, %v; want none", gens, err)
	}
	a := build(t, s, Package{Name: "a", Out: fakePackage(t, s, "a", map[string]string{"bin/a": "a"})}).Path
	b := build(t, s, Package{Name: "b", Out: fakePackage(t, s, "b", map[string]string{"bin/b": "b"})}).Path

	switchTo := func(p storepath.Path, want int) {
		t.Helper()
		g, err := Switch(s, root, p)
		if err != nil {
			t.Fatal(err)
		}
		if g.Number != want || g.Profile != p || !g.Current {
			t.Fatalf("Switch = %+v, want generation %d of %s", g, want, p)
		}
		if cur, err := Current(root); err != nil || cur != p {
			t.Fatalf("Current = %s, %v; want %s", cur, err, p)
		}
	}
	switchTo(a, 1)
	switchTo(a, 1) // no change, no generation
	switchTo(b, 2)
	gens, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(gens) != 2 || gens[0].Profile != a || gens[0].Current || gens[1].Profile != b || !gens[1].Current || gens[0].Time.IsZero() {
		t.Fatalf("List = %+v", gens)
	}

	g, err := Rollback(s, root, 0)
	if err != nil || g.Number != 1 || g.Profile != a {
		t.Fatalf("Rollback(0) = %+v, %v; want generation 1", g, err)
	}
	if cur, _ := Current(root); cur != a {
		t.Errorf("Current after rollback %s, want %s", cur, a)
	}
	var ne *NoGenerationError
	if _, err := Rollback(s, root, 0); !errors.As(err, &ne) {
		t.Errorf("Rollback before the first: %v, want a *NoGenerationError", err)
	}
	if _, err := Rollback(s, root, 9); !errors.As(err, &ne) {
		t.Errorf("Rollback(9): %v, want a *NoGenerationError", err)
	}
	if g, err := Rollback(s, root, 2); err != nil || g.Profile != b {
		t.Fatalf("Rollback(2) = %+v, %v", g, err)
	}
	switchTo(a, 3) // a new generation even though generation 1 holds a
	if gens, _ := List(root); len(gens) != 3 {
		t.Errorf("List = %+v, want 3 generations", gens)
	}
	if target, err := os.Readlink(filepath.Join(root, ".den", "current")); err != nil || target != "generations/3" {
		t.Errorf(".den/current -> %s (%v)", target, err)
	}
}

func TestGenerationsAreGCRoots(t *testing.T) {
	s := newStore(t)
	root := filepath.Join(t.TempDir(), "project")
	os.Mkdir(root, 0o755)
	pkg := fakePackage(t, s, "tool", map[string]string{"bin/tool": "tool"})
	junk := fakePackage(t, s, "junk", map[string]string{"f": "junk"})
	prof := build(t, s, Package{Name: "tool", Out: pkg}).Path
	if _, err := Switch(s, root, prof); err != nil {
		t.Fatal(err)
	}
	auto := filepath.Join(s.GCRootsDir(), "auto", RootName(filepath.Join(root, ".den", "generations", "1")))
	if target, err := os.Readlink(auto); err != nil || target != filepath.Join(root, ".den", "generations", "1") {
		t.Fatalf("indirect root %s -> %s (%v)", auto, target, err)
	}

	res, err := s.GC(false)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Deleted, []storepath.Path{junk}) {
		t.Errorf("GC deleted %v, want only %s", res.Deleted, junk)
	}
	for _, p := range []storepath.Path{prof, pkg} {
		if ok, _ := s.IsValid(p); !ok {
			t.Errorf("%s collected while its generation lives", p)
		}
	}

	if err := os.RemoveAll(filepath.Join(root, ".den")); err != nil {
		t.Fatal(err)
	}
	res, err = s.GC(false)
	if err != nil {
		t.Fatal(err)
	}
	want := []storepath.Path{prof, pkg}
	slices.Sort(want)
	if !reflect.DeepEqual(res.Deleted, want) {
		t.Errorf("GC after removing .den deleted %v, want %v", res.Deleted, want)
	}
	if _, err := os.Lstat(auto); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dangling indirect root kept: %v", err)
	}
}

// TestProfileReused: the profile of the same packages is the same store path, and once it is
// valid BuildProfile returns it without walking the packages again. To see that it does not, the
// test does what nobody may do to a store path: it adds a file to a package after the first
// profile. A profile rebuilt from the packages would link that file and, its content differing,
// land elsewhere; a reused one is the first profile, untouched.
func TestProfileReused(t *testing.T) {
	s := newStore(t)
	node := fakePackage(t, s, "node-22", map[string]string{"bin/node": "node"})
	pkgs := []Package{{Name: "node", Out: node, Vars: map[string]string{"NODE_HOME": string(node)}}}
	first := build(t, s, pkgs...)
	want, err := ProfilePath(s.Dir, "profile", pkgs)
	if err != nil {
		t.Fatal(err)
	}
	if first.Path != want {
		t.Fatalf("profile at %s, ProfilePath says %s", first.Path, want)
	}
	before, err := os.Lstat(filepath.Join(string(first.Path), "bin", "node"))
	if err != nil {
		t.Fatal(err)
	}

	os.Chmod(filepath.Join(string(node), "bin"), 0o755)
	if err := os.WriteFile(filepath.Join(string(node), "bin", "npm"), []byte("npm"), 0o555); err != nil {
		t.Fatal(err)
	}
	second := build(t, s, pkgs...)
	if second.Path != first.Path {
		t.Fatalf("the same packages gave a second profile %s (first %s): it was rebuilt", second.Path, first.Path)
	}
	if _, err := os.Lstat(filepath.Join(string(second.Path), "bin", "npm")); err == nil {
		t.Errorf("the reused profile links a file added after it was built: it was rebuilt in place")
	}
	after, err := os.Lstat(filepath.Join(string(second.Path), "bin", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Errorf("bin/node of the profile was replaced")
	}

	// Anything else about the packages is another profile: their order, a variable, a name.
	for _, other := range [][]Package{
		{{Name: "node", Out: node}},
		{{Name: "nodejs", Out: node, Vars: pkgs[0].Vars}},
	} {
		if p, _ := ProfilePath(s.Dir, "profile", other); p == first.Path {
			t.Errorf("packages %+v share the profile path of %+v", other, pkgs)
		}
	}
	if p, _ := ProfilePath(s.Dir, "other", pkgs); p == first.Path {
		t.Errorf("another name gives the same profile path")
	}
}
