package deb_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/den-sh/den/core/deb"
	"github.com/den-sh/den/core/mirror"
)

// TestRealArchive reads this machine's apt sources and the archives they name: both indexes,
// a closure, and one .deb fetched through mirror:// and checked against the index. It runs
// only with DEN_REAL_DEB=1 (make e2e); DEN_REAL_DEB_CACHE names a cache directory to keep
// between runs, to time a warm Index.
func TestRealArchive(t *testing.T) {
	if os.Getenv("DEN_REAL_DEB") != "1" {
		t.Skip("set DEN_REAL_DEB=1 to read the host's Debian archives")
	}
	srcs, err := deb.Sources("/etc/apt", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		t.Logf("source %s %v %v mirror=%s keyring=%q (%s)", s.URI, s.Suites, s.Components, s.Mirror, s.Keyring, s.Origin)
	}
	cache := os.Getenv("DEN_REAL_DEB_CACHE")
	if cache == "" {
		cache = t.TempDir()
	}
	a := &deb.Archive{Sources: srcs, CacheDir: cache}
	var amd64 *deb.Index
	for _, arch := range []string{"amd64", "arm64"} {
		for _, pass := range []string{"first", "warm"} {
			t0 := time.Now()
			ix, err := a.Index(context.Background(), arch)
			if err != nil {
				t.Fatal(err)
			}
			tIndex := time.Since(t0)
			t0 = time.Now()
			cl, err := ix.Closure([]string{"gcc-12", "make", "patchelf"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var size int64
			for _, r := range cl {
				size += r.Size
			}
			t.Logf("%s %s: index of %d packages in %s; closure of gcc-12 make patchelf: %d packages, %d MB, in %s",
				arch, pass, ix.Len(), tIndex.Round(time.Millisecond), len(cl), size>>20, time.Since(t0).Round(time.Millisecond))
			if arch == "amd64" && pass == "warm" {
				amd64 = ix
				for _, r := range cl {
					t.Logf("  %s %s (%s, %s) source %s deps %v", r.Name, r.Version, r.Mirror, r.Suite, r.Source, r.Deps)
				}
			}
		}
	}
	for _, name := range []string{"make", "zlib1g"} { // zlib1g: from the security archive here
		p := amd64.Get(name)
		u, _ := url.Parse(p.URL())
		locs, err := (&mirror.Resolver{AptDir: "/etc/apt"}).Resolve(u)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(locs[0])
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || n != p.Size || hex.EncodeToString(h.Sum(nil)) != p.SHA256 {
			t.Fatalf("%s: %s: %s, %d bytes, sha256 %x; the index says %d bytes, %s (%v)", p, locs[0], resp.Status, n, h.Sum(nil), p.Size, p.SHA256, err)
		}
		t.Logf("%s from %s: %d bytes, %s", p, p.URL(), n, p.SRI())
	}
}
