package nar

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/den-sh/den/core/hash"
)

// tree is a file tree whose NAR hash Nix 2.8 computed (nix-hash --type sha256 --base32), so that
// den is checked against Nix even where Nix is not installed.
type tree struct {
	name    string
	narHash string
	make    func(t testing.TB, root string)
}

func writeFile(t testing.TB, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // not subject to the umask
		t.Fatal(err)
	}
}

func symlink(t testing.TB, target, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t testing.TB, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

// noise is deterministic incompressible-looking data.
func noise(n int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

var trees = []tree{
	{"regular", "sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw", func(t testing.TB, root string) {
		writeFile(t, root, "hello\n", 0o644)
	}},
	{"executable", "sha256:183p8jhjfcpk6kac6hxwp4gzp9brkvkibylz27jfbvgd5kqcq2jy", func(t testing.TB, root string) {
		writeFile(t, root, "#!/bin/sh\necho hi\n", 0o755)
	}},
	{"owner-exec-only", "sha256:183p8jhjfcpk6kac6hxwp4gzp9brkvkibylz27jfbvgd5kqcq2jy", func(t testing.TB, root string) {
		writeFile(t, root, "#!/bin/sh\necho hi\n", 0o744)
	}},
	{"group-exec-not-executable", "sha256:1sc2k4jcwf9x64rgk6wy8h7xsvvn56dkrzgy5vqgfxwzvdg506g5", func(t testing.TB, root string) {
		writeFile(t, root, "#!/bin/sh\necho hi\n", 0o655)
	}},
	{"symlink", "sha256:04fbbypz4803hr0d3kbqyc2z0a6sbrq5iysjf7rlrdk7r7rv0i4g", func(t testing.TB, root string) {
		symlink(t, "../target/with spaces", root)
	}},
	{"empty-directory", "sha256:0sjjj9z1dhilhpc8pq4154czrb79z9cm044jvn75kxcjv6v5l2m5", func(t testing.TB, root string) {
		mkdir(t, root)
	}},
	{"empty-file", "sha256:0ip26j2h11n1kgkz36rl4akv694yz65hr72q4kv4b3lxcbi65b3p", func(t testing.TB, root string) {
		writeFile(t, root, "", 0o644)
	}},
	{"multiple-of-8", "sha256:0ffs7596yinm4yw5njhj78mwn9afhljdmhmg03k1l69xk3ziz0vs", func(t testing.TB, root string) {
		writeFile(t, root, "12345678abcdefgh", 0o644)
	}},
	{"nested", "sha256:1j167n8dxhkx1pgkanl15nq2aas56fdkw6v3m1djz0mxgbvgrz0z", func(t testing.TB, root string) {
		writeFile(t, root+"/a/b/c/deep.txt", "deep\n", 0o644)
		writeFile(t, root+"/a/x.sh", "#!/bin/sh\n", 0o755)
		symlink(t, "b/c/deep.txt", root+"/a/link")
		symlink(t, "/nonexistent/dangling", root+"/a/dangling")
		mkdir(t, root+"/z/empty")
		writeFile(t, root+"/B", "capital sorts first\n", 0o644)
		writeFile(t, root+"/a-b", "dash\n", 0o644)
		writeFile(t, root+"/a.b", "dot\n", 0o644)
		writeFile(t, root+"/aa", "aa\n", 0o600)
		writeFile(t, root+"/eightchr", "8 bytes!", 0o644)
	}},
	{"non-ascii", "sha256:0jfiidadb9g9g1jwd4k223s36m28hqjijafpil0md27rrqkrmcpp", func(t testing.TB, root string) {
		writeFile(t, root+"/héllo", "bonjour\n", 0o644)
		writeFile(t, root+"/日本/ファイル", "こんにちは\n", 0o644)
		symlink(t, "héllo", root+"/ünïcödé")
	}},
	{"large-files", "sha256:0bb8swl8m4fdbbbmnqhmjd9v5w0lpxd50vaa25ixhwf7yz166aqi", func(t testing.TB, root string) {
		writeFile(t, root+"/chunk", noise(chunkSize, 1), 0o644)
		writeFile(t, root+"/big", noise(3*chunkSize+13, 2), 0o755)
		writeFile(t, root+"/small", "small\n", 0o644)
	}},
	{"many-files", "sha256:05yv3zxxyhx74hwq1l9h16v2wi4cww30lhhw3566my994gjlqkcj", func(t testing.TB, root string) {
		for i := range 3*slotFiles + 5 {
			writeFile(t, fmt.Sprintf("%s/d%d/f%03d", root, i%3, i), strings.Repeat("x", i), 0o644)
		}
	}},
}

func makeTree(t testing.TB, tc tree) string {
	root := filepath.Join(t.TempDir(), "root")
	tc.make(t, root)
	return root
}

func dump(t testing.TB, path string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Dump(&b, path); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestNixHashes checks den against the hashes Nix computed for the same trees.
func TestNixHashes(t *testing.T) {
	for _, tc := range trees {
		t.Run(tc.name, func(t *testing.T) {
			root := makeTree(t, tc)
			nar := dump(t, root)
			h, n, err := Hash(root)
			if err != nil {
				t.Fatal(err)
			}
			if want := hash.Sum(hash.SHA256, nar); !h.Equal(want) || n != int64(len(nar)) {
				t.Errorf("Hash = %v, %d; the dump hashes to %v, %d", h, n, want, len(nar))
			}
			if h.String() != tc.narHash {
				t.Errorf("narHash = %s, Nix says %s", h, tc.narHash)
			}
		})
	}
}

// nixStore returns the path of nix-store, skipping the test without it unless CI requires Nix.
func nixStore(t *testing.T) string {
	p, err := exec.LookPath("nix-store")
	if err != nil {
		if os.Getenv("DEN_REQUIRE_NIX") == "1" {
			t.Fatal("nix-store is not on PATH, and DEN_REQUIRE_NIX=1 requires comparing with Nix")
		}
		t.Skip("nix-store is not on PATH")
	}
	return p
}

// TestAgainstNix compares den's archives and hashes with those of the Nix on PATH.
func TestAgainstNix(t *testing.T) {
	nixStore := nixStore(t)
	for _, tc := range trees {
		t.Run(tc.name, func(t *testing.T) {
			root := makeTree(t, tc)
			want, err := exec.Command(nixStore, "--dump", root).Output()
			if err != nil {
				t.Fatalf("nix-store --dump: %v", err)
			}
			if got := dump(t, root); !bytes.Equal(got, want) {
				t.Errorf("archive differs from nix-store --dump:\n got %q\nwant %q", clip(got), clip(want))
			}
			out, err := exec.Command(filepath.Join(filepath.Dir(nixStore), "nix-hash"), "--type", "sha256", "--base32", root).Output()
			if err != nil {
				t.Fatalf("nix-hash: %v", err)
			}
			nixHash := "sha256:" + strings.TrimSpace(string(out))
			h, n, err := Hash(root)
			if err != nil {
				t.Fatal(err)
			}
			if h.String() != nixHash || n != int64(len(want)) {
				t.Errorf("Hash = %s, %d; Nix says %s, %d", h, n, nixHash, len(want))
			}
			if nixHash != tc.narHash {
				t.Errorf("Nix says %s, but the test records %s", nixHash, tc.narHash)
			}
		})
	}
}

// TestToolchainAgainstNix hashes a whole Go toolchain, whose thousands of files of every size
// exercise the read-ahead pipeline far beyond the small trees.
func TestToolchainAgainstNix(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes a whole toolchain")
	}
	nixStore := nixStore(t)
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("no Go toolchain to hash: %v", err)
	}
	root := strings.TrimSpace(string(out))
	out, err = exec.Command(filepath.Join(filepath.Dir(nixStore), "nix-hash"), "--type", "sha256", "--base32", root).Output()
	if err != nil {
		t.Fatalf("nix-hash %s: %v", root, err)
	}
	nixHash := "sha256:" + strings.TrimSpace(string(out))
	h, _, err := Hash(root)
	if err != nil || h.String() != nixHash {
		t.Fatalf("Hash(%s) = %v, %v; Nix says %s", root, h, err, nixHash)
	}
}

func clip(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range trees {
		t.Run(tc.name, func(t *testing.T) {
			nar := dump(t, makeTree(t, tc))
			dest := filepath.Join(t.TempDir(), "out")
			if err := Restore(bytes.NewReader(nar), dest); err != nil {
				t.Fatal(err)
			}
			if again := dump(t, dest); !bytes.Equal(again, nar) {
				t.Errorf("Dump(Restore(nar)) differs:\n got %q\nwant %q", clip(again), clip(nar))
			}
		})
	}
}

func TestRestoreModes(t *testing.T) {
	root := makeTree(t, trees[slices.IndexFunc(trees, func(tc tree) bool { return tc.name == "nested" })])
	dest := filepath.Join(t.TempDir(), "out")
	if err := Restore(bytes.NewReader(dump(t, root)), dest); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		"a":        os.ModeDir | 0o755,
		"a/x.sh":   0o755,
		"aa":       0o644,
		"a/link":   os.ModeSymlink,
		"z/empty":  os.ModeDir | 0o755,
		"eightchr": 0o644,
	} {
		fi, err := os.Lstat(filepath.Join(dest, path))
		if err != nil {
			t.Fatal(err)
		}
		got := fi.Mode()
		if got.Type() == os.ModeSymlink {
			got = os.ModeSymlink
		}
		if got != want&^(fileUmask()&0o777) && got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(dest, "a/link")); err != nil || target != "b/c/deep.txt" {
		t.Errorf("a/link -> %q, %v", target, err)
	}
}

func fileUmask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}

func TestRestoreDestExists(t *testing.T) {
	dest := t.TempDir()
	writeFile(t, dest+"/keep", "mine", 0o644)
	nar := dump(t, makeTree(t, trees[0]))
	if err := Restore(bytes.NewReader(nar), dest); err == nil {
		t.Fatal("Restore into an existing directory succeeded")
	}
	if b, err := os.ReadFile(dest + "/keep"); err != nil || string(b) != "mine" {
		t.Fatalf("existing dest was disturbed: %q, %v", b, err)
	}
}

func TestRestoreRemovesPartialOutput(t *testing.T) {
	nar := dump(t, makeTree(t, trees[slices.IndexFunc(trees, func(tc tree) bool { return tc.name == "nested" })]))
	dest := filepath.Join(t.TempDir(), "out")
	err := Restore(bytes.NewReader(nar[:len(nar)-20]), dest)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Restore of a truncated archive: %v", err)
	}
	if _, err := os.Lstat(dest); !os.IsNotExist(err) {
		t.Fatalf("partial output left behind: %v", err)
	}
}

func TestDumpRejectsSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "d", "fifo")
	mkdir(t, filepath.Dir(fifo))
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s", "sock")
	mkdir(t, filepath.Dir(sock))
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct{ path, bad, kind string }{
		{filepath.Dir(fifo), fifo, "named pipe"},
		{fifo, fifo, "named pipe"},
		{filepath.Dir(sock), sock, "socket"},
	} {
		err := Dump(io.Discard, tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.bad) || !strings.Contains(err.Error(), tc.kind) {
			t.Errorf("Dump(%s) = %v, want an error naming %s as a %s", tc.path, err, tc.bad, tc.kind)
		}
		if _, _, err := Hash(tc.path); err == nil {
			t.Errorf("Hash(%s) succeeded", tc.path)
		}
	}
	if _, _, err := Hash(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Hash of a missing path: %v", err)
	}
}

func TestDumpUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads everything")
	}
	root := t.TempDir()
	writeFile(t, root+"/secret", "x", 0o000)
	if _, _, err := Hash(root); !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), root+"/secret") {
		t.Errorf("Hash: %v", err)
	}
}

// failWriter fails after n bytes, to check that the pipeline stops cleanly mid-archive.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return w.n, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestDumpWriterError(t *testing.T) {
	for _, tc := range trees {
		root := makeTree(t, tc)
		for _, n := range []int{0, 100, 5000} {
			if err := Dump(&failWriter{n}, root); err == nil && n < len(dump(t, root)) {
				t.Errorf("%s: Dump into a failing writer succeeded", tc.name)
			}
		}
	}
}

// raw builds an archive by hand: strings are written as NAR strings, uint64s raw.
func raw(parts ...any) []byte {
	var b []byte
	for _, p := range flat(parts...) {
		switch p := p.(type) {
		case string:
			b = appendString(b, p)
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, p)
		case []byte:
			b = append(b, p...)
		default:
			panic(p)
		}
	}
	return b
}

func reg(contents string) []any {
	return []any{"(", "type", "regular", "contents", contents, ")"}
}

func dir(entries ...any) []any {
	return append(append([]any{"(", "type", "directory"}, entries...), ")")
}

func entry(name string, node []any) []any {
	return append(append([]any{"entry", "(", "name", name, "node"}, node...), ")")
}

func flat(parts ...any) []any {
	var out []any
	for _, p := range parts {
		if s, ok := p.([]any); ok {
			out = append(out, flat(s...)...)
		} else {
			out = append(out, p)
		}
	}
	return out
}

func archive(parts ...any) []byte { return raw(append([]any{magic}, parts...)...) }

func TestWalkAcceptsHandWritten(t *testing.T) {
	a := archive(dir(
		entry("a", reg("x")),
		entry("b", flat("(", "type", "regular", "executable", "", "contents", "12345678", ")")),
		entry("c", flat("(", "type", "symlink", "target", "a", ")")),
		entry("d", dir(entry("e", reg("")))),
	))
	var got []string
	err := Walk(bytes.NewReader(a), func(e Entry) error {
		s := fmt.Sprintf("%s %s", e.Path, e.Type)
		switch e.Type {
		case Regular:
			b, err := io.ReadAll(e.Contents)
			if err != nil {
				return err
			}
			s += fmt.Sprintf(" exec=%v size=%d %q", e.Executable, e.Size, b)
		case Symlink:
			s += " -> " + e.Target
		}
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		" directory",
		`a regular exec=false size=1 "x"`,
		`b regular exec=true size=8 "12345678"`,
		"c symlink -> a",
		"d directory",
		`d/e regular exec=false size=0 ""`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Walk reported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWalkSkipsUnreadContents(t *testing.T) {
	a := archive(dir(entry("a", reg(noise(100000, 3))), entry("b", reg("yz"))))
	var got []string
	err := Walk(bytes.NewReader(a), func(e Entry) error {
		if e.Type == Regular {
			b := make([]byte, 2)
			if _, err := io.ReadFull(e.Contents, b); err != nil {
				return err
			}
			got = append(got, e.Path)
		}
		return nil
	})
	if err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Walk = %v, saw %v", err, got)
	}
	stop := errors.New("stop")
	if err := Walk(bytes.NewReader(a), func(Entry) error { return stop }); err != stop {
		t.Errorf("the callback's error came back as %v", err)
	}
}

func TestWalkRejects(t *testing.T) {
	good := archive(dir(entry("a", reg("x")), entry("b", reg("y"))))
	nonZeroPad := slices.Clone(good)
	// "x" is followed by 7 padding bytes; find it by its unique length prefix and content.
	i := bytes.Index(nonZeroPad, []byte("\x01\x00\x00\x00\x00\x00\x00\x00x"))
	nonZeroPad[i+10] = 1
	tokenPad := archive(dir(entry("a", reg("x"))))
	j := bytes.Index(tokenPad, []byte("name"))
	tokenPad[j+5] = ' '

	for _, tc := range []struct {
		name string
		nar  []byte
		want string
	}{
		{"empty input", nil, "truncated"},
		{"bad magic", raw("nix-archive-2", reg("x")), "not a Nix archive"},
		{"long magic", raw(strings.Repeat("x", 1000)), "not a Nix archive"},
		{"not sorted", archive(dir(entry("c", reg("")), entry("b", reg("")))), `entry "b" after "c": entries not sorted`},
		{"not sorted bytewise", archive(dir(entry("a", reg("")), entry("B", reg("")))), `entry "B" after "a": entries not sorted`},
		{"duplicate", archive(dir(entry("a", reg("")), entry("a", reg("")))), `duplicate entry "a"`},
		{"empty name", archive(dir(entry("", reg("")))), `invalid file name ""`},
		{"dot", archive(dir(entry(".", reg("")))), `invalid file name "."`},
		{"dotdot", archive(dir(entry("..", reg("")))), `invalid file name ".."`},
		{"slash", archive(dir(entry("a/b", reg("")))), `invalid file name "a/b"`},
		{"nul", archive(dir(entry("a\x00b", reg("")))), `invalid file name "a\x00b"`},
		{"long name", archive(dir(entry(strings.Repeat("n", 256), reg("")))), "file name is 256 bytes long"},
		{"unknown type", archive("(", "type", "fifo", ")"), `unknown node type "fifo"`},
		{"unknown token in node", archive("(", "typo", "regular", "contents", "", ")"), `expected "type", found "typo"`},
		{"unknown token in directory", archive("(", "type", "directory", "entri", ")"), `expected "entry" or ")", found "entri"`},
		{"unknown token in regular", archive("(", "type", "regular", "size", "", ")"), `expected "contents", found "size"`},
		{"executable with a value", archive("(", "type", "regular", "executable", "yes", "contents", "", ")"), `expected "", found "yes"`},
		{"executable twice", archive("(", "type", "regular", "executable", "", "executable", "", "contents", "", ")"), `expected "contents", found "executable"`},
		{"long token", archive("(", "type", strings.Repeat("r", 100), ")"), "unknown token: a string of 100 bytes"},
		{"missing close", archive("(", "type", "regular", "contents", "", "("), `expected ")", found "("`},
		{"entry without node", archive(dir(flat("entry", "(", "name", "a", "mode", reg("")))), `expected "node", found "mode"`},
		{"empty target", archive("(", "type", "symlink", "target", "", ")"), "invalid target"},
		{"long target", archive("(", "type", "symlink", "target", strings.Repeat("t", maxTarget+1), ")"), "symlink target is 4097 bytes long"},
		{"non-zero padding in contents", nonZeroPad, "non-zero padding"},
		{"non-zero padding in token", tokenPad, "non-zero padding"},
		{"trailing garbage", append(slices.Clone(good), 0, 0, 0, 0, 0, 0, 0, 0), "trailing data"},
		{"trailing byte", append(slices.Clone(good), 'x'), "trailing data"},
		{"second archive", append(slices.Clone(good), good...), "trailing data"},
		{"huge size", raw(magic, "(", "type", "regular", "contents", uint64(1)<<63), "impossible size"},
		{"size beyond input", raw(magic, "(", "type", "regular", "contents", uint64(100), []byte("short")), "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Walk(bytes.NewReader(tc.nar), func(Entry) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Walk = %v, want an error containing %q", err, tc.want)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Errorf("%v is not a *FormatError", err)
			}
			dest := filepath.Join(t.TempDir(), "out")
			if err := Restore(bytes.NewReader(tc.nar), dest); err == nil {
				t.Fatal("Restore succeeded")
			}
			if _, err := os.Lstat(dest); !os.IsNotExist(err) {
				t.Errorf("Restore left %s behind", dest)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	err := Walk(bytes.NewReader(archive(dir(entry("c", reg("")), entry("b", reg(""))))), func(Entry) error { return nil })
	want := `nar: entry "b" after "c": entries not sorted (at byte 312)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

// Every proper prefix of an archive is truncated, wherever it is cut: in a length, a string,
// padding, or contents.
func TestWalkRejectsTruncation(t *testing.T) {
	full := archive(dir(
		entry("a", reg("x")),
		entry("b", flat("(", "type", "symlink", "target", "a", ")")),
		entry("c", dir(entry("d", reg("12345678")))),
	))
	for n := range len(full) {
		err := Walk(bytes.NewReader(full[:n]), func(e Entry) error {
			if e.Contents != nil {
				_, err := io.Copy(io.Discard, e.Contents)
				return err
			}
			return nil
		})
		if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("prefix of %d/%d bytes: %v", n, len(full), err)
		}
	}
	if err := Walk(bytes.NewReader(full), func(Entry) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestWalkDepthLimit(t *testing.T) {
	var parts []any
	for range maxDepth + 1 {
		parts = append(parts, "(", "type", "directory", "entry", "(", "name", "d", "node")
	}
	parts = append(parts, reg("")...)
	for range maxDepth + 1 {
		parts = append(parts, ")", ")")
	}
	err := Walk(bytes.NewReader(archive(parts...)), func(Entry) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("Walk = %v", err)
	}
}

// The hash parts below are made up; they only need to be nix32.
const (
	ref1 = "0c5b8ihvp6g0d9z2a3rqx1nwjlsfm4ky"
	ref2 = "1a2b3c4d5f6g7h8i9j0k1l2m3n4p5q6r"
	ref3 = "zyxwvsrqpnmlkjihgfdcba9876543210"
	ref4 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

func TestScannerSplitWrites(t *testing.T) {
	stream := "garbage " + ref1 + "-foo/bin:" + ref2 + ref3 + " end"
	for split := range len(stream) + 1 {
		s := NewScanner([]string{ref1, ref2, ref3, ref4})
		s.Write([]byte(stream[:split]))
		s.Write([]byte(stream[split:]))
		if got := s.Found(); !slices.Equal(got, []string{ref1, ref2, ref3}) {
			t.Fatalf("split at %d: found %v", split, got)
		}
	}
	s := NewScanner([]string{ref1, ref2, ref3, ref4})
	for i := range len(stream) {
		s.Write([]byte{stream[i]})
	}
	if got := s.Found(); !slices.Equal(got, []string{ref1, ref2, ref3}) {
		t.Fatalf("byte by byte: found %v", got)
	}
}

// TestScannerRandom compares the scanner with a plain substring search over streams made mostly
// of nix32 characters, where runs and partial matches are common, written in random pieces.
func TestScannerRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	refs := []string{ref1, ref2, ref3, ref4}
	for range 2000 {
		var b strings.Builder
		for b.Len() < 300 {
			switch r.IntN(4) {
			case 0:
				ref := refs[r.IntN(len(refs))]
				b.WriteString(ref[r.IntN(8):]) // sometimes only a suffix
			case 1:
				b.WriteByte("e-/ \x00"[r.IntN(5)])
			default:
				b.WriteByte(nix32Alphabet[r.IntN(len(nix32Alphabet))])
			}
		}
		stream := b.String()
		var want []string
		for _, ref := range refs {
			if strings.Contains(stream, ref) {
				want = append(want, ref)
			}
		}
		slices.Sort(want)
		s := NewScanner(refs)
		for rest := stream; rest != ""; {
			n := min(len(rest), r.IntN(40))
			s.Write([]byte(rest[:n]))
			rest = rest[n:]
		}
		if got := s.Found(); !slices.Equal(got, want) {
			t.Fatalf("stream %q: found %v, want %v", stream, got, want)
		}
	}
}

func TestNix32Alphabet(t *testing.T) {
	seen := map[rune]bool{}
	for _, c := range hash.EncodeNix32([]byte(noise(1000, 5))) {
		seen[c] = true
	}
	if len(seen) != 32 || len(nix32Alphabet) != 32 {
		t.Fatalf("%d characters seen", len(seen))
	}
	for _, c := range nix32Alphabet {
		if !seen[c] {
			t.Errorf("%q is not a nix32 character", c)
		}
	}
}

func TestHashAndScan(t *testing.T) {
	root := t.TempDir()
	// ref1 straddles the boundary between two pieces of the archive stream.
	big := []byte(noise(3*chunkSize, 4))
	copy(big[chunkSize-10:], "/store/"+ref1+"-x")
	writeFile(t, root+"/big", string(big), 0o644)
	symlink(t, "/store/"+ref2+"-y/bin", root+"/link")
	writeFile(t, root+"/"+ref3+"-name", "", 0o644)
	h, n, found, err := HashAndScan(root, []string{ref1, ref2, ref3, ref4})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{ref1, ref2, ref3}; !slices.Equal(found, want) {
		t.Errorf("found %v, want %v", found, want)
	}
	h2, n2, err := Hash(root)
	if err != nil || !h.Equal(h2) || n != n2 {
		t.Errorf("HashAndScan = %v %d; Hash = %v %d %v", h, n, h2, n2, err)
	}
	if _, _, found, _ := HashAndScan(root, nil); len(found) != 0 {
		t.Errorf("found %v without candidates", found)
	}
}

func FuzzRestore(f *testing.F) {
	for _, tc := range trees {
		if tc.name != "large-files" && tc.name != "many-files" {
			f.Add(dump(f, makeTree(f, tc)))
		}
	}
	f.Add(archive(dir(entry("a", reg("x")), entry("b", flat("(", "type", "symlink", "target", "a", ")")))))
	f.Add(archive("(", "type", "regular", "executable", "", "contents", "abc", ")"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dest := filepath.Join(t.TempDir(), "out")
		if err := Restore(bytes.NewReader(b), dest); err != nil {
			if _, serr := os.Lstat(dest); !os.IsNotExist(serr) {
				t.Fatalf("failed Restore (%v) left %s behind", err, dest)
			}
			return
		}
		// NAR is canonical: an archive den accepts is exactly what dumping its tree gives back.
		var again bytes.Buffer
		if err := Dump(&again, dest); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), b) {
			t.Fatalf("accepted a non-canonical archive:\n  in %q\ndump %q", b, again.Bytes())
		}
	})
}

// BenchmarkHash hashes a generated tree shaped roughly like a toolchain: many small files and a
// few large ones. The side-by-side comparison with Nix is done by make bench.
func BenchmarkHash(b *testing.B) {
	root := b.TempDir()
	for i := range 2000 {
		writeFile(b, fmt.Sprintf("%s/src/p%02d/f%04d.go", root, i%50, i), noise(100+i*7%20000, uint64(i)), 0o644)
	}
	for i := range 4 {
		writeFile(b, fmt.Sprintf("%s/bin/tool%d", root, i), noise(8<<20, uint64(i)), 0o755)
	}
	_, size, err := Hash(root)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := Hash(root); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScanner(b *testing.B) {
	data := []byte(strings.Repeat("package main\nfunc main() { println(\"/store/"+ref1[:20]+"\") }\n", 1<<14) + noise(4<<20, 1))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s := NewScanner([]string{ref1, ref2})
		s.Write(data)
	}
}

func BenchmarkSHA256(b *testing.B) {
	data := make([]byte, chunkSize)
	b.SetBytes(int64(len(data)))
	h := sha256.New()
	for b.Loop() {
		h.Write(data)
	}
}
