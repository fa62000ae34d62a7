package store

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/den-sh/den/core/storepath"
	"golang.org/x/sys/unix"
)

// Roots finds every path kept alive: symlinks under gcroots (followed through any chain, so an
// indirect root in gcroots/auto pointing at a project's link counts while that link lives) and the
// temp roots of running den processes. Dangling indirect roots are removed, as Nix does.
func (s *Store) Roots() (map[storepath.Path][]string, error) {
	roots := map[storepath.Path][]string{}
	err := filepath.WalkDir(s.GCRootsDir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			if strings.HasPrefix(p, filepath.Join(s.GCRootsDir(), "auto")+"/") {
				os.Remove(p)
			}
			return nil
		}
		if sp, err := s.ParsePath(target); err == nil {
			roots[sp] = append(roots[sp], p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	temp, err := s.liveTempRoots()
	if err != nil {
		return nil, err
	}
	for p := range temp {
		roots[p] = append(roots[p], "{temp}")
	}
	return roots, nil
}

// GCResult says what a collection removed, or would remove.
type GCResult struct {
	Deleted []storepath.Path
	Bytes   int64
}

// GC deletes every store path not reachable from a root, the debris of interrupted operations,
// and unused entries of the optimiser's link farm. With dryRun it only reports.
func (s *Store) GC(dryRun bool) (*GCResult, error) {
	unlock, err := s.gcLock(unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	roots, err := s.Roots()
	if err != nil {
		return nil, err
	}
	all, err := s.All()
	if err != nil {
		return nil, err
	}
	live := map[storepath.Path]bool{}
	valid := map[storepath.Path]PathInfo{}
	for _, i := range all {
		valid[i.Path] = i
	}
	var mark func(p storepath.Path)
	mark = func(p storepath.Path) {
		if live[p] {
			return
		}
		live[p] = true
		for _, r := range valid[p].References {
			mark(r)
		}
	}
	for p := range roots {
		mark(p)
	}
	res := &GCResult{}
	var dead []storepath.Path
	for _, i := range all {
		if !live[i.Path] {
			dead = append(dead, i.Path)
		}
	}
	// Unregistered entries are debris from killed processes; no one holds them (we have the
	// exclusive GC lock, so no build is under way).
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, err
	}
	var debris []string
	for _, e := range ents {
		name := e.Name()
		if name == ".links" || name == TempDirName {
			continue
		}
		if _, ok := valid[storepath.Path(filepath.Join(s.Dir, name))]; !ok {
			debris = append(debris, filepath.Join(s.Dir, name))
		}
	}
	sort.Slice(dead, func(i, j int) bool { return dead[i] < dead[j] })
	for _, p := range dead {
		res.Deleted = append(res.Deleted, p)
		res.Bytes += diskUsage(string(p))
	}
	if dryRun {
		return res, nil
	}
	// Unregister first: a crash after this leaves only debris, never a valid path with missing
	// files.
	if err := s.unregister(dead); err != nil {
		return nil, err
	}
	for _, p := range dead {
		if err := RemoveTree(string(p)); err != nil {
			return nil, fmt.Errorf("delete %s: %w", p, err)
		}
	}
	for _, d := range debris {
		res.Bytes += diskUsage(d)
		RemoveTree(d)
	}
	tmps, _ := os.ReadDir(s.tmpDir)
	for _, e := range tmps {
		RemoveTree(filepath.Join(s.tmpDir, e.Name()))
	}
	res.Bytes += s.pruneLinks()
	return res, nil
}

// diskUsage counts the bytes of regular files under p that have no other hard link.
func diskUsage(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				// Linked by the optimiser: the inode is freed, and counted, when pruneLinks
				// removes its last link, the .links entry.
				return nil
			}
			n += fi.Size()
		}
		return nil
	})
	return n
}

// pruneLinks removes link-farm entries no store path uses any more.
func (s *Store) pruneLinks() int64 {
	dir := filepath.Join(s.Dir, ".links")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var freed int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 1 {
			freed += fi.Size()
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return freed
}
