package store

import (
	"errors"
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
		if errors.Is(err, fs.ErrNotExist) {
			// Its link is gone. Only this user's dangling roots are removed: another user's
			// keeps nothing, and is theirs (or root's) to remove.
			if fi, lerr := os.Lstat(p); lerr == nil && owns(fi) && strings.HasPrefix(p, filepath.Join(s.GCRootsDir(), "auto")+"/") {
				os.Remove(p)
			}
			return nil
		}
		if err != nil {
			// Another user's root through a home this user may not read: what it keeps is
			// unknown, so nothing may be collected.
			link, _ := os.Readlink(p)
			return &UnreadableRootError{Root: p, Link: link, Err: err}
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

// UnreadableRootError is a root the collector cannot follow, so it collects nothing.
type UnreadableRootError struct {
	Root, Link string
	Err        error
}

func (e *UnreadableRootError) Error() string {
	return fmt.Sprintf("cannot follow the GC root %s (to %s): %v; nothing was deleted, since it may keep any path", e.Root, e.Link, unwrapPath(e.Err))
}

// Hints says how to collect anyway.
func (e *UnreadableRootError) Hints() []string {
	return []string{"in a store shared by several users, run the collection as root (sudo den store gc) or as the user whose project it is"}
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// GCResult says what a collection removed, or would remove.
type GCResult struct {
	Deleted []storepath.Path // valid paths no root reaches
	// Debris is what den left behind and nothing uses: temp dirs of interrupted publishes,
	// unregistered entries with store path names (a killed in-place build), build dirs of
	// builds that are no longer running.
	Debris []string
	// Kept is what the store dir holds that den did not create, by its name: reported, never
	// deleted.
	Kept []string
	// Others is what another user's files made this collection leave (in a shared store):
	// unregistered and renamed aside, for their owner's collection or root's to delete.
	Others []string
	Bytes  int64
}

// GC deletes every store path not reachable from a root, the debris of interrupted operations,
// and unused entries of the optimiser's link farm. With dryRun it only reports. It deletes only
// what is den's by its name: the store paths of this store, entries of den's temp area, and build
// dirs in the state dir; anything else in the store dir is reported in Kept and left alone.
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
		// A state dir may own several store dirs; the others' paths are not this one's to
		// collect.
		if s.holds(i.Path) {
			valid[i.Path] = i
		}
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
	for p := range valid {
		if !live[p] {
			dead = append(dead, p)
		}
	}
	// Unregistered entries are debris from killed processes; no one holds them (we have the
	// exclusive GC lock, so no build is under way).
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		name := e.Name()
		full := filepath.Join(s.Dir, name)
		switch {
		case name == MarkerName || name == markerTemp || name == linksDirName:
		case isTrash(name):
			res.Debris = append(res.Debris, full)
		case name == TempDirName:
			tmps, _ := os.ReadDir(s.tmpDir)
			for _, t := range tmps {
				res.Debris = append(res.Debris, filepath.Join(s.tmpDir, t.Name()))
			}
		case valid[storepath.Path(full)].Path != "":
		case isStorePathName(s.Dir, full):
			res.Debris = append(res.Debris, full)
		default:
			res.Kept = append(res.Kept, full)
		}
	}
	builds, err := s.unusedBuildDirs()
	if err != nil {
		return nil, err
	}
	res.Debris = append(res.Debris, builds...)
	sort.Slice(dead, func(i, j int) bool { return dead[i] < dead[j] })
	for _, p := range dead {
		res.Deleted = append(res.Deleted, p)
		res.Bytes += diskUsage(string(p))
	}
	for _, d := range res.Debris {
		res.Bytes += diskUsage(d)
	}
	if dryRun {
		return res, nil
	}
	// Unregister first: a crash after this leaves only debris, never a valid path with missing
	// files.
	if err := s.unregister(dead); err != nil {
		return nil, err
	}
	deleted := res.Deleted[:0]
	for _, p := range res.Deleted {
		if err := RemoveTree(string(p)); err != nil {
			// Nothing of another user's tree went: what it holds was counted as freed.
			n := diskUsage(string(p))
			if s.othersFiles(string(p), err) {
				res.Bytes -= n
				res.Others = append(res.Others, string(p))
				continue
			}
			return nil, fmt.Errorf("delete %s: %w", p, err)
		}
		deleted = append(deleted, p)
	}
	res.Deleted = deleted
	var failed error
	debris := res.Debris[:0]
	for _, d := range res.Debris {
		if err := removeSameFS(d); err != nil {
			n := diskUsage(d)
			if s.othersFiles(d, err) {
				res.Bytes -= n
				res.Others = append(res.Others, d)
				continue
			} else if failed == nil {
				failed = fmt.Errorf("delete %s: %w", d, err)
			}
		}
		debris = append(debris, d)
	}
	res.Debris = debris
	res.Bytes += s.pruneLinks()
	return res, failed
}

// othersFiles says whether deleting p failed on another user's files in a shared store, and then
// renames a store entry aside (see discard) so that its name is free to realize again.
func (s *Store) othersFiles(p string, err error) bool {
	if !s.shared || !errors.Is(err, fs.ErrPermission) {
		return false
	}
	if filepath.Dir(p) == s.Dir && !isTrash(filepath.Base(p)) {
		s.discard(p)
	}
	return true
}

// holds reports whether p is a path of this store dir.
func (s *Store) holds(p storepath.Path) bool { return filepath.Dir(string(p)) == s.Dir }

// isStorePathName reports whether full is named like a path of the store dir: only den (or Nix)
// gives a directory such a name, so an unregistered one is debris.
func isStorePathName(storeDir, full string) bool {
	_, err := storepath.Parse(storeDir, full)
	return err == nil
}

// BuildsDir is where builds get their build dirs.
func (s *Store) BuildsDir() string { return filepath.Join(s.StateDir, "builds") }

// BuildLockName is the file directly inside a build dir that a running build holds flock'ed.
//
// The contract between the builder and the collector: a build dir under BuildsDir is in use while
// the file named BuildLockName directly inside it is locked (flock LOCK_EX or LOCK_SH by the
// build's process); the collector tests it with LOCK_EX|LOCK_NB and deletes the dir when that
// succeeds or the file is missing. The builder creates a build dir and takes that lock only
// while it holds the store's shared GC lock (inside Ensure), so a collection, which holds the
// lock exclusively, never sees a build dir between its creation and its lock.
const BuildLockName = "lock"

// unusedBuildDirs lists the build dirs no running build holds (see BuildLockName): the debris of
// killed builds.
func (s *Store) unusedBuildDirs() ([]string, error) {
	ents, err := os.ReadDir(s.BuildsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		dir := filepath.Join(s.BuildsDir(), e.Name())
		if e.IsDir() && buildInUse(dir) {
			continue
		}
		out = append(out, dir)
	}
	return out, nil
}

func buildInUse(dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, BuildLockName), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return true
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

// removeSameFS deletes a tree of debris like RemoveTree, but refuses one that holds a mount
// point: a build dir that a sandbox still has something mounted on (its mount namespace should
// make that invisible here, but deleting through a bind mount would delete what it shows).
func removeSameFS(root string) error {
	fi, err := os.Lstat(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	dev := fi.Sys().(*syscall.Stat_t).Dev
	var mount string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if i, err := d.Info(); err == nil && i.Sys().(*syscall.Stat_t).Dev != dev {
			mount = p
			return filepath.SkipAll
		}
		return nil
	})
	if mount != "" {
		return fmt.Errorf("%s is a mount point; unmount it first", mount)
	}
	return RemoveTree(root)
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
	dir := filepath.Join(s.Dir, linksDirName)
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
