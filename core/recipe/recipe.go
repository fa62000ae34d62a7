// Package recipe turns the [recipes.*] of a den.toml into derivations: a download for each
// source, the recipe's dependencies first, and the host tools the build may use.
package recipe

import (
	"fmt"
	"maps"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/hosttools"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
	stdenvpkg "github.com/den-sh/den/core/stdenv"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// Planner plans recipes of one manifest for one store.
type Planner struct {
	Manifest *manifest.Manifest
	Store    *store.Store
	Tools    *hosttools.Resolver
	System   platform.System
	// Stdenv is the standard build environment's output (the stdenv package: compiler wrapper,
	// make, bash, coreutils...), which a recipe without host tools builds with; nil when none is
	// locked.
	Stdenv *derivation.Derivation
	// Target is the system the recipes are cross-built for, zero for System itself: their
	// outputs run there, and Cross is the cross toolchain (core/index's cross-<target>) they
	// compile with, beside the stdenv's tools. Deps are then the target's libraries.
	Target platform.System
	Cross  *derivation.Derivation
	// Package plans a dep that names no recipe: a package of den's index (deps = ["go"]), its
	// output an input of the recipe like a recipe dep's. nil allows recipe deps only.
	Package func(name string) (*derivation.Derivation, error)

	planned map[string]*derivation.Derivation
}

// Plan returns the sealed derivation of the named recipe, with its needs.
func (p *Planner) Plan(name string) (*derivation.Derivation, error) {
	if p.planned == nil {
		p.planned = map[string]*derivation.Derivation{}
	}
	if d, ok := p.planned[name]; ok {
		return d, nil
	}
	r, ok := p.Manifest.Recipes[name]
	if !ok {
		return nil, &UnknownError{Name: name, Known: p.names()}
	}
	var needs []*derivation.Derivation
	for _, dep := range r.Deps {
		var dd *derivation.Derivation
		var err error
		if p.Manifest.Recipes[dep] == nil && p.Package != nil {
			if dd, err = p.Package(dep); err != nil {
				return nil, fmt.Errorf("recipe %s: dep %s: %w", name, dep, err)
			}
		} else if dd, err = p.Plan(dep); err != nil {
			return nil, err
		}
		needs = append(needs, dd)
	}
	d, err := p.PlanRecipe(r, needs)
	if err != nil {
		return nil, err
	}
	p.planned[name] = d
	return d, nil
}

// PlanRecipe returns the sealed derivation of r, whose dependencies are already planned.
func (p *Planner) PlanRecipe(r *manifest.Recipe, deps []*derivation.Derivation) (*derivation.Derivation, error) {
	name := r.Name
	host := p.System
	if p.cross() {
		host = p.Target
	}
	d := &derivation.Derivation{
		Name:    r.Name + "-" + r.Version,
		Version: r.Version,
		System:  p.System.String(),
		Host:    host.String(),
		Builder: derivation.BuilderScript,
		Script:  r.Build,
		Env:     r.Env,
		// A recipe's script compiles for the machine it runs on: den build refuses it for
		// another system unless a cache has that system's output.
		Native: true,
	}
	switch {
	case len(r.Src.URLs) > 0:
		src := &derivation.Derivation{
			Name:       sourceName(r.Src.URLs[0]),
			Builder:    derivation.BuilderFetch,
			URLs:       r.Src.URLs,
			OutputHash: r.Src.Hash.SRI(),
			Unpack:     true,
			System:     p.System.String(),
			Host:       p.System.String(),
		}
		if err := src.Seal(p.Store.Dir); err != nil {
			return nil, err
		}
		d.Src = src.Out
		d.Needs = append(d.Needs, src)
	case r.Src.Path != "":
		if err := p.checkInside(r); err != nil {
			return nil, err
		}
		sp, err := p.Store.AddPath(r.Src.Path, storepath.SanitizeName(path.Base(r.Src.Path)))
		if err != nil {
			return nil, fmt.Errorf("recipe %s: add source %s: %w", name, r.Src.Path, err)
		}
		d.Src = sp
	}
	for _, dd := range deps {
		d.Inputs = append(d.Inputs, dd.Out)
		d.Needs = append(d.Needs, dd)
	}
	var base []derivation.HostTool
	if len(r.HostTools) == 0 {
		if p.Stdenv == nil && p.Package != nil {
			sd, err := p.Package(Stdenv)
			if err != nil {
				return nil, fmt.Errorf("recipe %s: the stdenv it builds with: %w", name, err)
			}
			p.Stdenv = sd
		}
		if p.Stdenv == nil {
			return nil, &NoStdenvError{Recipe: name}
		}
		if p.cross() {
			if p.Cross == nil {
				return nil, fmt.Errorf("recipe %s: no cross toolchain for %s is locked to build it with", name, p.Target)
			}
			if err := UseCross(d, p.Stdenv, p.Cross, deps); err != nil {
				return nil, fmt.Errorf("recipe %s: %w", name, err)
			}
		} else {
			UseStdenv(d, p.Stdenv)
		}
	} else {
		if p.cross() {
			return nil, fmt.Errorf("recipe %s uses host tools (%s), which build for %s only; a recipe cross-builds for %s with the stdenv", name, strings.Join(r.HostTools, ", "), p.System, p.Target)
		}
		var err error
		if base, err = p.Tools.Resolve(hosttools.Base, false); err != nil {
			return nil, err
		}
		declared, err := p.Tools.Resolve(hosttools.WithCompanions(r.HostTools), true)
		if err != nil {
			return nil, fmt.Errorf("recipe %s: %w", name, err)
		}
		d.HostTools = mergeTools(base, declared)
	}
	if r.Vendor {
		// go mod vendor is a fixed-output fetch: its output is checked against vendor-hash,
		// so the host's shell may run it whatever the build itself uses.
		if base == nil {
			var err error
			if base, err = p.Tools.Resolve(hosttools.Base, false); err != nil {
				return nil, err
			}
		}
		if err := p.vendor(r, d, base); err != nil {
			return nil, err
		}
	}
	if r.NPMDeps {
		if err := p.npmDeps(r, d); err != nil {
			return nil, err
		}
	}
	if !r.Vendor && slices.ContainsFunc(deps, func(dd *derivation.Derivation) bool { return dd.Builder == derivation.BuilderGoToolchain }) {
		// The go command needs a cache, which HOME (/homeless-shelter) cannot hold, and must
		// neither fetch modules nor switch toolchains: a module with requirements builds with
		// a vendor-hash.
		d.Script = goPrelude + d.Script
	}
	if err := d.Seal(p.Store.Dir); err != nil {
		return nil, fmt.Errorf("recipe %s: %w", name, err)
	}
	return d, nil
}

// goPrelude runs before the script of a recipe that has Go among its deps but no vendor-hash:
// the go command keeps its caches in the build and reaches no module proxy.
const goPrelude = `export GOPROXY=off GOTOOLCHAIN=local GOENV=off GOCACHE="$TMPDIR/.den-go/cache" GOPATH="$TMPDIR/.den-go/path"
`

// UseStdenv makes d build with the stdenv instead of host tools: its programs come after d's
// own inputs on PATH, its bash runs the script and is the build's /bin/sh, and the stdenv's
// fixup follows the script.
func UseStdenv(d, stdenv *derivation.Derivation) { useStdenv(d, stdenv, stdenvpkg.Fixup) }

func useStdenv(d, stdenv *derivation.Derivation, fixup string) {
	d.Inputs = append(d.Inputs, stdenv.Out)
	d.Needs = append(d.Needs, stdenv)
	d.Env = maps.Clone(d.Env)
	if d.Env == nil {
		d.Env = map[string]string{}
	}
	d.Env["shell"] = string(stdenv.Out) + "/bin/bash"
	d.Stdenv = true
	d.Script += "\n" + fixup
}

func (p *Planner) cross() bool {
	return p.Target != (platform.System{}) && p.Target != p.System
}

// UseCross makes d cross-build with stdenv's tools and the cross toolchain cross for d.Host:
// CC, CXX, AR... name the cross wrapper's programs, configure scripts cross-compile
// (stdenvpkg.ConfigSite), only the target's libraries (targetLibs, among d's inputs) give the
// build's CPATH, LIBRARY_PATH and PKG_CONFIG_PATH (env targetInputs), and the target's strip
// does the fixup.
func UseCross(d, stdenv, cross *derivation.Derivation, targetLibs []*derivation.Derivation) error {
	triplet, err := stdenvpkg.Triplet(d.Host)
	if err != nil {
		return err
	}
	useStdenv(d, stdenv, stdenvpkg.CrossFixup(triplet))
	d.Inputs = append(d.Inputs, cross.Out)
	d.Needs = append(d.Needs, cross)
	for k, v := range stdenvpkg.CrossEnv(string(cross.Out), triplet) {
		if _, set := d.Env[k]; !set {
			d.Env[k] = v
		}
	}
	var libs []string
	for _, l := range targetLibs {
		libs = append(libs, string(l.Out))
	}
	d.Env[TargetInputs] = strings.Join(libs, " ")
	return nil
}

// TargetInputs is the env entry of a cross build that lists its target libraries.
const TargetInputs = "targetInputs"

// Stdenv is the package of den's index that recipes without host tools build with.
const Stdenv = "stdenv"

// NoStdenvError says a recipe without host tools has no stdenv to build with.
type NoStdenvError struct{ Recipe string }

func (e *NoStdenvError) Error() string {
	return fmt.Sprintf("recipe %s declares no host tools and no stdenv is locked to build it with", e.Recipe)
}

// vendorPrelude runs before the script of a recipe with a vendor-hash: the module builds from
// the vendor directory, with no module proxy, and the go command keeps its caches in the build.
const vendorPrelude = "export GOFLAGS=-mod=vendor\n" + goPrelude + `rm -rf vendor && cp -R "$DEN_GO_VENDOR" vendor && chmod -R u+w vendor
`

// vendor adds to d, the recipe's derivation whose source and deps are planned, the vendor
// directory of its Go module source (as Nix's buildGoModule): a fixed-output derivation that
// runs go mod vendor with the network and the recipe's deps (the go toolchain among them),
// whose output the build copies to vendor/ before its script runs offline.
func (p *Planner) vendor(r *manifest.Recipe, d *derivation.Derivation, base []derivation.HostTool) error {
	want := derivation.PlaceholderHash
	if !r.VendorHash.IsZero() {
		want = r.VendorHash.SRI()
	}
	v := &derivation.Derivation{
		Name:       r.Name + "-" + r.Version + "-vendor",
		Version:    r.Version,
		System:     p.System.String(),
		Host:       p.System.String(),
		Builder:    derivation.BuilderGoVendor,
		Src:        d.Src,
		Inputs:     append([]storepath.Path(nil), d.Inputs...),
		Needs:      append([]*derivation.Derivation(nil), d.Needs...),
		HostTools:  base,
		OutputHash: want,
	}
	return p.fixedInput(r, d, v, "DEN_GO_VENDOR", vendorPrelude)
}

// fixedInput seals v, a fixed-output input of the recipe's derivation d (its vendor directory,
// its node_modules), makes it an input of d named by the variable env, and puts prelude, which
// copies it into the build, before d's script.
func (p *Planner) fixedInput(r *manifest.Recipe, d, v *derivation.Derivation, env, prelude string) error {
	if err := v.Seal(p.Store.Dir); err != nil {
		return fmt.Errorf("recipe %s: %w", r.Name, err)
	}
	d.Inputs = append(d.Inputs, v.Out)
	d.Needs = append(d.Needs, v)
	d.Env = maps.Clone(d.Env)
	if d.Env == nil {
		d.Env = map[string]string{}
	}
	d.Env[env] = string(v.Out)
	d.Script = prelude + d.Script
	return nil
}

// npmDepsPrelude runs before the script of a recipe with an npm-deps-hash: the source's
// package-lock.json must be the one the tree was laid out from (a lock changed since
// npm-deps-hash was written would otherwise build with the old tree, whose path its hash
// alone names), then the tree is copied in writable, its commands go on PATH, and npm, if the
// script runs it, stays offline with its cache in the build.
const npmDepsPrelude = `if ! cmp -s package-lock.json "$DEN_NPM_DEPS/package-lock.json"; then
  echo "den: package-lock.json differs from the one npm-deps-hash was computed for: set npm-deps-hash = \"\" in den.toml, and den prints the new hash" >&2
  exit 1
fi
rm -rf node_modules && cp -R "$DEN_NPM_DEPS/node_modules" node_modules && chmod -R u+w node_modules
export PATH="$PWD/node_modules/.bin:$PATH" npm_config_offline=true npm_config_cache="$TMPDIR/.den-npm" npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
`

// npmDeps adds to d, the recipe's derivation whose source and deps are planned, the
// node_modules tree of its source's package-lock.json (as Nix's buildNpmPackage): a
// fixed-output derivation den lays out itself from the locked registry tarballs, which the
// build copies to node_modules/ before its script runs offline.
func (p *Planner) npmDeps(r *manifest.Recipe, d *derivation.Derivation) error {
	want := derivation.PlaceholderHash
	if !r.NPMDepsHash.IsZero() {
		want = r.NPMDepsHash.SRI()
	}
	v := &derivation.Derivation{
		Name:       r.Name + "-" + r.Version + "-npm-deps",
		Version:    r.Version,
		System:     p.System.String(),
		Host:       p.System.String(),
		Builder:    derivation.BuilderNPMDeps,
		Src:        d.Src,
		OutputHash: want,
	}
	// Only the source is needed to read the lock: a downloaded one, if it is.
	for _, n := range d.Needs {
		if n.Out == d.Src {
			v.Needs = append(v.Needs, n)
		}
	}
	return p.fixedInput(r, d, v, "DEN_NPM_DEPS", npmDepsPrelude)
}

// checkInside refuses a local source that, its links followed, is not in the project: a link
// committed as ./src -> /home/me/.ssh must not put the user's keys into the store.
func (p *Planner) checkInside(r *manifest.Recipe) error {
	if p.Manifest == nil {
		return fmt.Errorf("recipe %s: a local source needs its project", r.Name)
	}
	root, err := filepath.EvalSymlinks(p.Manifest.Root)
	if err != nil {
		return err
	}
	src, err := filepath.EvalSymlinks(r.Src.Path)
	if err != nil {
		return fmt.Errorf("recipe %s: source: %w", r.Name, err)
	}
	if !manifest.Inside(root, src) {
		return &OutsideError{Recipe: r.Name, Src: r.Src.Path, Target: src}
	}
	return nil
}

// OutsideError says a recipe's local source leads out of the project.
type OutsideError struct{ Recipe, Src, Target string }

func (e *OutsideError) Error() string {
	return fmt.Sprintf("recipe %s: source %s leads outside the project, to %s", e.Recipe, e.Src, e.Target)
}

// Hints says what a source may be.
func (e *OutsideError) Hints() []string {
	return []string{"a recipe's source is a directory or file of the project itself, not a link out of it"}
}

func mergeTools(base, declared []derivation.HostTool) []derivation.HostTool {
	byName := map[string]derivation.HostTool{}
	for _, t := range base {
		byName[t.Name] = t
	}
	for _, t := range declared {
		byName[t.Name] = t // the declared form carries the version line
	}
	out := make([]derivation.HostTool, 0, len(byName))
	for _, t := range byName {
		out = append(out, t)
	}
	return out
}

func (p *Planner) names() []string {
	var out []string
	for n := range p.Manifest.Recipes {
		out = append(out, n)
	}
	return out
}

// sourceName is the store name of a download: the URL's last element, made valid.
func sourceName(raw string) string {
	u, err := url.Parse(raw)
	base := raw
	if err == nil {
		base = u.Path
		if base == "" {
			base = u.Opaque
		}
	}
	base = path.Base(strings.TrimRight(base, "/"))
	return storepath.SanitizeName(base)
}

// UnknownError says no recipe has the name asked for.
type UnknownError struct {
	Name  string
	Known []string
}

func (e *UnknownError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("no recipe %q: den.toml has no [recipes] section", e.Name)
	}
	return fmt.Sprintf("no recipe %q in den.toml (recipes: %s)", e.Name, strings.Join(e.Known, ", "))
}
