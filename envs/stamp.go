package envs

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/project"
	"github.com/den-sh/den/core/storepath"
	"github.com/den-sh/den/envs/activate"
)

// Stamp records what the current generation was made from (see activate.Stamp, which reads it
// for den-core and the launcher alike).
type Stamp = activate.Stamp

// WriteStamp records that the project at root, as its files are now, has the environment of
// profile with m's [env], scripts and shell init.
func WriteStamp(root string, profile storepath.Path, m *manifest.Manifest) error {
	st := Stamp{Files: map[string]project.FileID{}, Profile: string(profile), Env: envVars(m.Env), Scripts: m.Scripts, Init: m.Shell.Init}
	for _, name := range activate.StampFiles {
		st.Files[name] = project.FileIDOf(filepath.Join(root, name))
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	path := activate.StampPath(root)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadStamp returns the project's stamp if den.toml and den.lock are exactly as recorded, the
// recorded profile is still the current generation, and it is still in the store.
func ReadStamp(root string) (*Stamp, bool) { return activate.ReadStamp(root) }
