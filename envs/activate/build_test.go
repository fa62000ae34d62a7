package activate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/den-sh/den/core/project"
)

// TestStampOfAnotherDen: a stamp made by another build of den (an upgrade that may plan the same
// files into other store paths) is not trusted, and the one this build made is.
func TestStampOfAnotherDen(t *testing.T) {
	root := t.TempDir()
	profile := filepath.Join(t.TempDir(), "profile")
	if err := os.Mkdir(profile, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range StampFiles {
		if err := os.WriteFile(filepath.Join(root, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gens := filepath.Join(root, project.StateDir, "generations")
	if err := os.MkdirAll(gens, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(profile, filepath.Join(gens, "1")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("generations/1", filepath.Join(root, project.StateDir, "current")); err != nil {
		t.Fatal(err)
	}
	write := func(den string) {
		st := Stamp{Files: map[string]project.FileID{}, Profile: profile, Den: den}
		for _, name := range StampFiles {
			st.Files[name] = project.FileIDOf(filepath.Join(root, name))
		}
		data, _ := json.Marshal(st)
		if err := os.WriteFile(StampPath(root), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(Build)
	if _, ok := ReadStamp(root); !ok {
		t.Fatal("the stamp this den made is not trusted")
	}
	write(Build + "-other")
	if _, ok := ReadStamp(root); ok {
		t.Error("a stamp made by another build of den was trusted")
	}
}
