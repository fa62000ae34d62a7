package build

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/gomod"
	"github.com/den-sh/den/core/storepath"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

type memFile struct {
	name string
	data string
}

func (f memFile) Path() string                 { return f.name }
func (f memFile) Lstat() (os.FileInfo, error)  { return memInfo(f), nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(f.data)), nil }

type memInfo memFile

func (i memInfo) Name() string       { return filepath.Base(i.name) }
func (i memInfo) Size() int64        { return int64(len(i.data)) }
func (i memInfo) Mode() os.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// storeModule puts a module into dir the way the builder's fetch does (a verified zip unpacked,
// its go.mod as a file) and returns it as a build input with the zip's h1: hash.
func storeModule(t *testing.T, dir, mod, vers string, files map[string]string) (derivation.GoModuleInput, string) {
	t.Helper()
	var list []modzip.File
	for name, data := range files {
		list = append(list, memFile{name, data})
	}
	var buf bytes.Buffer
	if err := modzip.Create(&buf, module.Version{Path: mod, Version: vers}, list); err != nil {
		t.Fatal(err)
	}
	zipFile := filepath.Join(t.TempDir(), "m.zip")
	if err := os.WriteFile(zipFile, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	h1, err := gomod.HashZip(zipFile)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, strings.ReplaceAll(mod, "/", "_")+"-"+vers)
	if err := gomod.UnzipModule(zipFile, mod, vers, base); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".mod", []byte(files["go.mod"]), 0o444); err != nil {
		t.Fatal(err)
	}
	return derivation.GoModuleInput{Module: mod, Version: vers, Mod: storepath.Path(base + ".mod"), Dir: storepath.Path(base)}, h1
}

func TestPrepareGoProxy(t *testing.T) {
	storeDir := t.TempDir()
	greet, greetH1 := storeModule(t, storeDir, "example.com/Greet", "v1.0.0", map[string]string{
		"go.mod":         "module example.com/Greet\n\ngo 1.21\n",
		"greet.go":       "package greet\n\nfunc Hello() string { return \"hello\" }\n",
		"data/words.txt": "hello\n",
	})
	older, _ := storeModule(t, storeDir, "example.com/Greet", "v0.9.0", map[string]string{
		"go.mod": "module example.com/Greet\n",
	})
	older.Dir = "" // only its go.mod is needed
	probed, _ := storeModule(t, storeDir, "example.com/probed", "v1.0.0", map[string]string{
		"go.mod": "module example.com/probed\n",
	})
	probed.Mod = "" // looked into for a package, not in the module graph

	buildDir := t.TempDir()
	env, err := prepareGoProxy([]derivation.GoModuleInput{greet, older, probed}, buildDir, buildDir)
	if err != nil {
		t.Fatal(err)
	}
	v := filepath.Join(buildDir, "goproxy", "example.com", "!greet", "@v")
	list, err := os.ReadFile(filepath.Join(v, "list"))
	if err != nil || string(list) != "v0.9.0\nv1.0.0\n" {
		t.Errorf("list = %q, %v", list, err)
	}
	var latest struct{ Version string }
	data, err := os.ReadFile(filepath.Join(filepath.Dir(v), "@latest"))
	if err != nil || json.Unmarshal(data, &latest) != nil || latest.Version != "v1.0.0" {
		t.Errorf("@latest = %q, %v", data, err)
	}
	var info struct{ Version string }
	data, err = os.ReadFile(filepath.Join(v, "v1.0.0.info"))
	if err != nil || json.Unmarshal(data, &info) != nil || info.Version != "v1.0.0" {
		t.Errorf("v1.0.0.info = %q, %v", data, err)
	}
	if data, err := os.ReadFile(filepath.Join(v, "v1.0.0.mod")); err != nil || !strings.HasPrefix(string(data), "module example.com/Greet") {
		t.Errorf("v1.0.0.mod = %q, %v", data, err)
	}
	// The zip made again from the unpacked tree has the hash the checksum database recorded.
	if got, err := gomod.HashZip(filepath.Join(v, "v1.0.0.zip")); err != nil || got != greetH1 {
		t.Errorf("rebuilt zip hashes to %s (%v), want %s", got, err, greetH1)
	}
	if _, err := os.Stat(filepath.Join(v, "v0.9.0.zip")); !os.IsNotExist(err) {
		t.Errorf("a module needed only for its go.mod got a zip: %v", err)
	}

	pv := filepath.Join(buildDir, "goproxy", "example.com", "probed", "@v")
	if _, err := os.Stat(filepath.Join(pv, "v1.0.0.zip")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(pv, "v1.0.0.mod")); !os.IsNotExist(err) {
		t.Errorf("a module without a go.mod input got one: %v", err)
	}

	want := map[string]string{
		"GOPROXY": "file://" + filepath.ToSlash(filepath.Join(buildDir, "goproxy")), "GOSUMDB": "off",
		"GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "GOENV": "off", "CGO_ENABLED": "0",
	}
	for k, w := range want {
		if env[k] != w {
			t.Errorf("%s = %q, want %q", k, env[k], w)
		}
	}
	for _, k := range []string{"GOPATH", "GOMODCACHE", "GOCACHE"} {
		if !strings.HasPrefix(env[k], buildDir+string(filepath.Separator)) {
			t.Errorf("%s = %q, not under the build directory", k, env[k])
		}
	}

	// The go command takes the directory as a proxy and the zip as the one go.sum names.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to read the proxy")
	}
	cmd := exec.CommandContext(context.Background(), goCmd, "mod", "download", "-json", "example.com/Greet@v1.0.0")
	cmd.Dir = buildDir
	// go's telemetry child may still write under HOME after go exits; a HOME outside the test's
	// temporary directories keeps that from failing their cleanup (it did, now and then, in CI).
	home, err := os.MkdirTemp("", "goproxy-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	cmd.Env = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// No telemetry child writing under HOME after go exits, and a module cache the test's
	// cleanup can remove: either made removing the temporary directory fail now and then.
	cmd.Env = append(cmd.Env, "GOTELEMETRY=off", "GOFLAGS="+env["GOFLAGS"]+" -modcacherw")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go mod download: %v\n%s", err, out)
	}
	var dl struct{ Sum, Dir string }
	if err := json.Unmarshal(out, &dl); err != nil {
		t.Fatalf("go mod download -json: %v\n%s", err, out)
	}
	if dl.Sum != greetH1 {
		t.Errorf("the go command downloaded %s, want %s", dl.Sum, greetH1)
	}
	if data, err := os.ReadFile(filepath.Join(dl.Dir, "data", "words.txt")); err != nil || string(data) != "hello\n" {
		t.Errorf("unpacked by the go command: %q, %v", data, err)
	}
}

func TestPrepareGoProxyRejectsBadInput(t *testing.T) {
	for name, m := range map[string]derivation.GoModuleInput{
		"nothing":     {Module: "example.com/a", Version: "v1.0.0"},
		"bad version": {Module: "example.com/a", Version: "1.0", Mod: "/nonexistent"},
		"bad module":  {Module: "../a", Version: "v1.0.0", Mod: "/nonexistent"},
	} {
		if _, err := prepareGoProxy([]derivation.GoModuleInput{m}, t.TempDir(), "/build"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestGoModulesStayOffPath(t *testing.T) {
	d := &derivation.Derivation{
		Inputs:    []storepath.Path{"/s/aaaa-go", "/s/bbbb-m", "/s/cccc-m.mod"},
		GoModules: []derivation.GoModuleInput{{Module: "example.com/m", Version: "v1.0.0", Mod: "/s/cccc-m.mod", Dir: "/s/bbbb-m"}},
	}
	got := goModulePaths(d)
	if len(got) != 2 || !got["/s/bbbb-m"] || !got["/s/cccc-m.mod"] || got["/s/aaaa-go"] {
		t.Errorf("goModulePaths = %v", got)
	}
}
