package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A shared store is one several users write: den setup makes its dir and its state dir owned by
// a group (den), group-writable and setgid, so that what any member creates in them belongs to
// the group. Without a daemon, the rules are kept by each den process:
//
//   - what others must be able to change is made group-writable when it is made: the state dir's
//     subdirs and the database (under the usual umask, 0755 and 0644 would lock the others out);
//     locks are flock'ed through read-only descriptors, so a lock file any member made serves all;
//   - store paths stay read-only and owned by whoever added them; a collection run by another
//     member unregisters a dead one and, unable to delete its files, renames it aside (trashPrefix)
//     for its owner's collection, or root's, to delete;
//   - a collection never removes another user's roots, and stops rather than guess when it
//     cannot follow one (another user's home it may not read).

// sharedDirMode is the mode of the state dir's subdirs in a shared store.
const sharedDirMode = os.ModeSetgid | 0o775

// trashPrefix names what a collection could not delete (another user's files) and renamed aside
// so that its name is free; it is debris to the next collection that can delete it.
const trashPrefix = ".den-trash."

// IsShared says whether dir is set up for a group, as den setup makes a shared store's dirs:
// setgid and group-writable.
func IsShared(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.Mode()&os.ModeSetgid != 0 && fi.Mode().Perm()&0o020 != 0
}

// Shared says whether this is a store that several users write (see above).
func (s *Store) Shared() bool { return s.shared }

// MkdirAll makes dir (in the store's state dir or temp area) and, in a shared store, makes what it
// owns of it writable by the group.
func (s *Store) MkdirAll(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if s.shared {
		groupWritable(dir, sharedDirMode)
	}
	return nil
}

// groupWritable gives name mode if this user owns it; another member's is theirs to have made so.
func groupWritable(name string, mode os.FileMode) {
	if fi, err := os.Lstat(name); err == nil && owns(fi) && fi.Mode()&(os.ModeSetgid|os.ModePerm) != mode {
		os.Chmod(name, mode)
	}
}

// owns says whether this process's user owns fi, or is root, who may act for anyone.
func owns(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return os.Geteuid() == 0 || (ok && int(st.Uid) == os.Geteuid())
}

// openLock opens a lock file, creating it if needed, read-only: flock needs no more, and a lock
// file another user made (0644 under their umask) opens as well.
func openLock(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
}

// discard deletes a tree of the store dir. In a shared store, one it may not delete (another
// user's read-only files) is renamed aside within the store dir, which frees its name; the next
// collection by its owner or by root deletes it.
func (s *Store) discard(p string) error {
	err := RemoveTree(p)
	if err == nil || !s.shared || !errors.Is(err, fs.ErrPermission) || filepath.Dir(p) != s.Dir {
		return err
	}
	var b [6]byte
	rand.Read(b[:])
	aside := filepath.Join(s.Dir, trashPrefix+filepath.Base(p)+"."+hex.EncodeToString(b[:]))
	if os.Rename(p, aside) != nil {
		return err
	}
	return nil
}

func isTrash(name string) bool { return strings.HasPrefix(name, trashPrefix) }

// NotMemberError is a shared store this user may read but not change: not in its group.
type NotMemberError struct{ Dir, State string }

// group is the name of the state dir's group, or "" when it cannot be told.
func (e *NotMemberError) group() string {
	if fi, err := os.Stat(e.State); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if g, err := user.LookupGroupId(strconv.Itoa(int(st.Gid))); err == nil {
				return g.Name
			}
		}
	}
	return ""
}

func (e *NotMemberError) Error() string {
	group := "its group"
	if g := e.group(); g != "" {
		group = "group " + g
	}
	return fmt.Sprintf("the shared store %s can be changed only by members of %s, and you are not one (yet)", e.Dir, group)
}

// Hints says how to become one.
func (e *NotMemberError) Hints() []string {
	name := "$USER"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	setup, newgrp := "sudo den setup --user "+name, "newgrp"
	if g := e.group(); g != "" {
		newgrp += " " + g
		if g != "den" {
			setup += " --group " + g
		}
	}
	return []string{
		fmt.Sprintf("%s adds you; it applies from your next login (or %s in this shell)", setup, newgrp),
		"or set DEN_STORE to a store dir of your own (a binary cache then serves only that dir)",
	}
}

// Writable says whether this process may add to and collect the store: nil, or why not.
func (s *Store) Writable() error { return s.writable() }
