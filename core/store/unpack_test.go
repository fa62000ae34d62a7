package store

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/den-sh/den/core/nar"
)

func TestUnpackNAR(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	// Enough small files to keep every worker busy, some large ones written in stream order,
	// executables, empty files, symlinks and nesting.
	for i := range 300 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("d%d/sub/f%d", i%7, i)), fmt.Sprintf("file %d\n", i), 0o644)
	}
	big := make([]byte, unpackSmall*3+5)
	rand.Read(big)
	writeFile(t, filepath.Join(src, "big"), string(big), 0o644)
	writeFile(t, filepath.Join(src, "bin", "tool"), "#!/bin/sh\n", 0o755)
	writeFile(t, filepath.Join(src, "bin", "bigtool"), string(big[:unpackSmall+1]), 0o755)
	writeFile(t, filepath.Join(src, "empty"), "", 0o644)
	// Files written with O_DIRECT: several chunks ending in a partial block, and one of
	// exactly directMin bytes.
	huge := make([]byte, 2*directChunk+3*directAlign+5)
	rand.Read(huge)
	writeFile(t, filepath.Join(src, "lib", "huge"), string(huge), 0o755)
	writeFile(t, filepath.Join(src, "lib", "exact"), string(huge[:directMin]), 0o644)
	if err := os.Symlink("../big", filepath.Join(src, "bin", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := nar.Dump(&archive, src); err != nil {
		t.Fatal(err)
	}
	want, _, err := nar.Hash(src)
	if err != nil {
		t.Fatal(err)
	}

	dest := filepath.Join(t.TempDir(), "out")
	if err := UnpackNAR(bytes.NewReader(archive.Bytes()), dest); err != nil {
		t.Fatal(err)
	}
	if got, _, err := nar.Hash(dest); err != nil || !got.Equal(want) {
		t.Fatalf("unpacked tree hashes to %s (%v), want %s", got, err, want)
	}

	// A single file is an archive too.
	var one bytes.Buffer
	if err := nar.Dump(&one, filepath.Join(src, "bin", "tool")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := UnpackNAR(bytes.NewReader(one.Bytes()), file); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode()&0o100 == 0 {
		t.Errorf("single executable file unpacked as %v, %v", fi, err)
	}

	// An archive cut short, or damaged, leaves nothing behind.
	for name, data := range map[string][]byte{
		"truncated": archive.Bytes()[:archive.Len()*2/3],
		"damaged":   bytes.Replace(archive.Bytes(), []byte("regular"), []byte("regulax"), 1),
	} {
		dest := filepath.Join(t.TempDir(), "out")
		if err := UnpackNAR(bytes.NewReader(data), dest); err == nil {
			t.Errorf("%s archive unpacked without error", name)
		}
		assertMissing(t, dest)
	}

	// dest must not exist.
	if err := UnpackNAR(bytes.NewReader(archive.Bytes()), dest); err == nil {
		t.Errorf("unpacking over an existing tree succeeded")
	}
}

// A write O_DIRECT refuses (here: from a misaligned buffer) goes through the page cache instead,
// and the file still gets every byte once, in order.
func TestStreamFileFallsBackToBuffered(t *testing.T) {
	data := make([]byte, directMin+directChunk/2+3)
	rand.Read(data)
	for name, buf := range map[string][]byte{
		"aligned":    alignedBuffer(directChunk),
		"misaligned": alignedBuffer(directChunk + directAlign)[1 : directChunk+1],
	} {
		path := filepath.Join(t.TempDir(), name)
		if err := streamFile(path, 0o644, int64(len(data)), bytes.NewReader(data), buf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: the file holds %d bytes (%v), not the %d written", name, len(got), err, len(data))
		}
	}
}
