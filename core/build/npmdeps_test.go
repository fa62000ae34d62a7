package build

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/npm"
	"github.com/den-sh/den/core/npm/npmtest"
	"github.com/den-sh/den/core/sandbox"
	"github.com/den-sh/den/core/store"
)

// TestNPMDepsLayout lays out a lock with a scoped package, a nested one, and two packages of one
// directory that name the same command; it checks npm's layout and .bin links, and that the
// first build says the hash to write and publishes nothing.
func TestNPMDepsLayout(t *testing.T) {
	reg := npmtest.New(t,
		npmtest.Package{Name: "@s/tool", Version: "1.0.0", Bin: map[string]string{"tool": "bin/tool.js"}, Files: map[string]string{"bin/tool.js": "tool"}},
		npmtest.Package{Name: "dep", Version: "1.0.0", Bin: "cli.js", Files: map[string]string{"cli.js": "dep 1"}},
		npmtest.Package{Name: "dep", Version: "2.0.0", Bin: "cli.js", Files: map[string]string{"cli.js": "dep 2"}},
		npmtest.Package{Name: "other", Version: "1.0.0", Bin: map[string]string{"dep": "o.js"}, Files: map[string]string{"o.js": "other"}},
	)
	entry := func(name, version, extra string) string {
		return `{"version": "` + version + `", "resolved": "` + reg.URL + npmtest.TarballPath(name, version) + `", "integrity": "` + reg.Integrity(name, version) + `"` + extra + `}`
	}
	lock := `{"lockfileVersion": 3, "packages": {"": {"name": "app"},
		"node_modules/@s/tool": ` + entry("@s/tool", "1.0.0", `, "bin": {"tool": "bin/tool.js"}`) + `,
		"node_modules/@s/tool/node_modules/dep": ` + entry("dep", "1.0.0", `, "bin": {"dep": "cli.js"}`) + `,
		"node_modules/dep": ` + entry("dep", "2.0.0", `, "bin": {"dep": "cli.js"}`) + `,
		"node_modules/other": ` + entry("other", "1.0.0", `, "bin": {"dep": "o.js"}`) + `}}`
	root := t.TempDir()
	st, err := store.Open(filepath.Join(root, "store"), filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(st.Dir) })
	srcDir := filepath.Join(root, "src")
	os.MkdirAll(srcDir, 0o755)
	if err := os.WriteFile(filepath.Join(srcDir, "package-lock.json"), []byte(lock), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := st.AddPath(srcDir, "src")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := npm.LoadConfig(func(k string) string {
		if k == "npm_config_registry" {
			return reg.URL
		}
		return ""
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Store: st, Sandbox: sandbox.ModeOff, NPM: func() (*npm.Config, error) { return cfg, nil }}
	d := &derivation.Derivation{Name: "app-1.0" + NPMDepsSuffix, Version: "1.0", Builder: derivation.BuilderNPMDeps,
		Src: src, OutputHash: derivation.PlaceholderHash, System: "x86_64-linux", Host: "x86_64-linux"}
	if err := d.Seal(st.Dir); err != nil {
		t.Fatal(err)
	}
	err = b.Realize(context.Background(), d)
	var he *InputHashError
	if !errors.As(err, &he) || he.Recipe != "app" || he.Key != "npm-deps-hash" {
		t.Fatalf("err = %v; want an *InputHashError for recipe app's npm-deps-hash", err)
	}
	if ok, _ := st.IsValid(d.Out); ok {
		t.Fatalf("%s is valid after a hash mismatch", d.Out)
	}
	d.OutputHash = he.Got.SRI()
	if err := d.Seal(st.Dir); err != nil {
		t.Fatal(err)
	}
	if err := b.Realize(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	out := string(d.Out)
	for file, want := range map[string]string{
		"node_modules/@s/tool/bin/tool.js":             "tool",
		"node_modules/@s/tool/node_modules/dep/cli.js": "dep 1",
		"node_modules/dep/cli.js":                      "dep 2",
		"node_modules/.bin/tool":                       "tool",  // a scoped package's command, in the top node_modules
		"node_modules/.bin/dep":                        "dep 2", // dep before other: the first by install path keeps it
		"node_modules/@s/tool/node_modules/.bin/dep":   "dep 1", // nested, beside the package
		"package-lock.json":                            lock,
	} {
		data, err := os.ReadFile(filepath.Join(out, file))
		if err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", file, data, err, want)
		}
	}
	if l, err := os.Readlink(filepath.Join(out, "node_modules/.bin/tool")); err != nil || l != "../@s/tool/bin/tool.js" {
		t.Errorf(".bin/tool links to %q, %v; want ../@s/tool/bin/tool.js", l, err)
	}
	if fi, err := os.Stat(filepath.Join(out, "node_modules/dep/cli.js")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("a command's file is not executable: %v %v", fi.Mode(), err)
	}
}

// TestPlacePackage: npm strips the first component whatever its name, merging top directories.
func TestPlacePackage(t *testing.T) {
	dir := t.TempDir()
	unpacked := filepath.Join(dir, "u")
	for _, f := range []string{"node/index.js", "node/lib/a.js", "extra/b.js", "top.txt"} {
		p := filepath.Join(unpacked, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(f), 0o644)
	}
	target := filepath.Join(dir, "node_modules", "x")
	os.MkdirAll(filepath.Join(target, "stale"), 0o755)
	if err := placePackage(unpacked, target); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(target, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(target, p)
			got = append(got, rel)
		}
		return nil
	})
	if strings.Join(got, " ") != "b.js index.js lib/a.js" {
		t.Errorf("placed %v; want b.js index.js lib/a.js (top files dropped, stale contents gone)", got)
	}
}
