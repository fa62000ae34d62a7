package envs

import (
	"encoding/json"
	"path/filepath"

	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/project"
	"github.com/den-sh/den/core/storepath"
	"github.com/den-sh/den/envs/activate"
)

// Stamp records what the current generation was made from (see activate.Stamp, which reads it
// for den-core and the launcher alike).
type Stamp = activate.Stamp

// WriteStamp records that the project at root, as its files are now and as allowed by the trust
// record tc, has the environment of profile with m's [env], scripts and shell init.
func WriteStamp(root string, tc TrustCheck, profile storepath.Path, m *manifest.Manifest) error {
	st := Stamp{Files: map[string]project.FileID{}, Profile: string(profile), Env: envVars(m.Env), Scripts: m.Scripts, Init: m.Shell.Init, Den: activate.Build}
	for _, name := range activate.StampFiles {
		st.Files[name] = project.FileIDOf(filepath.Join(root, name))
	}
	st.Files[tc.File] = tc.ID
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return WriteStateFile(root, "stamp.json", data, 0o644)
}

// ReadStamp returns the project's stamp if den.toml and den.lock are exactly as recorded, the
// recorded profile is still the current generation, and it is still in the store.
func ReadStamp(root string) (*Stamp, bool) { return activate.ReadStamp(root) }
