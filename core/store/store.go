// Package store owns den's content-addressed store: the directory of immutable paths, the
// database of which paths are valid and what they reference, and the locks that let several den
// processes add, build and collect paths safely at the same time.
//
// A path is valid only once it is registered in the database; everything else in the store
// directory is debris from an interrupted operation that the next realize of that path, or the
// next garbage collection, removes. New content is always assembled elsewhere on the same
// filesystem (under .den-tmp), made read-only and renamed into place before it is registered, so
// a crash at any moment leaves no valid partial path.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/den-sh/den/core/storepath"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Store is an opened store. It holds no open database handle between calls: den processes run
// side by side (a shell hook, a build, a garbage collection), and bbolt locks the whole file
// while it is open.
type Store struct {
	Dir      string // the store dir, part of every path's hash
	StateDir string
	dbPath   string
	tmpDir   string
	lockDir  string
	claimErr error // why this state dir may not change the store, or nil
	shared   bool  // several users write it (see shared.go)
}

// PathInfo is what the database knows of a valid path. The JSON names are those of
// `nix path-info --json`.
type PathInfo struct {
	Path             storepath.Path   `json:"path"`
	NarHash          string           `json:"narHash"`
	NarSize          int64            `json:"narSize"`
	References       []storepath.Path `json:"references"`
	Deriver          storepath.Path   `json:"deriver,omitempty"`
	RegistrationTime int64            `json:"registrationTime"`
	CA               string           `json:"ca,omitempty"`
	Signatures       []string         `json:"signatures,omitempty"`
}

var bucketValid = []byte("valid")

// TempDirName is the directory inside the store where new paths are assembled.
const TempDirName = ".den-tmp"

// linksDirName is the optimiser's link farm inside the store.
const linksDirName = ".links"

// Open opens the store at storeDir for the state dir stateDir, creating both if needed. A store
// dir that is not den's, or that belongs to another state dir, opens for reading only: what
// would add to it or collect it fails with a *NotStoreError or *ForeignStoreError (see
// marker.go).
func Open(storeDir, stateDir string) (*Store, error) {
	if !filepath.IsAbs(storeDir) {
		return nil, fmt.Errorf("store dir %q is not absolute", storeDir)
	}
	stateDir, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	s := &Store{
		Dir:      filepath.Clean(storeDir),
		StateDir: stateDir,
		dbPath:   filepath.Join(stateDir, "db", "den.db"),
		tmpDir:   filepath.Join(storeDir, TempDirName),
		lockDir:  filepath.Join(stateDir, "locks"),
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", stateDir, err)
	}
	s.shared = IsShared(stateDir)
	dirs := []string{filepath.Dir(s.dbPath), s.lockDir, s.GCRootsDir(), filepath.Join(stateDir, "temproots")}
	if s.shared {
		// Made here once, group-writable, rather than 0755 by whichever member needs one first.
		dirs = append(dirs, filepath.Join(s.GCRootsDir(), "auto"), s.BuildsDir(), s.LogDir())
	}
	for _, d := range dirs {
		if err := s.MkdirAll(d); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if s.shared {
		// bbolt creates its file under the umask, which would leave it to its creator alone; an
		// empty file is one bbolt initialises.
		if f, err := os.OpenFile(s.dbPath, os.O_RDONLY|os.O_CREATE|unix.O_NOFOLLOW, 0o664); err == nil {
			f.Close()
			groupWritable(s.dbPath, 0o664)
		}
	}
	s.claimErr = s.claim()
	if s.claimErr == nil && s.shared && unix.Access(stateDir, unix.W_OK) != nil {
		s.claimErr = &NotMemberError{Dir: s.Dir, State: stateDir}
	}
	if s.claimErr == nil {
		if err := s.MkdirAll(s.tmpDir); err != nil {
			return nil, fmt.Errorf("create %s: %w", s.tmpDir, err)
		}
	}
	return s, nil
}

// GCRootsDir holds symlinks that keep store paths alive.
func (s *Store) GCRootsDir() string { return filepath.Join(s.StateDir, "gcroots") }

// LogDir holds build logs.
func (s *Store) LogDir() string { return filepath.Join(s.StateDir, "logs") }

// ParsePath checks that p names a path directly in this store. A path inside a store path
// (".../bin/go") is cut down to its store path.
func (s *Store) ParsePath(p string) (storepath.Path, error) {
	p = filepath.Clean(p)
	rel, err := filepath.Rel(s.Dir, p)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("%s is not in the store %s", p, s.Dir)
	}
	top := strings.SplitN(rel, string(filepath.Separator), 2)[0]
	return storepath.Parse(s.Dir, filepath.Join(s.Dir, top))
}

func (s *Store) db(write bool, fn func(tx *bolt.Tx) error) error {
	opts := &bolt.Options{Timeout: 2 * time.Minute}
	if !write {
		// The first reader creates the database. An empty file is one another opener has just
		// created and not yet locked: bbolt would initialise it through a read-only descriptor.
		if fi, err := os.Stat(s.dbPath); errors.Is(err, os.ErrNotExist) || (err == nil && fi.Size() == 0) {
			write = true
		} else {
			opts.ReadOnly = true
		}
	}
	db, err := bolt.Open(s.dbPath, 0o644, opts)
	if err != nil {
		return fmt.Errorf("open store database %s: %w", s.dbPath, err)
	}
	defer db.Close()
	if write {
		return db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucketValid)
			if err != nil {
				return err
			}
			_ = b
			return fn(tx)
		})
	}
	return db.View(fn)
}

func getInfo(tx *bolt.Tx, p storepath.Path) (*PathInfo, error) {
	b := tx.Bucket(bucketValid)
	if b == nil {
		return nil, nil
	}
	v := b.Get([]byte(p))
	if v == nil {
		return nil, nil
	}
	var info PathInfo
	if err := json.Unmarshal(v, &info); err != nil {
		return nil, fmt.Errorf("store database entry for %s is corrupt: %w", p, err)
	}
	return &info, nil
}

// Info returns the registration of p, or nil if p is not valid.
func (s *Store) Info(p storepath.Path) (*PathInfo, error) {
	var info *PathInfo
	err := s.db(false, func(tx *bolt.Tx) error {
		var err error
		info, err = getInfo(tx, p)
		return err
	})
	return info, err
}

// IsValid reports whether p is registered and present on disk.
func (s *Store) IsValid(p storepath.Path) (bool, error) {
	info, err := s.Info(p)
	if err != nil || info == nil {
		return false, err
	}
	if _, err := os.Lstat(string(p)); err != nil {
		return false, nil
	}
	return true, nil
}

// All returns every registered path, sorted.
func (s *Store) All() ([]PathInfo, error) {
	var out []PathInfo
	err := s.db(false, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketValid)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var info PathInfo
			if err := json.Unmarshal(v, &info); err != nil {
				return fmt.Errorf("store database entry for %s is corrupt: %w", k, err)
			}
			out = append(out, info)
			return nil
		})
	})
	return out, err
}

// Register records paths as valid in one transaction. Every reference must be valid already or
// be among infos: the database never holds a path whose closure is incomplete.
func (s *Store) Register(infos ...PathInfo) error {
	now := time.Now().Unix()
	batch := map[storepath.Path]bool{}
	for _, info := range infos {
		batch[info.Path] = true
	}
	if err := s.writable(); err != nil {
		return err
	}
	return s.db(true, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketValid)
		for _, info := range infos {
			for _, r := range info.References {
				if batch[r] {
					continue
				}
				if b.Get([]byte(r)) == nil {
					return fmt.Errorf("register %s: its reference %s is not valid", info.Path, r)
				}
			}
			if info.RegistrationTime == 0 {
				info.RegistrationTime = now
			}
			refs := append([]storepath.Path{}, info.References...)
			sort.Slice(refs, func(i, j int) bool { return refs[i] < refs[j] })
			info.References = refs
			v, err := json.Marshal(info)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(info.Path), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddSignatures appends signatures to a valid path's registration.
func (s *Store) AddSignatures(p storepath.Path, sigs ...string) error {
	if err := s.writable(); err != nil {
		return err
	}
	return s.db(true, func(tx *bolt.Tx) error {
		info, err := getInfo(tx, p)
		if err != nil {
			return err
		}
		if info == nil {
			return fmt.Errorf("%s is not valid", p)
		}
		have := map[string]bool{}
		for _, sg := range info.Signatures {
			have[sg] = true
		}
		for _, sg := range sigs {
			if !have[sg] {
				info.Signatures = append(info.Signatures, sg)
			}
		}
		v, err := json.Marshal(info)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketValid).Put([]byte(p), v)
	})
}

// unregister drops paths from the database (garbage collection only).
func (s *Store) unregister(paths []storepath.Path) error {
	if err := s.writable(); err != nil {
		return err
	}
	return s.db(true, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketValid)
		for _, p := range paths {
			if err := b.Delete([]byte(p)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Closure returns the paths and everything they reference, transitively, sorted.
func (s *Store) Closure(paths ...storepath.Path) ([]PathInfo, error) {
	seen := map[storepath.Path]bool{}
	var out []PathInfo
	err := s.db(false, func(tx *bolt.Tx) error {
		queue := append([]storepath.Path{}, paths...)
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if seen[p] {
				continue
			}
			seen[p] = true
			info, err := getInfo(tx, p)
			if err != nil {
				return err
			}
			if info == nil {
				return &NotValidError{Path: p}
			}
			out = append(out, *info)
			queue = append(queue, info.References...)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

// NotValidError says a path that was asked for is not in the store.
type NotValidError struct{ Path storepath.Path }

func (e *NotValidError) Error() string { return fmt.Sprintf("%s is not a valid store path", e.Path) }

// SortTopo orders infos so that every path comes after the paths it references.
func SortTopo(infos []PathInfo) []PathInfo {
	byPath := map[storepath.Path]PathInfo{}
	for _, i := range infos {
		byPath[i.Path] = i
	}
	done := map[storepath.Path]bool{}
	var out []PathInfo
	var visit func(p storepath.Path)
	visit = func(p storepath.Path) {
		if done[p] {
			return
		}
		done[p] = true
		info, ok := byPath[p]
		if !ok {
			return
		}
		for _, r := range info.References {
			visit(r)
		}
		out = append(out, info)
	}
	keys := make([]string, 0, len(byPath))
	for p := range byPath {
		keys = append(keys, string(p))
	}
	sort.Strings(keys)
	for _, k := range keys {
		visit(storepath.Path(k))
	}
	return out
}
