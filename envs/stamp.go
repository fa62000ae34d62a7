package envs

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/project"
	"github.com/den-sh/den/core/storepath"
)

// Stamp records what the current generation was made from, so that running a command in an
// unchanged project needs no TOML, no lock, no planning and no store database: a few stats of
// den.toml and den.lock decide that the recorded profile and [env] still hold.
type Stamp struct {
	Files   map[string]project.FileID `json:"files"`
	Profile storepath.Path            `json:"profile"`
	Env     []manifest.EnvVar         `json:"env,omitempty"`
	Scripts map[string]string         `json:"scripts,omitempty"`
	Init    string                    `json:"init,omitempty"`
}

// stampFiles are the files whose change invalidates a stamp.
var stampFiles = []string{project.FileName, project.LockName}

func stampPath(root string) string { return filepath.Join(root, StateDir, "stamp.json") }

// WriteStamp records that the project at root, as its files are now, has the environment of
// profile with m's [env], scripts and shell init.
func WriteStamp(root string, profile storepath.Path, m *manifest.Manifest) error {
	st := Stamp{Files: map[string]project.FileID{}, Profile: profile, Env: m.Env, Scripts: m.Scripts, Init: m.Shell.Init}
	for _, name := range stampFiles {
		st.Files[name] = project.FileIDOf(filepath.Join(root, name))
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
		if st.Files[name] != project.FileIDOf(filepath.Join(root, name)) {
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
