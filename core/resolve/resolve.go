// Package resolve ties the index to its backends: it finds a package's backend, locks a version
// for a set of systems, and plans locked packages into derivations.
package resolve

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/backend/debpkg"
	"github.com/den-sh/den/core/backend/gosource"
	"github.com/den-sh/den/core/backend/gotoolchain"
	"github.com/den-sh/den/core/backend/npmpkg"
	"github.com/den-sh/den/core/backend/recipes"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/memo"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/version"
)

// Resolver resolves and plans packages.
type Resolver struct {
	Index *index.Index
	Env   *backend.Env

	// Memo keeps resolutions between commands (see cache.go); nil keeps none.
	Memo *memo.Dir
	// TTL is how long a kept resolution is reused; 0 reuses none while online.
	TTL time.Duration
	// Refresh asks the registries even when a kept resolution is fresh.
	Refresh bool
	// Offline uses kept resolutions however old, saying so through Note, and fails with an
	// *OfflineError for a package none is kept for.
	Offline bool
	// Salt identifies the den that resolves: another den (a new release, a rebuild) may resolve
	// differently, so it does not reuse this one's resolutions.
	Salt string
	// Note receives remarks for the user: a resolution used offline past its TTL, a package den
	// update --offline could not check.
	Note func(string)
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Recipes are the allowed project's recipes (UseProject): den.lock's project recipe entries
	// are verified against them. nil outside a project, where such entries are refused.
	Recipes map[string]*manifest.Recipe

	backends map[string]backend.Backend
	reused   int
	oldest   time.Time // the oldest kept resolution reused
}

// New wires every backend to env.
func New(ix *index.Index, env *backend.Env) *Resolver {
	r := &Resolver{Index: ix, Env: env, backends: map[string]backend.Backend{
		index.GoToolchain: gotoolchain.Backend{},
		index.Recipe:      recipes.Backend{},
		index.Deb:         debpkg.Backend{},
		index.GoSource:    gosource.Backend{},
		index.NPM:         npmpkg.Tree{},
		index.NPMPlatform: npmpkg.Platform{},
	}}
	env.Index = ix
	env.Lock = r.Lock
	env.LockTarget = r.LockTarget
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
	cands, _, err := r.formVersions(ctx, e.Forms())
	if err != nil {
		return nil, err
	}
	var all []string
	for _, c := range cands {
		all = append(all, c.version)
	}
	version.Sort(all)
	return all, nil
}

// Lock resolves c for e on every system, or takes a kept resolution (see cache.go).
func (r *Resolver) Lock(ctx context.Context, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
	return r.lock(ctx, r.Env, e, c, systems)
}

// LockTarget is Lock for packages realized for target, a system other than those they are locked
// for (they are built there): a cross-built recipe and the libraries it links against. A zero
// target, or a target among systems, is Lock.
func (r *Resolver) LockTarget(ctx context.Context, e *index.Entry, c version.Constraint, systems []platform.System, target platform.System) (*lock.Package, error) {
	if target == (platform.System{}) {
		return r.Lock(ctx, e, c, systems)
	}
	env := *r.Env
	env.Target = target
	return r.lock(ctx, &env, e, c, systems)
}

// LockRefTarget is LockRef for target (see LockTarget).
func (r *Resolver) LockRefTarget(ctx context.Context, ref string, systems []platform.System, target platform.System) (*lock.Package, error) {
	name, constraint := version.SplitRef(ref)
	e, err := r.Index.Lookup(name)
	if err != nil {
		return nil, err
	}
	c, err := e.Constraint(constraint)
	if err != nil {
		return nil, err
	}
	return r.LockTarget(ctx, e, c, systems, target)
}

// lock is Lock with the backends' environment env: a project's own, while LockManifest locks it.
// A resolution made with the project's node (an npm tool runs with it) is kept apart from one
// made without.
func (r *Resolver) lock(ctx context.Context, env *backend.Env, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
	key, keep := r.resolutionKey(e, c.String())
	if env.Target != (platform.System{}) {
		key += "\ntarget " + env.Target.String()
	}
	withNode := env.ProjectNode != nil
	if keep && withNode {
		key += "\nnode " + env.ProjectNode.Version + " " + strings.Join(slices.Sorted(maps.Keys(env.ProjectNode.Systems)), " ")
	}
	if keep && (!r.Refresh || r.Offline) {
		if p, made, ok := r.lookup(key, e, c, systems); ok {
			age := r.now().Sub(made)
			if age >= 0 && age < r.TTL {
				r.reusedAt(made)
				return p, nil
			}
			if r.Offline {
				r.note(fmt.Sprintf("--offline: %s@%s is %s as den resolved it %s ago", e.Name, c, p.Version, ageText(age)))
				r.reusedAt(made)
				return p, nil
			}
		}
	}
	p, err := r.lockForms(ctx, env, e, c, systems)
	if err != nil {
		if r.Offline && isOffline(err) {
			return nil, &OfflineError{Ref: e.Name + "@" + c.String(), Err: err}
		}
		return nil, err
	}
	if keep {
		// A target's resolution is kept under its own key only: the exact version's key is
		// the systems' own.
		r.keep(key, e, c, p, !withNode && env.Target == (platform.System{}))
	}
	return p, nil
}

// lockForms resolves with the backends. A package published in more than one form (pnpm:
// native binaries from 12 on, JavaScript before; python: Debian's 3.11, the source build of
// 3.13) is locked by the backend of the form that has the version: for "latest", what its
// present form says; for any other constraint, the highest version of any form.
func (r *Resolver) lockForms(ctx context.Context, env *backend.Env, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
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
	cands, skipped, err := r.formVersions(ctx, forms)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(cands))
	for i, cand := range cands {
		keys[i] = cand.key
	}
	v, err := version.Select(c, keys)
	if err != nil {
		// The versions asked for may be those of a form that could not say which it has.
		for _, s := range skipped {
			err = fmt.Errorf("%w; the %s backend could not list its versions of %s: %v", err, s.form.Backend, e.Name, s.err)
		}
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	exact, err := version.ParseNamed(c.String(), v)
	if err != nil {
		return nil, err
	}
	// The form that publishes the version; of two that list it, the one it came from.
	var form *index.Entry
	for _, cand := range cands {
		if cand.key == v && (form == nil || cand.form.Publishes(cand.version)) {
			form = e.At(cand.version)
		}
	}
	return lockAs(form, exact)
}

// formVersion is a version one of a package's forms lists: as its backend spells it, and as
// versions of all forms are compared (a Debian version by its upstream part: 3.11.2 of
// 3.11.2-6+deb12u9, which is no prerelease).
type formVersion struct {
	version, key string
	form         *index.Entry
}

// skippedForm is a form whose versions could not be listed, and why.
type skippedForm struct {
	form *index.Entry
	err  error
}

// formVersions lists the versions of every form. A form after the first that cannot list its
// versions (no Debian archive is configured) leaves the others to choose from, and is skipped.
func (r *Resolver) formVersions(ctx context.Context, forms []*index.Entry) ([]formVersion, []skippedForm, error) {
	var out []formVersion
	var skipped []skippedForm
	for i, f := range forms {
		b, err := r.backend(f.Backend)
		if err != nil {
			return nil, nil, err
		}
		vs, err := b.Versions(ctx, r.Env, f)
		if err != nil && (i == 0 || len(out) == 0) {
			return nil, nil, err
		}
		if err != nil {
			skipped = append(skipped, skippedForm{f, err})
			continue
		}
		for _, v := range vs {
			key := v
			if f.Backend == index.Deb {
				key = index.DebianUpstream(v)
			}
			out = append(out, formVersion{version: v, key: key, form: f})
		}
	}
	return out, skipped, nil
}

// LockRef resolves a reference like "go@1.22" or "npm:prettier".
func (r *Resolver) LockRef(ctx context.Context, ref string, systems []platform.System) (*lock.Package, error) {
	return r.LockRefTarget(ctx, ref, systems, platform.System{})
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
