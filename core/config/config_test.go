package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{"HOME": "/h", "DEN_ROOT": filepath.Join(t.TempDir(), "none")}))
	if err != nil {
		t.Fatal(err)
	}
	if c.StoreDir != "/h/.local/share/den/store" || c.StateDir != "/h/.local/state/den" || c.CacheDir != "/h/.cache/den" {
		t.Fatalf("got %+v", c)
	}
	if !c.PerUser || c.Shared || c.StoreState != c.StateDir {
		t.Fatalf("no shared store: got %+v", c)
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

// Once den setup has made ROOT/store, every user gets it, with ROOT/var as the store's state and
// their own state dir for the rest; DEN_STORE still wins.
func TestSharedRoot(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, home := range []string{"/home/alice", "/home/bob"} {
		c, err := Load(env(map[string]string{"HOME": home, "DEN_ROOT": root}))
		if err != nil {
			t.Fatal(err)
		}
		if c.StoreDir != root+"/store" || c.StoreState != root+"/var" || !c.Shared || c.PerUser {
			t.Fatalf("%s: got %+v", home, c)
		}
		if c.StateDir != home+"/.local/state/den" {
			t.Fatalf("%s: the user's own state is %s", home, c.StateDir)
		}
	}
	c, err := Load(env(map[string]string{"HOME": "/h", "DEN_ROOT": root, "DEN_STORE": "/s", "DEN_STATE": "/st"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.StoreDir != "/s" || c.StoreState != "/st" || c.Shared || c.PerUser {
		t.Fatalf("DEN_STORE: got %+v", c)
	}
	if _, err := Load(env(map[string]string{"HOME": "/h", "DEN_ROOT": "den"})); err == nil || !strings.Contains(err.Error(), "DEN_ROOT") {
		t.Fatalf("relative DEN_ROOT: %v", err)
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

func TestCaches(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "den"), 0o755)
	file := filepath.Join(dir, "den", "config.toml")
	good := "cache-1:" + strings.Repeat("A", 43) + "="
	os.WriteFile(file, []byte(`substituters = ["file:///srv/cache", "http://127.0.0.1:5733/c?priority=10"]
trusted-public-keys = ["`+good+`"]
`), 0o644)
	vars := map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": dir}
	c, err := Load(env(vars))
	if err != nil || len(c.User.Substituters) != 2 || len(c.User.TrustedPublicKeys) != 1 {
		t.Fatalf("%v %+v", err, c)
	}
	vars["DEN_SUBSTITUTERS"] = " file:///a  file:///b "
	if c, err := Load(env(vars)); err != nil || strings.Join(c.User.Substituters, ",") != "file:///a,file:///b" {
		t.Fatalf("override: %v %+v", err, c)
	}
	delete(vars, "DEN_SUBSTITUTERS")

	for _, tc := range []struct{ toml, want string }{
		{`substituters = ["gs://bucket"]`, `substituters[0]: "gs://bucket": den reads caches from file://, http(s):// and s3:// URLs, not gs://`},
		{`substituters = ["s3:///prefix"]`, `substituters[0]: "s3:///prefix" has no bucket`},
		{`substituters = ["file:///a", "file://rel/dir"]`, `substituters[1]: "file://rel/dir": a file URL has no host`},
		{`substituters = ["/srv/cache"]`, `is not a cache URL`},
		{`substituters = ["http://h/?priority=high"]`, `priority="high" is not an integer`},
		{`substituters = ["http://h/?trusted=1"]`, `unknown parameter "trusted"`},
		{"[caches]\npush = [\"ftp://h\"]\npush-key = \"/k.sec\"", `caches.push[0]: "ftp://h": den reads caches from`},
		{"[caches]\npush = [\"file:///c\"]", `caches.push names caches but no push-key signs for them`},
		{"[caches]\npushes = [\"file:///c\"]", `pushes`},
		{`trusted-public-keys = ["nocolon"]`, `trusted-public-keys[0]: "nocolon" is not a public key`},
		{`trusted-public-keys = ["k:!!"]`, `public key "k": the part after the colon is not base64`},
		{`trusted-public-keys = ["k:AAAA"]`, `public key "k" is 3 bytes long, an ed25519 public key is 32`},
		{`trusted-public-keys = ["k:` + strings.Repeat("A", 86) + `=="]`, `that is a secret key`},
	} {
		os.WriteFile(file, []byte(tc.toml+"\n"), 0o644)
		_, err := Load(env(vars))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: got %v, want %q naming %s", tc.toml, err, tc.want, file)
		}
	}
	os.WriteFile(file, []byte("[caches]\npush = [\"s3://b/p?endpoint=http://127.0.0.1:1&profile=ci\"]\npush-key = \"keys/team-1.sec\"\n"), 0o644)
	if c, err := Load(env(vars)); err != nil || len(c.User.Caches.Push) != 1 || c.User.Caches.PushKey != filepath.Join(dir, "den", "keys", "team-1.sec") {
		t.Errorf("[caches] push: %v %+v", err, c.User.Caches)
	}
	os.WriteFile(file, nil, 0o644)
	vars["DEN_TRUSTED_PUBLIC_KEYS"] = good + " bad"
	if _, err := Load(env(vars)); err == nil || !strings.Contains(err.Error(), `DEN_TRUSTED_PUBLIC_KEYS[1]: "bad"`) {
		t.Errorf("env key: %v", err)
	}
}

func TestTimeouts(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "den"), 0o755)
	e := env(map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": dir})
	load := func(s string) (*Config, error) {
		os.WriteFile(filepath.Join(dir, "den", "config.toml"), []byte(s), 0o644)
		return Load(e)
	}
	c, err := load("connect-timeout = \"5s\"\nresponse-timeout = \"1m30s\"\nstalled-download-timeout = \"300ms\"\n")
	if err != nil || c.Net != (NetTimeouts{Connect: 5 * time.Second, Response: 90 * time.Second, Stall: 300 * time.Millisecond}) {
		t.Fatalf("%v %+v", err, c)
	}
	if c, err := load(""); err != nil || c.Net != (NetTimeouts{}) {
		t.Fatalf("absent timeouts: %v %+v", err, c)
	}
	for text, want := range map[string]string{
		`connect-timeout = "x"`:          `config.toml: connect-timeout = "x": not a duration`,
		`response-timeout = 30`:          `config.toml: response-timeout = 30: write the unit too, as a string: "30s"`,
		`stalled-download-timeout = "0"`: `stalled-download-timeout = "0": a timeout must be longer than zero`,
		`connect-timeout = "-1s"`:        `a timeout must be longer than zero`,
		`connect-timeout = true`:         `connect-timeout = true: not a duration`,
		`connect-timout = "1s"`:          `connect-timout`,
	} {
		if _, err := load(text + "\n"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", text, err, want)
		}
	}
}

func TestBuildLimits(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "den"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := env(map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": dir})
	load := func(text string) (*Config, error) {
		if err := os.WriteFile(filepath.Join(dir, "den", "config.toml"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return Load(e)
	}
	c, err := load("")
	if err != nil || c.User.Timeout() != 0 || c.User.BuildMaxProcesses != 0 {
		t.Fatalf("defaults: %v %+v", err, c)
	}
	c, err = load("build-timeout = \"2h\"\nbuild-max-processes = 500\n")
	if err != nil || c.User.Timeout() != 2*time.Hour || c.User.BuildMaxProcesses != 500 {
		t.Fatalf("set: %v %+v", err, c)
	}
	if c, err = load("build-timeout = \"0\"\n"); err != nil || c.User.Timeout() != 0 {
		t.Fatalf("0: %v %+v", err, c)
	}
	for text, want := range map[string]string{
		"build-timeout = \"x\"\n":         `config.toml: build-timeout = "x": not a duration`,
		"build-timeout = \"-1h\"\n":       `config.toml: build-timeout = "-1h": a timeout cannot be negative`,
		"build-timeout = 7200\n":          "config.toml:1:",
		"build-max-processes = -1\n":      "config.toml: build-max-processes = -1: the limit must be positive",
		"build-max-processes = \"100\"\n": "config.toml:1:",
	} {
		_, err := load(text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", text, err, want)
		}
	}
}

func TestResolveTTL(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "den"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := env(map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": dir})
	load := func(text string) (*Config, error) {
		if err := os.WriteFile(filepath.Join(dir, "den", "config.toml"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return Load(e)
	}
	for text, want := range map[string]time.Duration{
		"":                        time.Hour,
		"resolve-ttl = \"10m\"\n": 10 * time.Minute,
		"resolve-ttl = \"0\"\n":   0,
	} {
		c, err := load(text)
		if err != nil {
			t.Errorf("%q: %v", text, err)
		} else if got := c.User.ResolutionTTL(); got != want {
			t.Errorf("%q: ttl %v, want %v", text, got, want)
		}
	}
	for text, want := range map[string]string{
		"resolve-ttl = \"soon\"\n": `config.toml: resolve-ttl = "soon": not a duration`,
		"resolve-ttl = \"-1h\"\n":  `config.toml: resolve-ttl = "-1h": not a duration`,
		"resolve-ttl = 3600\n":     "config.toml:1:",
	} {
		if _, err := load(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", text, err, want)
		}
	}
}
