package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/storepath"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// NewTemp makes a fresh directory under the store's temp area, on the store's filesystem so that
// publishing is a rename. The prefix (a path's hash part) lets the next realize of the same path
// find and remove debris left by a killed process.
func (s *Store) NewTemp(prefix string) (string, error) {
	var b [6]byte
	rand.Read(b[:])
	dir := filepath.Join(s.tmpDir, prefix+"."+hex.EncodeToString(b[:]))
	if err := os.MkdirAll(s.tmpDir, 0o755); err != nil {
		return "", err
	}
	return dir, os.Mkdir(dir, 0o755)
}

// CleanDebris removes what a killed process left behind for p: temp directories with its hash
// part and an unregistered directory at p itself. Callers hold p's lock and have found p invalid.
func (s *Store) CleanDebris(p storepath.Path) error {
	ents, _ := os.ReadDir(s.tmpDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), p.HashPart()+".") {
			if err := RemoveTree(filepath.Join(s.tmpDir, e.Name())); err != nil {
				return err
			}
		}
	}
	if _, err := os.Lstat(string(p)); err == nil {
		return s.discard(string(p))
	}
	return nil
}

// moveIn renames the canonical tree tmp to p in another directory. Moving a directory to another
// parent rewrites its ".." entry, which needs write permission on it: only root has that on a
// read-only directory, so the top is writable for the moment and made canonical again after.
func moveIn(tmp, p string) error {
	fi, err := os.Lstat(tmp)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return os.Rename(tmp, p)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Chmod(tmp, 0o555)
		return err
	}
	if err := os.Chmod(p, 0o555); err != nil {
		return err
	}
	ts := []unix.Timespec{{Sec: 1}, {Sec: 1}}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// RemoveTree deletes a tree that may have been made read-only.
func RemoveTree(root string) error {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(root)
}

// Publish makes the tree at tmp the valid store path p: it checks the tree, finds which of
// candidates (and p itself) it references, makes it read-only with Nix's canonical timestamps,
// hashes it, renames it into place and registers it. tmp may equal p when a build ran in place.
type Publish struct {
	Candidates []storepath.Path
	Deriver    storepath.Path
	CA         string
	// WantNarHash, when set, must equal the tree's hash (content-addressed paths).
	WantNarHash *hash.Hash
	// UsersOwn marks a tree the user added by content (den store add): its symlinks are kept
	// whatever they point at (/absolute/target, .., a link as the whole path), as nix-store --add
	// keeps them, since they are the user's own data and not a build's or a download's. Build
	// outputs and unpacked downloads leave it false and stay refused links that escape.
	UsersOwn bool
	// Substituted, when set, is the registration of a tree the caller restored from a NAR stream
	// whose NarHash and NarSize it checked while restoring (a substitution from a binary cache):
	// the tree is registered with it as is, references, deriver, CA and signatures included,
	// rather than hashed and scanned a second time, which for a large closure would cost as much
	// as the download. Its Path must be p. The tree is still made canonical and synced before
	// it is renamed into place and registered.
	Substituted *PathInfo
}

// Publish moves tmp to p and registers it; see the Publish type.
func (s *Store) Publish(tmp string, p storepath.Path, opt Publish) (*PathInfo, error) {
	if _, err := os.Lstat(tmp); err != nil {
		return nil, fmt.Errorf("%s: no output was produced", p.Name())
	}
	if opt.Substituted != nil {
		return s.publishSubstituted(tmp, p, *opt.Substituted)
	}
	if err := checkTree(tmp, s.Dir, opt.UsersOwn); err != nil {
		return nil, fmt.Errorf("output of %s: %w", p.Name(), err)
	}
	byPart := map[string]storepath.Path{p.HashPart(): p}
	parts := []string{p.HashPart()}
	for _, c := range opt.Candidates {
		if _, dup := byPart[c.HashPart()]; !dup {
			byPart[c.HashPart()] = c
			parts = append(parts, c.HashPart())
		}
	}
	h, size, found, err := nar.HashAndScan(tmp, parts)
	if err != nil {
		return nil, err
	}
	if opt.WantNarHash != nil && !opt.WantNarHash.Equal(h) {
		return nil, fmt.Errorf("%s: content hash mismatch: expected %s, got %s", p.Name(), opt.WantNarHash, h)
	}
	refs := []storepath.Path{}
	for _, f := range found {
		refs = append(refs, byPart[f])
	}
	info := PathInfo{Path: p, NarHash: h.String(), NarSize: size, References: refs, Deriver: opt.Deriver, CA: opt.CA}
	return s.install(tmp, info)
}

// publishSubstituted publishes a tree restored from a verified NAR. It does not run checkTree:
// a NAR restore creates nothing but files, directories and symlinks, all beneath tmp, and the
// content is exactly what the narinfo's signer published (links out of the store included, as
// Nix allows them in substituted paths).
func (s *Store) publishSubstituted(tmp string, p storepath.Path, info PathInfo) (*PathInfo, error) {
	if info.Path != p {
		return nil, fmt.Errorf("publish %s: the substituted registration is for %s", p, info.Path)
	}
	if _, err := hash.Parse(info.NarHash, ""); err != nil || info.NarSize <= 0 {
		return nil, fmt.Errorf("publish %s: the substituted registration has no valid NAR hash and size", p)
	}
	for _, r := range info.References {
		if r != p && filepath.Dir(string(r)) != s.Dir {
			return nil, fmt.Errorf("publish %s: its reference %s is not in the store %s", p, r, s.Dir)
		}
	}
	// Register checks this again in its transaction; checking first leaves no tree behind.
	err := s.db(false, func(tx *bolt.Tx) error {
		for _, r := range info.References {
			if r == p {
				continue
			}
			if known, err := getInfo(tx, r); err != nil {
				return err
			} else if known == nil {
				return fmt.Errorf("publish %s: its reference %s is not valid", p, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	info.RegistrationTime = 0
	return s.install(tmp, info)
}

// install makes tmp read-only and canonical, flushes it to disk, renames it to info.Path and
// registers it: the tail every published path shares.
func (s *Store) install(tmp string, info PathInfo) (*PathInfo, error) {
	p := info.Path
	if err := canonicalize(tmp); err != nil {
		return nil, err
	}
	if err := syncFS(filepath.Dir(tmp)); err != nil {
		return nil, err
	}
	if tmp != string(p) {
		if _, err := os.Lstat(string(p)); err == nil {
			if err := s.discard(string(p)); err != nil {
				return nil, err
			}
		}
		if err := moveIn(tmp, string(p)); err != nil {
			return nil, err
		}
		syncDir(s.Dir)
	}
	if err := s.Register(info); err != nil {
		return nil, err
	}
	return &info, nil
}

// checkTree rejects what a store path may not hold: special files (NAR cannot represent them)
// and, unless anyLinks, symlinks that lead out of both the tree and the store, followed through
// any other links in the tree (a link's text alone can look harmless: d/d/../../.. when d -> .).
func checkTree(root, storeDir string, anyLinks bool) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch mode := d.Type(); {
		case mode&fs.ModeSymlink != 0 && anyLinks:
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			where := linkEscapes(root, storeDir, rel)
			if rel == "." {
				// The path itself is a link: its target is read from the store dir.
				t := filepath.Join(storeDir, target)
				if filepath.IsAbs(target) {
					t = filepath.Clean(target)
				}
				if t != storeDir && !strings.HasPrefix(t, storeDir+"/") {
					where = "outside the store"
				}
			}
			if where != "" {
				return fmt.Errorf("symlink %s points to %s, %s", rel, target, where)
			}
		case mode.IsDir(), mode.IsRegular():
		default:
			return fmt.Errorf("%s is a %s; a store path holds only files, directories and symlinks", rel, mode.Type())
		}
		return nil
	})
}

// linkEscapes resolves the symlink at rel inside root the way the kernel would, one component at
// a time, and says where it leads if that is outside both the tree and the store ("" if not).
// An absolute target inside the store is accepted as is: store paths may point at each other.
func linkEscapes(root, storeDir, rel string) string {
	var dir []string // resolved components below root
	todo := []string{rel}
	for hops := 0; len(todo) > 0; {
		comp := todo[0]
		todo = todo[1:]
		if strings.Contains(comp, "/") {
			todo = append(strings.Split(comp, "/"), todo...)
			continue
		}
		switch comp {
		case "", ".":
			continue
		case "..":
			if len(dir) == 0 {
				return "outside the output"
			}
			dir = dir[:len(dir)-1]
			continue
		}
		cur := filepath.Join(append([]string{root}, append(dir, comp)...)...)
		fi, err := os.Lstat(cur)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			dir = append(dir, comp) // a dangling or plain component stays inside
			continue
		}
		if hops++; hops > 40 {
			return "through too many levels of symlinks"
		}
		target, err := os.Readlink(cur)
		if err != nil {
			return "unreadable"
		}
		if filepath.IsAbs(target) {
			t := filepath.Clean(target)
			if t == storeDir || strings.HasPrefix(t, storeDir+"/") {
				return ""
			}
			return "outside the store"
		}
		todo = append([]string{target}, todo...)
	}
	return ""
}

// canonicalize makes a tree read-only with mtime 1, as Nix does, so that identical content looks
// identical on disk and nothing writes to it by accident.
func canonicalize(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			if d.IsDir() {
				dirs = append(dirs, p)
			} else {
				fi, err := d.Info()
				if err != nil {
					return err
				}
				mode := os.FileMode(0o444)
				if fi.Mode()&0o100 != 0 {
					mode = 0o555
				}
				if err := os.Chmod(p, mode); err != nil {
					return err
				}
			}
		}
		ts := []unix.Timespec{{Sec: 1}, {Sec: 1}}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		return err
	}
	// Directories last and deepest first, so their own timestamps are not bumped afterwards.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i], 0o555); err != nil {
			return err
		}
		ts := []unix.Timespec{{Sec: 1}, {Sec: 1}}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dirs[i], ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return nil
}

// syncFS flushes the store's filesystem once, which is far cheaper than an fsync per file of a
// large tree and still puts the content on disk before the database says it is valid.
func syncFS(p string) error {
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil
		}
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// StartFlush begins flushing the store's filesystem in the background and returns at once.
// Every publish syncs the filesystem before it registers a path (DESIGN invariant 3), and that
// sync also writes out what other programs left unwritten on it, up to the page cache's limit;
// a caller about to publish a lot (a substitution) starts it early, so that writeback overlaps
// its own work instead of delaying its first publish. No guarantee changes: every publish still
// syncs.
func (s *Store) StartFlush() {
	go syncFS(s.Dir)
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// AddPath imports a file or tree by content, exactly as nix-store --add does: the path is derived
// from the NAR hash and the name, without references, and every tree Nix takes is taken as it is,
// symlinks to anywhere included (Publish.UsersOwn).
func (s *Store) AddPath(src, name string) (storepath.Path, error) {
	if name == "" {
		name = storepath.SanitizeName(filepath.Base(src))
	}
	if err := storepath.CheckName(name); err != nil {
		return "", err
	}
	h, _, err := nar.Hash(src)
	if err != nil {
		return "", err
	}
	p, err := storepath.Source(s.Dir, h, name, nil)
	if err != nil {
		return "", err
	}
	return p, s.addVerified(p, Publish{CA: "fixed:r:" + h.String(), WantNarHash: &h, UsersOwn: true}, func(tmp string) error {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(nar.Dump(pw, src)) }()
		err := nar.Restore(pr, tmp)
		pr.CloseWithError(err)
		return err
	})
}

// AddFlatFile moves an already verified file (a fixed-output download) into the store at the path
// Nix's fetchurl would give it. The file is consumed.
func (s *Store) AddFlatFile(file string, fileHash hash.Hash, name string) (storepath.Path, error) {
	p, err := storepath.FixedFlat(s.Dir, fileHash, name)
	if err != nil {
		return "", err
	}
	return p, s.addVerified(p, Publish{CA: "fixed:" + fileHash.String()}, func(tmp string) error {
		return os.Rename(file, tmp)
	})
}

// AddText stores a small text file (a derivation) with the given references, at Nix's text path.
func (s *Store) AddText(name string, content []byte, refs []storepath.Path) (storepath.Path, error) {
	h := hash.Sum(hash.SHA256, content)
	p, err := storepath.Text(s.Dir, h, name, refs)
	if err != nil {
		return "", err
	}
	return p, s.addVerified(p, Publish{Candidates: refs, CA: "text:" + h.String()}, func(tmp string) error {
		return os.WriteFile(tmp, content, 0o444)
	})
}

// addVerified is the common path of content-addressed additions.
func (s *Store) addVerified(p storepath.Path, opt Publish, fill func(tmp string) error) error {
	_, err := s.Ensure(p, func(tmp string) (string, Publish, error) {
		return tmp, opt, fill(tmp)
	})
	return err
}

// Make produces the content of a path being realized. It receives a temp location on the store's
// filesystem that does not exist yet, and returns where it left the output (that location, or the
// final path itself for a build that had to run in place) and how to publish it.
type Make func(tmp string) (where string, opt Publish, err error)

// Ensure makes p valid if it is not: under the shared GC lock and p's own lock, it re-checks
// validity (another process may have just finished), clears debris a killed process left, runs
// make, and publishes the result. It reports whether it did the work.
func (s *Store) Ensure(p storepath.Path, make Make) (made bool, err error) {
	if ok, err := s.IsValid(p); err != nil || ok {
		return false, err
	}
	unlockGC, err := s.Adding()
	if err != nil {
		return false, err
	}
	defer unlockGC()
	unlock, err := s.LockPath(p)
	if err != nil {
		return false, err
	}
	defer unlock()
	if ok, err := s.IsValid(p); err != nil || ok {
		return false, err
	}
	if err := s.CleanDebris(p); err != nil {
		return false, err
	}
	dir, err := s.NewTemp(p.HashPart())
	if err != nil {
		return false, err
	}
	defer RemoveTree(dir)
	where, opt, err := make(filepath.Join(dir, "out"))
	if err != nil {
		if where == string(p) {
			RemoveTree(where)
		}
		return false, err
	}
	if _, err := s.Publish(where, p, opt); err != nil {
		if where == string(p) {
			RemoveTree(where)
		}
		return false, err
	}
	return true, nil
}
