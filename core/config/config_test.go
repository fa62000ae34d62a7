package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{"HOME": "/h"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.StoreDir != "/h/.local/share/den/store" || c.StateDir != "/h/.local/state/den" || c.CacheDir != "/h/.cache/den" {
		t.Fatalf("got %+v", c)
	}
	if c.User.Sandbox != SandboxAuto || c.File != "/h/.config/den/config.toml" {
		t.Fatalf("got %+v", c)
	}
}

func TestOverrides(t *testing.T) {
	c, err := Load(env(map[string]string{"HOME": "/h", "DEN_STORE": "/s", "XDG_STATE_HOME": "/x", "DEN_CACHE": "/c"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.StoreDir != "/s" || c.StateDir != "/x/den" || c.CacheDir != "/c" {
		t.Fatalf("got %+v", c)
	}
	if _, err := Load(env(map[string]string{"HOME": "/h", "DEN_STORE": "rel"})); err == nil {
		t.Fatal("relative DEN_STORE accepted")
	}
}

func TestUserFile(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) {
		os.MkdirAll(filepath.Join(dir, "den"), 0o755)
		os.WriteFile(filepath.Join(dir, "den", "config.toml"), []byte(s), 0o644)
	}
	e := env(map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": dir})
	write("sandbox = \"off\"\n")
	c, err := Load(e)
	if err != nil || c.User.Sandbox != SandboxOff {
		t.Fatalf("%v %+v", err, c)
	}
	write("sandbox = \"maybe\"\n")
	if _, err := Load(e); err == nil || !strings.Contains(err.Error(), "required") {
		t.Fatalf("bad mode: %v", err)
	}
	write("sandbx = \"off\"\n")
	if _, err := Load(e); err == nil || !strings.Contains(err.Error(), "sandbx") {
		t.Fatalf("unknown key: %v", err)
	}
}
