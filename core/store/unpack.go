package store

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/den-sh/den/core/nar"
	"golang.org/x/sys/unix"
)

// UnpackNAR restores the archive read from r at dest, which must not exist, as nar.Restore does,
// for a substitution. Creating a file is the slow part of unpacking a large tree (the kernel's
// inode and journal work, far more than writing the bytes), and it is one file after another in
// nar.Restore; here small files are read from the stream into buffers and created and written by
// a few goroutines at once, while directories, symlinks and large files are made in stream order
// by the caller's goroutine. Each directory's files go to one goroutine: creating a file locks its
// directory, and goroutines creating in the same directory would only wait for each other. A
// directory is made before any of its entries is handed out, and every file is created
// exclusively, so nothing is created outside dest. Memory in flight is bounded by unpackQueue
// small files per goroutine. If anything fails, dest is removed again.
func UnpackNAR(r io.Reader, dest string) (err error) {
	u := &unpacker{}
	for range min(runtime.GOMAXPROCS(0), 4) {
		jobs := make(chan unpackJob, unpackQueue)
		u.queues = append(u.queues, jobs)
		u.wg.Add(1)
		go u.work(jobs)
	}
	created := false
	defer func() {
		for _, q := range u.queues {
			close(q)
		}
		u.wg.Wait()
		if err == nil {
			err = u.failure()
		}
		if err != nil && created {
			RemoveTree(dest)
		}
	}()
	var buf []byte // for large files, made on the first one
	return nar.Walk(r, func(e nar.Entry) error {
		if err := u.failure(); err != nil {
			return err
		}
		path := dest
		if e.Path != "" {
			path = dest + "/" + e.Path
		}
		switch e.Type {
		case nar.Directory:
			if err := os.Mkdir(path, 0o755); err != nil {
				return fmt.Errorf("unpack: %w", err)
			}
		case nar.Symlink:
			if err := os.Symlink(e.Target, path); err != nil {
				return fmt.Errorf("unpack: %w", err)
			}
		case nar.Regular:
			mode := uint32(0o644)
			if e.Executable {
				mode = 0o755
			}
			if e.Size > unpackSmall {
				created = true
				if buf == nil {
					buf = alignedBuffer(directChunk)
				}
				return streamFile(path, mode, e.Size, e.Contents, buf)
			}
			data := u.buffer(int(e.Size))
			if _, err := io.ReadFull(e.Contents, data); err != nil {
				return err
			}
			dir := ""
			if i := strings.LastIndexByte(e.Path, '/'); i >= 0 {
				dir = e.Path[:i]
			}
			h := fnv.New32a()
			h.Write([]byte(dir))
			u.queues[h.Sum32()%uint32(len(u.queues))] <- unpackJob{path: path, mode: mode, data: data}
		}
		created = true
		return nil
	})
}

const (
	unpackQueue = 32
	unpackSmall = 128 << 10 // files up to this size are written by the workers
)

type unpackJob struct {
	path string
	mode uint32
	data []byte
}

type unpacker struct {
	queues []chan unpackJob
	wg     sync.WaitGroup
	pool   sync.Pool
	mu     sync.Mutex
	err    error
}

func (u *unpacker) buffer(n int) []byte {
	if b, ok := u.pool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]byte, n, max(n, 16<<10))
}

func (u *unpacker) failure() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

func (u *unpacker) work(jobs <-chan unpackJob) {
	defer u.wg.Done()
	for j := range jobs {
		if u.failure() != nil {
			continue // drain, so the walk never blocks on a full queue
		}
		if err := writeData(j.path, j.mode, j.data); err != nil {
			u.mu.Lock()
			if u.err == nil {
				u.err = err
			}
			u.mu.Unlock()
		}
		b := j.data
		u.pool.Put(&b)
	}
}

// create opens a new file with the raw system calls: an *os.File would also try to register each
// file with the runtime's poller, a few wasted system calls per file.
func create(path string, mode uint32) (int, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, mode)
	if err != nil {
		return -1, fmt.Errorf("unpack: create %s: %w", path, err)
	}
	return fd, nil
}

func writeAll(fd int, path string, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("unpack: write %s: %w", path, err)
		}
		b = b[n:]
	}
	return nil
}

func writeData(path string, mode uint32, data []byte) error {
	fd, err := create(path, mode)
	if err != nil {
		return err
	}
	err = writeAll(fd, path, data)
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = fmt.Errorf("unpack: close %s: %w", path, cerr)
	}
	return err
}

// Large files are written with O_DIRECT: the bytes go from den's buffer to the disk, not through
// the page cache. Copying a substituted closure into the page cache is the largest single cost
// of substituting it (more than decompressing or hashing it), and the sync that must follow
// before the path is registered would write those pages out again; a direct write does both
// at once and leaves the sync little to do. Small files keep buffered writes: a direct write
// waits for the disk, which for many small files would cost more than it saves.
const (
	directMin   = 1 << 20 // files from this size are written directly
	directAlign = 4096    // buffer address and write length alignment O_DIRECT needs
	directChunk = 1 << 20 // bytes per write
)

// alignedBuffer returns n bytes starting at a directAlign boundary.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+directAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1)); r != 0 {
		off = directAlign - r
	}
	return b[off : off+n : off+n]
}

// streamFile writes a large file's size bytes of contents from r; errors reading the archive
// come through unchanged. buf is aligned for O_DIRECT (see directMin). A filesystem that
// refuses direct I/O, on open or on a write, gets buffered writes instead.
func streamFile(path string, mode uint32, size int64, r io.Reader, buf []byte) error {
	direct := size >= directMin
	var fd int
	var err error
	if direct {
		fd, err = unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_DIRECT, mode)
		if errors.Is(err, unix.EINVAL) {
			direct = false
		} else if err != nil {
			return fmt.Errorf("unpack: create %s: %w", path, err)
		}
	}
	if !direct {
		if fd, err = create(path, mode); err != nil {
			return err
		}
	}
	buffered := func() error {
		direct = false
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err == nil {
			_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags&^unix.O_DIRECT)
		}
		if err != nil {
			return fmt.Errorf("unpack: write %s: %w", path, err)
		}
		return nil
	}
	for left := size; left > 0 && err == nil; {
		n := int(min(int64(len(buf)), left))
		if _, err = io.ReadFull(r, buf[:n]); err != nil {
			break
		}
		left -= int64(n)
		b := buf[:n]
		if direct {
			// Only whole blocks go directly; the file's last partial block is written
			// through the page cache.
			if whole := n &^ (directAlign - 1); whole > 0 {
				var done int
				done, err = writeDirect(fd, path, b[:whole])
				b = b[done:]
				if errors.Is(err, unix.EINVAL) {
					err = buffered()
				}
			}
			if err == nil && len(b) > 0 && direct {
				err = buffered()
			}
		}
		if err == nil && len(b) > 0 {
			err = writeAll(fd, path, b)
		}
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = fmt.Errorf("unpack: close %s: %w", path, cerr)
	}
	return err
}

// writeDirect writes b (whole blocks) to a file opened with O_DIRECT and returns how much it
// wrote. EINVAL comes back unwrapped: the filesystem refused direct I/O (or a short write left
// the offset unaligned), and the caller writes the rest through the page cache.
func writeDirect(fd int, path string, b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n, err := unix.Write(fd, b[done:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EINVAL) {
			return done, err
		}
		if err != nil {
			return done, fmt.Errorf("unpack: write %s: %w", path, err)
		}
		done += n
	}
	return done, nil
}
