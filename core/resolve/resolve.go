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

// Versions lists a package's versions, newest first.
func (r *Resolver) Versions(ctx context.Context, name string) ([]string, error) {
	e, err := r.Index.Lookup(name)
	if err != nil {
		return nil, err
	}
	b, err := r.backend(e.Backend)
	if err != nil {
		return nil, err
	}
	return b.Versions(ctx, r.Env, e)
}

// Lock resolves c for e on every system.
func (r *Resolver) Lock(ctx context.Context, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
	b, err := r.backend(e.Backend)
	if err != nil {
		return nil, err
	}
	p, err := b.Lock(ctx, r.Env, e, c, systems)
	if err != nil {
		return nil, err
	}
	p.Factor()
	return p, nil
}

// LockRef resolves a reference like "go@1.22" or "npm:prettier".
func (r *Resolver) LockRef(ctx context.Context, ref string, systems []platform.System) (*lock.Package, error) {
	name, constraint := version.SplitRef(ref)
	e, err := r.Index.Lookup(name)
	if err != nil {
		return nil, err
	}
	c, err := version.ParseConstraint(constraint)
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
