package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/den-sh/den/core/storepath"
	"golang.org/x/sys/unix"
)

// LockPath takes the per-path lock that makes two processes realizing the same path build it
// once. Callers re-check validity after it returns.
func (s *Store) LockPath(p storepath.Path) (unlock func(), err error) {
	f, err := openLock(filepath.Join(s.lockDir, p.HashPart()+".lock"))
	if err != nil {
		return nil, err
	}
	if err := flockRetry(f, unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// flockRetry is flock that a signal delivered while it waits does not fail.
func flockRetry(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

// The GC lock is shared by everything that adds paths and exclusive for the collector, so a
// collection never sees a half-added path, its temp directory or a temp root being written.
// lockedfile has no shared mode, hence flock directly. Both sides change the store, so both
// need the store dir to be this state dir's.
func (s *Store) gcLock(how int) (unlock func(), err error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	f, err := openLock(filepath.Join(s.lockDir, "gc.lock"))
	if err != nil {
		return nil, err
	}
	if err := flockRetry(f, how); err != nil {
		f.Close()
		return nil, err
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// Adding holds the GC lock shared while a caller adds or builds paths.
func (s *Store) Adding() (unlock func(), err error) { return s.gcLock(unix.LOCK_SH) }

// TempRoots keeps paths alive for as long as this process runs: a collection running meanwhile
// treats them as roots. The file is locked while the process lives; a collector that can lock it
// knows its owner is gone.
type TempRoots struct {
	mu   sync.Mutex
	f    *os.File
	seen map[storepath.Path]bool
}

// TempRoots opens this process's temp-roots file.
//
// A store this state dir may not change has none (nil): it is not collected from here, and in a
// shared store this user is not a member of, the temp-roots dir is not theirs to write.
func (s *Store) TempRoots() (*TempRoots, error) {
	if s.claimErr != nil {
		return nil, nil
	}
	s.sweepTempRoots()
	name := filepath.Join(s.StateDir, "temproots", strconv.Itoa(os.Getpid()))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if errors.Is(err, fs.ErrPermission) && s.shared {
		// A file another user's process with this pid left when it died.
		os.Remove(name)
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	}
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return &TempRoots{f: f, seen: map[storepath.Path]bool{}}, nil
}

// Add records p as in use.
func (t *TempRoots) Add(p storepath.Path) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen[p] {
		return nil
	}
	t.seen[p] = true
	_, err := t.f.WriteString(string(p) + "\n")
	return err
}

// Close removes the temp-roots file.
func (t *TempRoots) Close() {
	if t == nil {
		return
	}
	os.Remove(t.f.Name())
	t.f.Close()
}

// sweepTempRoots removes the temp-roots files of processes that ended, once there are many: the
// launcher's den x leaves its file behind when the command it became ends (nothing of den is
// left to remove it), and only a collection would otherwise.
func (s *Store) sweepTempRoots() {
	dir := filepath.Join(s.StateDir, "temproots")
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) < 64 {
		return
	}
	for _, e := range ents {
		// A file just made may not be locked yet by its process: only old ones are looked at.
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < 10*time.Second {
			continue
		}
		name := filepath.Join(dir, e.Name())
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.Remove(name) // nobody holds it
		}
		f.Close()
	}
}

// liveTempRoots reads the temp roots of running processes and deletes the files of dead ones.
func (s *Store) liveTempRoots() (map[storepath.Path]bool, error) {
	dir := filepath.Join(s.StateDir, "temproots")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	roots := map[storepath.Path]bool{}
	for _, e := range ents {
		name := filepath.Join(dir, e.Name())
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil {
			// Nobody holds it: its process is gone.
			f.Close()
			os.Remove(name)
			continue
		}
		data, err := os.ReadFile(name)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read temp roots %s: %w", name, err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if p, err := s.ParsePath(line); err == nil {
				roots[p] = true
			}
		}
	}
	return roots, nil
}
