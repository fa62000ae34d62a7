package activate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestScriptArgv(t *testing.T) {
	if got, want := ScriptArgv("go test ./...", []string{"test"}), []string{"/bin/sh", "-c", "go test ./...", "test"}; !slices.Equal(got, want) {
		t.Errorf("no arguments: %q, want %q", got, want)
	}
	// Arguments reach the script as "$@", each one word however it is spelled.
	got := ScriptArgv("echo", []string{"greet", "a b", "$HOME"})
	if want := []string{"/bin/sh", "-c", `echo "$@"`, "greet", "a b", "$HOME"}; !slices.Equal(got, want) {
		t.Errorf("with arguments: %q, want %q", got, want)
	}
}

func TestLookPathIn(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tool"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	// Empty entries of PATH are skipped, not taken as the working directory.
	env := []string{"HOME=/home/ann", "PATH=:/nonexistent:" + dir}
	if p, ok := LookPathIn("tool", env); !ok || p != filepath.Join(dir, "tool") {
		t.Errorf("tool = %q, %v", p, ok)
	}
	for _, name := range []string{"data", "sub", "missing"} {
		if p, ok := LookPathIn(name, env); ok {
			t.Errorf("%s found at %q: not an executable file", name, p)
		}
	}
	if p, ok := LookPathIn("./x/y", nil); !ok || p != "./x/y" {
		t.Errorf("a name with a slash is used as it is: %q, %v", p, ok)
	}
}

func TestChildEnvPure(t *testing.T) {
	t.Setenv("HOME", "/home/ann")
	t.Setenv("LC_ALL", "C.UTF-8")
	t.Setenv("SECRET_TOKEN", "x")
	env := ChildEnv([]Var{{Name: "GREETING", Value: "hi", Op: Set}}, true)
	for _, want := range []string{"HOME=/home/ann", "LC_ALL=C.UTF-8", "GREETING=hi"} {
		if !slices.Contains(env, want) {
			t.Errorf("--pure environment lacks %s: %q", want, env)
		}
	}
	for _, kv := range env {
		if kv == "SECRET_TOKEN=x" {
			t.Errorf("--pure kept SECRET_TOKEN: %q", env)
		}
	}
	if !slices.Contains(ChildEnv(nil, false), "SECRET_TOKEN=x") {
		t.Error("without --pure the outer environment is kept")
	}
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	pkgs := []Package{{Name: "go", Out: "/store/go", Vars: map[string]string{"GOROOT": "/store/go"},
		Defaults: map[string]string{"GOTOOLCHAIN": "local"}}}
	env := func(kv ...string) func(string) string {
		return func(name string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == name {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	value := func(outer func(string) string, environ []string) (string, bool) {
		vars, err := Variables(dir, pkgs, nil, dir, outer)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		found := false
		for _, kv := range Apply(environ, vars) {
			if v, ok := strings.CutPrefix(kv, "GOTOOLCHAIN="); ok {
				got, found = v, true
			}
		}
		return got, found
	}
	// Unset or empty: den's default.
	if got, _ := value(env("GOENV", "off"), nil); got != "local" {
		t.Errorf("unset: GOTOOLCHAIN=%q, want local", got)
	}
	if got, _ := value(env("GOENV", "off"), []string{"GOTOOLCHAIN="}); got != "local" {
		t.Errorf("empty: GOTOOLCHAIN=%q, want local", got)
	}
	// The user's own value stays, and applying twice (a hook reloading) changes nothing.
	if got, _ := value(env("GOENV", "off", "GOTOOLCHAIN", "auto"), []string{"GOTOOLCHAIN=auto"}); got != "auto" {
		t.Errorf("the user's: GOTOOLCHAIN=%q, want auto", got)
	}
	vars, _ := Variables(dir, pkgs, nil, dir, env("GOENV", "off"))
	once := Apply(nil, vars)
	if twice := Apply(once, vars); !slices.Equal(once, twice) {
		t.Errorf("applied twice: %q, then %q", once, twice)
	}
	// Set with go env -w, in Go's env file at $GOENV or below the config directory: den leaves
	// it to the go command.
	goenv := filepath.Join(dir, "goenv")
	os.WriteFile(goenv, []byte("# comment\nGOTOOLCHAIN=go1.99.0\n"), 0o644)
	if got, found := value(env("GOENV", goenv), nil); found {
		t.Errorf("go env -w: den set GOTOOLCHAIN=%q", got)
	}
	cfg := filepath.Join(dir, "config")
	os.MkdirAll(filepath.Join(cfg, "go"), 0o755)
	os.WriteFile(filepath.Join(cfg, "go", "env"), []byte("GOTOOLCHAIN=auto\n"), 0o644)
	if got, found := value(env("XDG_CONFIG_HOME", cfg), nil); found {
		t.Errorf("go env -w in XDG_CONFIG_HOME: den set GOTOOLCHAIN=%q", got)
	}
	if got, _ := value(env("XDG_CONFIG_HOME", cfg, "GOENV", "off"), nil); got != "local" {
		t.Errorf("GOENV=off: GOTOOLCHAIN=%q, want local", got)
	}
	// An env file that sets other settings only leaves den's default.
	os.WriteFile(goenv, []byte("GOPROXY=off\n"), 0o644)
	if got, _ := value(env("GOENV", goenv), nil); got != "local" {
		t.Errorf("other settings: GOTOOLCHAIN=%q, want local", got)
	}
}
