package debpkg

import (
	"strings"
	"testing"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/platform"
)

// Every deb-backed entry of den's index, in each of its forms, is one the backend locks.
func TestIndexEntries(t *testing.T) {
	ix, err := index.Load()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range ix.Names() {
		e, _ := ix.Lookup(name)
		for _, f := range e.Forms() {
			if f.Backend != index.Deb {
				continue
			}
			n++
			if err := checkEntry(f); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d deb-backed forms in the index", n)
	}
}

func TestLinksAndCommandDirs(t *testing.T) {
	for _, l := range []string{"bin/python3=python3.11", "bin/awk=gawk", "share/x/y=z"} {
		if err := CheckLink(l); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
	for _, l := range []string{"bin/python3", "/bin/x=y", "../x=y", "bin/x=../../etc/passwd", "bin/x=/abs", "bin/x=", "bin/./x=y", "bin/x=..", "=y"} {
		if err := CheckLink(l); err == nil {
			t.Errorf("link %q accepted", l)
		}
	}
	if err := CheckCommandDir("lib/postgresql/15/bin"); err != nil {
		t.Error(err)
	}
	for _, d := range []string{"bin", "", ".", "/usr/bin", "lib/../../x", "lib/", "lib/a b"} {
		if err := CheckCommandDir(d); err == nil {
			t.Errorf("command directory %q accepted", d)
		}
	}
	bad := &index.Entry{Name: "xy", Backend: index.Deb, Debs: []string{"xy"}, Links: []string{"bin/x=../y"}}
	if err := checkEntry(bad); err == nil || !strings.Contains(err.Error(), `link "bin/x=../y" is not PATH=FILE`) {
		t.Errorf("bad link: %v", err)
	}
}

// A package's links and command directories make its output a union that has them; a lock
// whose links are not links is refused before anything is planned.
func TestOutputLinks(t *testing.T) {
	sys, _ := platform.Parse("x86_64-linux")
	const h = "sha256-0DtGvDDtQ1/7fuAzvJkwn8aapdCFv7vtAAv926rUffM="
	src := func(name, needs string) lock.Source {
		return lock.Source{Kind: "deb", Name: name, Version: "1.0-1", Group: name, Needs: needs, Hash: h,
			URL: "mirror://debian/pool/main/x/" + name + "/" + name + "_1.0-1_amd64.deb"}
	}
	e := &index.Entry{Name: "pg", Backend: index.Deb, Debs: []string{"pg"},
		Links: []string{"bin/pg3=pg"}, CommandDirs: []string{"lib/pg/bin"}}
	p := &lock.Package{Name: "pg", Version: "1.0-1", Backend: index.Deb, Attrs: Attrs(e),
		Systems: map[string]*lock.System{"x86_64-linux": {Sources: []lock.Source{src("pg", "libc6"), src("libc6", ""), src("patchelf", "libc6")}}}}
	g, err := NewGraph(p, sys)
	if err != nil {
		t.Fatal(err)
	}
	d, err := g.Output("/den/store")
	if err != nil {
		t.Fatal(err)
	}
	if d.Builder != derivation.BuilderUnion || d.Env["links"] != "bin/pg3=pg" || d.Env["command-dirs"] != "lib/pg/bin" {
		t.Errorf("output: %s %v", d.Builder, d.Env)
	}
	// Without them, the package is its unit.
	plain := *p
	plain.Attrs = Attrs(&index.Entry{Debs: []string{"pg"}})
	g, _ = NewGraph(&plain, sys)
	if d, err := g.Output("/den/store"); err != nil || d.Builder != derivation.BuilderDebUnit {
		t.Errorf("plain output: %v %v", d, err)
	}
	p.Attrs["command-dirs"] = "../../etc"
	g, _ = NewGraph(p, sys)
	if _, err := g.Output("/den/store"); err == nil || !strings.Contains(err.Error(), `den.lock: pg: command directory "../../etc"`) {
		t.Errorf("a lock's bad command directory: %v", err)
	}
}

// glibc's runtime, libc6, is a unit by itself, and the rest of glibc's packages (libc6-dev,
// libc-dev-bin) another that depends on it: a closure with zlib alone and the stdenv's share one
// glibc unit, so what the stdenv builds against Debian's libraries holds one glibc. The
// compiler wrapper takes the runtime as its libc (loader, RUNPATH) and the development unit as
// its first extra unit (crt files, libc.so, headers).
func TestGlibcRuntimeUnit(t *testing.T) {
	sys, _ := platform.Parse("x86_64-linux")
	const h = "sha256-0DtGvDDtQ1/7fuAzvJkwn8aapdCFv7vtAAv926rUffM="
	src := func(name, group, needs string) lock.Source {
		return lock.Source{Kind: "deb", Name: name, Version: "1.0-1", Group: group, Needs: needs, Hash: h,
			URL: "mirror://debian/pool/main/x/" + name + "/" + name + "_1.0-1_amd64.deb"}
	}
	plan := func(name string, roots []string, srcs ...lock.Source) (*Graph, []*Unit) {
		e := &index.Entry{Name: name, Backend: index.Deb, Debs: roots}
		p := &lock.Package{Name: name, Version: "1.0-1", Backend: index.Deb, Attrs: Attrs(e),
			Systems: map[string]*lock.System{"x86_64-linux": {Sources: append(srcs, src("patchelf", "patchelf", "libc6"))}}}
		g, err := NewGraph(p, sys)
		if err != nil {
			t.Fatal(err)
		}
		units, _, err := g.Units("/den/store")
		if err != nil {
			t.Fatal(err)
		}
		return g, units
	}
	libc6 := src("libc6", "glibc", "libgcc-s1")
	_, zunits := plan("zlib", []string{"zlib1g"}, src("zlib1g", "zlib", "libc6"), libc6, src("libgcc-s1", "gcc-12", "libc6"))
	_, units := plan("dev", []string{"zlib1g-dev", "libc6-dev"}, src("zlib1g-dev", "zlib", "zlib1g libc6-dev"),
		src("zlib1g", "zlib", "libc6"), libc6, src("libgcc-s1", "gcc-12", "libc6"),
		src("libc6-dev", "glibc", "libc6 libc-dev-bin"), src("libc-dev-bin", "glibc", "libc6"))
	byName := func(units []*Unit) map[string]*Unit {
		m := map[string]*Unit{}
		for _, u := range units {
			m[strings.Join(u.Debs, ",")] = u
		}
		return m
	}
	z, d := byName(zunits), byName(units)
	if d["libc6"] == nil || d["libc-dev-bin,libc6-dev"] == nil {
		t.Fatalf("units %v", d)
	}
	if z["libc6"].Drv.Out != d["libc6"].Drv.Out {
		t.Errorf("glibc's runtime unit differs between closures: %s and %s", z["libc6"].Drv.Out, d["libc6"].Drv.Out)
	}
	if !strings.HasSuffix(string(d["libc-dev-bin,libc6-dev"].Drv.Out), "-glibc-dev-1.0") || !strings.HasSuffix(string(d["libc6"].Drv.Out), "-glibc-1.0") {
		t.Errorf("names: %s, %s", d["libc-dev-bin,libc6-dev"].Drv.Out, d["libc6"].Drv.Out)
	}
	if !strings.Contains(d["libc-dev-bin,libc6-dev"].Drv.Env["deps"], string(d["libc6"].Drv.Out)) {
		t.Errorf("glibc-dev does not depend on glibc: deps %q", d["libc-dev-bin,libc6-dev"].Drv.Env["deps"])
	}
}
