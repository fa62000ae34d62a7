package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/den-sh/den/core/nar"
	"golang.org/x/sys/unix"
)

// OptimiseResult says what hard-linking saved.
type OptimiseResult struct {
	Files int   // files replaced by a link
	Saved int64 // bytes
}

// Optimise hard-links identical files across the store through Nix's link farm, .links/<nix32 of
// the file's NAR hash>. The NAR hash covers the executable bit, so an executable and a
// non-executable copy of the same bytes never share an inode.
func (s *Store) Optimise() (*OptimiseResult, error) {
	unlock, err := s.Adding()
	if err != nil {
		return nil, err
	}
	defer unlock()
	links := filepath.Join(s.Dir, linksDirName)
	if err := os.MkdirAll(links, 0o755); err != nil {
		return nil, err
	}
	all, err := s.All()
	if err != nil {
		return nil, err
	}
	res := &OptimiseResult{}
	for _, info := range all {
		if !s.holds(info.Path) {
			continue // a path of another store this state dir also owns
		}
		err := filepath.WalkDir(string(info.Path), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			st := fi.Sys().(*syscall.Stat_t)
			h, _, err := nar.Hash(p)
			if err != nil {
				return err
			}
			link := filepath.Join(links, h.Nix32())
			lfi, err := os.Lstat(link)
			if errors.Is(err, fs.ErrNotExist) {
				if err := os.Link(p, link); err != nil && !errors.Is(err, fs.ErrExist) {
					return err
				}
				return nil
			}
			if err != nil {
				return err
			}
			if lst := lfi.Sys().(*syscall.Stat_t); lst.Ino == st.Ino && lst.Dev == st.Dev {
				return nil
			}
			if err := replaceWithLink(p, link); err != nil {
				return err
			}
			res.Files++
			res.Saved += fi.Size()
			return nil
		})
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// replaceWithLink swaps p for a hard link to link atomically: link to a temp name beside p, then
// rename over p, with the parent made writable only for the moment.
func replaceWithLink(p, link string) error {
	dir := filepath.Dir(p)
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	defer func() {
		os.Chmod(dir, 0o555)
		ts := []unix.Timespec{{Sec: 1}, {Sec: 1}}
		unix.UtimesNanoAt(unix.AT_FDCWD, dir, ts, unix.AT_SYMLINK_NOFOLLOW)
	}()
	tmp := filepath.Join(dir, ".den-link-tmp")
	os.Remove(tmp)
	if err := os.Link(link, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
