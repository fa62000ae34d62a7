// Package archive owns unpacking downloaded archives (tar, compressed tar, zip) defensively into a
// fresh directory, and checking that an archive would unpack so without unpacking it.
package archive

import (
	"archive/tar"
	"archive/zip"
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
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Defaults for the zero fields of Limits.
const (
	DefaultTotalSize = 4 << 30
	DefaultFileSize  = 2 << 30
	DefaultEntries   = 1_000_000
)

// Limits bounds what an archive may unpack to; a zero field takes its default. Directories
// count: a million empty directories cost inodes and blocks as files do, and an archive implies
// a directory for every parent its names mention, so those count too.
type Limits struct {
	// TotalSize bounds the bytes of all regular files together, plus DirSize for every
	// directory and the length of every symlink's target.
	TotalSize int64
	FileSize  int64 // bytes of any one regular file
	Entries   int   // entries of every kind, the directories the names imply included
}

// DirSize is what a directory weighs against Limits.TotalSize: the block it takes on common file
// systems.
const DirSize = 4096

// maxNameLen is PATH_MAX: no longer name can be created, and a longer one would only make Unpack
// hold it in memory.
const maxNameLen = 4096

func (l Limits) withDefaults() Limits {
	if l.TotalSize <= 0 {
		l.TotalSize = DefaultTotalSize
	}
	if l.FileSize <= 0 {
		l.FileSize = DefaultFileSize
	}
	if l.Entries <= 0 {
		l.Entries = DefaultEntries
	}
	return l
}

// UnsafeEntryError reports an entry that Unpack refuses to write, and why.
type UnsafeEntryError struct {
	Archive string // as passed to Unpack
	Entry   string // the entry's name as the archive spells it
	Reason  string
}

func (e *UnsafeEntryError) Error() string {
	return fmt.Sprintf("archive %s: entry %q: %s", e.Archive, e.Entry, e.Reason)
}

// ErrUnknownFormat says a file is not an archive Unpack reads; callers that accept plain files too
// branch on it.
var ErrUnknownFormat = errors.New("unknown archive format (want tar, tar.gz, tar.xz, tar.zst, tar.bz2 or zip)")

// Zstandard windows above this are refused so that a hostile frame header cannot make the decoder
// allocate gigabytes; zstd --ultra -22 and --long use 128 MiB, so 256 MiB leaves headroom.
const zstdMaxWindow = 256 << 20

// Unpack unpacks the archive file into dest, which must not exist; dest's parent must. The format
// (tar, tar compressed with gzip, xz, zstd or bzip2, or zip) comes from the file's first bytes, never
// its name. Entries that could write outside dest, or that a store path cannot hold, make Unpack
// fail with an *UnsafeEntryError. On any error dest is removed, so a caller never sees half an
// archive. Ownership is dropped; files keep whether they are executable and their modification
// time.
func Unpack(archive, dest string, lim Limits) (err error) {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()

	if err := os.Mkdir(dest, 0o755); err != nil {
		return fmt.Errorf("archive %s: %w", archive, err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		os.Remove(dest)
		return fmt.Errorf("archive %s: %w", archive, err)
	}
	defer func() {
		if cerr := root.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.RemoveAll(dest)
		}
	}()
	return newUnpacker(archive, root, lim).read(f)
}

// Check reads the archive as Unpack would and fails as Unpack would on an unsafe entry or an
// archive over the limits, but writes nothing: it decompresses the whole stream (a tar has no
// index, and a file's size is checked against its bytes) and keeps only the names. A download is
// checked before it enters the store, and unpacked once, by the build that uses it. What only
// the file system can refuse (a name too long for it, say) is left to that Unpack.
func Check(archive string, lim Limits) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	return newUnpacker(archive, nil, lim).read(f)
}

func newUnpacker(archive string, root *os.Root, lim Limits) *unpacker {
	return &unpacker{archive: archive, root: root, lim: lim.withDefaults(), seen: map[string]kind{}, links: map[string]string{}, spelled: map[string]string{}}
}

// read walks the archive in f, whose format its first bytes tell.
func (u *unpacker) read(f *os.File) error {
	br := bufio.NewReaderSize(f, 64<<10)
	magic, _ := br.Peek(512)
	if bytes.HasPrefix(magic, []byte("PK\x03\x04")) || bytes.HasPrefix(magic, []byte("PK\x05\x06")) {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if err := u.zip(f, st.Size()); err != nil {
			return err
		}
	} else {
		r, closeFn, err := decompressor(br, magic)
		if errors.Is(err, ErrUnknownFormat) {
			return err
		}
		if err != nil {
			return fmt.Errorf("archive %s: %w", u.archive, err)
		}
		err = u.tar(r)
		closeFn()
		if err != nil {
			return err
		}
	}
	return u.checkLinks()
}

// decompressor picks the decompression by magic number and checks that a tar stream lies inside.
func decompressor(br *bufio.Reader, magic []byte) (io.Reader, func(), error) {
	var r io.Reader
	closeFn := func() {}
	var name string
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		name = "gzip"
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("reading gzip: %w", err)
		}
		r, closeFn = zr, func() { zr.Close() }
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		name = "xz"
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("reading xz: %w", err)
		}
		r = xr
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		name = "zstd"
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("reading zstd: %w", err)
		}
		r, closeFn = zr, zr.Close
	case bytes.HasPrefix(magic, []byte("BZh")):
		name = "bzip2"
		r = bzip2.NewReader(br)
	default:
		if isTar(magic) {
			return br, closeFn, nil
		}
		return nil, nil, ErrUnknownFormat
	}
	inner := bufio.NewReaderSize(r, 64<<10)
	head, err := inner.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		closeFn()
		return nil, nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if !isTar(head) {
		closeFn()
		return nil, nil, fmt.Errorf("%s data does not hold a tar archive", name)
	}
	return inner, closeFn, nil
}

// isTar recognises a tar header by its ustar magic or, for pre-POSIX archives that have none, by
// its checksum. An all-zero block (an empty archive) also counts.
func isTar(h []byte) bool {
	if len(h) < 512 {
		return false
	}
	if bytes.Equal(h[257:262], []byte("ustar")) {
		return true
	}
	if bytes.Count(h, []byte{0}) == 512 {
		return true
	}
	field := strings.Trim(string(h[148:156]), " \x00")
	var want int64
	if _, err := fmt.Sscanf(field, "%o", &want); err != nil {
		return false
	}
	var sum int64
	for i, b := range h {
		if i >= 148 && i < 156 {
			b = ' '
		}
		sum += int64(b)
	}
	return sum == want
}

type kind int

const (
	kindImplicitDir kind = iota // created as the parent of an entry
	kindDir
	kindFile
	kindSymlink
)

// unpacker writes entries through an os.Root so that even a check missed here cannot write
// outside dest; the checks exist to name the offending entry and to refuse archives that would
// be unsafe to use later (escaping symlinks) even though writing them was not. With no root
// (Check) it makes every check and writes nothing.
type unpacker struct {
	archive string
	root    *os.Root // nil: check only
	lim     Limits
	entries int
	total   int64
	seen    map[string]kind   // every path created, by clean name
	links   map[string]string // symlink name → target
	spelled map[string]string // symlink name → the entry's name as the archive spells it
}

func (u *unpacker) unsafe(entry, format string, args ...any) error {
	return &UnsafeEntryError{Archive: u.archive, Entry: entry, Reason: fmt.Sprintf(format, args...)}
}

// count adds one entry, explicit or implied by a name, of size bytes against the limits.
func (u *unpacker) count(entry string, size int64) error {
	u.entries++
	if u.entries > u.lim.Entries {
		return u.unsafe(entry, "archive has more than %d entries", u.lim.Entries)
	}
	return u.grow(entry, size)
}

// grow adds size bytes against the total limit.
func (u *unpacker) grow(entry string, size int64) error {
	if size > u.lim.TotalSize-u.total {
		return u.unsafe(entry, "archive exceeds the limit of %d bytes in total", u.lim.TotalSize)
	}
	u.total += size
	return nil
}

// cleanName turns an entry name into the path Unpack writes, or explains why it cannot. Trailing
// slashes mark directories and a leading "./" is how many tar tools write every name, so both are
// allowed; anything else that path.Clean would change is refused, as Go's module zips do.
func cleanName(name string) (string, string) {
	n := strings.TrimPrefix(name, "./")
	n = strings.TrimRight(n, "/")
	switch {
	case name == "":
		return "", "empty name"
	case strings.HasPrefix(name, "/"):
		return "", "absolute name"
	case n == "" || n == ".":
		return ".", ""
	case strings.HasPrefix(n, "/"):
		return "", fmt.Sprintf("name is not clean (want %q)", path.Clean(n)[1:])
	case n == ".." || strings.HasPrefix(n, "../") || strings.HasSuffix(n, "/..") || strings.Contains(n, "/../"):
		return "", "escapes the output directory"
	case strings.ContainsRune(n, 0):
		return "", "name contains a NUL byte"
	case path.Clean(n) != n:
		return "", fmt.Sprintf("name is not clean (want %q)", path.Clean(n))
	}
	return n, ""
}

// begin validates an entry's name and parents and creates missing parent directories.
// It returns the clean name, or "." for the root directory itself.
func (u *unpacker) begin(entry string) (string, error) {
	if err := u.count(entry, 0); err != nil {
		return "", err
	}
	if len(entry) > maxNameLen {
		return "", u.unsafe(entry[:64]+"…", "name is longer than %d bytes", maxNameLen)
	}
	name, why := cleanName(entry)
	if why != "" {
		return "", u.unsafe(entry, "%s", why)
	}
	if name == "." {
		return name, nil
	}
	// The parents: from the deepest up to the first one already seen, whose own parents were
	// directories when it was made and still are (nothing replaces an entry), so only it and
	// the missing ones below it need a look. Walking down from the top would cost the square
	// of the name's length for every entry.
	var missing []int // ends of the parents not seen yet, deepest first
parents:
	for i := len(name) - 1; i > 0; i-- {
		if name[i] != '/' {
			continue
		}
		parent := name[:i]
		switch k, ok := u.seen[parent]; {
		case !ok:
			missing = append(missing, i)
		case k == kindSymlink:
			return "", u.unsafe(entry, "writes through symlink %q", parent)
		case k == kindFile:
			return "", u.unsafe(entry, "parent %q is not a directory", parent)
		default:
			break parents
		}
	}
	for j := len(missing) - 1; j >= 0; j-- {
		parent := name[:missing[j]]
		if err := u.count(entry, DirSize); err != nil {
			return "", err
		}
		if u.root != nil {
			if err := u.root.Mkdir(parent, 0o755); err != nil {
				return "", fmt.Errorf("archive %s: %w", u.archive, err)
			}
		}
		u.seen[parent] = kindImplicitDir
	}
	return name, nil
}

func (u *unpacker) mkdir(entry, name string) error {
	if name == "." {
		return nil
	}
	if k, ok := u.seen[name]; ok {
		if k == kindImplicitDir || k == kindDir {
			u.seen[name] = kindDir
			return nil
		}
		return u.unsafe(entry, "duplicate entry")
	}
	if err := u.grow(entry, DirSize); err != nil {
		return err
	}
	if u.root != nil {
		if err := u.root.Mkdir(name, 0o755); err != nil {
			return fmt.Errorf("archive %s: %w", u.archive, err)
		}
	}
	u.seen[name] = kindDir
	return nil
}

// create writes a regular file of the declared size. It reads one byte past size so that a
// reader that delivers more than it declared is caught rather than silently truncated.
func (u *unpacker) create(entry, name string, size int64, executable bool, mtime time.Time, r io.Reader) error {
	if name == "." {
		return u.unsafe(entry, "a file cannot replace the output directory")
	}
	if _, ok := u.seen[name]; ok {
		return u.unsafe(entry, "duplicate entry")
	}
	if size < 0 {
		return u.unsafe(entry, "negative size")
	}
	if size > u.lim.FileSize {
		return u.unsafe(entry, "size %d exceeds the limit of %d bytes per file", size, u.lim.FileSize)
	}
	if err := u.grow(entry, size); err != nil {
		return err
	}
	if u.root == nil {
		u.seen[name] = kindFile
		n, err := io.Copy(io.Discard, &io.LimitedReader{R: r, N: size + 1})
		if err == nil && n != size {
			err = u.unsafe(entry, "holds %d bytes, but its header says %d", n, size)
		}
		if err != nil {
			if _, ok := err.(*UnsafeEntryError); ok {
				return err
			}
			return fmt.Errorf("archive %s: entry %q: %w", u.archive, entry, err)
		}
		return nil
	}
	perm := fs.FileMode(0o644)
	if executable {
		perm = 0o755
	}
	// O_EXCL also refuses to follow a symlink in the final component.
	f, err := u.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("archive %s: %w", u.archive, err)
	}
	u.seen[name] = kindFile
	n, err := io.Copy(f, &io.LimitedReader{R: r, N: size + 1})
	if err == nil && n != size {
		err = u.unsafe(entry, "holds %d bytes, but its header says %d", n, size)
	}
	if err == nil {
		// The umask must not decide what the store sees.
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !mtime.IsZero() {
		// Builds run make, which compares timestamps: without the archive's own, generated files
		// (configure, docs) can look older than their sources and make tries to regenerate them.
		err = u.root.Chtimes(name, mtime, mtime)
	}
	if err != nil {
		if _, ok := err.(*UnsafeEntryError); ok {
			return err
		}
		return fmt.Errorf("archive %s: entry %q: %w", u.archive, entry, err)
	}
	return nil
}

func (u *unpacker) symlink(entry, name, target string) error {
	if name == "." {
		return u.unsafe(entry, "a symlink cannot replace the output directory")
	}
	if _, ok := u.seen[name]; ok {
		return u.unsafe(entry, "duplicate entry")
	}
	switch {
	case target == "":
		return u.unsafe(entry, "empty symlink target")
	case strings.HasPrefix(target, "/"):
		return u.unsafe(entry, "symlink target %q is absolute", target)
	case strings.ContainsRune(target, 0):
		return u.unsafe(entry, "symlink target contains a NUL byte")
	}
	if p := path.Join(path.Dir(name), target); p == ".." || strings.HasPrefix(p, "../") {
		return u.unsafe(entry, "symlink target %q escapes the output directory", target)
	}
	if err := u.grow(entry, int64(len(target))); err != nil {
		return err
	}
	if u.root != nil {
		if err := u.root.Symlink(target, name); err != nil {
			return fmt.Errorf("archive %s: %w", u.archive, err)
		}
	}
	u.seen[name] = kindSymlink
	u.links[name] = target
	u.spelled[name] = entry
	return nil
}

// hardlink links to an earlier regular file: tar can only name entries it has already written,
// and pointing anywhere else (a directory, a symlink, outside dest) is never needed by a source tree.
func (u *unpacker) hardlink(entry, name, target string) error {
	if name == "." {
		return u.unsafe(entry, "a hard link cannot replace the output directory")
	}
	if _, ok := u.seen[name]; ok {
		return u.unsafe(entry, "duplicate entry")
	}
	t, why := cleanName(target)
	if why != "" {
		if why == "escapes the output directory" || why == "absolute name" {
			return u.unsafe(entry, "hard link target %q escapes the output directory", target)
		}
		return u.unsafe(entry, "hard link target %q: %s", target, why)
	}
	if u.seen[t] != kindFile {
		return u.unsafe(entry, "hard link target %q is not a regular file earlier in the archive", target)
	}
	if u.root != nil {
		if err := u.root.Link(t, name); err != nil {
			return fmt.Errorf("archive %s: %w", u.archive, err)
		}
	}
	u.seen[name] = kindFile
	return nil
}

// checkLinks follows every symlink as the kernel would, once all of them exist. Checking each
// target on its own is not enough: "a -> b/.." stays inside lexically, yet escapes when b is
// itself a symlink to a directory, and b may come later in the archive than a.
func (u *unpacker) checkLinks() error {
	names := make([]string, 0, len(u.links))
	for n := range u.links {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if u.escapes(n) {
			return u.unsafe(u.spelled[n], "symlink target %q escapes the output directory through other symlinks", u.links[n])
		}
	}
	return nil
}

// maxHops matches Linux's limit on symlinks followed in one lookup; a longer chain fails with
// ELOOP and so cannot escape.
const maxHops = 40

func (u *unpacker) escapes(name string) bool {
	var stack []string
	if d := path.Dir(name); d != "." {
		stack = strings.Split(d, "/")
	}
	todo := strings.Split(u.links[name], "/")
	for hops := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return true
			}
			stack = stack[:len(stack)-1]
			continue
		}
		stack = append(stack, c)
		t, ok := u.links[strings.Join(stack, "/")]
		if !ok {
			continue
		}
		if hops++; hops > maxHops {
			return false
		}
		if strings.HasPrefix(t, "/") {
			return true
		}
		stack = stack[:len(stack)-1]
		todo = append(strings.Split(t, "/"), todo...)
	}
	return false
}

func (u *unpacker) tar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		// Go reports names it considers insecure only under GODEBUG=tarinsecurepath=0, and then still
		// returns the header; the checks below name the entry more precisely.
		if errors.Is(err, tar.ErrInsecurePath) {
			err = nil
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("archive %s: reading tar: %w", u.archive, err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := u.begin(h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = u.mkdir(h.Name, name)
		case tar.TypeReg, tar.TypeRegA, tar.TypeCont, tar.TypeGNUSparse:
			err = u.create(h.Name, name, h.Size, h.Mode&0o111 != 0, h.ModTime, tr)
		case tar.TypeSymlink:
			err = u.symlink(h.Name, name, h.Linkname)
		case tar.TypeLink:
			err = u.hardlink(h.Name, name, h.Linkname)
		case tar.TypeChar:
			err = u.unsafe(h.Name, "character devices are not allowed")
		case tar.TypeBlock:
			err = u.unsafe(h.Name, "block devices are not allowed")
		case tar.TypeFifo:
			err = u.unsafe(h.Name, "fifos are not allowed")
		default:
			err = u.unsafe(h.Name, "unsupported tar entry type %q", h.Typeflag)
		}
		if err != nil {
			return err
		}
	}
}

// maxSymlinkTarget is PATH_MAX; a longer zip "target" is not a symlink any system could hold.
const maxSymlinkTarget = 4096

func (u *unpacker) zip(ra io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(ra, size)
	// As with tar, ErrInsecurePath comes with a usable reader.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return fmt.Errorf("archive %s: reading zip: %w", u.archive, err)
	}
	for _, zf := range zr.File {
		name, err := u.begin(zf.Name)
		if err != nil {
			return err
		}
		mode := zf.Mode()
		switch {
		case mode.IsDir() || strings.HasSuffix(zf.Name, "/"):
			err = u.mkdir(zf.Name, name)
		case mode&fs.ModeSymlink != 0:
			var target []byte
			target, err = u.readZip(zf, maxSymlinkTarget)
			if err == nil {
				err = u.symlink(zf.Name, name, string(target))
			}
		case mode.IsRegular():
			if zf.UncompressedSize64 > uint64(u.lim.FileSize) {
				return u.unsafe(zf.Name, "size %d exceeds the limit of %d bytes per file", zf.UncompressedSize64, u.lim.FileSize)
			}
			var rc io.ReadCloser
			rc, err = zf.Open()
			if err == nil {
				err = u.create(zf.Name, name, int64(zf.UncompressedSize64), mode&0o111 != 0, zf.Modified, rc)
				rc.Close()
			}
		case mode&fs.ModeCharDevice != 0:
			err = u.unsafe(zf.Name, "character devices are not allowed")
		case mode&fs.ModeDevice != 0:
			err = u.unsafe(zf.Name, "block devices are not allowed")
		case mode&fs.ModeNamedPipe != 0:
			err = u.unsafe(zf.Name, "fifos are not allowed")
		default:
			err = u.unsafe(zf.Name, "unsupported file type %v", mode.Type())
		}
		if err != nil {
			if _, ok := err.(*UnsafeEntryError); ok {
				return err
			}
			return fmt.Errorf("archive %s: entry %q: %w", u.archive, zf.Name, err)
		}
	}
	return nil
}

func (u *unpacker) readZip(zf *zip.File, max int64) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, u.unsafe(zf.Name, "symlink target longer than %d bytes", max)
	}
	return b, nil
}
