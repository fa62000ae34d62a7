package activate

import (
	"os"
	"path/filepath"
	"slices"
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
