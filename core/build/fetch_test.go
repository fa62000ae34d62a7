package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/den-sh/den/core/archive"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/sandbox"
	"github.com/den-sh/den/core/store"
)

// bigTarball is a gzipped tar of one file of size zero bytes: small to download, large unpacked.
func bigTarball(t *testing.T, name string, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, zeros{}, size); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// written is the bytes this process has passed to write calls so far (Linux's wchar).
func written(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		var n int64
		if _, err := fmt.Sscanf(line, "wchar: %d", &n); err == nil {
			return n
		}
	}
	t.Skip("/proc/self/io has no wchar")
	return 0
}

func fetchDerivation(t *testing.T, storeDir, url string, content []byte) *derivation.Derivation {
	t.Helper()
	d := &derivation.Derivation{Name: "src.tar.gz", System: "x86_64-linux", Host: "x86_64-linux", Builder: derivation.BuilderFetch,
		URLs: []string{url}, OutputHash: hash.Sum(hash.SHA256, content).SRI(), Unpack: true}
	if err := d.Seal(storeDir); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestFetchChecksArchiveWithoutUnpacking: a fetched archive was unpacked into a probe directory
// to check it, and then again by the build. The check now reads it through and writes nothing:
// fetching a 64 MiB tarball that gzips to a few KiB writes about the download, not 64 MiB.
func TestFetchChecksArchiveWithoutUnpacking(t *testing.T) {
	const size = 64 << 20
	tgz := bigTarball(t, "src/zeros", size)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(tgz) }))
	t.Cleanup(srv.Close)
	root := t.TempDir()
	st, err := store.Open(filepath.Join(root, "store"), filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(st.Dir) })
	d := fetchDerivation(t, st.Dir, srv.URL+"/src.tar.gz", tgz)
	b := &Builder{Store: st, Sandbox: sandbox.ModeOff, Client: srv.Client()}
	// The store's database exists before the measurement: creating it writes its own pages.
	if _, err := st.IsValid(d.Out); err != nil {
		t.Fatal(err)
	}

	before := written(t)
	if err := b.Realize(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	w := written(t) - before
	t.Logf("fetching a %d-byte archive of %d bytes wrote %d bytes", len(tgz), size, w)
	if w >= size/4 {
		t.Errorf("fetching wrote %d bytes: the archive was unpacked to check it", w)
	}
	if ok, err := st.IsValid(d.Out); !ok || err != nil {
		t.Fatalf("%s not valid: %v", d.Out, err)
	}
	if err := archive.Unpack(string(d.Out), filepath.Join(root, "unpacked"), archive.Limits{}); err != nil {
		t.Fatalf("the stored archive does not unpack: %v", err)
	}
}

// TestFetchRefusesUnsafeArchive: the check still keeps an archive that would unpack outside its
// directory out of the store.
func TestFetchRefusesUnsafeArchive(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	zw.Close()
	tgz := buf.Bytes()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(tgz) }))
	t.Cleanup(srv.Close)
	root := t.TempDir()
	st, err := store.Open(filepath.Join(root, "store"), filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(st.Dir) })
	d := fetchDerivation(t, st.Dir, srv.URL+"/evil.tar.gz", tgz)
	b := &Builder{Store: st, Sandbox: sandbox.ModeOff, Client: srv.Client()}
	var ue *archive.UnsafeEntryError
	if err := b.Realize(context.Background(), d); !errors.As(err, &ue) {
		t.Fatalf("Realize = %v, want an *archive.UnsafeEntryError", err)
	}
	if ok, _ := st.IsValid(d.Out); ok {
		t.Errorf("the unsafe archive entered the store")
	}
}
