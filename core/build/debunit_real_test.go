package build

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/sandbox"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// TestDebUnitRealDebs realizes the bootstrap, glibc and make units from real bookworm amd64
// .debs (DEN_REAL_DEB_DIR, served from loopback) into a store, and runs the stored make with an
// empty environment: the store accepts the relocated trees and registers glibc as make's
// reference.
func TestDebUnitRealDebs(t *testing.T) {
	dir := os.Getenv("DEN_REAL_DEB_DIR")
	if dir == "" {
		t.Skip("DEN_REAL_DEB_DIR is not set (a directory of bookworm amd64 .debs)")
	}
	if runtime.GOARCH != "amd64" || runtime.GOOS != "linux" {
		t.Skip("the real .debs are for linux/amd64")
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	root := t.TempDir()
	st, err := store.Open(filepath.Join(root, "store"), filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(st.Dir) })
	const triplet = "x86_64-linux-gnu"
	deb := func(pkg string) *derivation.Derivation {
		m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
		if len(m) != 1 {
			t.Fatalf("want one %s_*.deb in %s, have %q", pkg, dir, m)
		}
		data, err := os.ReadFile(m[0])
		if err != nil {
			t.Fatal(err)
		}
		d := &derivation.Derivation{Name: pkg + ".deb", System: "x86_64-linux", Host: "x86_64-linux", Builder: derivation.BuilderFetch,
			URLs: []string{srv.URL + "/" + filepath.Base(m[0])}, OutputHash: hash.Sum(hash.SHA256, data).SRI()}
		if err := d.Seal(st.Dir); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// inputs are the dependency units and the bootstrap unit (for its patchelf); env names
	// which inputs are deps.
	unit := func(name string, pkgs []string, inputs []*derivation.Derivation, env map[string]string) *derivation.Derivation {
		d := &derivation.Derivation{Name: name, System: "x86_64-linux", Host: "x86_64-linux", Builder: derivation.BuilderDebUnit,
			Env: map[string]string{"triplet": triplet}}
		for k, v := range env {
			d.Env[k] = v
		}
		var debs []string
		for _, p := range pkgs {
			f := deb(p)
			debs = append(debs, string(f.Out))
			d.Inputs, d.Needs = append(d.Inputs, f.Out), append(d.Needs, f)
		}
		for _, n := range inputs {
			d.Inputs, d.Needs = append(d.Inputs, n.Out), append(d.Needs, n)
		}
		d.Env["debs"] = strings.Join(debs, " ")
		if err := d.Seal(st.Dir); err != nil {
			t.Fatal(err)
		}
		return d
	}
	boot := unit("bootstrap", []string{"patchelf", "libc6", "libstdc++6", "libgcc-s1"}, nil, nil)
	b0 := string(boot.Out)
	patchelf := b0 + "/lib/" + triplet + "/ld-linux-x86-64.so.2 --library-path " + b0 + "/lib/" + triplet + " " + b0 + "/bin/patchelf"
	glibc := unit("glibc", []string{"libc6", "libc6-dev", "libc-dev-bin"}, []*derivation.Derivation{boot},
		map[string]string{"patchelf": patchelf, "interp": derivation.DebUnitOutPrefix + "lib/" + triplet + "/ld-linux-x86-64.so.2"})
	loader := string(glibc.Out) + "/lib/" + triplet + "/ld-linux-x86-64.so.2"
	mk := unit("make", []string{"make"}, []*derivation.Derivation{glibc, boot},
		map[string]string{"patchelf": patchelf, "interp": loader, "deps": string(glibc.Out)})
	b := &Builder{Store: st, Sandbox: sandbox.ModeOff, Client: srv.Client()}
	if err := b.Realize(context.Background(), mk); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("env", "-i", string(mk.Out)+"/bin/make", "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "GNU Make") {
		t.Fatalf("stored make --version: %v\n%s", err, out)
	}
	info, err := st.Info(mk.Out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(info.References, glibc.Out) || slices.Contains(info.References, boot.Out) {
		t.Errorf("make's references are %v; want glibc %s and not the bootstrap unit", info.References, glibc.Out)
	}
	ginfo, err := st.Info(glibc.Out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ginfo.References, []storepath.Path{glibc.Out}) {
		t.Errorf("glibc's references are %v; want only itself", ginfo.References)
	}
}
