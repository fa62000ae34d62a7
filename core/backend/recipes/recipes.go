// Package recipes is the backend for packages built from a source recipe of the index (GNU hello,
// CPython): the whole recipe goes into den.lock, so the lock alone rebuilds it.
package recipes

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/recipe"
	"github.com/den-sh/den/core/version"
)

// Attributes and source kinds in den.lock.
const (
	AttrBuild     = "build"         // the script
	AttrHostTools = "host-tools"    // space-separated
	AttrEnv       = "env"           // JSON object, for den.toml's recipes
	AttrProject   = "project"       // "true" for a recipe of den.toml rather than of den's index
	AttrVendor    = "vendor-hash"   // the NAR hash of a Go module source's vendor directory ("" not known yet)
	AttrNPMDeps   = "npm-deps-hash" // the NAR hash of the node_modules of a source's package-lock.json ("" not known yet)
	KindPath      = "path"          // a source in the project, its path relative to the project root
)

// Backend implements backend.Backend.
type Backend struct{}

// Name of the backend in den.lock.
const Name = index.Recipe

// Versions is the one version the index's recipe builds.
func (Backend) Versions(ctx context.Context, env *backend.Env, e *index.Entry) ([]string, error) {
	return []string{e.Recipe.Version}, nil
}

// Lock copies the recipe into the lock; it is the same on every system.
func (Backend) Lock(ctx context.Context, env *backend.Env, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
	r := e.Recipe
	if _, err := version.Select(c, []string{r.Version}); err != nil {
		return nil, fmt.Errorf("%s: %w; den's index builds %s %s from source", e.Name, err, e.Name, r.Version)
	}
	urls := r.Src.URLs
	if r.Src.URL != "" {
		urls = append([]string{r.Src.URL}, urls...)
	}
	p := &lock.Package{
		Name: e.Name, Constraint: c.String(), Version: r.Version, Backend: Name,
		Attrs:   map[string]string{AttrBuild: r.Build, AttrHostTools: strings.Join(r.HostTools, " ")},
		Systems: map[string]*lock.System{},
	}
	for _, u := range urls {
		p.Sources = append(p.Sources, lock.Source{Kind: "url", Name: FileName(u), URL: u, Hash: r.Src.Hash})
	}
	for _, sys := range systems {
		p.Systems[sys.String()] = &lock.System{}
	}
	target := env.Target
	if target != (platform.System{}) {
		if len(r.HostTools) > 0 {
			return nil, fmt.Errorf("%s uses host tools (%s), which build for this machine only, and cannot be cross-built for %s", e.Name, strings.Join(r.HostTools, ", "), target)
		}
		p.Target = target.String()
	}
	any, _ := version.ParseConstraint("*")
	// The stdenv and the cross toolchain run on the build machine; the recipe's deps are
	// libraries it links against, realized for the target when it has one.
	var tools []string
	if len(r.HostTools) == 0 {
		tools = append(tools, Stdenv)
		if target != (platform.System{}) {
			tools = append(tools, CrossToolchain(target))
		}
	}
	for _, name := range tools {
		de, err := env.Index.Lookup(name)
		if err != nil && name != Stdenv {
			return nil, fmt.Errorf("%s: den has no cross toolchain for %s (%s is not in den's index; it has cross-aarch64-linux, cross-armv7l-linux and cross-i686-linux, for x86_64-linux machines): %w", e.Name, target, name, err)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", e.Name, name, err)
		}
		dp, err := env.Lock(ctx, de, any, systems)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", e.Name, name, err)
		}
		p.Deps = append(p.Deps, dp)
	}
	for _, name := range r.Deps {
		de, err := env.Index.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("%s: dependency: %w", e.Name, err)
		}
		lockDep := env.Lock
		if target != (platform.System{}) {
			lockDep = func(ctx context.Context, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
				return env.LockTarget(ctx, e, c, systems, target)
			}
		}
		dp, err := lockDep(ctx, de, any, systems)
		if err != nil {
			return nil, fmt.Errorf("%s: dependency %s: %w", e.Name, name, err)
		}
		p.Deps = append(p.Deps, dp)
	}
	return p, nil
}

// CrossToolchain is the index package a recipe cross-builds for target with, beside the stdenv.
func CrossToolchain(target platform.System) string { return "cross-" + target.String() }

// Stdenv is the index package recipes without host tools build with.
const Stdenv = "stdenv"

// FileName is the file name of a source URL, as den.lock records it.
func FileName(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Path != "" {
		return path.Base(u.Path)
	}
	return path.Base(raw)
}

// Plan rebuilds the recipe from the lock and plans it like a den.toml recipe, its deps (recipes
// of den.toml, packages of den's index) first.
func (Backend) Plan(ctx context.Context, env *backend.Env, p *lock.Package, sys platform.System) (*derivation.Derivation, error) {
	if !p.HasSystem(sys.String()) {
		return nil, &backend.NotLockedForError{Package: p.Name, System: sys.String()}
	}
	// Another system is planned like this one: its output may come from a cache, and the
	// builder refuses to build it here (the derivation is native, see core/recipe).
	r := &manifest.Recipe{Name: p.Name, Version: p.Version, Build: p.Attrs[AttrBuild], HostTools: strings.Fields(p.Attrs[AttrHostTools])}
	if e := p.Attrs[AttrEnv]; e != "" {
		if err := json.Unmarshal([]byte(e), &r.Env); err != nil {
			return nil, fmt.Errorf("den.lock: %s: its env: %w", p.Name, err)
		}
	}
	if v, ok := p.Attrs[AttrVendor]; ok {
		r.Vendor = true
		if v != "" {
			h, err := hash.Parse(v, "")
			if err != nil {
				return nil, fmt.Errorf("den.lock: %s: its vendor-hash: %w", p.Name, err)
			}
			r.VendorHash = h
		}
	}
	if v, ok := p.Attrs[AttrNPMDeps]; ok {
		r.NPMDeps = true
		if v != "" {
			h, err := hash.Parse(v, "")
			if err != nil {
				return nil, fmt.Errorf("den.lock: %s: its npm-deps-hash: %w", p.Name, err)
			}
			r.NPMDepsHash = h
		}
	}
	planner := &recipe.Planner{Store: env.Store, Tools: env.Tools, System: sys}
	var cross string
	if p.Target != "" {
		t, err := platform.Parse(p.Target)
		if err != nil {
			return nil, fmt.Errorf("den.lock: %s: its target: %w", p.Name, err)
		}
		planner.Target = t
		cross = CrossToolchain(t)
	}
	for _, s := range p.Sources {
		if s.Kind == KindPath {
			if env.ProjectRoot == "" {
				return nil, fmt.Errorf("den.lock: %s: a local source needs its project", p.Name)
			}
			r.Src.Path = filepath.Join(env.ProjectRoot, filepath.FromSlash(s.Path))
			planner.Manifest = &manifest.Manifest{Root: env.ProjectRoot}
			continue
		}
		h, err := hash.Parse(s.Hash, "")
		if err != nil {
			return nil, fmt.Errorf("den.lock: %s: %w", p.Name, err)
		}
		r.Src.URLs = append(r.Src.URLs, s.URL)
		r.Src.Hash = h
	}
	var deps []*derivation.Derivation
	for _, dep := range p.Deps {
		d, err := env.Plan(ctx, dep, sys)
		if err != nil {
			return nil, err
		}
		if dep.Name == Stdenv && len(r.HostTools) == 0 {
			planner.Stdenv = d
			continue
		}
		if cross != "" && dep.Name == cross {
			planner.Cross = d
			continue
		}
		deps = append(deps, d)
	}
	return planner.PlanRecipe(r, deps)
}
