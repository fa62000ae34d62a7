// Package scratch owns working directories that a killed den leaves behind only until the next
// run: each is locked while in use, and Sweep removes those whose lock can be taken.
//
// The lock is flock(2) on the directory itself, so it dies with its process however that process
// ends (SIGKILL included) and needs no file of its own, the way the store's temp roots work.
// Creating and locking are two steps, so a sweeper may lock and remove a directory in between;
// Make then sees that the path no longer names the directory it locked and makes another.
package scratch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Dir is a directory locked by this process.
type Dir struct {
	Path string
	f    *os.File
}

// Make creates a new directory in parent named prefix followed by a random string, as
// os.MkdirTemp does, and locks it.
func Make(parent, prefix string) (*Dir, error) {
	for range 10 {
		p, err := os.MkdirTemp(parent, prefix)
		if err != nil {
			return nil, err
		}
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // swept already
		}
		if err != nil {
			return nil, err
		}
		// Blocking: a sweeper that got here first holds the lock only while it removes the tree.
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
		if same(f, p) {
			return &Dir{Path: p, f: f}, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("cannot make a directory in %s: another process keeps removing it", parent)
}

// same reports whether path still names the directory open as f.
func same(f *os.File, path string) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	li, err := os.Lstat(path)
	return err == nil && os.SameFile(fi, li)
}

// Remove deletes the directory and everything in it, then unlocks it.
func (d *Dir) Remove() error {
	err := removeTree(d.Path)
	d.f.Close()
	return err
}

// Sweep removes the directories in parent whose names start with prefix, that belong to this
// process's user and that no live process has locked: the leftovers of a den that was killed.
// It skips what it cannot open or lock, and reports only a parent it cannot read.
func Sweep(parent, prefix string) error {
	ents, err := os.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		sweepOne(filepath.Join(parent, e.Name()))
	}
	return nil
}

func sweepOne(p string) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return
	}
	// In a shared directory such as /tmp, another user's directories are theirs to clean.
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Geteuid() {
		return
	}
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return // in use
	}
	if same(f, p) {
		removeTree(p)
	}
}

// removeTree deletes a tree whose directories a build may have made read-only.
func removeTree(root string) error {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(root)
}
