package deb

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/den-sh/den/core/deb/debtest"
)

var testPackages = []debtest.Deb{
	{Name: "libc6", Version: "2.36-9", Source: "glibc", Depends: "libgcc-s1", MultiArch: "same", Priority: "optional"},
	{Name: "libc6", Version: "2.36-9", Arch: "arm64", Source: "glibc", Depends: "libgcc-s1", MultiArch: "same"},
	{Name: "libgcc-s1", Version: "12.2.0-14", Source: "gcc-12 (12.2.0-14)", Depends: "libc6 (>= 2.35)"},
	{Name: "libgcc-s1", Version: "12.2.0-14", Arch: "arm64", Source: "gcc-12", Depends: "libc6 (>= 2.35)"},
	{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Source: "zlib", Depends: "libc6 (>= 2.14)", Files: map[string]debtest.File{
		"usr/lib/x86_64-linux-gnu/libz.so.1.2.13": {Data: "\x7fELF not really"},
		"usr/lib/x86_64-linux-gnu/libz.so.1":      {Link: "libz.so.1.2.13"},
	}},
	{Name: "zlib1g-dev", Version: "1:1.2.13.dfsg-1", Source: "zlib", Depends: "zlib1g (= 1:1.2.13.dfsg-1), libc6-dev | libc-dev"},
	{Name: "tzdata", Version: "2024a-0+deb12u1", Arch: "all"},
}

func testArchive(t *testing.T, s *debtest.Server) *Archive {
	t.Helper()
	srcs, err := Sources(s.AptDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Archive{Sources: srcs, CacheDir: filepath.Join(t.TempDir(), "cache"), Keyrings: []string{}}
}

func TestIndexVerified(t *testing.T) {
	s := debtest.New(t, debtest.Archive{Packages: testPackages})
	a := testArchive(t, s)
	ix, err := a.Index(context.Background(), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 5 {
		t.Fatalf("%d packages, want 5 (amd64 and all)", ix.Len())
	}
	z := ix.Get("zlib1g")
	pub := s.Deb("zlib1g")
	if z == nil || z.Version != "1:1.2.13.dfsg-1" || z.Source != "zlib" || z.SourceVersion != z.Version || z.SHA256 != pub.SHA256 ||
		z.Size != pub.Size || z.Filename != pub.Filename || z.Mirror != "debian" || z.Suite != "bookworm" || z.Arch != "amd64" {
		t.Fatalf("zlib1g: %+v\npublished %+v", z, pub)
	}
	if g := ix.Get("libgcc-s1"); g.Source != "gcc-12" || g.SourceVersion != "12.2.0-14" {
		t.Fatalf("libgcc-s1 source %q %q", g.Source, g.SourceVersion)
	}
	if ix.Get("tzdata") == nil || ix.Get("tzdata").Arch != "all" {
		t.Fatal("the arch-all package is missing")
	}
	if got, want := z.URL(), "mirror://debian/"+pub.Filename; got != want {
		t.Fatalf("URL %s, want %s", got, want)
	}
	if !strings.HasPrefix(z.SRI(), "sha256-") || len(z.SRI()) != len("sha256-")+44 {
		t.Fatalf("SRI %q", z.SRI())
	}
	arm, err := a.Index(context.Background(), "arm64")
	if err != nil {
		t.Fatal(err)
	}
	if arm.Len() != 3 || arm.Get("libc6").Arch != "arm64" || arm.Get("zlib1g") != nil {
		t.Fatalf("arm64 index: %d packages", arm.Len())
	}
}

// A warm index reads its Packages files from the cache: the only requests are InRelease.
func TestWarmIndexFetchesOnlyInRelease(t *testing.T) {
	s := debtest.New(t, debtest.Archive{Packages: testPackages, Suites: []string{"bookworm", "bookworm-updates"}})
	a := testArchive(t, s)
	if _, err := a.Index(context.Background(), "amd64"); err != nil {
		t.Fatal(err)
	}
	cold := strings.Join(s.Requests(), " ")
	if !strings.Contains(cold, "/binary-amd64/Packages.xz") {
		t.Fatalf("cold requests: %s", cold)
	}
	s.ResetRequests()
	ix, err := a.Index(context.Background(), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Requests() {
		if !strings.HasSuffix(r, "/InRelease") {
			t.Fatalf("warm index requested %s", r)
		}
	}
	if len(s.Requests()) != 2 || ix.Get("zlib1g") == nil {
		t.Fatalf("warm requests %v", s.Requests())
	}

	// A corrupt cached file is noticed, dropped and fetched again.
	files, _ := filepath.Glob(filepath.Join(a.CacheDir, "Packages", "amd64", "*"))
	if len(files) != 2 {
		t.Fatalf("cached %v", files)
	}
	for _, f := range files {
		os.WriteFile(f, []byte("Package: evil\nVersion: 1\nArchitecture: amd64\nFilename: pool/e.deb\nSize: 1\nSHA256: "+strings.Repeat("0", 64)+"\n"), 0o644)
	}
	s.ResetRequests()
	ix, err = a.Index(context.Background(), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if ix.Get("evil") != nil || ix.Get("zlib1g") == nil || !strings.Contains(strings.Join(s.Requests(), " "), "Packages.xz") {
		t.Fatalf("the corrupt cache was used; requests %v", s.Requests())
	}
}

// Offline, an InRelease fetched within the last day stands in; an older one does not.
func TestOfflineInRelease(t *testing.T) {
	s := debtest.New(t, debtest.Archive{Packages: testPackages})
	a := testArchive(t, s)
	now := time.Now()
	a.Now = func() time.Time { return now }
	if _, err := a.Index(context.Background(), "amd64"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	now = now.Add(23 * time.Hour)
	if ix, err := a.Index(context.Background(), "amd64"); err != nil || ix.Get("zlib1g") == nil {
		t.Fatalf("offline within a day: %v", err)
	}
	now = now.Add(2 * time.Hour)
	_, err := a.Index(context.Background(), "amd64")
	var ne *NetworkError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "too old") {
		t.Fatalf("offline after a day: %v", err)
	}
}

func cachedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestTamperedInReleaseRefused(t *testing.T) {
	s := debtest.New(t, debtest.Archive{Packages: testPackages})
	// A signed line changed: the text no longer matches its signature.
	s.Tamper("dists/bookworm/InRelease", "Label: Debian", "Label: Debiam")
	a := testArchive(t, s)
	_, err := a.Index(context.Background(), "amd64")
	var se *SignatureError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "dists/bookworm/InRelease: the signature does not verify") {
		t.Fatalf("got %v", err)
	}
	if f := cachedFiles(t, a.CacheDir); len(f) != 0 {
		t.Fatalf("a refused fetch left %v", f)
	}
	for _, r := range s.Requests() {
		if strings.Contains(r, "Packages") {
			t.Fatalf("fetched %s after a bad signature", r)
		}
	}
}

func TestUnsignedInReleaseRefused(t *testing.T) {
	s := debtest.New(t, debtest.Archive{Packages: testPackages})
	release, _ := os.ReadFile(s.Path("dists/bookworm/Release"))
	os.WriteFile(s.Path("dists/bookworm/InRelease"), release, 0o644)
	_, err := testArchive(t, s).Index(context.Background(), "amd64")
	var se *SignatureError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "not clear-signed") {
		t.Fatalf("got %v", err)
	}
}

func TestWrongKeyRefused(t *testing.T) {
	s := debtest.New(t, debtest.Archive{Packages: testPackages})
	other := debtest.NewKey(t, "someone else")
	os.WriteFile(s.KeyringFile, debtest.ArmoredPublicKey(t, other), 0o644)
	a := testArchive(t, s)
	_, err := a.Index(context.Background(), "amd64")
	var se *SignatureError
	if !errors.As(err, &se) {
		t.Fatalf("got %v", err)
	}
	// The error names the keyring that failed and the source that names it.
	if !strings.Contains(err.Error(), "does not verify with "+s.KeyringFile+":") || !strings.Contains(strings.Join(se.Hints(), "\n"), "its source ("+a.Sources[0].Origin+")") {
		t.Errorf("error %q, hints %q", err, se.Hints())
	}
	if f := cachedFiles(t, a.CacheDir); len(f) != 0 {
		t.Fatalf("a refused fetch left %v", f)
	}
}

// The keyring of a source without Signed-By is the default one; a binary keyring works.
func TestDefaultKeyring(t *testing.T) {
	s := debtest.New(t, debtest.Archive{Packages: testPackages})
	os.WriteFile(filepath.Join(s.AptDir, "trusted.gpg.d", "test.gpg"), debtest.BinaryPublicKey(t, s.Key), 0o644)
	srcs, err := Sources(s.AptDir, []string{s.URL + " bookworm"})
	if err != nil {
		t.Fatal(err)
	}
	if srcs[0].Keyring != "" || srcs[0].Origin != "den config (entry 1)" {
		t.Fatalf("source %+v", srcs[0])
	}
	a := &Archive{Sources: srcs[:1], CacheDir: t.TempDir(), Keyrings: DefaultKeyrings(s.AptDir)}
	if _, err := a.Index(context.Background(), "amd64"); err != nil {
		t.Fatal(err)
	}
	// Without the key in trusted.gpg.d, the same source is refused.
	os.Remove(filepath.Join(s.AptDir, "trusted.gpg.d", "test.gpg"))
	a = &Archive{Sources: srcs[:1], CacheDir: t.TempDir(), Keyrings: DefaultKeyrings(s.AptDir)}
	_, err = a.Index(context.Background(), "amd64")
	// Refused by the host's own Debian keys, or for want of any key where the host has none.
	var ke *KeyringError
	var se *SignatureError
	if !errors.As(err, &ke) && !errors.As(err, &se) {
		t.Fatalf("got %v", err)
	}
}

func TestTamperedPackagesRefused(t *testing.T) {
	for _, comp := range []string{"xz", "gz"} {
		t.Run(comp, func(t *testing.T) {
			s := debtest.New(t, debtest.Archive{Packages: testPackages, Compressions: []string{comp}})
			// Another valid index in place of the signed one: a hash mismatch, not a parse.
			evil := debtest.New(t, debtest.Archive{Packages: []debtest.Deb{{Name: "evil", Version: "1"}}, Compressions: []string{comp}})
			data, _ := os.ReadFile(evil.Path("dists/bookworm/main/binary-amd64/Packages." + comp))
			os.WriteFile(s.Path("dists/bookworm/main/binary-amd64/Packages."+comp), data, 0o644)
			a := testArchive(t, s)
			_, err := a.Index(context.Background(), "amd64")
			var he *HashMismatchError
			if !errors.As(err, &he) || !strings.Contains(err.Error(), "but InRelease says") {
				t.Fatalf("got %v", err)
			}
			for _, f := range cachedFiles(t, a.CacheDir) {
				if !strings.Contains(f, "InRelease") {
					t.Fatalf("a refused fetch left %s", f)
				}
			}
		})
	}
}

func TestByHashAndFallbacks(t *testing.T) {
	s := debtest.New(t, debtest.Archive{Packages: testPackages, AcquireByHash: true, Compressions: []string{"gz"}})
	ix, err := testArchive(t, s).Index(context.Background(), "amd64")
	if err != nil || ix.Get("zlib1g") == nil {
		t.Fatal(err)
	}
	if r := strings.Join(s.Requests(), " "); !strings.Contains(r, "/main/binary-amd64/by-hash/SHA256/") {
		t.Fatalf("requests %s", r)
	}
	s = debtest.New(t, debtest.Archive{Packages: testPackages, Compressions: []string{""}})
	if ix, err := testArchive(t, s).Index(context.Background(), "amd64"); err != nil || ix.Get("zlib1g") == nil {
		t.Fatal(err)
	}
}

func TestValidUntil(t *testing.T) {
	valid := debtest.Epoch.Add(7 * 24 * time.Hour)
	s := debtest.New(t, debtest.Archive{Packages: testPackages, ValidUntil: valid})
	a := testArchive(t, s)
	a.Now = func() time.Time { return valid.Add(-time.Hour) }
	if _, err := a.Index(context.Background(), "amd64"); err != nil {
		t.Fatal(err)
	}
	a.Now = func() time.Time { return valid.Add(time.Hour) }
	_, err := a.Index(context.Background(), "amd64")
	var ee *ExpiredError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "expired on Wed, 08 Jan 2025 00:00:00 UTC (Valid-Until), 1h0m0s ago") ||
		!strings.Contains(ee.Hints()[0], "debtest.sources:1") {
		t.Fatalf("got %v", err)
	}
	// check-valid-until=no in the apt source, as for a snapshot.
	f := filepath.Join(s.AptDir, "sources.list.d", "debtest.sources")
	data, _ := os.ReadFile(f)
	os.WriteFile(f, append(data, "Check-Valid-Until: no\n"...), 0o644)
	b := testArchive(t, s)
	b.Now = a.Now
	if _, err := b.Index(context.Background(), "amd64"); err != nil {
		t.Fatal(err)
	}
}

// A validly signed index of another suite, served under this suite's name, is refused.
func TestSuiteMismatch(t *testing.T) {
	s := debtest.New(t, debtest.Archive{Packages: testPackages, Suites: []string{"bookworm", "bookworm-security"}})
	data, _ := os.ReadFile(s.Path("dists/bookworm/InRelease"))
	os.WriteFile(s.Path("dists/bookworm-security/InRelease"), data, 0o644)
	_, err := testArchive(t, s).Index(context.Background(), "amd64")
	var se *SuiteError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), `is the index of suite "bookworm"`) {
		t.Fatalf("got %v", err)
	}
}

// The highest version of a name wins across suites: the security suite's update replaces the
// release's package.
func TestSuitesMerge(t *testing.T) {
	pkgs := append([]debtest.Deb{}, testPackages...)
	pkgs = append(pkgs,
		debtest.Deb{Name: "zlib1g", Version: "1:1.2.13.dfsg-1+deb12u1", Source: "zlib", Suite: "bookworm-security"},
		debtest.Deb{Name: "libc6", Version: "2.36-8", Source: "glibc", Suite: "bookworm-security"}, // older: loses
	)
	s := debtest.New(t, debtest.Archive{Packages: pkgs, Suites: []string{"bookworm", "bookworm-security"}})
	ix, err := testArchive(t, s).Index(context.Background(), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if z := ix.Get("zlib1g"); z.Version != "1:1.2.13.dfsg-1+deb12u1" || z.Suite != "bookworm-security" {
		t.Fatalf("zlib1g %s from %s", z.Version, z.Suite)
	}
	if c := ix.Get("libc6"); c.Version != "2.36-9" || c.Suite != "bookworm" {
		t.Fatalf("libc6 %s from %s", c.Version, c.Suite)
	}
}

func TestNoSources(t *testing.T) {
	_, err := (&Archive{}).Index(context.Background(), "amd64")
	var ns *NoSourceError
	if !errors.As(err, &ns) || len(ns.Hints()) == 0 {
		t.Fatalf("got %v", err)
	}
}

// When the archive publishes a new index, the replaced cached file goes; the other
// architecture's stay.
func TestCachePruned(t *testing.T) {
	s := debtest.New(t, debtest.Archive{Packages: testPackages})
	a := testArchive(t, s)
	for _, arch := range []string{"arm64", "amd64"} {
		if _, err := a.Index(context.Background(), arch); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := filepath.Glob(filepath.Join(a.CacheDir, "Packages", "amd64", "*"))
	s.Publish(debtest.Archive{Packages: append(testPackages[:len(testPackages):len(testPackages)], debtest.Deb{Name: "hello", Version: "2.10-3"})})
	ix, err := a.Index(context.Background(), "amd64")
	if err != nil || ix.Get("hello") == nil {
		t.Fatalf("after the update: %v", err)
	}
	after, _ := filepath.Glob(filepath.Join(a.CacheDir, "Packages", "amd64", "*"))
	arm, _ := filepath.Glob(filepath.Join(a.CacheDir, "Packages", "arm64", "*"))
	if len(before) != 1 || len(after) != 1 || before[0] == after[0] || len(arm) != 1 {
		t.Fatalf("before %v, after %v, arm64 %v", before, after, arm)
	}
}
