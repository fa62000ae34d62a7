package resolve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/backend/npmpkg"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/npm"
	"github.com/den-sh/den/core/platform"
)

// DefaultSystems are locked when den.toml names none: the current system and the four common
// ones, so that a lock written on one laptop serves the team's other machines and CI.
func DefaultSystems() []platform.System {
	out := []platform.System{platform.Current()}
	for _, s := range []string{"x86_64-linux", "aarch64-linux", "x86_64-darwin", "aarch64-darwin"} {
		sys, _ := platform.Parse(s)
		if sys != out[0] {
			out = append(out, sys)
		}
	}
	return out
}

// Systems are the systems a manifest locks for.
func Systems(m *manifest.Manifest) ([]platform.System, error) {
	if len(m.Systems) == 0 {
		return DefaultSystems(), nil
	}
	var out []platform.System
	for _, s := range m.Systems {
		sys, err := platform.Parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, sys)
	}
	return out, nil
}

// Change is one package whose lock entry changed.
type Change struct {
	Name       string
	Old, New   string // versions; Old is empty for an added package, New for a removed one
	Constraint string
}

// LockManifest brings a lock up to date with the manifest: entries whose constraint and systems
// are unchanged are kept as they are (a lock is only re-resolved when asked), new or changed
// packages are resolved, and packages no longer in the manifest are dropped. Names in update are
// re-resolved within their constraints even when unchanged; all of them if update is ["*"].
func (r *Resolver) LockManifest(ctx context.Context, m *manifest.Manifest, old *lock.File, update []string) (*lock.File, []Change, error) {
	systems, err := Systems(m)
	if err != nil {
		return nil, nil, err
	}
	if len(m.PackageDeps()) > 0 {
		err := m.CheckDeps(func(name string) bool {
			_, err := r.Index.Lookup(name)
			return err == nil
		}, r.Index.Names())
		if err != nil {
			return nil, nil, err
		}
	}
	again := map[string]bool{}
	for _, u := range update {
		again[u] = true
	}
	next := &lock.File{Version: lock.FormatVersion}
	var changes []Change
	// node first: the project's npm tools run with it when their engines allow (env.ProjectNode).
	env := *r.Env
	order := slices.Clone(m.Packages)
	slices.SortStableFunc(order, func(a, b manifest.Package) int {
		return boolInt(b.Name == projectNode) - boolInt(a.Name == projectNode)
	})
	for _, pkg := range order {
		want := systems
		if len(pkg.Systems) > 0 {
			want = nil
			for _, s := range pkg.Systems {
				sys, err := platform.Parse(s)
				if err != nil {
					return nil, nil, posError(m, pkg, err)
				}
				want = append(want, sys)
			}
		}
		prev := old.Get(pkg.Name)
		if prev != nil && prev.Constraint == pkg.Version && coversAll(prev, want) && !again[pkg.Name] && !again["*"] &&
			staleFor(r.Index, m, prev, env.ProjectNode) == "" {
			next.Put(prev)
			if pkg.Name == projectNode {
				env.ProjectNode = prev
			}
			continue
		}
		if m.Recipes[pkg.Name] != nil {
			// den.toml's own recipe: the project's definition is what its [packages] names.
			p, err := r.lockRecipe(ctx, &env, m, pkg.Name, pkg.Version, want)
			if err != nil {
				return nil, nil, posError(m, pkg, err)
			}
			next.Put(p)
			if prev == nil || prev.Version != p.Version {
				ch := Change{Name: pkg.Name, New: p.Version, Constraint: pkg.Version}
				if prev != nil {
					ch.Old = prev.Version
				}
				changes = append(changes, ch)
			}
			continue
		}
		e, err := r.Index.Lookup(pkg.Name)
		if err != nil {
			return nil, nil, posError(m, pkg, err)
		}
		c, err := e.Constraint(pkg.Version)
		if err != nil {
			return nil, nil, posError(m, pkg, err)
		}
		p, err := r.lock(ctx, &env, e, c, want)
		var oe *OfflineError
		if errors.As(err, &oe) && prev != nil && prev.Constraint == pkg.Version && coversAll(prev, want) {
			// den update --offline: what cannot be checked stays as it is, and den says so.
			r.note(fmt.Sprintf("--offline: %s cannot be checked for updates (it was never resolved here); it stays at %s", pkg.Name, prev.Version))
			next.Put(prev)
			continue
		}
		if err != nil {
			return nil, nil, posError(m, pkg, err)
		}
		p.Name = pkg.Name
		next.Put(p)
		if pkg.Name == projectNode {
			env.ProjectNode = p
		}
		if prev == nil || prev.Version != p.Version {
			ch := Change{Name: pkg.Name, New: p.Version, Constraint: pkg.Version}
			if prev != nil {
				ch.Old = prev.Version
			}
			changes = append(changes, ch)
		}
	}
	for _, p := range old.Packages {
		if next.Get(p.Name) == nil {
			changes = append(changes, Change{Name: p.Name, Old: p.Version})
		}
	}
	tc, err := r.lockTargets(ctx, &env, m, systems, old, next, again)
	if err != nil {
		return nil, nil, err
	}
	changes = append(changes, tc...)
	sort.Slice(changes, func(i, j int) bool { return changes[i].Name < changes[j].Name })
	return next, changes, nil
}

// projectNode is the package whose lock entry runs the project's npm tools.
const projectNode = "node"

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stale says why a lock entry that still matches its constraint must be locked again, or "":
// it lacks what this den's index brings with it (the npm that comes with node, in a lock written
// before), or it is an npm tool whose node is not the project's node although that accepts the
// tool's engines (den.toml's node changed, or den update moved it). The npm tools of a project
// whose node they cannot run with keep the node they were locked with.
func stale(ix *index.Index, p *lock.Package, node *lock.Package) string {
	if e, err := ix.Lookup(p.Name); err == nil {
		e = e.At(p.Version)
		if p.Backend == index.NPMPlatform && e.Backend == index.NPMPlatform {
			for name := range e.Bundle {
				if !hasSource(p, name) {
					return fmt.Sprintf("%s is locked without %s, which comes with it", p.Name, name)
				}
			}
		}
	}
	for _, d := range p.Deps {
		if why := stale(ix, d, nil); why != "" {
			return fmt.Sprintf("%s's %s", p.Name, why)
		}
	}
	if p.Backend != index.NPM || len(p.Deps) != 1 || node == nil || !npm.EnginesAccept(p.Attrs[npmpkg.EnginesAttr], node.Version) {
		return ""
	}
	var systems []string
	for name := range p.Systems {
		if !node.HasSystem(name) {
			return "" // the project's node cannot run it everywhere
		}
		systems = append(systems, name)
	}
	if dep := p.Deps[0]; !sameLocked(dep, node, systems) {
		return fmt.Sprintf("%s runs with node %s, not with den.toml's node %s", p.Name, dep.Version, node.Version)
	}
	return ""
}

// staleFor is stale for a package of m: a recipe of den.toml is also stale when den.toml's
// recipe changed, and an entry for a name den.toml now defines a recipe of is stale.
func staleFor(ix *index.Index, m *manifest.Manifest, p *lock.Package, node *lock.Package) string {
	rec := m.Recipes[p.Name]
	switch {
	case rec != nil && !isProjectRecipe(p):
		return fmt.Sprintf("%s is locked from den's index, and den.toml defines it as a recipe", p.Name)
	case rec == nil && isProjectRecipe(p):
		return fmt.Sprintf("%s is locked as a recipe of den.toml, which has none of that name", p.Name)
	case rec != nil:
		return projectStale(ix, m, p)
	}
	return stale(ix, p, node)
}

// hasSource reports whether p has a source of the npm package name, on any system.
func hasSource(p *lock.Package, name string) bool {
	for _, s := range p.Sources {
		if s.Name == name {
			return true
		}
	}
	for _, sys := range p.Systems {
		for _, s := range sys.Sources {
			if s.Name == name {
				return true
			}
		}
	}
	return false
}

// sameLocked reports whether a and b lock the same version the same way on systems.
func sameLocked(a, b *lock.Package, systems []string) bool {
	if a.Name != b.Name || a.Version != b.Version || a.Constraint != b.Constraint || a.Backend != b.Backend {
		return false
	}
	for _, sys := range systems {
		if !a.HasSystem(sys) || !slices.Equal(a.SourcesFor(sys), b.SourcesFor(sys)) {
			return false
		}
	}
	return true
}

func coversAll(p *lock.Package, systems []platform.System) bool {
	if len(p.Systems) != len(systems) {
		return false
	}
	for _, s := range systems {
		if !p.HasSystem(s.String()) {
			return false
		}
	}
	return true
}

// PackageError places a package's error at its line in den.toml. File is empty for a package
// that is not in the file yet (den add's), whose error has no line to point at.
type PackageError struct {
	File       string
	Line, Col  int
	Name       string
	Constraint string // as den.toml (or den add) asks for it
	Err        error
}

func (e *PackageError) Error() string {
	msg := e.Err.Error()
	// Backends name the package themselves where they can ("node: no version matches…"), as
	// den x and den build print their errors bare; the name is said once.
	if !strings.HasPrefix(msg, e.Name+":") && !strings.HasPrefix(msg, e.Name+" ") {
		msg = e.Name + ": " + msg
	}
	if e.File == "" {
		return msg
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, msg)
}

func (e *PackageError) Unwrap() error { return e.Err }

// Hints says how to lock fewer systems when a registry lacks builds for some, and passes on
// the hints of the cause otherwise.
func (e *PackageError) Hints() []string {
	var nb *backend.NoBuildError
	if !errors.As(e.Err, &nb) {
		var h interface{ Hints() []string }
		if errors.As(e.Err, &h) {
			return h.Hints()
		}
		return nil
	}
	cur := platform.Current().String()
	hints := []string{fmt.Sprintf("lock only the systems you use: den lock --systems current writes systems = [%q] into den.toml", cur)}
	if have := nb.Available(); len(have) > 0 {
		hints = append(hints, fmt.Sprintf("or lock %s only where it has builds: %s = { version = %q, systems = [%s] }",
			e.Name, tomlKey(e.Name), e.Constraint, quoted(have)))
	}
	if nb.Newest != "" && nb.Package == e.Name {
		hints = append(hints, fmt.Sprintf("or ask for the newest version every system has: %s = %q", tomlKey(e.Name), nb.Newest))
	}
	return hints
}

func quoted(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// tomlKey writes a package name as a den.toml key: bare when TOML allows it.
func tomlKey(name string) string {
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return strconv.Quote(name)
		}
	}
	return name
}

func posError(m *manifest.Manifest, pkg manifest.Package, err error) error {
	return &PackageError{File: m.Path, Line: pkg.Pos.Line, Col: pkg.Pos.Col, Name: pkg.Name, Constraint: pkg.Version, Err: err}
}

// OutOfDateError says den.lock does not match den.toml, for --frozen.
type OutOfDateError struct {
	Reasons []string
}

func (e *OutOfDateError) Error() string {
	return "den.lock is out of date with den.toml: " + strings.Join(e.Reasons, "; ")
}

// Hints says how to bring it up to date.
func (e *OutOfDateError) Hints() []string {
	return []string{"run den sync (without --frozen) and commit den.lock"}
}

// UpToDate checks, without any network, that the lock holds every package of the manifest with
// its constraint for every system, and nothing else.
func UpToDate(m *manifest.Manifest, f *lock.File, exists bool) error {
	if !exists {
		return &OutOfDateError{Reasons: []string{"there is no den.lock"}}
	}
	systems, err := Systems(m)
	if err != nil {
		return err
	}
	ix, err := index.Load()
	if err != nil {
		return err
	}
	var reasons []string
	names := map[string]bool{}
	var node *lock.Package
	for _, pkg := range m.Packages {
		if pkg.Name == projectNode {
			node = f.Get(projectNode)
		}
	}
	for _, pkg := range m.Packages {
		names[pkg.Name] = true
		want := systems
		if len(pkg.Systems) > 0 {
			want = nil
			for _, s := range pkg.Systems {
				if sys, err := platform.Parse(s); err == nil {
					want = append(want, sys)
				}
			}
		}
		p := f.Get(pkg.Name)
		switch {
		case p == nil:
			reasons = append(reasons, fmt.Sprintf("%s is not locked", pkg.Name))
		case p.Constraint != pkg.Version:
			reasons = append(reasons, fmt.Sprintf("%s is locked for %q, den.toml asks for %q", pkg.Name, p.Constraint, pkg.Version))
		case !coversAll(p, want):
			reasons = append(reasons, fmt.Sprintf("%s is not locked for the systems den.toml lists", pkg.Name))
		default:
			if why := staleFor(ix, m, p, node); why != "" {
				reasons = append(reasons, why)
			}
		}
	}
	for _, p := range f.Packages {
		if !names[p.Name] {
			reasons = append(reasons, fmt.Sprintf("%s is locked but not in den.toml", p.Name))
		}
	}
	tr, err := targetsUpToDate(ix, m, f, systems)
	if err != nil {
		return err
	}
	reasons = append(reasons, tr...)
	if len(reasons) > 0 {
		return &OutOfDateError{Reasons: reasons}
	}
	return nil
}

// PackageManagerWarning compares the packageManager of package.json beside den.toml with the
// package manager the lock pins (pnpm, yarn, or the npm that comes with node), and says in one
// line where they differ; "" when they agree, or either says nothing. den's package managers run
// as locked and do not switch themselves to the other version, so the user should know.
func PackageManagerWarning(m *manifest.Manifest, f *lock.File) (string, error) {
	pm, ok, err := npm.ReadPackageManager(m.Root)
	if err != nil || !ok {
		return "", err
	}
	field := fmt.Sprintf(`package.json's "packageManager": "%s@%s"`, pm.Name, pm.Version)
	for _, name := range []string{pm.Name, "npm:" + pm.Name} {
		if p := f.Get(name); p != nil && p.Version != pm.Version {
			return fmt.Sprintf("%s differs from den.toml's %s, locked at %s, which is what runs", field, name, p.Version), nil
		}
	}
	if node := f.Get(projectNode); pm.Name == "npm" && node != nil {
		for _, s := range node.Sources {
			if s.Name == "npm" && s.Path == npmpkg.BundlePath("npm") && s.Version != pm.Version {
				return fmt.Sprintf("%s differs from the npm %s that comes with den.toml's node %s, which is what runs", field, s.Version, node.Version), nil
			}
		}
	}
	return "", nil
}
