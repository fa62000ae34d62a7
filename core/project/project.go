// Package project finds a den project from a directory and tells, from file metadata alone,
// whether the environment the prompt hook applied for it still holds: the whole of the hook's
// no-change step. The launcher cmd/den/front links this package and nothing else of den, and
// decides most prompts with it without starting the full program; so it imports only small
// parts of the standard library (no fmt, no reflection, no TOML), whose start-up costs nothing
// measurable.
package project

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Names of a project's files, relative to its root.
const (
	// FileName is the manifest, which marks a project's root.
	FileName = "den.toml"
	// LockName is the lock file next to it.
	LockName = "den.lock"
	// StateDir holds the project's own state: its generations and current link.
	StateDir = ".den"
)

// ErrNotFound is returned by Find when no directory up to the root holds den.toml.
var ErrNotFound = errors.New("no " + FileName + " in this directory or any parent directory")

// Find returns the nearest directory, from dir (made absolute) upwards, that holds den.toml, so
// that den works from anywhere inside a project the way git does.
func Find(dir string) (root string, err error) {
	start, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := start; ; {
		fi, err := os.Stat(filepath.Join(d, FileName))
		switch {
		case err == nil && !fi.IsDir():
			return d, nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			// An unreadable directory must not make den silently pick a manifest further up.
			return "", err
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", ErrNotFound
		}
		d = parent
	}
}

// FileID identifies one version of a file by metadata: an editor's save, a git checkout or den's
// own atomic write each change at least one of these.
type FileID struct {
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtimeNs"`
	Ino     uint64 `json:"ino"`
	Missing bool   `json:"missing,omitempty"`
}

// FileIDOf identifies the file at path now; a missing file has Missing set.
func FileIDOf(path string) FileID {
	fi, err := os.Stat(path)
	if err != nil {
		return FileID{Missing: true}
	}
	id := FileID{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.Ino = st.Ino
	}
	return id
}

// CurrentProfile follows root/.den/current to its generation's profile, as envs.Current does
// but without parsing the store path; "" when there is none or it is gone from the store.
func CurrentProfile(root string) string {
	dir := filepath.Join(root, StateDir)
	if realDir(dir) != nil {
		return "" // a link named .den is not den's
	}
	gen, err := os.Readlink(filepath.Join(dir, "current"))
	if err != nil {
		return ""
	}
	// den writes current as generations/N; anything else was not written by den.
	n, ok := strings.CutPrefix(gen, "generations/")
	if !ok || n == "" || strings.Trim(n, "0123456789") != "" {
		return ""
	}
	if realDir(filepath.Join(dir, "generations")) != nil {
		return ""
	}
	gen = filepath.Join(dir, gen)
	profile, err := os.Readlink(gen)
	if err != nil {
		return ""
	}
	if !filepath.IsAbs(profile) {
		profile = filepath.Join(filepath.Dir(gen), profile)
	}
	if _, err := os.Lstat(profile); err != nil {
		return ""
	}
	return profile
}
