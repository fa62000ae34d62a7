package deb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRealArchive reads this machine's apt sources and the archives they name. It runs only
// with DEN_REAL_DEB=1 (make e2e); DEN_REAL_DEB_CACHE names a cache directory to keep between
// runs (to time a warm Index).
func TestRealArchive(t *testing.T) {
	if os.Getenv("DEN_REAL_DEB") != "1" {
		t.Skip("set DEN_REAL_DEB=1 to read the host's Debian archives")
	}
	srcs, err := Sources("/etc/apt", nil)
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
	a := &Archive{Sources: srcs, CacheDir: cache}
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
				for _, r := range cl {
					t.Logf("  %s %s %s src=%s deps=%v %s", r.Name, r.Version, r.Mirror, r.Source, r.Deps, filepath.Base(r.Filename))
				}
			}
		}
	}
}
