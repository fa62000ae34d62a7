package envs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/den-sh/den/core/project"
)

// A project's .den sits in a directory anyone who can commit to the repository writes into: a
// clone may bring a .den of its own, with links in it to the user's files. So den uses a .den
// only if it is a directory of this user's that den made (it holds den's .gitignore, which also
// keeps it out of the repository), never follows a link inside it, writes every file as a new
// temporary file renamed into place, and opens the files it keeps open (locks, logs) without
// following links.

// markerName and markerText are the file den writes into a .den it makes.
const (
	markerName = ".gitignore"
	markerText = "# den's project state: generations and links into the local store. Never commit it.\n*\n"
)

// StateDirError says a project's .den is not one den may use.
type StateDirError struct {
	Dir string
	Why string
}

func (e *StateDirError) Error() string {
	return fmt.Sprintf("%s %s, so den does not use it", e.Dir, e.Why)
}

// Hints says how to get a .den of den's own.
func (e *StateDirError) Hints() []string {
	return []string{fmt.Sprintf("if nothing of yours is in it, remove it (rm -rf %s) and den makes a fresh one", e.Dir)}
}

// ProjectDir returns the project's .den, made now if it is missing, or an error if what is
// there is not den's.
func ProjectDir(root string) (string, error) {
	dir := filepath.Join(root, StateDir)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := makeStateDir(root); err != nil {
			return "", err
		}
	}
	if err := ownDir(dir); err != nil {
		return "", err
	}
	data, err := project.ReadStateFile(root, markerName, int64(len(markerText)))
	if err != nil || string(data) != markerText {
		return "", &StateDirError{Dir: dir, Why: "was not made by den (it lacks den's .gitignore; was it committed to the repository?)"}
	}
	return dir, nil
}

// makeStateDir makes .den whole, marker included, under a temporary name renamed into place: a
// den that finds .den finds den's marker in it, even while another den is making it, and a den
// killed halfway leaves no .den without one. Two dens making it at once: one rename wins.
func makeStateDir(root string) error {
	tmp, err := os.MkdirTemp(root, ".den-new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone once renamed, or lost the race
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, markerName), []byte(markerText), 0o644); err != nil {
		return err
	}
	err = os.Rename(tmp, filepath.Join(root, StateDir))
	if err != nil && !errors.Is(err, fs.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
		return err
	}
	return nil
}

// ownDir checks that dir is a directory (not a link to one) of this user's that nobody else may
// write to.
func ownDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return &StateDirError{Dir: dir, Why: "is a symbolic link"}
	case !fi.IsDir():
		return &StateDirError{Dir: dir, Why: "is not a directory"}
	case fi.Mode().Perm()&0o022 != 0:
		return &StateDirError{Dir: dir, Why: "is writable by other users"}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return &StateDirError{Dir: dir, Why: fmt.Sprintf("belongs to another user (uid %d)", st.Uid)}
	}
	return nil
}

// stateSubdir returns the directory sub (one element) of the project's .den, made if missing.
func stateSubdir(root, sub string) (string, error) {
	dir, err := ProjectDir(root)
	if err != nil {
		return "", err
	}
	if sub == "" {
		return dir, nil
	}
	d := filepath.Join(dir, sub)
	if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	return d, ownDir(d)
}

// splitState splits a slash-separated name below .den into its directory (at most one level)
// and file name.
func splitState(name string) (sub, file string, err error) {
	sub, file, ok := strings.Cut(name, "/")
	if !ok {
		sub, file = "", name
	}
	if file == "" || strings.Contains(file, "/") || file == "." || file == ".." || sub == "." || sub == ".." {
		return "", "", fmt.Errorf("bad state file name %q", name)
	}
	return sub, file, nil
}

// StatePath is where the state file name of the project at root lives.
func StatePath(root, name string) string { return filepath.Join(root, StateDir, name) }

// WriteStateFile replaces the state file name (below .den, slash-separated) of the project at
// root with data: a new file in the same directory, synced, then renamed over the old name, so
// that a reader sees the old or the new content and a link planted at that name is replaced,
// not followed.
func WriteStateFile(root, name string, data []byte, perm fs.FileMode) error {
	f, final, err := createTemp(root, name, perm)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), final); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// CreateStateFile makes the state file name anew, empty, and returns it open for writing (a
// log): it is made under a temporary name (O_EXCL) and renamed into place at once, so that
// whatever was at that name — a link to the user's files, say — is replaced, never written
// through.
func CreateStateFile(root, name string, perm fs.FileMode) (*os.File, error) {
	f, final, err := createTemp(root, name, perm)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(f.Name(), final); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// createTemp makes a new file beside the state file name, returning it and name's path.
func createTemp(root, name string, perm fs.FileMode) (*os.File, string, error) {
	sub, file, err := splitState(name)
	if err != nil {
		return nil, "", err
	}
	dir, err := stateSubdir(root, sub)
	if err != nil {
		return nil, "", err
	}
	f, err := os.CreateTemp(dir, "."+file+".tmp-*")
	if err != nil {
		return nil, "", err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, "", err
	}
	return f, filepath.Join(dir, file), nil
}

// OpenStateLock opens (creating it) the lock file name of the project at root, for flock. A
// link planted at that name is removed rather than followed.
func OpenStateLock(root, name string) (*os.File, error) {
	sub, file, err := splitState(name)
	if err != nil {
		return nil, err
	}
	dir, err := stateSubdir(root, sub)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, file)
	for range 2 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
		if err == nil {
			if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
				f.Close()
				return nil, &StateDirError{Dir: path, Why: "is not a regular file"}
			}
			return f, nil
		}
		if !errors.Is(err, syscall.ELOOP) {
			return nil, err
		}
		os.Remove(path) // a link: removing it touches only the link
	}
	return nil, &StateDirError{Dir: path, Why: "keeps being replaced by a symbolic link"}
}
