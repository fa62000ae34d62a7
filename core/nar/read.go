package nar

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// FormatError reports an archive Nix would not have written: malformed, truncated, or followed by
// trailing data. Truncation unwraps to io.ErrUnexpectedEOF.
type FormatError struct {
	Offset int64 // where in the archive the offending item starts
	Msg    string
	Err    error
}

func (e *FormatError) Error() string { return fmt.Sprintf("nar: %s (at byte %d)", e.Msg, e.Offset) }

func (e *FormatError) Unwrap() error { return e.Err }

// Entry is one node of an archive as Walk reports it.
type Entry struct {
	// Path is slash-separated and relative to the archive's root, which is "".
	Path       string
	Type       Type
	Executable bool      // for Regular
	Size       int64     // for Regular: the length of Contents
	Contents   io.Reader // for Regular; valid only until the callback returns
	Target     string    // for Symlink
}

// Walk parses the archive read from r and calls fn for every node, a directory before its
// entries. It accepts exactly what nix-store --dump writes and refuses anything else with a
// *FormatError: a wrong magic, an unknown or misplaced token, directory entries out of order or
// repeated, a name that is empty, "." or "..", or contains "/" or NUL, non-zero padding, a
// truncated archive, and bytes after its end. An error from fn stops the walk and is returned
// as it is. Contents fn leaves unread are skipped.
func Walk(r io.Reader, fn func(Entry) error) error {
	p := &parser{r: bufio.NewReaderSize(r, 64<<10), fn: fn}
	return p.archive()
}

// maxToken is longer than every keyword, so a longer string is refused unread.
const maxToken = 16

type parser struct {
	r   *bufio.Reader
	off int64
	fn  func(Entry) error
	tok [maxToken]byte
	num [8]byte
	str [maxTarget]byte // names and targets, copied out before the next read
}

func (p *parser) errorf(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// short turns the end of input into a truncation error, and passes other read errors through.
func (p *parser) short(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &FormatError{Offset: p.off, Msg: "archive is truncated", Err: io.ErrUnexpectedEOF}
	}
	return fmt.Errorf("nar: reading archive: %w", err)
}

func (p *parser) full(b []byte) error {
	n, err := io.ReadFull(p.r, b)
	p.off += int64(n)
	if err != nil {
		return p.short(err)
	}
	return nil
}

func (p *parser) uint64() (uint64, error) {
	if err := p.full(p.num[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(p.num[:]), nil
}

// pad consumes the zero bytes after n bytes of string data.
func (p *parser) pad(n uint64) error {
	k := padding(n)
	if k == 0 {
		return nil
	}
	off := p.off
	b := p.num[:k]
	if err := p.full(b); err != nil {
		return err
	}
	for _, c := range b {
		if c != 0 {
			return p.errorf(off, "non-zero padding byte")
		}
	}
	return nil
}

// bytes reads a string of at most max bytes into scratch space valid until the next read; what
// names the string in the error for a longer one.
func (p *parser) bytes(buf []byte, what string) ([]byte, int64, error) {
	off := p.off
	n, err := p.uint64()
	if err != nil {
		return nil, off, err
	}
	if n > uint64(len(buf)) {
		return nil, off, p.errorf(off, "%s is %d bytes long, more than %d", what, n, len(buf))
	}
	b := buf[:n]
	if err := p.full(b); err != nil {
		return nil, off, err
	}
	return b, off, p.pad(n)
}

// token reads a keyword; a string too long to be one is reported as such without being read.
func (p *parser) token() (string, int64, error) {
	off := p.off
	n, err := p.uint64()
	if err != nil {
		return "", off, err
	}
	if n > maxToken {
		return "", off, p.errorf(off, "unknown token: a string of %d bytes", n)
	}
	b := p.tok[:n]
	if err := p.full(b); err != nil {
		return "", off, err
	}
	return string(b), off, p.pad(n)
}

func (p *parser) expect(want string) error {
	tok, off, err := p.token()
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) && fe.Err == nil {
			return p.errorf(off, "expected %q: %s", want, fe.Msg)
		}
		return err
	}
	if tok != want {
		return p.errorf(off, "expected %q, found %q", want, tok)
	}
	return nil
}

func (p *parser) archive() error {
	tok, off, err := p.token()
	if err != nil || tok != magic {
		var fe *FormatError
		if err == nil || errors.As(err, &fe) && fe.Err == nil {
			return p.errorf(off, "not a Nix archive: bad magic")
		}
		return err
	}
	if err := p.node("", 0); err != nil {
		return err
	}
	off = p.off
	if _, err := p.r.ReadByte(); err != io.EOF {
		if err != nil {
			return p.short(err)
		}
		return p.errorf(off, "trailing data after the archive")
	}
	return nil
}

func (p *parser) node(path string, depth int) error {
	if err := p.expect("("); err != nil {
		return err
	}
	if err := p.expect("type"); err != nil {
		return err
	}
	typ, off, err := p.token()
	if err != nil {
		return err
	}
	switch typ {
	case "regular":
		err = p.regular(path)
	case "symlink":
		err = p.symlink(path)
	case "directory":
		return p.directory(path, depth)
	default:
		return p.errorf(off, "unknown node type %q", typ)
	}
	if err != nil {
		return err
	}
	return p.expect(")")
}

func (p *parser) regular(path string) error {
	tok, off, err := p.token()
	if err != nil {
		return err
	}
	exec := false
	if tok == "executable" {
		exec = true
		if err := p.expect(""); err != nil {
			return err
		}
		if tok, off, err = p.token(); err != nil {
			return err
		}
	}
	if tok != "contents" {
		return p.errorf(off, "expected \"contents\", found %q", tok)
	}
	off = p.off
	size, err := p.uint64()
	if err != nil {
		return err
	}
	if size > math.MaxInt64 {
		return p.errorf(off, "file %q has impossible size %d", path, size)
	}
	c := &contents{p: p, left: int64(size)}
	if err := p.fn(Entry{Path: path, Type: Regular, Executable: exec, Size: int64(size), Contents: c}); err != nil {
		return err
	}
	for c.left > 0 {
		n, err := p.r.Discard(int(min(c.left, 1<<30)))
		c.left -= int64(n)
		p.off += int64(n)
		if err != nil {
			return p.short(err)
		}
	}
	return p.pad(size)
}

func (p *parser) symlink(path string) error {
	if err := p.expect("target"); err != nil {
		return err
	}
	b, off, err := p.bytes(p.str[:maxTarget], "symlink target")
	if err != nil {
		return err
	}
	target := string(b)
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return p.errorf(off, "symlink %q has invalid target %q", path, target)
	}
	return p.fn(Entry{Path: path, Type: Symlink, Target: target})
}

func (p *parser) directory(path string, depth int) error {
	if err := p.fn(Entry{Path: path, Type: Directory}); err != nil {
		return err
	}
	prev, first := "", true
	for {
		tok, off, err := p.token()
		if err != nil {
			return err
		}
		if tok == ")" { // the node's own closing parenthesis
			return nil
		}
		if tok != "entry" {
			return p.errorf(off, "expected \"entry\" or \")\", found %q", tok)
		}
		if err := p.expect("("); err != nil {
			return err
		}
		if err := p.expect("name"); err != nil {
			return err
		}
		b, off, err := p.bytes(p.str[:maxName], "file name")
		if err != nil {
			return err
		}
		name := string(b)
		if !validName(name) {
			return p.errorf(off, "invalid file name %q in directory %q", name, path)
		}
		if !first && name <= prev {
			if name == prev {
				return p.errorf(off, "duplicate entry %q in directory %q", name, path)
			}
			return p.errorf(off, "entry %q after %q: entries not sorted", name, prev)
		}
		prev, first = name, false
		if err := p.expect("node"); err != nil {
			return err
		}
		if depth+1 > maxDepth {
			return p.errorf(off, "directories nested deeper than %d", maxDepth)
		}
		child := name
		if path != "" {
			child = path + "/" + name
		}
		if err := p.node(child, depth+1); err != nil {
			return err
		}
		if err := p.expect(")"); err != nil {
			return err
		}
	}
}

// contents reads one file's data straight from the archive.
type contents struct {
	p    *parser
	left int64
}

func (c *contents) Read(b []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.p.r.Read(b)
	c.left -= int64(n)
	c.p.off += int64(n)
	if n > 0 {
		return n, nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return 0, c.p.short(err)
}
