package nar

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"github.com/den-sh/den/core/hash"
)

// Dump writes the NAR serialisation of path to w, as nix-store --dump does. path itself is not
// followed if it is a symlink. Anything but regular files, symlinks and directories is refused.
func Dump(w io.Writer, path string) error {
	_, err := write(w, path)
	return err
}

// Hash returns the narHash (sha256) and narSize of path without holding the archive in memory.
func Hash(path string) (h hash.Hash, narSize int64, err error) {
	d := sha256.New()
	n, err := write(d, path)
	if err != nil {
		return hash.Hash{}, 0, err
	}
	return hash.FromHasher(hash.SHA256, d), n, nil
}

// HashAndScan is Hash that also reports which candidates, nix32 hash parts of store paths, occur
// anywhere in the archive; these are the path's references. found is sorted.
func HashAndScan(path string, candidates []string) (h hash.Hash, narSize int64, found []string, err error) {
	d := sha256.New()
	s := NewScanner(candidates)
	n, err := write(io.MultiWriter(d, s), path)
	if err != nil {
		return hash.Hash{}, 0, nil, err
	}
	return hash.FromHasher(hash.SHA256, d), n, s.Found(), nil
}

// Reading files one after another leaves the hasher idle during every open and read, which for a
// tree of many small files (a toolchain) costs about as much as hashing. So write runs a
// pipeline: one goroutine walks the tree and records the archive's structure in slots of up to
// slotFiles files, a few readers each turn a slot into archive bytes, and the caller's goroutine
// writes the slots' bytes to w in order. Batching files into slots keeps goroutine handoffs to a
// few per slot rather than a few per file, which matters more than the parallelism on a machine
// with few cores. The numbers below were picked by timing Hash on a Go toolchain; memory in
// flight is at most ringSize*slotBuffers*chunkSize, allocated only as slots need it.
const (
	window      = 8               // slots queued for the writer
	ringSize    = window + 2      // slots that can be in use at once; see walker.hand
	readers     = 4               // slots filled concurrently
	slotFiles   = 64              // files per slot
	flushHead   = 16 << 10        // structure bytes that end a slot even without files
	chunkSize   = 256 << 10       // the largest piece, and so the largest write to w
	chunksAhead = 1               // pieces of a slot a reader queues before the writer takes them
	slotBuffers = chunksAhead + 2 // see pipeline.next
)

// A slot carries one stretch of the archive: structure bytes, with the contents (and contents
// header) of regular files spliced in at recorded offsets.
type slot struct {
	head   []byte
	files  []file
	err    error // the walk failed after head; the archive ends with it
	end    bool  // the last slot
	pieces chan piece
	bufs   [slotBuffers][]byte
	k      int // pieces sent so far; piece k is built in bufs[k%slotBuffers]
}

// file is a regular file whose header and contents go at offset at of its slot's head.
type file struct {
	at   int
	path string
}

// A piece is the next stretch of a slot's bytes, or an error that ends the archive.
type piece struct {
	data []byte
	last bool
	err  error
}

type pipeline struct {
	ring  [ringSize]slot
	order chan *slot // every slot, in archive order, to the writer
	work  chan *slot // slots with files, in the same order, to the readers
	done  chan struct{}
	wg    sync.WaitGroup
}

// stopped is returned inside the pipeline when the writer has given up.
type stopped struct{}

func (stopped) Error() string { return "nar: stopped" }

func write(w io.Writer, root string) (int64, error) {
	p := &pipeline{
		order: make(chan *slot, window),
		work:  make(chan *slot, ringSize),
		done:  make(chan struct{}),
	}
	for i := range p.ring {
		p.ring[i].pieces = make(chan piece, chunksAhead)
	}
	p.wg.Add(1 + readers)
	go p.walk(root)
	for range readers {
		go p.read()
	}
	n, err := p.writeTo(w)
	close(p.done)
	p.wg.Wait()
	return n, err
}

// writeTo is the consumer: it takes slots and their pieces strictly in archive order.
func (p *pipeline) writeTo(w io.Writer) (int64, error) {
	var total int64
	for {
		s := <-p.order
		if s.err != nil {
			return total, s.err
		}
		if len(s.files) == 0 {
			n, err := w.Write(s.head)
			total += int64(n)
			if err != nil || s.end {
				return total, err
			}
			continue
		}
		for {
			m := <-s.pieces
			if m.err != nil {
				return total, m.err
			}
			n, err := w.Write(m.data)
			total += int64(n)
			if err != nil {
				return total, err
			}
			if m.last {
				break
			}
		}
		if s.end {
			return total, nil
		}
	}
}

// walker records the archive's structure into slots, in order.
type walker struct {
	p   *pipeline
	n   int // slots handed over so far
	cur *slot
}

func (p *pipeline) walk(root string) {
	defer p.wg.Done()
	defer close(p.work)
	w := &walker{p: p, cur: &p.ring[0]}
	w.cur.head = appendString(w.cur.head[:0], magic)
	var err error
	if fi, lerr := os.Lstat(root); lerr != nil {
		err = fmt.Errorf("nar: %w", lerr)
	} else {
		err = w.node(root, fi.Mode().Type())
	}
	if _, ok := err.(stopped); ok {
		return
	}
	w.cur.err = err
	w.cur.end = true
	w.hand()
}

func (w *walker) node(path string, typ fs.FileMode) error {
	s := w.cur
	switch typ {
	case 0:
		s.head = appendStrings(s.head, "(", "type", "regular")
		s.files = append(s.files, file{at: len(s.head), path: path})
		s.head = appendString(s.head, ")")
		if len(s.files) == slotFiles {
			return w.hand()
		}
	case fs.ModeSymlink:
		target, err := os.Readlink(path)
		if err != nil {
			return fmt.Errorf("nar: %w", err)
		}
		s.head = appendStrings(s.head, "(", "type", "symlink", "target", target, ")")
	case fs.ModeDir:
		entries, err := os.ReadDir(path) // sorted bytewise, as Nix sorts
		if err != nil {
			return fmt.Errorf("nar: %w", err)
		}
		s.head = appendStrings(s.head, "(", "type", "directory")
		for _, e := range entries {
			w.cur.head = appendStrings(w.cur.head, "entry", "(", "name", e.Name(), "node")
			if err := w.node(join(path, e.Name()), e.Type()); err != nil {
				return err
			}
			w.cur.head = appendString(w.cur.head, ")")
			if len(w.cur.head) >= flushHead {
				if err := w.hand(); err != nil {
					return err
				}
			}
		}
		w.cur.head = appendString(w.cur.head, ")")
	default:
		return fmt.Errorf("nar: %s: cannot archive a %s; a NAR holds only regular files, symlinks and directories", path, kind(typ))
	}
	return nil
}

// hand gives the current slot to the writer (and to a reader, if it has files) and starts the
// next one.
//
// Reusing ring slots is safe because order holds at most window slots: once slot n-1 is in it,
// the writer has taken slot n-1-window and so finished slot n-2-window = n-ringSize, the previous
// user of slot n.
func (w *walker) hand() error {
	s := w.cur
	select {
	case w.p.order <- s:
	case <-w.p.done:
		return stopped{}
	}
	if len(s.files) > 0 {
		select {
		case w.p.work <- s:
		case <-w.p.done:
			return stopped{}
		}
	}
	w.n++
	w.cur = &w.p.ring[w.n%ringSize]
	w.cur.head = w.cur.head[:0]
	w.cur.files = w.cur.files[:0]
	w.cur.err = nil
	w.cur.end = false
	return nil
}

func (p *pipeline) read() {
	defer p.wg.Done()
	for s := range p.work {
		if !p.fill(s) {
			return
		}
	}
}

// fill sends s's bytes as pieces and reports whether the writer is still listening.
func (p *pipeline) fill(s *slot) bool {
	s.k = 0
	b := s.bufs[0][:0]
	prev := 0
	for _, f := range s.files {
		var ok bool
		if b, ok = p.put(s, b, s.head[prev:f.at]); !ok {
			return false
		}
		prev = f.at
		if b, ok = p.contents(s, b, f.path); !ok {
			return false
		}
	}
	b, ok := p.put(s, b, s.head[prev:])
	return ok && p.send(s, piece{data: b, last: true})
}

// contents appends a regular file's header, contents and padding. The file is opened without
// following symlinks and without blocking, and checked to be regular, because the tree may
// change between the walk and the read and a FIFO would hang us.
func (p *pipeline) contents(s *slot, b []byte, path string) ([]byte, bool) {
	fail := func(op string, err error) ([]byte, bool) {
		return nil, p.send(s, piece{err: fmt.Errorf("nar: %w", &os.PathError{Op: op, Path: path, Err: err})})
	}
	fd, err := open(path)
	if err != nil {
		return fail("open", err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := fstat(fd, &st); err != nil {
		return fail("fstat", err)
	}
	if uint32(st.Mode)&syscall.S_IFMT != syscall.S_IFREG {
		return nil, p.send(s, piece{err: fmt.Errorf("nar: %s: changed from a regular file while being archived", path)})
	}
	var hdr [48]byte
	h := hdr[:0]
	if uint32(st.Mode)&syscall.S_IXUSR != 0 {
		h = appendStrings(h, "executable", "")
	}
	h = appendString(h, "contents")
	h = binary.LittleEndian.AppendUint64(h, uint64(st.Size))
	b, ok := p.put(s, b, h)
	for left := st.Size; ok && left > 0; {
		if len(b) == cap(b) {
			if b, ok = p.next(s, b, int(left)); !ok {
				return nil, false
			}
		}
		n := int(min(left, int64(cap(b)-len(b))))
		if err := readFull(fd, b[len(b):len(b)+n]); err != nil {
			return fail("read", err)
		}
		b = b[:len(b)+n]
		left -= int64(n)
	}
	if !ok {
		return nil, false
	}
	var pad [8]byte
	return p.put(s, b, pad[:padding(uint64(st.Size))])
}

// put appends data to the piece being built, sending it whenever it fills.
func (p *pipeline) put(s *slot, b, data []byte) ([]byte, bool) {
	for len(data) > 0 {
		if len(b) == cap(b) {
			var ok bool
			if b, ok = p.next(s, b, len(data)); !ok {
				return nil, false
			}
		}
		n := copy(b[len(b):cap(b)], data)
		b = b[:len(b)+n]
		data = data[n:]
	}
	return b, true
}

// next makes room after the full piece b for want more bytes: it grows b while it is smaller
// than chunkSize, so that small slots use little memory, and otherwise sends b and returns the
// slot's next buffer, emptied.
//
// Piece k is built in buffer k mod slotBuffers. That buffer is free again when piece k is
// started: piece k-1 went into a channel of capacity chunksAhead, so the writer has taken piece
// k-1-chunksAhead and thus finished writing piece k-2-chunksAhead = k-slotBuffers.
func (p *pipeline) next(s *slot, b []byte, want int) ([]byte, bool) {
	i := s.k % slotBuffers
	if cap(b) < chunkSize {
		g := make([]byte, len(b), min(max(2*cap(b), len(b)+want, 16<<10), chunkSize))
		copy(g, b)
		s.bufs[i] = g
		return g, true
	}
	if !p.send(s, piece{data: b}) {
		return nil, false
	}
	s.k++
	return s.bufs[s.k%slotBuffers][:0], true
}

func (p *pipeline) send(s *slot, m piece) bool {
	select {
	case s.pieces <- m:
		return m.err == nil
	case <-p.done:
		return false
	}
}

func open(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

func fstat(fd int, st *syscall.Stat_t) error {
	for {
		err := syscall.Fstat(fd, st)
		if err != syscall.EINTR {
			return err
		}
	}
}

// readFull reads exactly len(b) bytes; a file that shrank since fstat is an error, as in Nix.
func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Read(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("file shrank while being archived")
		}
		b = b[n:]
	}
	return nil
}

func join(dir, name string) string {
	if dir != "" && dir[len(dir)-1] == '/' {
		return dir + name
	}
	return dir + "/" + name
}

func kind(typ fs.FileMode) string {
	switch {
	case typ&fs.ModeSocket != 0:
		return "socket"
	case typ&fs.ModeNamedPipe != 0:
		return "named pipe"
	case typ&fs.ModeCharDevice != 0:
		return "character device"
	case typ&fs.ModeDevice != 0:
		return "block device"
	}
	return "file of unknown type"
}
