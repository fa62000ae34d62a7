package envs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"

	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/storepath"
)

// Stamp records what the current generation was made from, so that running a command in an
// unchanged project needs no TOML, no lock, no planning and no store database: a few stats of
// den.toml and den.lock decide that the recorded profile and [env] still hold.
type Stamp struct {
	Files   map[string]FileID `json:"files"`
	Profile storepath.Path    `json:"profile"`
	Env     []manifest.EnvVar `json:"env,omitempty"`
	Scripts map[string]string `json:"scripts,omitempty"`
	Init    string            `json:"init,omitempty"`
}

// FileID identifies one version of a file by metadata: an editor's save, a git checkout or den's
// own atomic write each change at least one of these.
type FileID struct {
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtimeNs"`
	Ino     uint64 `json:"ino"`
	Missing bool   `json:"missing,omitempty"`
}

// stampFiles are the files whose change invalidates a stamp.
var stampFiles = []string{manifest.FileName, "den.lock"}

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

func stampPath(root string) string { return filepath.Join(root, StateDir, "stamp.json") }

// WriteStamp records that the project at root, as its files are now, has the environment of
// profile with m's [env], scripts and shell init.
func WriteStamp(root string, profile storepath.Path, m *manifest.Manifest) error {
	st := Stamp{Files: map[string]FileID{}, Profile: profile, Env: m.Env, Scripts: m.Scripts, Init: m.Shell.Init}
	for _, name := range stampFiles {
		st.Files[name] = FileIDOf(filepath.Join(root, name))
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := stampPath(root) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, stampPath(root))
}

// ReadStamp returns the project's stamp if den.toml and den.lock are exactly as recorded, the
// recorded profile is still the current generation, and it is still in the store.
func ReadStamp(root string) (*Stamp, bool) {
	data, err := os.ReadFile(stampPath(root))
	if err != nil {
		return nil, false
	}
	var st Stamp
	if json.Unmarshal(data, &st) != nil {
		return nil, false
	}
	for _, name := range stampFiles {
		if st.Files[name] != FileIDOf(filepath.Join(root, name)) {
			return nil, false
		}
	}
	cur, err := Current(root)
	if err != nil || cur != st.Profile {
		return nil, false
	}
	if _, err := os.Lstat(string(st.Profile)); err != nil {
		return nil, false
	}
	return &st, true
}
