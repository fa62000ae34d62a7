package gomod_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/den-sh/den/core/gomod"
	"golang.org/x/mod/sumdb/note"
)

// envOf is a getenv over m alone; GOENV is off unless m sets it, so that no test reads the
// developer's own Go env file.
func envOf(m map[string]string) func(string) string {
	return func(key string) string {
		if v, ok := m[key]; ok {
			return v
		}
		if key == "GOENV" {
			return "off"
		}
		return ""
	}
}

func testKey(t *testing.T, name string) string {
	t.Helper()
	_, vkey, err := note.GenerateKey(nil, name)
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

func writeEnvFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o666); err != nil {
		t.Fatal(err)
	}
}

func TestConfigPrecedence(t *testing.T) {
	key := testKey(t, "sum.den.test")
	envFile := filepath.Join(t.TempDir(), "goenv")
	writeEnvFile(t, envFile, "# comment\nGOPROXY=http://127.0.0.1:2/file\nGOSUMDB="+key+"\nGONOSUMDB=file.example\nbroken line\nGOFLAGS=-mod=mod\n")
	var asked []string
	goEnv := func(names []string) (map[string]string, error) {
		asked = append(asked, names...)
		return map[string]string{"GOPROXY": "http://127.0.0.1:3/goenv", "GOSUMDB": "off", "GOINSECURE": "insecure.example"}, nil
	}
	cfg, err := gomod.LoadConfigFrom(envOf(map[string]string{
		"GOENV":     envFile,
		"GOPROXY":   "http://127.0.0.1:1/env",
		"GOPRIVATE": "private.example",
	}), goEnv)
	if err != nil {
		t.Fatal(err)
	}
	if want := []gomod.Proxy{{URL: "http://127.0.0.1:1/env"}}; !reflect.DeepEqual(cfg.Proxies, want) {
		t.Errorf("Proxies = %v, want %v", cfg.Proxies, want)
	}
	if cfg.SumDB == nil || cfg.SumDB.Key != key || cfg.SumDB.Name != "sum.den.test" || cfg.SumDB.URL != "" {
		t.Errorf("SumDB = %+v, want the env file's", cfg.SumDB)
	}
	// GONOSUMDB from the file beats GOPRIVATE from the environment, as in the go command, where
	// GOPRIVATE is only GONOSUMDB's default.
	if cfg.NoSumDB != "file.example" {
		t.Errorf("NoSumDB = %q, want file.example", cfg.NoSumDB)
	}
	if cfg.NoProxy != "private.example" {
		t.Errorf("NoProxy = %q, want private.example (from GOPRIVATE)", cfg.NoProxy)
	}
	if cfg.Insecure != "insecure.example" {
		t.Errorf("Insecure = %q, want go env's", cfg.Insecure)
	}
	wantSources := map[string]string{"GOPROXY": "environment", "GOPRIVATE": "environment", "GOSUMDB": envFile, "GONOSUMDB": envFile, "GOINSECURE": "go env"}
	if !reflect.DeepEqual(cfg.Sources, wantSources) {
		t.Errorf("Sources = %v, want %v", cfg.Sources, wantSources)
	}
	slices.Sort(asked)
	if want := []string{"GOINSECURE", "GONOPROXY"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("go env asked for %v, want only the unset %v", asked, want)
	}
}

func TestConfigGoEnvOnlyWhenNeeded(t *testing.T) {
	key := testKey(t, "sum.den.test")
	called := false
	goEnv := func([]string) (map[string]string, error) { called = true; return nil, nil }
	all := map[string]string{"GOPROXY": "http://127.0.0.1:1", "GOSUMDB": key, "GONOSUMDB": "a", "GOPRIVATE": "b", "GOINSECURE": "c", "GONOPROXY": "d"}
	if _, err := gomod.LoadConfigFrom(envOf(all), goEnv); err != nil {
		t.Fatal(err)
	}
	if called {
		t.Error("go env was run although every setting was set")
	}
}

func TestConfigDefaultEnvFile(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" || runtime.GOOS == "ios" || runtime.GOOS == "plan9" {
		t.Skip("the XDG rule is for the other systems")
	}
	home := t.TempDir()
	writeEnvFile(t, filepath.Join(home, ".config", "go", "env"), "GOPROXY=http://127.0.0.1:1/home\nGOSUMDB=off\n")
	cfg, err := gomod.LoadConfigFrom(envOf(map[string]string{"GOENV": "", "HOME": home}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Proxies[0].URL != "http://127.0.0.1:1/home" {
		t.Errorf("proxy = %s, want the one in $HOME/.config/go/env", cfg.Proxies[0].URL)
	}

	xdg := t.TempDir()
	writeEnvFile(t, filepath.Join(xdg, "go", "env"), "GOPROXY=http://127.0.0.1:1/xdg\nGOSUMDB=off\n")
	cfg, err = gomod.LoadConfigFrom(envOf(map[string]string{"GOENV": "", "HOME": home, "XDG_CONFIG_HOME": xdg}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Proxies[0].URL != "http://127.0.0.1:1/xdg" {
		t.Errorf("proxy = %s, want the one in $XDG_CONFIG_HOME/go/env", cfg.Proxies[0].URL)
	}
	if cfg.SumDB != nil {
		t.Errorf("SumDB = %+v, want nil for GOSUMDB=off", cfg.SumDB)
	}
}

func TestConfigNotConfigured(t *testing.T) {
	noGo := func([]string) (map[string]string, error) { return nil, exec.ErrNotFound }
	envFile := filepath.Join(t.TempDir(), "env")
	_, err := gomod.LoadConfigFrom(envOf(map[string]string{"GOENV": envFile}), noGo)
	var nc *gomod.NotConfiguredError
	if !errors.As(err, &nc) {
		t.Fatalf("err = %v, want *NotConfiguredError", err)
	}
	if !reflect.DeepEqual(nc.Missing, []string{"GOPROXY", "GOSUMDB"}) || !nc.NoGo {
		t.Errorf("error = %+v", nc)
	}
	for _, want := range []string{"GOPROXY and GOSUMDB are not set", envFile, "no go command"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	hints := strings.Join(nc.Hints(), "\n")
	for _, want := range []string{"set GOPROXY to your Go module proxy's URL (see go help goproxy)", "set GOSUMDB to", "go env -w"} {
		if !strings.Contains(hints, want) {
			t.Errorf("hints %q do not say %q", hints, want)
		}
	}

	// A failing go command is reported, not mistaken for a missing one.
	_, err = gomod.LoadConfigFrom(envOf(nil), func([]string) (map[string]string, error) { return nil, errors.New("boom") })
	if !errors.As(err, &nc) || nc.NoGo || nc.GoErr == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("err = %v, want the go env failure", err)
	}
}

func TestConfigProxyList(t *testing.T) {
	key := testKey(t, "sum.den.test")
	load := func(goproxy string) (*gomod.Config, error) {
		return gomod.LoadConfigFrom(envOf(map[string]string{"GOPROXY": goproxy, "GOSUMDB": key}), nil)
	}
	cfg, err := load("http://127.0.0.1:1/a, proxy.den.test|file:///srv/proxy,direct,http://127.0.0.1:1/ignored")
	if err != nil {
		t.Fatal(err)
	}
	want := []gomod.Proxy{
		{URL: "http://127.0.0.1:1/a"},
		{URL: "https://proxy.den.test", FallBackOnError: true},
		{URL: "file:///srv/proxy"},
	}
	if !reflect.DeepEqual(cfg.Proxies, want) {
		t.Errorf("Proxies = %+v, want %+v", cfg.Proxies, want)
	}
	if len(cfg.Notes) != 1 || !strings.Contains(cfg.Notes[0], "direct") {
		t.Errorf("Notes = %q, want one about direct", cfg.Notes)
	}

	for _, goproxy := range []string{"direct", "off", " , ", "off,http://127.0.0.1:1"} {
		_, err := load(goproxy)
		var nc *gomod.NotConfiguredError
		if !errors.As(err, &nc) || !strings.Contains(err.Error(), "module proxy") || len(nc.Hints()) == 0 {
			t.Errorf("GOPROXY=%q: err = %v, want a *NotConfiguredError saying den needs a module proxy", goproxy, err)
		}
	}
	for _, goproxy := range []string{"ftp://127.0.0.1/x", "file://host/x", "http://"} {
		if _, err := load(goproxy); err == nil {
			t.Errorf("GOPROXY=%q accepted", goproxy)
		}
	}
}

func TestParseGOSUMDB(t *testing.T) {
	key := testKey(t, "sum.den.test")
	db, err := gomod.ParseGOSUMDB(key + " http://127.0.0.1:1/db/")
	if err != nil {
		t.Fatal(err)
	}
	if want := (gomod.SumDB{Name: "sum.den.test", Key: key, URL: "http://127.0.0.1:1/db"}); *db != want {
		t.Errorf("db = %+v, want %+v", *db, want)
	}
	if db, err := gomod.ParseGOSUMDB("off"); db != nil || err != nil {
		t.Errorf("off: %v, %v", db, err)
	}
	var nc *gomod.NotConfiguredError
	if _, err := gomod.ParseGOSUMDB("sum.den.test"); !errors.As(err, &nc) {
		t.Errorf("a bare unknown name: err = %v, want *NotConfiguredError", err)
	}
	for _, bad := range []string{key + " a b", "sum.den.test+00000000+AAAA", key + " ftp://127.0.0.1/", testKey(t, "a/../b")} {
		if _, err := gomod.ParseGOSUMDB(bad); err == nil {
			t.Errorf("GOSUMDB=%q accepted", bad)
		}
	}
}

// TestParseGOSUMDBDefault checks that the go command's default checksum database, given by name
// alone as the go command's defaults give it, gets its built-in key. The name comes from the go
// command, never from den's source.
func TestParseGOSUMDBDefault(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	values, err := gomod.GoEnv([]string{"GOSUMDB"})
	if err != nil {
		t.Fatal(err)
	}
	name := values["GOSUMDB"]
	if os.Getenv("GOSUMDB") != "" || name == "off" || strings.ContainsAny(name, "+ ") {
		t.Skipf("GOSUMDB is set to %q here, not the go command's default", name)
	}
	db, err := gomod.ParseGOSUMDB(name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(db.Key, name+"+") || db.Name != name {
		t.Errorf("db = %+v", db)
	}
}

func TestConfigEnviron(t *testing.T) {
	key := testKey(t, "sum.den.test")
	cfg, err := gomod.LoadConfigFrom(envOf(map[string]string{
		"GOPROXY":   "http://127.0.0.1:1/a|http://127.0.0.1:1/b,direct",
		"GOSUMDB":   key + " http://127.0.0.1:1/sumdb",
		"GOPRIVATE": "corp.den.test",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GOPROXY=http://127.0.0.1:1/a|http://127.0.0.1:1/b",
		"GOSUMDB=" + key + " http://127.0.0.1:1/sumdb",
		"GONOSUMDB=corp.den.test",
		"GONOPROXY=corp.den.test",
		"GOPRIVATE=corp.den.test",
	}
	if got := cfg.Environ(); !slices.Equal(got, want) {
		t.Errorf("Environ() = %q, want %q", got, want)
	}

	cfg, err = gomod.LoadConfigFrom(envOf(map[string]string{"GOPROXY": "http://127.0.0.1:1/a", "GOSUMDB": "off"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"GOPROXY=http://127.0.0.1:1/a", "GOSUMDB=off"}
	if got := cfg.Environ(); !slices.Equal(got, want) {
		t.Errorf("Environ() = %q, want %q", got, want)
	}
}
