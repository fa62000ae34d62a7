package envs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// A change of a project — den add, rm, update, lock, a sync that relocks, a rollback — reads
// den.toml and den.lock, works (resolving, realizing) and writes them back. Two such changes at
// once would each write what they read, and one change would be lost; a change killed halfway
// would leave a den.toml that den.lock does not match. So a change holds the project's lock from
// its read to its write, and writes both files through a small journal in .den: the new files
// go to .den/txn, then a commit mark, then each is renamed into place. A den that finds a commit
// mark finishes the renames (both files new); one that finds a journal without it drops it (both
// files old).

const (
	editLock   = "edit.lock"
	txnDir     = "txn"
	commitMark = "commit"
)

// ProjectFiles are the files of a project a change writes.
var ProjectFiles = []string{"den.toml", "den.lock"}

// LockProject takes the project's lock for a change, waiting as long as another den holds it;
// waiting, if not nil, is called once when it has to wait. The lock is released by unlock, or
// when the process ends.
func LockProject(ctx context.Context, root string, waiting func()) (unlock func(), err error) {
	f, err := OpenStateLock(root, editLock)
	if err != nil {
		return nil, err
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, err
		}
		if !told && waiting != nil {
			waiting()
			told = true
		}
		// A blocking flock could not be interrupted by Ctrl-C; polling can.
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// CommitFiles replaces files of the project at root (names from ProjectFiles, with their new
// content) so that, whenever den is stopped, both are as they were or both as given once the
// next den has run Recover. The caller holds the project's lock. With carry, if the project was
// allowed as it was, it stays allowed as it will be: den's own edits keep the user's permission.
func CommitFiles(stateDir, root string, files map[string][]byte, carry bool) error {
	next := map[string][]byte{}
	exists := map[string]bool{}
	for _, name := range ProjectFiles {
		if data, ok := files[name]; ok {
			next[name], exists[name] = data, true
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		next[name], exists[name] = data, err == nil
	}
	for name := range files {
		if _, ok := next[name]; !ok {
			return fmt.Errorf("CommitFiles: %q is not a project file", name)
		}
	}
	if carry && TrustOf(stateDir, root) == Allowed {
		h := ContentHash(next["den.toml"], next["den.lock"], exists["den.lock"])
		if err := AllowContent(stateDir, root, h); err != nil {
			return err
		}
	}
	dir, err := ProjectDir(root)
	if err != nil {
		return err
	}
	txn := filepath.Join(dir, txnDir)
	if err := os.RemoveAll(txn); err != nil {
		return err
	}
	if err := os.Mkdir(txn, 0o755); err != nil {
		return err
	}
	for name, data := range files {
		perm, err := filePerm(filepath.Join(root, name))
		if err != nil {
			return err
		}
		if err := writeSynced(filepath.Join(txn, name), data, perm); err != nil {
			return err
		}
	}
	if err := writeSynced(filepath.Join(txn, commitMark), nil, 0o644); err != nil {
		return err
	}
	syncDir(txn)
	return applyCommit(root, txn)
}

// Recover finishes or drops a change that a stopped den left in the project's journal. It does
// nothing while another den holds the project's lock (that den is making the change), and
// nothing quickly when there is no journal.
func Recover(root string) error {
	txn := filepath.Join(root, StateDir, txnDir)
	if _, err := os.Lstat(txn); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := ProjectDir(root); err != nil {
		return err
	}
	f, err := OpenStateLock(root, editLock)
	if err != nil {
		return err
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return nil
	}
	return recoverLocked(root, txn)
}

// RecoverHeld is Recover for a caller that holds the project's lock (LockProject).
func RecoverHeld(root string) error {
	txn := filepath.Join(root, StateDir, txnDir)
	if _, err := os.Lstat(txn); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := ProjectDir(root); err != nil {
		return err
	}
	return recoverLocked(root, txn)
}

func recoverLocked(root, txn string) error {
	if fi, err := os.Lstat(filepath.Join(txn, commitMark)); err == nil && fi.Mode().IsRegular() {
		return applyCommit(root, txn)
	}
	return os.RemoveAll(txn)
}

// applyCommit renames the journal's files into place, then removes the journal.
func applyCommit(root, txn string) error {
	for _, name := range ProjectFiles {
		src := filepath.Join(txn, name)
		fi, err := os.Lstat(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue // not part of the change, or renamed already
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return &StateDirError{Dir: src, Why: "is not a file den wrote"}
		}
		if err := os.Rename(src, filepath.Join(root, name)); err != nil {
			return err
		}
	}
	syncDir(root)
	return os.RemoveAll(txn)
}

// filePerm is the permission a project file keeps when den replaces it: its own, or 0644 for a
// new one. A link is refused: replacing it would cut it, following it would write wherever it
// points.
func filePerm(path string) (fs.FileMode, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0o644, nil
	case err != nil:
		return 0, err
	case fi.Mode()&fs.ModeSymlink != 0:
		return 0, fmt.Errorf("%s is a symbolic link; den edits only a %s that is a file", path, filepath.Base(path))
	case !fi.Mode().IsRegular():
		return 0, fmt.Errorf("%s is not a regular file", path)
	}
	return fi.Mode().Perm(), nil
}

// writeSynced writes a new file (never through a link) and syncs it.
func writeSynced(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	return errors.Join(werr, f.Chmod(perm), f.Sync(), f.Close())
}
