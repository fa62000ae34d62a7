package npm

import (
	"errors"
	"strings"
	"testing"

	"github.com/den-sh/den/core/hash"
)

const (
	testReg    = "http://127.0.0.1:4873/npm/"
	sha512Zero = "sha512-" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
	sha1Zero   = "sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA="
)

func lockConfig(t *testing.T) *Config {
	return load(t, env{"npm_config_registry": testReg, "npm_config_@corp:registry": "http://127.0.0.1:4874/"}, "")
}

func TestLockedTarballs(t *testing.T) {
	lock := `{
  "name": "app", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {
    "": {"name": "app", "version": "1.0.0", "dependencies": {"a": "^1.0.0"}},
    "node_modules/a/node_modules/b": {"version": "2.0.0", "resolved": "http://127.0.0.1:9/other/b/-/b-2.0.0.tgz", "integrity": "` + sha1Zero + `"},
    "node_modules/a": {"version": "1.0.0", "resolved": "` + testReg + `a/-/a-1.0.0.tgz", "integrity": "` + sha1Zero + ` ` + sha512Zero + `", "bin": {"a-cli": "./bin/../cli.js"}, "hasInstallScript": true},
    "node_modules/a/node_modules/inside": {"version": "1.0.0", "inBundle": true},
    "node_modules/@corp/c": {"version": "3.0.0", "integrity": "` + sha512Zero + `", "bin": "c.js"},
    "node_modules/alias": {"name": "real", "version": "4.0.0", "resolved": "http://127.0.0.1:9/real/-/real-4.0.0.tgz", "integrity": "` + sha512Zero + `", "dev": true, "optional": true, "os": ["darwin"]}
  }
}`
	got, err := LockedTarballs("package-lock.json", []byte(lock), lockConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ path, name, url string }{
		{"node_modules/@corp/c", "@corp/c", "http://127.0.0.1:4874/@corp/c/-/c-3.0.0.tgz"},
		{"node_modules/a", "a", testReg + "a/-/a-1.0.0.tgz"},
		{"node_modules/a/node_modules/b", "b", testReg + "b/-/b-2.0.0.tgz"}, // mapped to the configured registry
		{"node_modules/alias", "real", testReg + "real/-/real-4.0.0.tgz"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d tarballs, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Path != w.path || got[i].Name != w.name || got[i].URL != w.url {
			t.Errorf("tarball %d = %s %s %s, want %s %s %s", i, got[i].Path, got[i].Name, got[i].URL, w.path, w.name, w.url)
		}
	}
	if a := got[1]; a.Integrity.Algo != hash.SHA512 || !a.InstallScript || a.Bin["a-cli"] != "cli.js" {
		t.Errorf("a = %+v; want its sha512 integrity, its install script noted and bin a-cli=cli.js", a)
	}
	if b := got[2]; b.Integrity.Algo != hash.SHA1 {
		t.Errorf("b's integrity is %s; want the sha1 it has alone", b.Integrity.Algo)
	}
	if c := got[0]; c.Bin["c"] != "c.js" {
		t.Errorf("@corp/c bins = %v; want c=c.js (a string bin is named after the unscoped package)", c.Bin)
	}
}

func TestLockedTarballsRefused(t *testing.T) {
	entry := func(key, body string) string {
		return `{"lockfileVersion": 2, "packages": {"": {}, "` + key + `": ` + body + `}}`
	}
	for _, tc := range []struct{ name, lock, want string }{
		{"v1", `{"lockfileVersion": 1, "dependencies": {}}`, "lockfileVersion 1 (npm 6)"},
		{"v4", `{"lockfileVersion": 4, "packages": {}}`, "lockfileVersion 4"},
		{"no version", `{"packages": {}}`, "no lockfileVersion"},
		{"not json", `{`, "not valid JSON"},
		{"link", entry("node_modules/w", `{"resolved": "packages/w", "link": true}`), "is a link"},
		{"workspace", entry("packages/w", `{"version": "1.0.0"}`), "not an install path under node_modules"},
		{"escape", entry("node_modules/../../etc", `{"version": "1.0.0", "integrity": "`+sha512Zero+`"}`), `"../../etc" is not a package name`},
		{"scope escape", entry("node_modules/@s/../x", `{"version": "1.0.0", "integrity": "`+sha512Zero+`"}`), "is not a package name"},
		{"git", entry("node_modules/g", `{"version": "1.0.0", "resolved": "git+ssh://git@127.0.0.1/g.git#abc"}`), "git dependency"},
		{"file", entry("node_modules/f", `{"version": "1.0.0", "resolved": "file:../f.tgz", "integrity": "`+sha512Zero+`"}`), "file: dependency"},
		{"no integrity", entry("node_modules/n", `{"version": "1.0.0", "resolved": "`+testReg+`n/-/n-1.0.0.tgz"}`), "has no integrity"},
		{"md5 only", entry("node_modules/n", `{"version": "1.0.0", "integrity": "md5-AAAAAAAAAAAAAAAAAAAAAA=="}`), "none of it sha512, sha256 or sha1"},
		{"bad name", entry("node_modules/x", `{"name": "../y", "version": "1.0.0", "integrity": "`+sha512Zero+`"}`), "invalid package name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LockedTarballs("package-lock.json", []byte(tc.lock), lockConfig(t))
			var le *LockfileError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want a *LockfileError containing %q", err, tc.want)
			}
		})
	}
}

func TestLockedTarballsForeignHost(t *testing.T) {
	lock := `{"lockfileVersion": 3, "packages": {"node_modules/x": {"version": "1.0.0",
		"resolved": "http://user:secret@127.0.0.2:8080/download/x.tgz", "integrity": "` + sha512Zero + `"}}}`
	_, err := LockedTarballs("package-lock.json", []byte(lock), lockConfig(t))
	var fe *ForeignTarballError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v; want a *ForeignTarballError", err)
	}
	if fe.Entry != "node_modules/x" || !strings.Contains(err.Error(), testReg) || strings.Contains(err.Error(), "secret") {
		t.Errorf("err = %v; want the entry and the configured registry named, and no password", err)
	}
}

func TestLockedTarballsNoRegistry(t *testing.T) {
	lock := `{"lockfileVersion": 3, "packages": {"node_modules/x": {"version": "1.0.0", "integrity": "` + sha512Zero + `"}}}`
	_, err := LockedTarballs("package-lock.json", []byte(lock), load(t, env{}, ""))
	var nc *NotConfiguredError
	if !errors.As(err, &nc) {
		t.Fatalf("err = %v; want a *NotConfiguredError", err)
	}
}
