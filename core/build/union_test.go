package build

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A union's command directory puts its executables into bin/, through links relative to the
// union (so that a program finding its files from its resolved path finds its own unit's), and
// keeps what bin/ has.
func TestLinkCommands(t *testing.T) {
	unit := t.TempDir() // a unit, as the union links into it
	write := func(name string, mode os.FileMode) {
		p := filepath.Join(unit, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho "+filepath.Base(name)+"\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("lib/pg/15/bin/postgres", 0o755)
	write("lib/pg/15/bin/psql", 0o755)
	write("lib/pg/15/bin/README", 0o644)
	write("lib/pg/15/bin/sub/x", 0o755)
	write("bin/psql", 0o755) // the package's own psql wins

	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(unit, "lib/pg"), filepath.Join(root, "lib/pg")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(unit, "bin/psql"), filepath.Join(root, "bin/psql")); err != nil {
		t.Fatal(err)
	}
	if err := linkCommands(root, "lib/pg/15/bin"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "bin"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"postgres", "psql"}) {
		t.Errorf("bin: %v", names)
	}
	if l, _ := os.Readlink(filepath.Join(root, "bin/postgres")); l != "../lib/pg/15/bin/postgres" {
		t.Errorf("bin/postgres -> %q", l)
	}
	if l, _ := os.Readlink(filepath.Join(root, "bin/psql")); l != filepath.Join(unit, "bin/psql") {
		t.Errorf("bin/psql -> %q, not the package's own", l)
	}
	if real, _ := filepath.EvalSymlinks(filepath.Join(root, "bin/postgres")); real != filepath.Join(unit, "lib/pg/15/bin/postgres") {
		t.Errorf("bin/postgres resolves to %q", real)
	}

	// A union without bin/ gets one.
	bare := t.TempDir()
	if err := os.Symlink(filepath.Join(unit, "lib"), filepath.Join(bare, "lib")); err != nil {
		t.Fatal(err)
	}
	if err := linkCommands(bare, "lib/pg/15/bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bare, "bin/psql")); err != nil {
		t.Error(err)
	}
	for dir, want := range map[string]string{
		"lib/none":             "does the package have it?",
		"lib/pg/15/bin/sub/..": "bad command directory",
		"../x":                 "bad command directory",
		"bin":                  "bad command directory",
		"lib/pg/15":            "has no executables",
	} {
		if err := linkCommands(bare, dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", dir, err, want)
		}
	}
}
