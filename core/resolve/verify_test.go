package resolve

import (
	"errors"
	"testing"

	"github.com/den-sh/den/core/backend/recipes"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
)

// lockedIndexRecipe is den's index's recipe NAME as the recipes backend locks it, with deps
// of the given names.
func lockedIndexRecipe(t *testing.T, name string, deps ...string) (*lock.Package, *index.Entry) {
	t.Helper()
	ix, err := index.Load()
	if err != nil {
		t.Fatal(err)
	}
	e, err := ix.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	rec := e.Recipe
	p := &lock.Package{Name: name, Constraint: "*", Version: rec.Version, Backend: index.Recipe,
		Attrs:   map[string]string{recipes.AttrBuild: rec.Build, recipes.AttrHostTools: ""},
		Systems: map[string]*lock.System{"x86_64-linux": {}}}
	p.Sources = append(p.Sources, lock.Source{Kind: "url", Name: recipes.FileName(rec.Src.URL), URL: rec.Src.URL, Hash: rec.Src.Hash})
	for _, d := range deps {
		p.Deps = append(p.Deps, &lock.Package{Name: d})
	}
	return p, e
}

// An index recipe that declares no host tools is locked with the stdenv and its index deps;
// that lock verifies, and one with a dep more or less does not.
func TestVerifyIndexRecipeDeps(t *testing.T) {
	p, e := lockedIndexRecipe(t, "hello", recipes.Stdenv)
	if err := verifyRecipe(p, e); err != nil {
		t.Fatalf("hello locked with the stdenv: %v", err)
	}
	var mm *LockMismatchError
	for _, deps := range [][]string{nil, {recipes.Stdenv, "zlib"}} {
		p, e := lockedIndexRecipe(t, "hello", deps...)
		if err := verifyRecipe(p, e); !errors.As(err, &mm) {
			t.Errorf("hello locked with deps %v: got %v, want a LockMismatchError", deps, err)
		}
	}
	py, e := lockedIndexRecipe(t, "python", append([]string{recipes.Stdenv}, indexDeps(t, "python")...)...)
	if err := verifyRecipe(py, e); err != nil {
		t.Fatalf("python locked with the stdenv and its deps: %v", err)
	}
}

func indexDeps(t *testing.T, name string) []string {
	t.Helper()
	ix, err := index.Load()
	if err != nil {
		t.Fatal(err)
	}
	e, err := ix.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return e.Recipe.Deps
}
