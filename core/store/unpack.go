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
	buf := make([]byte, 256<<10)
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
				return streamFile(path, mode, e.Contents, buf)
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

// streamFile writes a large file's contents; errors reading the archive come through unchanged.
func streamFile(path string, mode uint32, r io.Reader, buf []byte) error {
	fd, err := create(path, mode)
	if err != nil {
		return err
	}
	for err == nil {
		n, rerr := r.Read(buf)
		if n > 0 {
			err = writeAll(fd, path, buf[:n])
		}
		if rerr == io.EOF {
			break
		}
		if err == nil {
			err = rerr
		}
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = fmt.Errorf("unpack: close %s: %w", path, cerr)
	}
	return err
}
