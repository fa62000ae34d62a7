package npm

import (
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// env is a test environment. It has no PATH, so `npm config get registry` is never asked unless
// a test puts a fake npm on one.
type env map[string]string

func (e env) get(k string) string { return e[k] }

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func load(t *testing.T, e env, project string) *Config {
	t.Helper()
	c, err := LoadConfig(e.get, project)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigPrecedence(t *testing.T) {
	home, project := t.TempDir(), t.TempDir()
	write(t, filepath.Join(home, ".npmrc"), "registry=http://127.0.0.1:1/user/\n@corp:registry=http://127.0.0.1:1/user-corp\n")
	write(t, filepath.Join(project, ".npmrc"), "registry = http://127.0.0.1:1/project\n")
	e := env{"HOME": home, "npm_config_registry": "http://127.0.0.1:1/env"}

	if got := load(t, e, project).RegistryFor("left-pad"); got != "http://127.0.0.1:1/env/" {
		t.Errorf("environment should win: %s", got)
	}
	delete(e, "npm_config_registry")
	e["NPM_CONFIG_REGISTRY"] = "http://127.0.0.1:1/ENV/"
	if got := load(t, e, project).RegistryFor("left-pad"); got != "http://127.0.0.1:1/ENV/" {
		t.Errorf("upper-case variable should count: %s", got)
	}
	delete(e, "NPM_CONFIG_REGISTRY")
	c := load(t, e, project)
	if got := c.RegistryFor("left-pad"); got != "http://127.0.0.1:1/project/" {
		t.Errorf("project .npmrc should beat the user's: %s", got)
	}
	// Keys are looked up layer by layer: the scope comes from the user file even though the
	// project file sets the default.
	if got := c.RegistryFor("@corp/tool"); got != "http://127.0.0.1:1/user-corp/" {
		t.Errorf("scoped registry: %s", got)
	}
	if got := c.RegistryFor("@other/tool"); got != "http://127.0.0.1:1/project/" {
		t.Errorf("unknown scope should use the default: %s", got)
	}
	if got := load(t, e, t.TempDir()).RegistryFor("x"); got != "http://127.0.0.1:1/user/" {
		t.Errorf("user .npmrc: %s", got)
	}
	e["npm_config_@corp:registry"] = "http://127.0.0.1:1/env-corp"
	if got := load(t, e, project).RegistryFor("@corp/tool"); got != "http://127.0.0.1:1/env-corp/" {
		t.Errorf("npm_config_<key> should work for any key: %s", got)
	}

	other := filepath.Join(t.TempDir(), "npmrc")
	write(t, other, "registry=http://127.0.0.1:1/userconfig/\n")
	if got := load(t, env{"HOME": home, "NPM_CONFIG_USERCONFIG": other}, "").RegistryFor("x"); got != "http://127.0.0.1:1/userconfig/" {
		t.Errorf("NPM_CONFIG_USERCONFIG: %s", got)
	}

	prefix := t.TempDir()
	write(t, filepath.Join(prefix, "etc", "npmrc"), "registry=http://127.0.0.1:1/global/\n")
	if got := load(t, env{"PREFIX": prefix}, "").RegistryFor("x"); got != "http://127.0.0.1:1/global/" {
		t.Errorf("global npmrc: %s", got)
	}
	if got := load(t, env{"HOME": home, "PREFIX": prefix}, "").RegistryFor("x"); got != "http://127.0.0.1:1/user/" {
		t.Errorf("user should beat global: %s", got)
	}
}

func TestConfigIniSyntax(t *testing.T) {
	home := t.TempDir()
	write(t, filepath.Join(home, ".npmrc"), strings.Join([]string{
		"; a comment",
		"# another",
		"   ",
		"registry=http://127.0.0.1:1/a/ ; trailing comment",
		`//127.0.0.1:1/a/:_authToken=${TOKEN}`,
		`//127.0.0.1:2/:_authToken="quoted;value"`,
		`//127.0.0.1:3/:_authToken=esc\;aped`,
		`//127.0.0.1:4/:_authToken=${UNSET?}tail`,
		`//127.0.0.1:5/:_authToken=\${TOKEN}`,
		`//127.0.0.1:6/:_authToken=${NOPE}`,
		"always-auth",
		"[section]",
		"registry=http://127.0.0.1:1/ignored/",
	}, "\r\n"))
	c := load(t, env{"HOME": home, "TOKEN": "t0k"}, "")
	if got := c.RegistryFor("x"); got != "http://127.0.0.1:1/a/" {
		t.Errorf("registry: %q", got)
	}
	for url, want := range map[string]string{
		"http://127.0.0.1:1/a/x":  "Bearer t0k",
		"http://127.0.0.1:2/x":    "Bearer quoted;value",
		"http://127.0.0.1:3/x":    "Bearer esc;aped",
		"http://127.0.0.1:4/x":    "Bearer tail",
		"http://127.0.0.1:5/x":    "Bearer ${TOKEN}",
		"http://127.0.0.1:6/x":    "Bearer ${NOPE}",
		"http://127.0.0.1:7/a/x":  "",
		"http://127.0.0.1:1/b/x":  "",
		"http://127.0.0.1:1/a":    "",
		"http://127.0.0.1:1/a/b/": "Bearer t0k",
	} {
		if got := c.AuthFor(url); got != want {
			t.Errorf("AuthFor(%s) = %q, want %q", url, got, want)
		}
	}
	if !c.alwaysAuth("http://127.0.0.1:1/a/") {
		t.Error("a bare key should mean true")
	}
	if _, _, unset := c.credentialSource("http://127.0.0.1:6/x"); len(unset) != 1 || unset[0] != "NOPE" {
		t.Errorf("unset variables: %v", unset)
	}
}

func TestConfigAuth(t *testing.T) {
	home := t.TempDir()
	pass := base64.StdEncoding.EncodeToString([]byte("hunter2"))
	write(t, filepath.Join(home, ".npmrc"), strings.Join([]string{
		"registry=https://127.0.0.1/npm/",
		"@corp:registry=http://127.0.0.1:8080/corp/",
		"//127.0.0.1:8080/corp/:_authToken=${CORP_TOKEN}",
		"//127.0.0.1/:_authToken=host-wide",
		"//127.0.0.1/npm/deep/:username=alice",
		"//127.0.0.1/npm/deep/:_password=" + pass,
		"//127.0.0.1/basic/:_auth=YWxpY2U6aHVudGVyMg==",
		"//127.0.0.1/basic/:_authToken=wins",
		"//127.0.0.1:9/:_auth=b25seQ==",
	}, "\n"))
	c := load(t, env{"HOME": home, "CORP_TOKEN": "corp-secret"}, "")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:hunter2"))
	for url, want := range map[string]string{
		// The scope's token goes to the scope's registry only.
		"http://127.0.0.1:8080/corp/@corp%2ftool":       "Bearer corp-secret",
		"http://127.0.0.1:8080/corp/@corp/tool/-/x.tgz": "Bearer corp-secret",
		"http://127.0.0.1:8080/other/":                  "",
		"http://127.0.0.1:8081/corp/@corp%2ftool":       "",
		// The longest //host/path/ with credentials wins; a default port is the same host.
		"https://127.0.0.1:443/npm/left-pad":  "Bearer host-wide",
		"https://127.0.0.1/npm/deep/left-pad": basic,
		"https://127.0.0.1/basic/x":           "Bearer wins",
		"http://127.0.0.1:9/x":                "Basic b25seQ==",
		"https://127.0.0.2/npm/left-pad":      "",
	} {
		if got := c.AuthFor(url); got != want {
			t.Errorf("AuthFor(%s) = %q, want %q", url, got, want)
		}
	}
}

func TestConfigInvalidRegistry(t *testing.T) {
	home := t.TempDir()
	write(t, filepath.Join(home, ".npmrc"), "\n\n@corp:registry=ftp://127.0.0.1/\n")
	_, err := LoadConfig(env{"HOME": home}.get, "")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(home, ".npmrc")+":3:") {
		t.Errorf("error should name file and line: %v", err)
	}
	if _, err := LoadConfig(env{"npm_config_registry": "not a url"}.get, ""); err == nil {
		t.Error("a bad npm_config_registry should be an error")
	}
}

func TestConfigNotConfigured(t *testing.T) {
	c := load(t, env{"HOME": t.TempDir()}, t.TempDir())
	if c.RegistryFor("typescript") != "" {
		t.Fatal("nothing is configured")
	}
	_, err := c.Registry("typescript")
	var nc *NotConfiguredError
	if !errors.As(err, &nc) {
		t.Fatalf("want *NotConfiguredError, got %v", err)
	}
	if !strings.Contains(err.Error(), "set registry=<URL> in ~/.npmrc or npm_config_registry") {
		t.Errorf("message should say what to set: %v", err)
	}
	if len(nc.Hints()) == 0 {
		t.Error("no hints")
	}
	_, err = c.Registry("@corp/tool")
	if !strings.Contains(err.Error(), "@corp:registry=<URL>") {
		t.Errorf("a scoped package should mention the scope's key: %v", err)
	}
	if c.TarballURL("typescript", "typescript/-/typescript-5.0.0.tgz") != "" {
		t.Error("TarballURL without a registry should be empty")
	}
}

func TestConfigAsksNPMLast(t *testing.T) {
	bin := t.TempDir()
	marker := filepath.Join(bin, "asked")
	write(t, filepath.Join(bin, "npm"), "#!/bin/sh\necho asked >> "+marker+"\n[ \"$*\" = 'config get registry' ] && echo http://127.0.0.1:4873\n")
	if err := os.Chmod(filepath.Join(bin, "npm"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := load(t, env{"PATH": bin}, t.TempDir())
	if _, err := os.Stat(marker); err == nil {
		t.Error("npm was asked before a registry was needed")
	}
	if got := c.RegistryFor("x"); got != "http://127.0.0.1:4873/" {
		t.Errorf("npm's answer: %q", got)
	}
	os.Remove(marker)
	c = load(t, env{"PATH": bin, "npm_config_registry": "http://127.0.0.1:1/"}, t.TempDir())
	if got := c.RegistryFor("x"); got != "http://127.0.0.1:1/" {
		t.Errorf("configuration should win over npm: %q", got)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("npm was asked although a registry was configured")
	}
}

func TestTarballURL(t *testing.T) {
	c := load(t, env{"npm_config_registry": "http://127.0.0.1:1/npm", "npm_config_@corp:registry": "http://127.0.0.1:2/"}, "")
	for _, tc := range []struct{ pkg, path, want string }{
		{"a", "a/-/a-1.0.0.tgz", "http://127.0.0.1:1/npm/a/-/a-1.0.0.tgz"},
		{"@corp/b", "@corp/b/-/b-1.0.0.tgz", "http://127.0.0.1:2/@corp/b/-/b-1.0.0.tgz"},
		{"a", "http://127.0.0.1:3/elsewhere.tgz", "http://127.0.0.1:3/elsewhere.tgz"},
	} {
		if got := c.TarballURL(tc.pkg, tc.path); got != tc.want {
			t.Errorf("TarballURL(%s, %s) = %s, want %s", tc.pkg, tc.path, got, tc.want)
		}
	}
}

func TestTarballRef(t *testing.T) {
	c, err := LoadConfig(func(k string) string {
		return map[string]string{"npm_config_registry": "http://127.0.0.1:1/npm/", "npm_config_@scope:registry": "http://127.0.0.1:2/"}[k]
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"node", "node/-/node-22.1.0.tgz", "http://127.0.0.1:1/npm/node/-/node-22.1.0.tgz"},
		{"@scope/pkg", "@scope/pkg/-/pkg-1.0.0.tgz", "http://127.0.0.1:2/@scope/pkg/-/pkg-1.0.0.tgz"},
		{"x", "http://127.0.0.1:3/x.tgz", "http://127.0.0.1:3/x.tgz"},
	} {
		ref := TarballRef(tc.name, tc.path)
		u, err := url.Parse(ref)
		if err != nil {
			t.Fatalf("TarballRef(%q, %q) = %q: %v", tc.name, tc.path, ref, err)
		}
		if u.Scheme != TarballScheme {
			if ref != tc.want {
				t.Errorf("TarballRef(%q, %q) = %q, want %q", tc.name, tc.path, ref, tc.want)
			}
			continue
		}
		got, err := c.ResolveTarball(u)
		if err != nil || len(got) != 1 || got[0] != tc.want {
			t.Errorf("ResolveTarball(%q) = %v, %v, want %q", ref, got, err, tc.want)
		}
	}
	none, err := LoadConfig(func(string) string { return "" }, "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(TarballRef("node", "node/-/node-22.1.0.tgz"))
	var nc *NotConfiguredError
	if _, err := none.ResolveTarball(u); !errors.As(err, &nc) {
		t.Errorf("ResolveTarball with no registry = %v, want a NotConfiguredError", err)
	}
}
