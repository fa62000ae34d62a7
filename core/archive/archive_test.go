package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// entry describes one archive member for the builders below.
type entry struct {
	name   string
	typ    byte // tar type flag; 0 means a regular file
	mode   int64
	body   string
	link   string
	format tar.Format
}

func file(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, mode: 0o644, body: body}
}
func exe(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, mode: 0o755, body: body}
}
func dirent(name string) entry         { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlinkent(name, to string) entry { return entry{name: name, typ: tar.TypeSymlink, link: to} }
func hardlinkent(name, to string) entry {
	return entry{name: name, typ: tar.TypeLink, link: to}
}

func tarBytes(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Format: e.format}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.typ == tar.TypeChar {
			h.Devmajor, h.Devminor = 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.body != "" {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xzBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	xw, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(b)
	if err := xw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zipBytes(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		switch e.typ {
		case tar.TypeDir:
			h.SetMode(fs.ModeDir | 0o755)
		case tar.TypeSymlink:
			h.SetMode(fs.ModeSymlink | 0o777)
			e.body = e.link
		case tar.TypeChar:
			h.SetMode(fs.ModeDevice | fs.ModeCharDevice | 0o644)
		default:
			h.SetMode(fs.FileMode(e.mode))
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, e.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeArchive(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// goodTree is a normal source tarball: "./"-prefixed names, an executable, a symlink inside,
// a hard link, and a name long enough to need a PAX header.
func goodTree() []entry {
	long := "pkg-1.0/" + strings.Repeat("very-long-directory-name/", 8) + "deep.txt"
	return []entry{
		dirent("./"),
		dirent("./pkg-1.0/"),
		exe("./pkg-1.0/configure", "#!/bin/sh\n"),
		file("./pkg-1.0/src/main.c", "int main(){}\n"),
		symlinkent("./pkg-1.0/src/link.c", "main.c"),
		symlinkent("./pkg-1.0/up", "src/../configure"),
		hardlinkent("./pkg-1.0/hard.c", "./pkg-1.0/src/main.c"),
		{name: long, typ: tar.TypeReg, mode: 0o600, body: "deep\n", format: tar.FormatPAX},
		dirent("pkg-1.0/src/"), // a directory declared after its contents is fine
	}
}

func checkGoodTree(t *testing.T, dest string) {
	t.Helper()
	readFile := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(dest, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := readFile("pkg-1.0/src/main.c"); got != "int main(){}\n" {
		t.Errorf("main.c = %q", got)
	}
	if got := readFile("pkg-1.0/hard.c"); got != "int main(){}\n" {
		t.Errorf("hard.c = %q", got)
	}
	if got := readFile("pkg-1.0/" + strings.Repeat("very-long-directory-name/", 8) + "deep.txt"); got != "deep\n" {
		t.Errorf("long name = %q", got)
	}
	modes := map[string]fs.FileMode{
		"pkg-1.0":            fs.ModeDir | 0o755,
		"pkg-1.0/configure":  0o755,
		"pkg-1.0/src/main.c": 0o644,
		"pkg-1.0/" + strings.Repeat("very-long-directory-name/", 8) + "deep.txt": 0o644,
	}
	for rel, want := range modes {
		st, err := os.Lstat(filepath.Join(dest, rel))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", rel, st.Mode(), want)
		}
	}
	if target, err := os.Readlink(filepath.Join(dest, "pkg-1.0/src/link.c")); err != nil || target != "main.c" {
		t.Errorf("link.c -> %q, %v", target, err)
	}
}

func TestUnpackGood(t *testing.T) {
	raw := tarBytes(t, goodTree()...)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"plain.tar", raw},
		{"gzip.tar.gz", gzipBytes(t, raw)},
		{"zstd.tar.zst", zstdBytes(t, raw)},
		{"xz.tar.xz", xzBytes(t, raw)},
		// The name says nothing: format comes from magic bytes.
		{"misleading.zip", gzipBytes(t, raw)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arc := writeArchive(t, tc.name, tc.data)
			dest := filepath.Join(t.TempDir(), "out")
			if err := Check(arc, Limits{}); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := Unpack(arc, dest, Limits{}); err != nil {
				t.Fatal(err)
			}
			checkGoodTree(t, dest)
		})
	}
}

func TestUnpackZip(t *testing.T) {
	arc := writeArchive(t, "pkg.zip", zipBytes(t,
		dirent("pkg-1.0/"),
		exe("pkg-1.0/configure", "#!/bin/sh\n"),
		file("pkg-1.0/src/main.c", "int main(){}\n"),
		symlinkent("pkg-1.0/src/link.c", "main.c"),
	))
	if err := Check(arc, Limits{}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	if err := Unpack(arc, dest, Limits{}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dest, "pkg-1.0/configure")); err != nil || st.Mode() != 0o755 {
		t.Errorf("configure: %v, %v", st, err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "pkg-1.0/src/link.c")); err != nil || string(b) != "int main(){}\n" {
		t.Errorf("link.c: %q, %v", b, err)
	}
}

func TestUnpackBzip2(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "out")
	if err := Unpack("testdata/hello.tar.bz2", dest, Limits{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dest, "hello/run"))
	if err != nil || !strings.Contains(string(b), "echo hello") {
		t.Errorf("hello/run: %q, %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(dest, "hello/bin/hello")); err != nil || st.Mode() != 0o755 {
		t.Errorf("hello/bin/hello: %v, %v", st, err)
	}
}

func TestUnpackEmptyTar(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "out")
	if err := Unpack(writeArchive(t, "empty.tar", tarBytes(t)), dest, Limits{}); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(dest); err != nil || len(ents) != 0 {
		t.Errorf("dest: %v, %v", ents, err)
	}
}

func TestUnpackCaseFoldIsFine(t *testing.T) {
	arc := writeArchive(t, "case.tar", tarBytes(t, file("Makefile", "a"), file("makefile", "b")))
	if err := Unpack(arc, filepath.Join(t.TempDir(), "out"), Limits{}); err != nil {
		t.Fatal(err)
	}
}

func TestUnpackUnsafe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		lim     Limits
		entry   string // the entry the error must name
		reason  string // a fragment of the reason
	}{
		{"dotdot", []entry{file("../x", "x")}, Limits{}, "../x", "escapes the output directory"},
		{"absolute", []entry{file("/etc/x", "x")}, Limits{}, "/etc/x", "absolute"},
		{"inner dotdot", []entry{dirent("a/"), file("a/../../x", "x")}, Limits{}, "a/../../x", "escapes"},
		{"unclean", []entry{file("a//b", "x")}, Limits{}, "a//b", "not clean"},
		{"dot slash slash", []entry{file(".//etc/x", "x")}, Limits{}, ".//etc/x", "not clean"},
		{"symlink absolute", []entry{symlinkent("etc", "/etc")}, Limits{}, "etc", "absolute"},
		{"symlink up", []entry{dirent("a/"), symlinkent("a/l", "../../x")}, Limits{}, "a/l", "escapes"},
		{"write through symlink", []entry{symlinkent("l", "/tmp"), file("l/x", "x")}, Limits{}, "l", "absolute"},
		{"write through inner symlink", []entry{dirent("d/"), symlinkent("l", "d"), file("l/x", "x")}, Limits{}, "l/x", "writes through symlink"},
		{"symlink chain", []entry{dirent("a/"), symlinkent("a/b", "."), symlinkent("c", "a/b/../.."), dirent("z/")}, Limits{}, "c", "escapes"},
		{"symlink chain declared later", []entry{dirent("a/"), symlinkent("./c", "a/b/../.."), symlinkent("a/b", ".")}, Limits{}, "./c", "through other symlinks"},
		{"hardlink escape", []entry{hardlinkent("h", "../../etc/passwd")}, Limits{}, "h", "escapes"},
		{"hardlink absolute", []entry{hardlinkent("h", "/etc/passwd")}, Limits{}, "h", "escapes"},
		{"hardlink to symlink", []entry{symlinkent("s", "x"), hardlinkent("h", "s")}, Limits{}, "h", "not a regular file"},
		{"char device", []entry{{name: "null", typ: tar.TypeChar, mode: 0o666}}, Limits{}, "null", "character device"},
		{"fifo", []entry{{name: "p", typ: tar.TypeFifo, mode: 0o666}}, Limits{}, "p", "fifo"},
		{"duplicate file", []entry{file("a", "1"), file("a", "2")}, Limits{}, "a", "duplicate"},
		{"duplicate file with dot", []entry{file("a", "1"), file("./a", "2")}, Limits{}, "./a", "duplicate"},
		{"dir over file", []entry{file("a", "1"), dirent("a/")}, Limits{}, "a/", "duplicate"},
		{"file under file", []entry{file("a", "1"), file("a/b", "2")}, Limits{}, "a/b", "not a directory"},
		{"oversize file", []entry{file("big", strings.Repeat("x", 100))}, Limits{FileSize: 10}, "big", "limit of 10 bytes per file"},
		{"oversize total", []entry{file("a", "123456"), file("b", "123456")}, Limits{TotalSize: 10}, "b", "limit of 10 bytes in total"},
		{"too many entries", []entry{file("a", ""), file("b", ""), file("c", "")}, Limits{Entries: 2}, "c", "more than 2 entries"},
		// Directories, those only implied by a deeper name too, are entries and take space.
		{"too many dirs", []entry{dirent("a/"), dirent("b/"), dirent("c/")}, Limits{Entries: 2}, "c/", "more than 2 entries"},
		{"too many implied dirs", []entry{file("a/b/c/f", "")}, Limits{Entries: 3}, "a/b/c/f", "more than 3 entries"},
		{"dirs over total", []entry{dirent("a/"), dirent("b/"), dirent("c/")}, Limits{TotalSize: 2 * DirSize}, "c/", "limit of 8192 bytes in total"},
		{"implied dirs over total", []entry{file("a/b/c/f", "")}, Limits{TotalSize: 2 * DirSize}, "a/b/c/f", "limit of 8192 bytes in total"},
		{"symlinks over total", []entry{symlinkent("l", strings.Repeat("x", 20))}, Limits{TotalSize: 10}, "l", "limit of 10 bytes in total"},
		{"long name", []entry{file(strings.Repeat("n/", 2100)+"f", "")}, Limits{}, strings.Repeat("n/", 32) + "…", "longer than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tarBytes(t, tc.entries...)
			arc := writeArchive(t, "evil.tar.gz", gzipBytes(t, raw))
			dest := filepath.Join(t.TempDir(), "out")
			err := Unpack(arc, dest, tc.lim)
			var ue *UnsafeEntryError
			if !errors.As(err, &ue) {
				t.Fatalf("Unpack = %v, want *UnsafeEntryError", err)
			}
			if ue.Entry != tc.entry || !strings.Contains(ue.Reason, tc.reason) || ue.Archive != arc {
				t.Errorf("error %q: want entry %q and reason containing %q", err, tc.entry, tc.reason)
			}
			if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("dest left behind: %v", err)
			}
			// Check refuses it the same way, writing nothing.
			var ce *UnsafeEntryError
			if err := Check(arc, tc.lim); !errors.As(err, &ce) || *ce != *ue {
				t.Errorf("Check = %v, want %v", err, ue)
			}
		})
	}
}

// TestCheckMillionDirs: a small archive whose few hundred names each imply two thousand parent
// directories holds a million directories. It counted as a few hundred entries.
func TestCheckMillionDirs(t *testing.T) {
	deep := strings.Repeat("a/", (maxNameLen-16)/2)
	var entries []entry
	for i := range DefaultEntries/(len(deep)/2) + 2 {
		entries = append(entries, file(fmt.Sprintf("d%04d/%sf", i, deep), ""))
	}
	arc := writeArchive(t, "dirs.tar.gz", gzipBytes(t, tarBytes(t, entries...)))
	var ue *UnsafeEntryError
	if err := Check(arc, Limits{}); !errors.As(err, &ue) || !strings.Contains(ue.Reason, "more than 1000000 entries") {
		t.Fatalf("Check = %v, want more than 1000000 entries", err)
	}
}

func TestUnpackUnsafeZip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		entry   string
		reason  string
	}{
		{"dotdot", []entry{file("../x", "x")}, "../x", "escapes"},
		{"absolute", []entry{file("/etc/x", "x")}, "/etc/x", "absolute"},
		{"symlink absolute", []entry{symlinkent("etc", "/etc")}, "etc", "absolute"},
		{"write through symlink", []entry{dirent("d/"), symlinkent("l", "d"), file("l/x", "x")}, "l/x", "writes through symlink"},
		{"char device", []entry{{name: "null", typ: tar.TypeChar}}, "null", "character device"},
		{"duplicate", []entry{file("a", "1"), file("a", "2")}, "a", "duplicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arc := writeArchive(t, "evil.zip", zipBytes(t, tc.entries...))
			dest := filepath.Join(t.TempDir(), "out")
			err := Unpack(arc, dest, Limits{})
			var ue *UnsafeEntryError
			if !errors.As(err, &ue) {
				t.Fatalf("Unpack = %v, want *UnsafeEntryError", err)
			}
			if ue.Entry != tc.entry || !strings.Contains(ue.Reason, tc.reason) {
				t.Errorf("error %q: want entry %q and reason containing %q", err, tc.entry, tc.reason)
			}
			if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("dest left behind: %v", err)
			}
			var ce *UnsafeEntryError
			if err := Check(arc, Limits{}); !errors.As(err, &ce) || *ce != *ue {
				t.Errorf("Check = %v, want %v", err, ue)
			}
		})
	}
}

func TestUnsafeEntryErrorMessage(t *testing.T) {
	e := &UnsafeEntryError{Archive: "hello.tar.gz", Entry: "../etc/passwd", Reason: "escapes the output directory"}
	want := `archive hello.tar.gz: entry "../etc/passwd": escapes the output directory`
	if e.Error() != want {
		t.Errorf("got %q, want %q", e.Error(), want)
	}
}

func TestUnpackLyingZipSize(t *testing.T) {
	// A zip whose central directory understates a file's size must not write past the declared size.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateRaw(&zip.FileHeader{Name: "a", Method: zip.Store, CompressedSize64: 100, UncompressedSize64: 5, CRC32: 0})
	w.Write(bytes.Repeat([]byte("x"), 100))
	zw.Close()
	dest := filepath.Join(t.TempDir(), "out")
	arc := writeArchive(t, "lie.zip", buf.Bytes())
	if err := Check(arc, Limits{}); err == nil {
		t.Fatal("Check succeeded")
	}
	if err := Unpack(arc, dest, Limits{}); err == nil {
		t.Fatal("Unpack succeeded")
	}
	if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dest left behind: %v", err)
	}
}

func TestUnpackRefusesExistingDest(t *testing.T) {
	dest := t.TempDir()
	keep := filepath.Join(dest, "keep")
	os.WriteFile(keep, nil, 0o644)
	if err := Unpack(writeArchive(t, "a.tar", tarBytes(t, file("a", "1"))), dest, Limits{}); err == nil {
		t.Fatal("Unpack into an existing directory succeeded")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("existing dest was touched: %v", err)
	}
}

func TestUnpackUnknownFormat(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "out")
	err := Unpack(writeArchive(t, "x.tar.gz", []byte("just some text, not an archive\n")), dest, Limits{})
	if err == nil || !strings.Contains(err.Error(), "unknown archive format") {
		t.Fatalf("Unpack = %v", err)
	}
	if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dest left behind: %v", err)
	}
	// gzip of something that is not a tar archive.
	err = Unpack(writeArchive(t, "y.gz", gzipBytes(t, []byte("hello"))), dest, Limits{})
	if err == nil || !strings.Contains(err.Error(), "does not hold a tar archive") {
		t.Fatalf("Unpack = %v", err)
	}
}

func TestUnpackTruncated(t *testing.T) {
	raw := gzipBytes(t, tarBytes(t, file("a", strings.Repeat("x", 10000))))
	dest := filepath.Join(t.TempDir(), "out")
	if err := Unpack(writeArchive(t, "cut.tar.gz", raw[:len(raw)/2]), dest, Limits{}); err == nil {
		t.Fatal("Unpack of a truncated archive succeeded")
	}
	if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dest left behind: %v", err)
	}
}
