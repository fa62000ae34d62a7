package store

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/storepath"
)

func TestAddTree(t *testing.T) {
	s := newStore(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "lib", "f"), "lib", 0o644)
	lib := addPath(t, s, filepath.Join(src, "lib"), "lib")
	writeFile(t, filepath.Join(src, "unused", "f"), "unused", 0o644)
	unused := addPath(t, s, filepath.Join(src, "unused"), "unused")

	tree := func() string {
		dir := filepath.Join(t.TempDir(), "tree")
		writeFile(t, filepath.Join(dir, "note"), "made with "+string(lib)+"\n", 0o644)
		if err := os.Symlink(string(lib)+"/f", filepath.Join(dir, "link")); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	dir := tree()
	h, _, err := nar.Hash(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := storepath.Source(s.Dir, h, "tree", []storepath.Path{lib})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.AddTree(dir, "tree", []storepath.Path{unused, lib})
	if err != nil {
		t.Fatal(err)
	}
	if p != want {
		t.Fatalf("AddTree = %s, want %s (a source path referencing only what the tree mentions)", p, want)
	}
	assertMissing(t, dir)
	info := mustInfo(t, s, p)
	if !reflect.DeepEqual(info.References, []storepath.Path{lib}) {
		t.Errorf("references %v, want [%s]", info.References, lib)
	}
	if info.NarHash != h.String() || info.CA != "fixed:r:"+h.String() {
		t.Errorf("narHash %s, CA %s; want %s and fixed:r:", info.NarHash, info.CA, h)
	}
	if got, err := os.Readlink(string(p) + "/link"); err != nil || got != string(lib)+"/f" {
		t.Errorf("link reads %q (%v)", got, err)
	}

	// The same content again gives the same path, and the tree is still consumed.
	dir = tree()
	if again, err := s.AddTree(dir, "tree", []storepath.Path{lib}); err != nil || again != p {
		t.Fatalf("second AddTree = %s, %v; want %s", again, err, p)
	}
	assertMissing(t, dir)

	// GC keeps the reference while the tree is rooted.
	root(t, s, "tree", string(p))
	assertDeleted(t, gc(t, s, false), unused)
	assertValid(t, s, lib, true)
}
