package deb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/den-sh/den/core/deb/debtest"
)

func aptDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// render shows a source as "types uri suites / components / mirror / keyring / flags".
func render(s Source) string {
	r := strings.Join(s.Types, ",") + " " + s.URI + " " + strings.Join(s.Suites, ",") + " / " + strings.Join(s.Components, ",") + " / " + s.Mirror
	if s.Keyring != "" {
		r += " / " + s.Keyring
	}
	if len(s.Architectures) > 0 {
		r += " / arch=" + strings.Join(s.Architectures, ",")
	}
	if s.IgnoreValidUntil {
		r += " / no-valid-until"
	}
	return r
}

func TestSources(t *testing.T) {
	dir := aptDir(t, map[string]string{
		"sources.list": `# one-line form
deb http://127.0.0.1:1/debian bookworm main contrib
deb [ signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=amd64,arm64 ] http://127.0.0.2/mirror bookworm-security main
deb-src http://127.0.0.3/debian bookworm main   # sources too
deb [check-valid-until=no] http://127.0.0.4/debian-security bookworm-security main
deb http://127.0.0.5/other stable main
deb http://127.0.0.6/debian ./
deb cdrom:[Debian 12]/ bookworm main
`,
		"sources.list.d/debian.sources": `Types: deb deb-src
# a comment inside the stanza
URIs: http://127.0.0.7/debian
  http://127.0.0.8/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://127.0.0.9/debian
Suites: trixie
Components: main
Enabled: no

Types: deb
URIs: http://127.0.0.10/anything
Suites: bookworm
Components: main
Check-Valid-Until: no
Signed-By: /etc/apt/keyrings/debian-archive-keyring-copy.pgp
`,
		"sources.list.d/node.sources":          "Types: deb\nURIs: http://127.0.0.11/node_20.x\nSuites: nodistro\nComponents: main\nSigned-By: /usr/share/keyrings/nodesource.gpg\n",
		"sources.list.d/old.list.disabled":     "deb http://127.0.0.12/debian bookworm main\n",
		"sources.list.d/extra.list":            "deb http://127.0.0.1:1/debian bookworm main\n", // a duplicate
		"sources.list.d/google-cloud-sdk.list": "deb https://127.0.0.13/apt cloud-sdk-bookworm main\n",
	})
	// den's config replaces apt's sources.
	conf, err := Sources(dir, []string{"http://127.0.0.14/debian/ bookworm bookworm-updates", "[check-valid-until=no] http://127.0.0.15/snap/debian-security bookworm-security"})
	if err != nil {
		t.Fatal(err)
	}
	var gotConf []string
	for _, s := range conf {
		gotConf = append(gotConf, render(s))
	}
	wantConf := []string{
		"deb http://127.0.0.14/debian/ bookworm,bookworm-updates / main / debian",
		"deb http://127.0.0.15/snap/debian-security bookworm-security / main / debian-security / no-valid-until",
	}
	if !slices.Equal(gotConf, wantConf) {
		t.Fatalf("configured sources\n got:\n%s\nwant:\n%s", strings.Join(gotConf, "\n"), strings.Join(wantConf, "\n"))
	}
	srcs, err := Sources(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range srcs {
		got = append(got, render(s))
	}
	want := []string{
		"deb http://127.0.0.1:1/debian bookworm / main,contrib / debian",
		"deb http://127.0.0.2/mirror bookworm-security / main / debian-security / /usr/share/keyrings/debian-archive-keyring.gpg / arch=amd64,arm64",
		"deb-src http://127.0.0.3/debian bookworm / main / debian",
		"deb http://127.0.0.4/debian-security bookworm-security / main / debian-security / no-valid-until",
		"deb,deb-src http://127.0.0.7/debian bookworm,bookworm-updates / main / debian / /usr/share/keyrings/debian-archive-keyring.gpg",
		"deb,deb-src http://127.0.0.8/debian bookworm,bookworm-updates / main / debian / /usr/share/keyrings/debian-archive-keyring.gpg",
		"deb http://127.0.0.10/anything bookworm / main / debian / /etc/apt/keyrings/debian-archive-keyring-copy.pgp / no-valid-until",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sources\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if srcs[0].Origin != filepath.Join(dir, "sources.list")+":2" || srcs[4].Origin != filepath.Join(dir, "sources.list.d", "debian.sources")+":1" {
		t.Fatalf("origins %q %q", srcs[0].Origin, srcs[4].Origin)
	}
}

// Acquire::Check-Valid-Until "false" in apt's configuration applies to every source.
func TestSourcesAptConf(t *testing.T) {
	dir := aptDir(t, map[string]string{
		"sources.list":               "deb http://127.0.0.1/debian bookworm main\n",
		"apt.conf.d/99snapshot":      "// a snapshot\nAcquire::Check-Valid-Until \"false\";\n",
		"apt.conf.d/10other":         "APT::Install-Recommends \"0\";\n",
		"sources.list.d/sec.sources": "Types: deb\nURIs: http://127.0.0.2/debian-security\nSuites: bookworm-security\nComponents: main\n",
	})
	srcs, err := Sources(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 2 || !srcs[0].IgnoreValidUntil || !srcs[1].IgnoreValidUntil {
		t.Fatalf("%+v", srcs)
	}
}

func TestSourcesErrors(t *testing.T) {
	_, err := Sources(t.TempDir(), nil)
	var ns *NoSourceError
	if !errors.As(err, &ns) || !strings.Contains(strings.Join(ns.Hints(), "\n"), "ending in /debian") {
		t.Fatalf("got %v", err)
	}
	for text, want := range map[string]string{
		"deb http://127.0.0.1/debian\n":           "sources.list:1: an entry needs a URI and a suite",
		"\ndeb [arch=amd64 http://x/debian b m\n": "sources.list:2: the options' [ has no ]",
		"rpm http://127.0.0.1/debian b main\n":    `sources.list:1: unknown type "rpm"`,
	} {
		_, err := Sources(aptDir(t, map[string]string{"sources.list": text}), nil)
		var se *SourceError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want …%s", text, err, want)
		}
	}
	_, err = Sources(t.TempDir(), []string{"ftp://127.0.0.1/debian bookworm"})
	if err == nil || err.Error() != `den config (entry 1): URI "ftp://127.0.0.1/debian": den reads archives over http, https or file` {
		t.Fatalf("got %v", err)
	}
	_, err = Sources(aptDir(t, map[string]string{"sources.list.d/a.sources": "Types: deb\nURIs: http://127.0.0.1/debian\n\nTypes: deb\n  continued\n"}), nil)
	if err == nil || !strings.Contains(err.Error(), "a.sources:1: an entry needs Types, URIs and Suites") {
		t.Fatalf("got %v", err)
	}
}

// A deb822 source may carry its key inline in Signed-By, and name keys by fingerprint.
func TestInlineAndFingerprintKeyring(t *testing.T) {
	s := debtest.New(t, debtest.Archive{Packages: testPackages})
	armored := strings.TrimSpace(string(debtest.ArmoredPublicKey(t, s.Key)))
	var inline strings.Builder
	for i, line := range strings.Split(armored, "\n") {
		if i > 0 {
			inline.WriteString("\n ")
		}
		if line == "" {
			line = "."
		}
		inline.WriteString(line)
	}
	f := filepath.Join(s.AptDir, "sources.list.d", "debtest.sources")
	data, _ := os.ReadFile(f)
	text := strings.Replace(string(data), "Signed-By: "+s.KeyringFile, "Signed-By: "+inline.String(), 1)
	os.WriteFile(f, []byte(text), 0o644)
	a := testArchive(t, s)
	if _, err := a.Index(context.Background(), "amd64"); err != nil {
		t.Fatal(err)
	}

	fp := strings.ToUpper(hexOf(s.Key.PrimaryKey.Fingerprint))
	os.WriteFile(f, []byte(strings.Replace(string(data), "Signed-By: "+s.KeyringFile, "Signed-By: "+fp, 1)), 0o644)
	a = testArchive(t, s)
	a.Keyrings = []string{s.KeyringFile}
	if _, err := a.Index(context.Background(), "amd64"); err != nil {
		t.Fatal(err)
	}
	other := debtest.NewKey(t, "other")
	os.WriteFile(f, []byte(strings.Replace(string(data), "Signed-By: "+s.KeyringFile, "Signed-By: "+hexOf(other.PrimaryKey.Fingerprint), 1)), 0o644)
	a = testArchive(t, s)
	a.Keyrings = []string{s.KeyringFile}
	var ke *KeyringError
	if _, err := a.Index(context.Background(), "amd64"); !errors.As(err, &ke) {
		t.Fatalf("a fingerprint that picks no key: %v", err)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
