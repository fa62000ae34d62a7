package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// A store dir is den's alone, and one state dir's alone. The collector deletes whatever in the
// store dir no root keeps alive, so pointing DEN_STORE at a directory that holds anything else
// (a thesis, a Nix store, another state dir's store) must not let it near that content. The
// marker file says "den made this directory its store, for this state dir": it is written when
// den creates the store dir or finds it empty, and everything that adds to the store or
// collects it refuses a store dir without it, or whose marker names another state dir. Reading
// (path-info, verify, running what is already there) needs no marker: it changes nothing.
//
// The marker records the state dir rather than the database file, so that a store shared by
// several users, whose database will sit next to the store, can record that directory here.

// MarkerName is the marker's file name in the store dir. It starts with a dot, which no store
// path's name does.
const MarkerName = ".den-store"

// markerTemp is where the marker is written before it is renamed into place.
const markerTemp = MarkerName + ".new"

// marker is the marker file's content.
type marker struct {
	Version int    `json:"den-store"`
	State   string `json:"state"` // the state dir whose database owns the store
}

const markerVersion = 1

// NotStoreError says a store dir holds content den did not put there and so is not den's.
type NotStoreError struct{ Dir string }

func (e *NotStoreError) Error() string {
	return fmt.Sprintf("%s is not a den store: it is not empty and has no %s marker", e.Dir, MarkerName)
}

func (e *NotStoreError) Hints() []string {
	return []string{"set DEN_STORE to a new or empty directory: den creates and marks its store itself, and collects only there"}
}

// ForeignStoreError says the store dir is the store of another state dir: its database would
// not know this state dir's paths, and its collection would delete them.
type ForeignStoreError struct {
	Dir, Owner, State string
}

func (e *ForeignStoreError) Error() string {
	return fmt.Sprintf("store %s belongs to the state dir %s, not %s", e.Dir, e.Owner, e.State)
}

func (e *ForeignStoreError) Hints() []string {
	return []string{
		fmt.Sprintf("set DEN_STATE=%s to use this store, or set DEN_STORE to a store of its own", e.Owner),
		fmt.Sprintf("if %s is gone for good, nothing in %s is registered any more: delete it (chmod -R u+w first) and den makes a new one", e.Owner, e.Dir),
	}
}

// BadMarkerError is a marker den cannot read.
type BadMarkerError struct {
	File string
	Err  error
}

func (e *BadMarkerError) Error() string {
	return fmt.Sprintf("store marker %s is unreadable: %v", e.File, e.Err)
}

func (e *BadMarkerError) Unwrap() error { return e.Err }

func (e *BadMarkerError) Hints() []string {
	return []string{"den writes it as {\"den-store\":1,\"state\":\"STATE_DIR\"}; restore it, or set DEN_STORE to a new directory"}
}

func readMarker(file string) (*marker, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var m marker
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, &BadMarkerError{File: file, Err: err}
	}
	if m.Version != markerVersion || !filepath.IsAbs(m.State) {
		return nil, &BadMarkerError{File: file, Err: fmt.Errorf("want version %d and an absolute state dir", markerVersion)}
	}
	return &m, nil
}

// claim makes sure this state dir owns the store dir, marking it if it is new, empty, or a
// store from before markers existed that this state dir's database knows. It returns why the
// store may not be changed from this state dir, or nil.
func (s *Store) claim() error {
	file := filepath.Join(s.Dir, MarkerName)
	m, err := readMarker(file)
	if err == nil {
		return s.checkOwner(m)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", s.Dir, err)
	}
	// Two den processes opening a new store at once: the lock and the re-check make one of
	// them write the marker and the other read it.
	d, err := os.Open(s.Dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", s.Dir, err)
	}
	defer unix.Flock(int(d.Fd()), unix.LOCK_UN)
	if m, err := readMarker(file); err == nil {
		return s.checkOwner(m)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	ok, err := s.adoptable()
	if err != nil {
		return err
	}
	if !ok {
		return &NotStoreError{Dir: s.Dir}
	}
	data, err := json.Marshal(marker{Version: markerVersion, State: s.StateDir})
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir, markerTemp)
	if err := writeSynced(tmp, append(data, '\n')); err != nil {
		return fmt.Errorf("mark %s as den's store: %w", s.Dir, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mark %s as den's store: %w", s.Dir, err)
	}
	syncDir(s.Dir)
	return nil
}

// adoptable says whether an unmarked store dir may become this state dir's store: when it holds
// nothing but den's own entries, or when it is a den store from before markers, which shows in
// this state dir's database knowing paths that are present in it. Only den registers paths, and
// only after renaming them into the store dir, so a directory den never used as this state dir's
// store (a home directory, a Nix store, another state dir's store) passes neither test.
func (s *Store) adoptable() (bool, error) {
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		return false, err
	}
	empty := true
	for _, e := range ents {
		if !ownEntry(e.Name()) {
			empty = false
			break
		}
	}
	if empty {
		return true, nil
	}
	if _, err := os.Stat(s.dbPath); err != nil {
		return false, nil
	}
	known := false
	err = s.db(false, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketValid)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		// Keys are full paths, so this store's are one contiguous run.
		prefix := []byte(s.Dir + "/")
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if _, err := os.Lstat(string(k)); err == nil && filepath.Dir(string(k)) == s.Dir {
				known = true
				return nil
			}
		}
		return nil
	})
	return known, err
}

// ownEntry reports whether a name in the store dir is one of den's own directories or files,
// which are not store paths.
func ownEntry(name string) bool {
	switch name {
	case MarkerName, markerTemp, TempDirName, linksDirName:
		return true
	}
	return isTrash(name)
}

func (s *Store) checkOwner(m *marker) error {
	if m.State == s.StateDir {
		return nil
	}
	// The same directory spelled another way (through a symlink, say) is the same owner.
	a, errA := os.Stat(m.State)
	b, errB := os.Stat(s.StateDir)
	if errA == nil && errB == nil && os.SameFile(a, b) {
		return nil
	}
	return &ForeignStoreError{Dir: s.Dir, Owner: m.State, State: s.StateDir}
}

// writable says whether this state dir may change the store: nil, or why not.
func (s *Store) writable() error { return s.claimErr }

func writeSynced(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
