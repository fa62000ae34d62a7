package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/den-sh/den/core/debunit"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/sandbox"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// tinyDeb is a .deb with an uncompressed data.tar of the given entries: "name" is a file with
// the value as content, "name -> target" a symlink.
func tinyDeb(t *testing.T, entries map[string]string) []byte {
	t.Helper()
	var data bytes.Buffer
	tw := tar.NewWriter(&data)
	var names []string
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if name, target, ok := strings.Cut(n, " -> "); ok {
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777})
			continue
		}
		tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(entries[n]))})
		tw.Write([]byte(entries[n]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		body []byte
	}{{"debian-binary", []byte("2.0\n")}, {"data.tar", data.Bytes()}} {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8o%-10d`\n", m.name, 0, 0, 0, 0o644, len(m.body))
		ar.Write(m.body)
		if len(m.body)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	return ar.Bytes()
}

// TestDebUnit realizes two Debian units, one depending on the other, from .debs downloaded
// from a loopback server: the links and shebangs into the dependency make it a reference.
func TestDebUnit(t *testing.T) {
	debs := map[string][]byte{
		"/zlib1g.deb": tinyDeb(t, map[string]string{
			"./lib/x86_64-linux-gnu/libz.so.1": "z", "./bin/sh": "sh",
		}),
		"/zlib1g-dev.deb": tinyDeb(t, map[string]string{
			"./usr/lib/x86_64-linux-gnu/libz.so -> /lib/x86_64-linux-gnu/libz.so.1": "",
			"./usr/include/zlib.h": "/* zlib */",
			"./usr/bin/zconf":      "#!/bin/sh\necho zconf\n",
		}),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, ok := debs[r.URL.Path]; ok {
			w.Write(d)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	root := t.TempDir()
	st, err := store.Open(filepath.Join(root, "store"), filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(st.Dir) })
	fetchDeb := func(name string) *derivation.Derivation {
		d := &derivation.Derivation{Name: name, System: "x86_64-linux", Host: "x86_64-linux", Builder: derivation.BuilderFetch,
			URLs: []string{srv.URL + "/" + name}, OutputHash: hash.Sum(hash.SHA256, debs["/"+name]).SRI()}
		if err := d.Seal(st.Dir); err != nil {
			t.Fatal(err)
		}
		return d
	}
	unit := func(name string, debs []*derivation.Derivation, deps ...*derivation.Derivation) *derivation.Derivation {
		d := &derivation.Derivation{Name: name, System: "x86_64-linux", Host: "x86_64-linux", Builder: derivation.BuilderDebUnit,
			Env: map[string]string{"triplet": "x86_64-linux-gnu", "interp": "", "patchelf": "", "relocation": debunit.Revision}}
		var debPaths, depPaths []string
		for _, n := range debs {
			debPaths = append(debPaths, string(n.Out))
			d.Inputs = append(d.Inputs, n.Out)
			d.Needs = append(d.Needs, n)
		}
		for _, n := range deps {
			depPaths = append(depPaths, string(n.Out))
			d.Inputs = append(d.Inputs, n.Out)
			d.Needs = append(d.Needs, n)
		}
		d.Env["debs"] = strings.Join(debPaths, " ")
		d.Env["deps"] = strings.Join(depPaths, " ")
		if err := d.Seal(st.Dir); err != nil {
			t.Fatal(err)
		}
		return d
	}
	lib := unit("zlib-unit", []*derivation.Derivation{fetchDeb("zlib1g.deb")})
	dev := unit("zlib-dev-unit", []*derivation.Derivation{fetchDeb("zlib1g-dev.deb")}, lib)
	b := &Builder{Store: st, Sandbox: sandbox.ModeOff, Client: srv.Client()}
	if err := b.Realize(context.Background(), dev); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(string(dev.Out), "lib/x86_64-linux-gnu/libz.so")); err != nil || l != string(lib.Out)+"/lib/x86_64-linux-gnu/libz.so.1" {
		t.Errorf("libz.so -> %q (%v), want the dependency unit's libz.so.1", l, err)
	}
	script, _ := os.ReadFile(filepath.Join(string(dev.Out), "bin/zconf"))
	if want := "#!" + string(lib.Out) + "/bin/sh\n"; !strings.HasPrefix(string(script), want) {
		t.Errorf("bin/zconf starts %q, want %q", script, want)
	}
	info, err := st.Info(dev.Out)
	if err != nil || info == nil {
		t.Fatalf("%s not registered: %v", dev.Out, err)
	}
	if !slices.Equal(info.References, []storepath.Path{lib.Out}) {
		t.Errorf("references %v, want just the dependency unit %s", info.References, lib.Out)
	}
}

// TestDebUnitRefusesUndeclared: a .deb or interpreter the derivation does not list among its
// inputs is refused, rather than read from wherever it happens to be.
func TestDebUnitRefusesUndeclared(t *testing.T) {
	root := t.TempDir()
	st, err := store.Open(filepath.Join(root, "store"), filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(st.Dir) })
	other := filepath.Join(root, "x.deb")
	os.WriteFile(other, tinyDeb(t, map[string]string{"./usr/bin/x": "x"}), 0o644)
	for name, env := range map[string]map[string]string{
		"deb":      {"debs": other},
		"interp":   {"debs": "", "interp": "/lib64/ld-linux-x86-64.so.2"},
		"patchelf": {"debs": "", "patchelf": "/usr/bin/patchelf"},
	} {
		t.Run(name, func(t *testing.T) {
			added, err := st.AddText("x.deb", []byte("!<arch>\n"), nil) // a valid input, so only env is wrong
			if err != nil {
				t.Fatal(err)
			}
			if env["debs"] == "" {
				env["debs"] = string(added)
			}
			env["triplet"], env["relocation"] = "x86_64-linux-gnu", debunit.Revision
			d := &derivation.Derivation{Name: "u-" + name, System: "x86_64-linux", Host: "x86_64-linux",
				Builder: derivation.BuilderDebUnit, Env: env, Inputs: []storepath.Path{added}}
			if err := d.Seal(st.Dir); err != nil {
				t.Fatal(err)
			}
			b := &Builder{Store: st, Sandbox: sandbox.ModeOff}
			err = b.Realize(context.Background(), d)
			want := map[string]string{"deb": "is not among its inputs", "interp": "is not in the closure", "patchelf": "is not in the closure"}[name]
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Realize = %v, want a refusal", err)
			}
			if ok, _ := st.IsValid(d.Out); ok {
				t.Error("the unit entered the store")
			}
		})
	}
}

// TestDebUnitForAnotherSystem: a unit is relocated by its own system's patchelf, so one for
// another system is refused, saying so, before its .debs are fetched.
func TestDebUnitForAnotherSystem(t *testing.T) {
	root := t.TempDir()
	st, err := store.Open(filepath.Join(root, "store"), filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(st.Dir) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fetched %s", r.URL.Path)
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	deb := &derivation.Derivation{Name: "greet_1.0-1_arm64.deb", System: "aarch64-linux", Host: "aarch64-linux", Builder: derivation.BuilderFetch,
		URLs: []string{srv.URL + "/greet.deb"}, OutputHash: hash.Sum(hash.SHA256, []byte("greet")).SRI()}
	if err := deb.Seal(st.Dir); err != nil {
		t.Fatal(err)
	}
	d := &derivation.Derivation{Name: "greet-1.0", Version: "1.0-1", System: "aarch64-linux", Host: "aarch64-linux", Builder: derivation.BuilderDebUnit,
		Native: true, Env: map[string]string{"triplet": "aarch64-linux-gnu", "debs": string(deb.Out)}, Inputs: []storepath.Path{deb.Out}, Needs: []*derivation.Derivation{deb}}
	if err := d.Seal(st.Dir); err != nil {
		t.Fatal(err)
	}
	b := &Builder{Store: st, Sandbox: sandbox.ModeOff, Client: srv.Client(), System: platform.System{Arch: "x86_64", OS: "linux"}}
	err = b.Realize(context.Background(), d)
	var ce *CrossError
	want := "greet-1.0 is made of Debian's packages for aarch64-linux, relocated with that system's own patchelf, and cannot be made on x86_64-linux"
	if !errors.As(err, &ce) || err.Error() != want {
		t.Fatalf("Realize = %v, want %q", err, want)
	}
}
