package resolve

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/backend/recipes"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/version"
)

// A project's own recipe listed in [packages] (mytool = "*") is locked like a recipe of den's
// index: the whole recipe is copied into den.lock, with the recipes and packages it depends on
// as its deps, so the lock alone plans it. What it runs still comes from den.toml, which the
// user allowed: a lock entry marked as a project recipe is verified against den.toml's recipe of
// that name, as an index recipe's is against the index, and a lock that names a recipe den.toml
// does not have, or a script it does not say, is refused.

// UseProject makes the allowed project m's recipes the ones project recipe entries of den.lock
// are verified against, and its root where their local sources are.
func (r *Resolver) UseProject(m *manifest.Manifest) {
	r.Recipes = m.Recipes
	r.Env.ProjectRoot = m.Root
}

// packageDepConstraint is the constraint an index package a recipe depends on is locked with
// when [packages] does not list it.
const packageDepConstraint = "latest"

// lockRecipe locks the project recipe name for systems, its deps first.
func (r *Resolver) lockRecipe(ctx context.Context, env *backend.Env, m *manifest.Manifest, name, constraint string, systems []platform.System) (*lock.Package, error) {
	rec := m.Recipes[name]
	c, err := version.ParseConstraint(constraint)
	if err != nil {
		return nil, err
	}
	if _, err := version.Select(c, []string{rec.Version}); err != nil {
		return nil, fmt.Errorf("%s: %w; den.toml's recipe builds %s %s (write \"*\" to take whatever it builds)", name, err, name, rec.Version)
	}
	p, err := recipeLock(rec, m.Root)
	if err != nil {
		return nil, err
	}
	p.Constraint = c.String()
	for _, sys := range systems {
		p.Systems[sys.String()] = &lock.System{}
	}
	for _, dep := range rec.Deps {
		var dp *lock.Package
		if m.Recipes[dep] != nil {
			dp, err = r.lockRecipe(ctx, env, m, dep, "*", systems)
		} else {
			dp, err = r.lockPackageDep(ctx, env, m, dep, systems)
		}
		if err != nil {
			return nil, fmt.Errorf("recipe %s: dep %s: %w", name, dep, err)
		}
		p.Deps = append(p.Deps, dp)
	}
	if len(rec.HostTools) == 0 {
		// Without host tools the recipe builds with the stdenv, locked with it.
		dp, err := r.lockPackageDep(ctx, env, m, recipes.Stdenv, systems)
		if err != nil {
			return nil, fmt.Errorf("recipe %s: the stdenv it builds with: %w", name, err)
		}
		p.Deps = append(p.Deps, dp)
	}
	return p, nil
}

// lockPackageDep locks a package of den's index that a recipe depends on, with the constraint
// [packages] gives it, if it lists it.
func (r *Resolver) lockPackageDep(ctx context.Context, env *backend.Env, m *manifest.Manifest, name string, systems []platform.System) (*lock.Package, error) {
	e, err := r.Index.Lookup(name)
	if err != nil {
		return nil, err
	}
	constraint := packageDepConstraint
	for _, pkg := range m.Packages {
		if pkg.Name == name {
			constraint = pkg.Version
		}
	}
	c, err := e.Constraint(constraint)
	if err != nil {
		return nil, err
	}
	p, err := r.lock(ctx, env, e, c, systems)
	if err != nil {
		return nil, err
	}
	p.Name = name
	return p, nil
}

// recipeLock is the lock entry of rec without its constraint, systems and deps.
func recipeLock(rec *manifest.Recipe, root string) (*lock.Package, error) {
	p := &lock.Package{
		Name: rec.Name, Version: rec.Version, Backend: index.Recipe,
		Attrs: map[string]string{
			recipes.AttrBuild: rec.Build, recipes.AttrHostTools: strings.Join(rec.HostTools, " "),
			recipes.AttrProject: "true",
		},
		Systems: map[string]*lock.System{},
	}
	if rec.Vendor {
		p.Attrs[recipes.AttrVendor] = ""
		if !rec.VendorHash.IsZero() {
			p.Attrs[recipes.AttrVendor] = rec.VendorHash.SRI()
		}
	}
	if rec.NPMDeps {
		p.Attrs[recipes.AttrNPMDeps] = ""
		if !rec.NPMDepsHash.IsZero() {
			p.Attrs[recipes.AttrNPMDeps] = rec.NPMDepsHash.SRI()
		}
	}
	if len(rec.Env) > 0 {
		data, err := json.Marshal(rec.Env) // keys sorted
		if err != nil {
			return nil, err
		}
		p.Attrs[recipes.AttrEnv] = string(data)
	}
	for _, u := range rec.Src.URLs {
		p.Sources = append(p.Sources, lock.Source{Kind: "url", Name: recipes.FileName(u), URL: u, Hash: rec.Src.Hash.SRI()})
	}
	if rec.Src.Path != "" {
		rel, err := filepath.Rel(root, rec.Src.Path)
		if err != nil || !manifest.Inside(root, rec.Src.Path) {
			return nil, fmt.Errorf("recipe %s: source %s is outside the project", rec.Name, rec.Src.Path)
		}
		// The content is the project's own, at whatever commit is checked out: it is read when
		// the recipe is planned, as den build of the recipe reads it.
		p.Sources = append(p.Sources, lock.Source{Kind: recipes.KindPath, Path: filepath.ToSlash(rel)})
	}
	return p, nil
}

// recipeDiffers says how the project recipe entry p differs from den.toml's recipe, or "".
func recipeDiffers(p *lock.Package, rec *manifest.Recipe, root string) string {
	if rec == nil {
		return "den.toml has no recipe " + p.Name
	}
	want, err := recipeLock(rec, root)
	if err != nil {
		return err.Error()
	}
	switch {
	case p.Version != want.Version:
		return fmt.Sprintf("version %s is locked, and den.toml's recipe builds %s", p.Version, want.Version)
	case p.Attrs[recipes.AttrBuild] != want.Attrs[recipes.AttrBuild]:
		return "its build script differs from den.toml's recipe"
	case !maps.Equal(p.Attrs, want.Attrs):
		return "its host tools, env, vendor-hash or npm-deps-hash differ from den.toml's recipe"
	}
	got := slices.Clone(p.Sources)
	for _, s := range p.Systems {
		if len(s.Sources) > 0 || len(s.Attrs) > 0 {
			return "it has per-system sources, which a recipe never has"
		}
	}
	same := func(a, b []lock.Source) bool {
		key := func(s lock.Source) string { return s.Kind + " " + s.URL + " " + s.Path + " " + s.Hash }
		ka, kb := make([]string, len(a)), make([]string, len(b))
		for i := range a {
			ka[i] = key(a[i])
		}
		for i := range b {
			kb[i] = key(b[i])
		}
		slices.Sort(ka)
		slices.Sort(kb)
		return slices.Equal(ka, kb)
	}
	if !same(got, want.Sources) {
		return "its sources differ from den.toml's recipe"
	}
	var deps []string
	for _, d := range p.Deps {
		deps = append(deps, d.Name)
	}
	wantDeps := slices.Clone(rec.Deps)
	if len(rec.HostTools) == 0 {
		wantDeps = append(wantDeps, recipes.Stdenv)
	}
	if !slices.Equal(slices.Sorted(slices.Values(deps)), slices.Sorted(slices.Values(wantDeps))) {
		return fmt.Sprintf("its deps (%s) differ from den.toml's recipe (%s)", strings.Join(deps, ", "), strings.Join(rec.Deps, ", "))
	}
	return ""
}

// isProjectRecipe reports whether a lock entry says it is a recipe of den.toml.
func isProjectRecipe(p *lock.Package) bool {
	return p.Backend == index.Recipe && p.Attrs[recipes.AttrProject] == "true"
}

// verifyProjectRecipe checks a project recipe entry against den.toml's recipe.
func (r *Resolver) verifyProjectRecipe(p *lock.Package) error {
	if r.Recipes == nil {
		return mismatch(p, "it is locked as a recipe of den.toml, and den has no allowed project here")
	}
	if why := recipeDiffers(p, r.Recipes[p.Name], r.Env.ProjectRoot); why != "" {
		return mismatch(p, "%s", why)
	}
	for _, s := range p.Sources {
		if s.Kind == recipes.KindPath && (path.IsAbs(s.Path) || s.Path != path.Clean(s.Path) || strings.HasPrefix(s.Path, "..")) {
			return mismatch(p, "its local source %q is not inside the project", s.Path)
		}
	}
	for sysName := range p.Systems {
		if _, err := platform.Parse(sysName); err != nil {
			return mismatch(p, "%v", err)
		}
	}
	for _, d := range p.Deps {
		if err := r.Verify(d); err != nil {
			return err
		}
	}
	return nil
}

// projectStale says why a project recipe entry must be locked again: den.toml's recipe (or a
// recipe it depends on) changed, or an index package it depends on is stale.
func projectStale(ix *index.Index, m *manifest.Manifest, p *lock.Package) string {
	if why := recipeDiffers(p, m.Recipes[p.Name], m.Root); why != "" {
		return fmt.Sprintf("%s: %s", p.Name, why)
	}
	for _, d := range p.Deps {
		if isProjectRecipe(d) {
			if why := projectStale(ix, m, d); why != "" {
				return fmt.Sprintf("%s's %s", p.Name, why)
			}
			continue
		}
		constraint := packageDepConstraint
		for _, pkg := range m.Packages {
			if pkg.Name == d.Name {
				constraint = pkg.Version
			}
		}
		if d.Constraint != constraint {
			return fmt.Sprintf("%s's dep %s is locked for %q, den.toml asks for %q", p.Name, d.Name, d.Constraint, constraint)
		}
		if why := stale(ix, d, nil); why != "" {
			return fmt.Sprintf("%s's %s", p.Name, why)
		}
	}
	return ""
}
