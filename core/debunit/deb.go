package debunit

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/den-sh/den/core/archive"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// EntryError is a .deb, or an entry of its data archive, that Build refuses.
type EntryError struct {
	Deb    string // the .deb file
	Entry  string // the entry's name as the archive spells it; "" for the .deb as a whole
	Reason string
}

func (e *EntryError) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("%s: %s", e.Deb, e.Reason)
	}
	return fmt.Sprintf("%s: entry %q: %s", e.Deb, e.Entry, e.Reason)
}

// ConflictError is a path two .debs of the unit provide differently (or one .deb twice, or one
// under /usr and one outside it, which the usr-merge puts in the same place).
type ConflictError struct {
	Path  string // in the unit, after the usr-merge
	First string // the .deb that provided it first
	Deb   string // the .deb that provides it again
	Entry string // the entry in Deb
	What  string // how they differ
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: entry %q: %s conflicts with the one from %s (%s); the two packages cannot share one unit",
		e.Deb, e.Entry, e.Path, e.First, e.What)
}

// zstdMaxWindow bounds what a hostile zstd frame header can make the decoder allocate; Debian
// compresses with far smaller windows.
const zstdMaxWindow = 256 << 20

// arMagic starts every ar archive, and so every .deb.
const arMagic = "!<arch>\n"

// unpackDeb reads the ar archive of one .deb and unpacks its data member into the tree.
func (t *tree) unpackDeb(deb string) error {
	f, err := os.Open(deb)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	bad := func(format string, args ...any) error {
		return &EntryError{Deb: deb, Reason: fmt.Sprintf(format, args...)}
	}
	var magic [len(arMagic)]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil || string(magic[:]) != arMagic {
		return bad("not a Debian package (no ar archive header)")
	}
	sawVersion, sawData := false, false
	for i := 0; ; i++ {
		var hdr [60]byte
		if _, err := io.ReadFull(br, hdr[:]); err == io.EOF {
			break
		} else if err != nil {
			return bad("truncated ar member header: %v", err)
		}
		if string(hdr[58:60]) != "`\n" {
			return bad("corrupt ar member header %d", i)
		}
		name := strings.TrimSuffix(strings.TrimRight(string(hdr[0:16]), " "), "/")
		size, err := strconv.ParseInt(strings.TrimRight(string(hdr[48:58]), " "), 10, 64)
		if err != nil || size < 0 {
			return bad("ar member %q has a bad size %q", name, strings.TrimSpace(string(hdr[48:58])))
		}
		body := &io.LimitedReader{R: br, N: size}
		switch {
		case i == 0:
			if name != "debian-binary" {
				return bad("first member is %q, want debian-binary", name)
			}
			v, _ := io.ReadAll(io.LimitReader(body, 16))
			if !bytes.HasPrefix(v, []byte("2.")) {
				return bad("package format %q, want 2.x", strings.TrimSpace(string(v)))
			}
			sawVersion = true
		case strings.HasPrefix(name, "control.tar"), strings.HasPrefix(name, "_"):
			// The control files (maintainer scripts) are not part of the unit; "_" members are
			// signatures and other additions dpkg also ignores.
		case strings.HasPrefix(name, "data.tar"):
			if sawData {
				return bad("two data members")
			}
			sawData = true
			r, closeFn, err := decompress(deb, name, body)
			if err != nil {
				return err
			}
			err = t.unpackTar(deb, r)
			closeFn()
			if err != nil {
				return err
			}
		default:
			return bad("unexpected ar member %q", name)
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return bad("reading ar member %q: %v", name, err)
		}
		if body.N > 0 {
			return bad("ar member %q is truncated", name)
		}
		if size%2 == 1 {
			if _, err := br.Discard(1); err != nil && err != io.EOF {
				return bad("reading ar padding: %v", err)
			}
		}
	}
	if !sawVersion || !sawData {
		return bad("not a Debian package (no debian-binary or no data.tar member)")
	}
	return nil
}

// decompress opens a data member by its name's suffix, as dpkg does.
func decompress(deb, member string, r io.Reader) (io.Reader, func(), error) {
	fail := func(err error) (io.Reader, func(), error) {
		return nil, nil, &EntryError{Deb: deb, Reason: fmt.Sprintf("member %s: %v", member, err)}
	}
	switch strings.TrimPrefix(member, "data.tar") {
	case "":
		return r, func() {}, nil
	case ".xz":
		xr, err := xz.NewReader(bufio.NewReaderSize(r, 64<<10))
		if err != nil {
			return fail(err)
		}
		return xr, func() {}, nil
	case ".zst":
		zr, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return fail(err)
		}
		return zr, zr.Close, nil
	case ".gz":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fail(err)
		}
		return zr, func() { zr.Close() }, nil
	case ".bz2":
		return bzip2.NewReader(r), func() {}, nil
	}
	return nil, nil, &EntryError{Deb: deb, Reason: fmt.Sprintf("unknown data member %q (want data.tar, .xz, .zst, .gz or .bz2)", member)}
}

// cleanName turns a data entry name into its path in the Debian file system ("usr/lib/x", "."
// for the root), or says why it is refused: every .deb names its entries "./usr/...", and
// anything path.Clean would change, or that climbs out, is refused as core/archive does.
func cleanName(name string) (string, string) {
	n := strings.TrimRight(strings.TrimPrefix(name, "./"), "/")
	switch {
	case name == "":
		return "", "empty name"
	case strings.HasPrefix(name, "/"):
		return "", "absolute name"
	case n == "" || n == ".":
		return ".", ""
	case n == ".." || strings.HasPrefix(n, "../") || strings.HasSuffix(n, "/..") || strings.Contains(n, "/../"):
		return "", "escapes the output directory"
	case strings.ContainsRune(n, 0):
		return "", "name contains a NUL byte"
	case len(n) > 4096:
		return "", "name is longer than 4096 bytes"
	case path.Clean(n) != n:
		return "", fmt.Sprintf("name is not clean (want %q)", path.Clean(n))
	}
	return n, ""
}

// merged is where the usr-merge puts a path of the Debian file system: /usr/X and /X are both X.
func merged(debPath string) string {
	if debPath == "usr" {
		return "."
	}
	return strings.TrimPrefix(debPath, "usr/")
}

func (t *tree) unpackTar(deb string, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, tar.ErrInsecurePath) {
			err = nil // the checks below name the entry
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &EntryError{Deb: deb, Reason: fmt.Sprintf("reading data.tar: %v", err)}
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if err := t.entry(deb, h, tr); err != nil {
			return err
		}
	}
}

// entry adds one tar entry to the tree.
func (t *tree) entry(deb string, h *tar.Header, r io.Reader) error {
	bad := func(format string, args ...any) error {
		return &EntryError{Deb: deb, Entry: h.Name, Reason: fmt.Sprintf(format, args...)}
	}
	t.entries++
	if t.entries > archive.DefaultEntries {
		return bad("the unit has more than %d entries", archive.DefaultEntries)
	}
	debPath, why := cleanName(h.Name)
	if why != "" {
		return bad("%s", why)
	}
	name := merged(debPath)
	if name == "." {
		if h.Typeflag != tar.TypeDir {
			return bad("only a directory can be the root")
		}
		return nil
	}
	if err := t.parents(deb, h.Name, name); err != nil {
		return err
	}
	old := t.nodes[name]
	conflict := func(what string) error {
		return &ConflictError{Path: name, First: old.deb, Deb: deb, Entry: h.Name, What: what}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if old != nil {
			if old.kind != kindDir {
				return conflict("a directory where there is a " + old.kind.String())
			}
			return nil
		}
		if err := t.grow(deb, h.Name, archive.DirSize); err != nil {
			return err
		}
		if err := t.root.Mkdir(name, 0o755); err != nil {
			return err
		}
		t.add(name, &node{kind: kindDir, deb: deb, entry: h.Name})
	case tar.TypeReg, tar.TypeRegA:
		if h.Size < 0 || h.Size > archive.DefaultFileSize {
			return bad("size %d is outside 0..%d bytes", h.Size, archive.DefaultFileSize)
		}
		exec := h.Mode&0o111 != 0
		if old != nil {
			return t.same(deb, h.Name, name, old, h.Size, exec, r)
		}
		if err := t.grow(deb, h.Name, h.Size); err != nil {
			return err
		}
		if err := t.write(deb, h.Name, name, h.Size, exec, r); err != nil {
			return err
		}
		t.add(name, &node{kind: kindFile, deb: deb, entry: h.Name, exec: exec, size: h.Size})
	case tar.TypeSymlink:
		target := h.Linkname
		switch {
		case target == "":
			return bad("empty symlink target")
		case strings.ContainsRune(target, 0):
			return bad("symlink target contains a NUL byte")
		case len(target) > 4096:
			return bad("symlink target is longer than 4096 bytes")
		}
		// Where the link leads in the Debian file system, and so in the unit.
		abs := target
		if !strings.HasPrefix(abs, "/") {
			abs = path.Join("/", path.Dir(debPath), target)
		}
		to := merged(strings.TrimPrefix(path.Clean(abs), "/"))
		if to == "" {
			to = "."
		}
		if to == name {
			// /lib -> usr/lib and its kind: the usr-merge makes them the directory itself.
			return nil
		}
		if old != nil {
			if old.kind != kindSymlink || old.to != to {
				return conflict(fmt.Sprintf("a symlink to %s where there is a %s", target, old.describe()))
			}
			return nil
		}
		if err := t.grow(deb, h.Name, int64(len(target))); err != nil {
			return err
		}
		t.add(name, &node{kind: kindSymlink, deb: deb, entry: h.Name, target: target, to: to})
	case tar.TypeLink:
		linkPath, why := cleanName(h.Linkname)
		if why != "" || linkPath == "." {
			return bad("hard link target %q: %s", h.Linkname, why)
		}
		src := merged(linkPath)
		sn := t.nodes[src]
		if sn == nil || sn.kind != kindFile {
			return bad("hard link target %q is not a regular file earlier in the unit", h.Linkname)
		}
		// A copy, not a link: NAR has no hard links, and rewriting one name must not change
		// the other behind its back.
		f, err := t.root.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		if old != nil {
			return t.same(deb, h.Name, name, old, sn.size, sn.exec, f)
		}
		if err := t.grow(deb, h.Name, sn.size); err != nil {
			return err
		}
		if err := t.write(deb, h.Name, name, sn.size, sn.exec, f); err != nil {
			return err
		}
		t.add(name, &node{kind: kindFile, deb: deb, entry: h.Name, exec: sn.exec, size: sn.size})
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return bad("device and fifo entries are not allowed")
	default:
		return bad("unsupported tar entry type %q", h.Typeflag)
	}
	return nil
}

// parents makes the missing parent directories of name and checks the existing ones are
// directories: a unit never writes through a symlink.
func (t *tree) parents(deb, entry, name string) error {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		p := name[:i]
		n := t.nodes[p]
		switch {
		case n == nil:
			if err := t.grow(deb, entry, archive.DirSize); err != nil {
				return err
			}
			if err := t.root.Mkdir(p, 0o755); err != nil {
				return err
			}
			t.add(p, &node{kind: kindDir, deb: deb, entry: entry})
		case n.kind != kindDir:
			return &EntryError{Deb: deb, Entry: entry, Reason: fmt.Sprintf("%s in the unit is a %s, not a directory", p, n.describe())}
		}
	}
	return nil
}

func (t *tree) grow(deb, entry string, n int64) error {
	if n > archive.DefaultTotalSize-t.total {
		return &EntryError{Deb: deb, Entry: entry, Reason: fmt.Sprintf("the unit exceeds %d bytes in total", int64(archive.DefaultTotalSize))}
	}
	t.total += n
	return nil
}

// write creates a regular file of exactly size bytes from r.
func (t *tree) write(deb, entry, name string, size int64, exec bool, r io.Reader) error {
	perm := fs.FileMode(0o644)
	if exec {
		perm = 0o755
	}
	f, err := t.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, &io.LimitedReader{R: r, N: size + 1})
	if err == nil && n != size {
		err = &EntryError{Deb: deb, Entry: entry, Reason: fmt.Sprintf("holds %d bytes, but its header says %d", n, size)}
	}
	if err == nil {
		err = f.Chmod(perm) // not the umask's choice
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// same accepts a file provided again only with the same content and mode.
func (t *tree) same(deb, entry, name string, old *node, size int64, exec bool, r io.Reader) error {
	conflict := func(what string) error {
		return &ConflictError{Path: name, First: old.deb, Deb: deb, Entry: entry, What: what}
	}
	if old.kind != kindFile {
		return conflict("a file where there is a " + old.describe())
	}
	if old.size != size {
		return conflict(fmt.Sprintf("%d bytes against %d", size, old.size))
	}
	if old.exec != exec {
		return conflict("one is executable, the other is not")
	}
	f, err := t.root.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	a, b := bufio.NewReaderSize(f, 64<<10), bufio.NewReaderSize(&io.LimitedReader{R: r, N: size}, 64<<10)
	var x, y [32 << 10]byte
	for {
		n, errA := io.ReadFull(a, x[:])
		m, errB := io.ReadFull(b, y[:])
		if n != m || !bytes.Equal(x[:n], y[:m]) {
			return conflict("different content")
		}
		if errA == io.EOF || errA == io.ErrUnexpectedEOF {
			if errB != io.EOF && errB != io.ErrUnexpectedEOF {
				return conflict("different content")
			}
			return nil
		}
		if errA != nil {
			return errA
		}
		if errB != nil {
			return &EntryError{Deb: deb, Entry: entry, Reason: errB.Error()}
		}
	}
}

// merge moves the tree of one .deb, unpacked on its own at dir, into t: paths t lacks are
// renamed in (a whole directory at once when t has none of it), paths t has must be the same.
// Neither tree holds a symlink on disk yet, so the renames follow none.
func (t *tree) merge(st *tree, dir string) error {
	if t.entries += st.entries; t.entries > archive.DefaultEntries {
		return &EntryError{Deb: st.deb, Reason: fmt.Sprintf("the unit has more than %d entries", archive.DefaultEntries)}
	}
	if st.total > archive.DefaultTotalSize-t.total {
		return &EntryError{Deb: st.deb, Reason: fmt.Sprintf("the unit exceeds %d bytes in total", int64(archive.DefaultTotalSize))}
	}
	t.total += st.total
	moved := map[string]bool{} // directories renamed in whole
	out := func(name string) string { return filepath.Join(dir, name) }
	for _, name := range st.names() {
		n := st.nodes[name]
		if moved[path.Dir(name)] {
			t.add(name, n)
			moved[name] = n.kind == kindDir
			continue
		}
		old := t.nodes[name]
		if old == nil {
			if n.kind != kindSymlink {
				if err := os.Rename(out(name), filepath.Join(t.dir, name)); err != nil {
					return fmt.Errorf("debunit: %w", err)
				}
			}
			t.add(name, n)
			moved[name] = n.kind == kindDir
			continue
		}
		conflict := func(what string) error {
			return &ConflictError{Path: name, First: old.deb, Deb: n.deb, Entry: n.entry, What: what}
		}
		switch n.kind {
		case kindDir:
			if old.kind != kindDir {
				return conflict("a directory where there is a " + old.describe())
			}
		case kindSymlink:
			if old.kind != kindSymlink || old.to != n.to {
				return conflict(fmt.Sprintf("a symlink to %s where there is a %s", n.target, old.describe()))
			}
		case kindFile:
			f, err := os.Open(out(name))
			if err != nil {
				return err
			}
			err = t.same(n.deb, n.entry, name, old, n.size, n.exec, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}
