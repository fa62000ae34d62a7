package gosource

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/gomod"
	"github.com/den-sh/den/core/gomod/gomodtest"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/version"
)

func write(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o444); err != nil {
		t.Fatal(err)
	}
}

func TestScanModCache(t *testing.T) {
	dir := t.TempDir()
	toml := filepath.Join(dir, "github.com", "!burnt!sushi", "toml", "@v")
	write(t, filepath.Join(toml, "v1.5.0.mod"), "module github.com/BurntSushi/toml\n")
	write(t, filepath.Join(toml, "v1.5.0.zip"), "a zip")
	write(t, filepath.Join(toml, "v1.5.0.ziphash"), "h1:zip=\n")
	write(t, filepath.Join(toml, "v1.5.0.info"), `{"Version":"v1.5.0"}`)
	write(t, filepath.Join(toml, "v1.5.0.lock"), "")
	write(t, filepath.Join(toml, "list"), "v1.5.0\n")
	// Needed only for the module graph: a go.mod and no zip.
	write(t, filepath.Join(dir, "example.com", "m", "v2", "@v", "v2.0.0-!r!c1.mod"), "module example.com/m/v2\n")
	// The checksum database's tiles are no modules, even where they look like one.
	write(t, filepath.Join(dir, "sumdb", "sum.den.test", "lookup", "@v", "v1.0.0.mod"), "not a module")

	got, err := scanModCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	tomlMod, _ := gomod.HashMod([]byte("module github.com/BurntSushi/toml\n"))
	mMod, _ := gomod.HashMod([]byte("module example.com/m/v2\n"))
	want := []lock.Source{
		{Kind: derivation.BuilderGoMod, Name: "example.com/m/v2", Version: "v2.0.0-RC1", Hash: mMod},
		{Kind: derivation.BuilderGoMod, Name: "github.com/BurntSushi/toml", Version: "v1.5.0", Hash: tomlMod},
		{Kind: derivation.BuilderGoModule, Name: "github.com/BurntSushi/toml", Version: "v1.5.0", Hash: "h1:zip="},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scanModCache =\n%+v\nwant\n%+v", got, want)
	}

	// A zip whose hash the go command did not record is not guessed at.
	if err := os.Remove(filepath.Join(toml, "v1.5.0.ziphash")); err != nil {
		t.Fatal(err)
	}
	if _, err := scanModCache(dir); err == nil || !strings.Contains(err.Error(), "without its hash") {
		t.Errorf("err = %v, want one about the missing hash", err)
	}
}

// hermeticModules is a program and its one dependency, on a fake proxy with a checksum
// database, the program's go.sum made from the database's hashes.
func hermeticModules(t *testing.T) *gomodtest.Proxy {
	p := gomodtest.NewProxy(t, nil)
	p.Add("example.com/greet", "v1.0.0", gomodtest.Files{
		"go.mod":   "module example.com/greet\n\ngo 1.21\n",
		"greet.go": "package greet\n\nfunc Hello() string { return \"hello\" }\n",
	})
	zipHash, modHash := p.Hashes("example.com/greet", "v1.0.0")
	p.Add("example.com/hello", "v1.0.0", gomodtest.Files{
		"go.mod": "module example.com/hello\n\ngo 1.21\n\nrequire example.com/greet v1.0.0\n",
		"go.sum": "example.com/greet v1.0.0 " + zipHash + "\nexample.com/greet v1.0.0/go.mod " + modHash + "\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/greet\"\n)\n\n" +
			"func main() { fmt.Println(greet.Hello()) }\n",
	})
	return p
}

// The go command's own answer, through the user's proxy and checksum database: the modules of
// the graph, each zip that provides a package, verified.
func TestModuleSources(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	p := hermeticModules(t)
	cfg, err := gomod.LoadConfigFrom(p.Getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	systems := []platform.System{platform.Current(), {Arch: "aarch64", OS: "darwin"}}
	got, err := moduleSources(context.Background(), goCmd, cfg, "example.com/hello@v1.0.0", systems)
	if err != nil {
		t.Fatal(err)
	}
	var want []lock.Source
	for _, mod := range []string{"example.com/greet", "example.com/hello"} {
		zipHash, modHash := p.Hashes(mod, "v1.0.0")
		want = append(want,
			lock.Source{Kind: derivation.BuilderGoMod, Name: mod, Version: "v1.0.0", Hash: modHash},
			lock.Source{Kind: derivation.BuilderGoModule, Name: mod, Version: "v1.0.0", Hash: zipHash})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("moduleSources =\n%+v\nwant\n%+v", got, want)
	}

	// A proxy serving other content than the database recorded stops the lock.
	p.ServeOtherZip("example.com/greet", "v1.0.0", gomodtest.Files{
		"go.mod":   "module example.com/greet\n\ngo 1.21\n",
		"greet.go": "package greet\n\nfunc Hello() string { return \"pwned\" }\n",
	})
	_, err = moduleSources(context.Background(), goCmd, cfg, "example.com/hello@v1.0.0", systems[:1])
	var ie *InstallError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("err = %v, want an *InstallError with the go command's checksum mismatch", err)
	}
	if strings.Contains(err.Error(), "go: downloading") {
		t.Errorf("err keeps the download progress: %v", err)
	}
}

func TestFindModule(t *testing.T) {
	p := hermeticModules(t)
	cfg, err := gomod.LoadConfigFrom(p.Getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := gomod.NewClient(cfg, nil, t.TempDir())
	ctx := context.Background()
	// The longest prefix the proxy knows, as go install finds it.
	mod, versions, err := findModule(ctx, client, &index.Entry{Path: "example.com/hello/cmd/hi"})
	if err != nil || mod != "example.com/hello" || !reflect.DeepEqual(versions, []string{"v1.0.0"}) {
		t.Errorf("findModule = %q %q %v", mod, versions, err)
	}
	_, _, err = findModule(ctx, client, &index.Entry{Path: "example.com/nothing/here"})
	var nm *NoModuleError
	if !errors.As(err, &nm) {
		t.Errorf("err = %v, want a *NoModuleError", err)
	}
}

func TestToolchainConstraint(t *testing.T) {
	versions := []string{"1.15", "1.16", "1.21.0", "1.22.3", "1.23.4", "1.24rc1"}
	for goMod, want := range map[string]string{
		"module m\n\ngo 1.21\n":      "1.23.4",
		"module m\n\ngo 1.23.4\n":    "1.23.4",
		"module m\n":                 "1.23.4",
		"module m\n\ngo 1.24rc1\n":   "1.24rc1",
		"module m\n\ngo 1.15\n":      "1.23.4",
		"module m\ntoolchain go1.99": "1.23.4",
	} {
		c, err := toolchainConstraint("m", "v1.0.0", []byte(goMod))
		if err != nil {
			t.Errorf("%q: %v", goMod, err)
			continue
		}
		if got, err := version.Select(c, versions); got != want {
			t.Errorf("%q: toolchain %q (%v), want %q", goMod, got, err, want)
		}
	}
}

func TestSelectVersion(t *testing.T) {
	latest, _ := version.ParseConstraint("latest")
	pseudo := "v0.0.0-20240507000000-abcdefabcdef"
	if v, err := selectVersion(latest, []string{pseudo}); v != pseudo || err != nil {
		t.Errorf("latest of an untagged module = %q, %v", v, err)
	}
	one, _ := version.ParseConstraint("1")
	if _, err := selectVersion(one, []string{pseudo}); err == nil {
		t.Error("a pseudo-version matched 1")
	}
}

func TestCommandName(t *testing.T) {
	for in, want := range map[string]string{
		"golang.org/x/tools/gopls": "gopls",
		"example.com/tool/v2":      "tool",
		"example.com/cmd/v2tool":   "v2tool",
		"example.com/hello":        "hello",
		"example.com/tool/v1":      "v1",
		"example.com/tool/v10":     "tool",
	} {
		if got := commandName(in); got != want {
			t.Errorf("commandName(%q) = %q, want %q", in, got, want)
		}
	}
	p := &lock.Package{Name: "go:example.com/tool/v2", Attrs: map[string]string{attrPath: "example.com/tool/v2"}}
	if got := programName(p); got != "tool" {
		t.Errorf("programName = %q", got)
	}
	p.Name = "gopls"
	if got := programName(p); got != "gopls" {
		t.Errorf("programName = %q", got)
	}
}
