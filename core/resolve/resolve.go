// Package resolve ties the index to its backends: it finds a package's backend, locks a version
// for a set of systems, and plans locked packages into derivations.
package resolve

import (
	"context"
	"fmt"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/backend/gosource"
	"github.com/den-sh/den/core/backend/gotoolchain"
	"github.com/den-sh/den/core/backend/npmpkg"
	"github.com/den-sh/den/core/backend/recipes"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/version"
)

// Resolver resolves and plans packages.
type Resolver struct {
	Index    *index.Index
	Env      *backend.Env
	backends map[string]backend.Backend
}

// New wires every backend to env.
func New(ix *index.Index, env *backend.Env) *Resolver {
	r := &Resolver{Index: ix, Env: env, backends: map[string]backend.Backend{
		index.GoToolchain: gotoolchain.Backend{},
		index.Recipe:      recipes.Backend{},
		index.GoSource:    gosource.Backend{},
		index.NPM:         npmpkg.Tree{},
		index.NPMPlatform: npmpkg.Platform{},
	}}
	env.Index = ix
	env.Lock = r.Lock
	env.Plan = r.Plan
	return r
}

// Register adds or replaces a backend.
func (r *Resolver) Register(name string, b backend.Backend) { r.backends[name] = b }

func (r *Resolver) backend(name string) (backend.Backend, error) {
	b, ok := r.backends[name]
	if !ok {
		return nil, fmt.Errorf("backend %q is not available in this den", name)
	}
	return b, nil
}

// Versions lists a package's versions, newest first, of every form it was published in.
func (r *Resolver) Versions(ctx context.Context, name string) ([]string, error) {
	e, err := r.Index.Lookup(name)
	if err != nil {
		return nil, err
	}
	var all []string
	for i, f := range e.Forms() {
		b, err := r.backend(f.Backend)
		if err != nil {
			return nil, err
		}
		vs, err := b.Versions(ctx, r.Env, f)
		if err != nil && (i == 0 || len(all) == 0) {
			return nil, err
		}
		all = append(all, vs...)
	}
	version.Sort(all)
	return all, nil
}

// Lock resolves c for e on every system.
func (r *Resolver) Lock(ctx context.Context, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
	return r.lock(ctx, r.Env, e, c, systems)
}

// lock is Lock with the backends' environment env: a project's own, while LockManifest locks it.
// A package published in more than one form (pnpm: native binaries from 12 on, JavaScript
// before) is locked by the backend of the form that has the version: for "latest", what its
// present form says; for any other constraint, the highest version of any form.
func (r *Resolver) lock(ctx context.Context, env *backend.Env, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
	lockAs := func(f *index.Entry, c version.Constraint) (*lock.Package, error) {
		b, err := r.backend(f.Backend)
		if err != nil {
			return nil, err
		}
		p, err := b.Lock(ctx, env, f, c, systems)
		if err != nil {
			return nil, err
		}
		p.Factor()
		return p, nil
	}
	forms := e.Forms()
	if len(forms) == 1 || c.IsLatest() {
		return lockAs(forms[0], c)
	}
	vs, err := r.Versions(ctx, e.Name)
	if err != nil {
		return nil, err
	}
	v, err := version.Select(c, vs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	exact, err := version.ParseNamed(c.String(), v)
	if err != nil {
		return nil, err
	}
	return lockAs(e.At(v), exact)
}

// LockRef resolves a reference like "go@1.22" or "npm:prettier".
func (r *Resolver) LockRef(ctx context.Context, ref string, systems []platform.System) (*lock.Package, error) {
	name, constraint := version.SplitRef(ref)
	e, err := r.Index.Lookup(name)
	if err != nil {
		return nil, err
	}
	c, err := e.Constraint(constraint)
	if err != nil {
		return nil, err
	}
	return r.Lock(ctx, e, c, systems)
}

// Plan plans a locked package for sys, once Verify has found it to be what den's index and
// den.toml make it.
func (r *Resolver) Plan(ctx context.Context, p *lock.Package, sys platform.System) (*derivation.Derivation, error) {
	if err := r.Verify(p); err != nil {
		return nil, err
	}
	b, err := r.backend(p.Backend)
	if err != nil {
		return nil, err
	}
	return b.Plan(ctx, r.Env, p, sys)
}
