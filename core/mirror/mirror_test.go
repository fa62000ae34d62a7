package mirror

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestAptSources(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sources.list.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "sources.list"), []byte(`# old style
deb http://127.0.0.1:1/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://127.0.0.2/mirror bookworm main
deb http://127.0.0.3/debian-security bookworm-security main
deb http://127.0.0.4/other stable main
`), 0o644)
	os.WriteFile(filepath.Join(dir, "sources.list.d", "debian.sources"), []byte(`Types: deb
URIs: http://127.0.0.5/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://127.0.0.6/debian-security
Suites: bookworm-security
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://127.0.0.7/node
Suites: nodistro
`), 0o644)
	r := &Resolver{AptDir: dir, Configured: map[string][]string{"debian": {"http://127.0.0.9/debian/"}}}
	u, _ := url.Parse("mirror://debian/pool/main/h/hello/hello_2.10.orig.tar.gz")
	got, err := r.Resolve(u)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"http://127.0.0.9/debian/pool/main/h/hello/hello_2.10.orig.tar.gz",
		"http://127.0.0.1:1/debian/pool/main/h/hello/hello_2.10.orig.tar.gz",
		"http://127.0.0.2/mirror/pool/main/h/hello/hello_2.10.orig.tar.gz",
		"http://127.0.0.5/debian/pool/main/h/hello/hello_2.10.orig.tar.gz",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestNothingConfigured(t *testing.T) {
	r := &Resolver{AptDir: t.TempDir()}
	u, _ := url.Parse("mirror://debian/pool/x")
	_, err := r.Resolve(u)
	var nc *NotConfiguredError
	if !errors.As(err, &nc) || len(nc.Hints()) == 0 {
		t.Fatalf("got %v", err)
	}
}

func TestSecurityMirror(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sources.list.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "sources.list"), []byte("deb http://127.0.0.1/debian bookworm main\ndeb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://127.0.0.2/mirror bookworm-security main\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "sources.list.d", "debian.sources"), []byte("Types: deb\nURIs: http://127.0.0.3/debian-security\nSuites: bookworm-security\nComponents: main\n"), 0o644)
	r := &Resolver{AptDir: dir, Configured: map[string][]string{"debian-security": {"http://127.0.0.9/debian-security"}}}
	u, _ := url.Parse("mirror://debian-security/pool/updates/main/z/zlib/zlib1g_1.2.13.dfsg-1+deb12u1_amd64.deb")
	got, err := r.Resolve(u)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"http://127.0.0.9/debian-security/pool/updates/main/z/zlib/zlib1g_1.2.13.dfsg-1+deb12u1_amd64.deb",
		"http://127.0.0.2/mirror/pool/updates/main/z/zlib/zlib1g_1.2.13.dfsg-1+deb12u1_amd64.deb",
		"http://127.0.0.3/debian-security/pool/updates/main/z/zlib/zlib1g_1.2.13.dfsg-1+deb12u1_amd64.deb",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// Without a security archive anywhere, the error says what to configure.
	r = &Resolver{AptDir: t.TempDir(), ConfigFile: "/home/u/.config/den/config.toml"}
	_, err = r.Resolve(u)
	var nc *NotConfiguredError
	if !errors.As(err, &nc) || !strings.Contains(nc.Hints()[0], "[mirrors] debian-security = [\"<URL of Debian's security archive, ending in /debian-security>\"]") {
		t.Fatalf("got %v", err)
	}
}

// A malformed apt source is an error that names it, not an archive quietly left out.
func TestMalformedAptSource(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "sources.list"), []byte("deb http://127.0.0.1/debian\n"), 0o644)
	u, _ := url.Parse("mirror://debian/pool/x")
	_, err := (&Resolver{AptDir: dir}).Resolve(u)
	if err == nil || !strings.Contains(err.Error(), "sources.list:1:") {
		t.Fatalf("got %v", err)
	}
}
