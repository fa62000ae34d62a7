package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestKeepsModTimeAndRejectsNonArchives(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	when := time.Date(2014, 11, 16, 12, 0, 0, 0, time.UTC)
	tw.WriteHeader(&tar.Header{Name: "configure", Mode: 0o755, Size: 3, ModTime: when, Typeflag: tar.TypeReg})
	tw.Write([]byte("#!\n"))
	tw.Close()
	tarPath := filepath.Join(dir, "a.tar")
	os.WriteFile(tarPath, buf.Bytes(), 0o644)
	if err := Unpack(tarPath, filepath.Join(dir, "out"), Limits{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "out", "configure"))
	if err != nil || !fi.ModTime().Equal(when) {
		t.Fatalf("mtime %v, want %v (%v)", fi.ModTime(), when, err)
	}
	plain := filepath.Join(dir, "plain.txt")
	os.WriteFile(plain, []byte("just text, not an archive\n"), 0o644)
	if err := Unpack(plain, filepath.Join(dir, "out2"), Limits{}); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("plain file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out2")); !os.IsNotExist(err) {
		t.Fatal("dest left behind")
	}
}
