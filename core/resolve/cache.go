package resolve

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/den-sh/den/core/backend/debpkg"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/version"
)

// Resolutions are kept between commands (Resolver.Memo). Resolving asks the registries for
// version lists and package documents (for node, one per system) and, for a Go program, runs the
// go command over its module graph: seconds each time, for an answer that changes only when
// something is released. A kept resolution is keyed by everything that decides it: den's index
// entry for the package, the constraint, the settings that choose the registry and the den that
// resolved. It is exactly a lock entry — a version and sources with their hashes — and is checked
// as den.lock is (Verify) before it is used; every source is still verified against its hash
// when it is fetched. So a kept resolution can spare den the asking, never change what a lock
// builds.
//
// One is reused for TTL, an hour unless config.toml's resolve-ttl says otherwise. npm reuses a
// package document for as long as the registry's max-age (minutes) and then revalidates it with
// one cheap request; the go command keeps module files forever and asks the proxy for every
// version query. A den resolution is a dozen such requests, or a go install run, so den keeps the
// answer itself rather than each request, for as long as mise keeps the version lists it
// fetches: an hour, after which a new release shows, while --refresh (and den update --refresh)
// asks at once. Under --offline, a kept resolution of any age is used, and den says how old it
// is. Every resolution is also kept under its exact version (node@22 resolving to 22.23.5 answers
// node@22.23.5), and one kept for more systems answers for fewer: what was realized once can be
// named again offline.

// resolutionFormat changes when what a kept resolution holds changes.
const resolutionFormat = "den-resolution-1"

// kept is a kept resolution as the memo holds it.
type kept struct {
	Package *lock.Package `json:"package"`
}

// OfflineError says that --offline leaves a package without a resolution: none is kept, and
// resolving it needs the registry.
type OfflineError struct {
	Ref string // name@constraint
	Err error  // what resolving without the network said
}

func (e *OfflineError) Error() string {
	return fmt.Sprintf("%s has not been resolved on this machine, and --offline forbids the network to resolve it", e.Ref)
}

func (e *OfflineError) Unwrap() error { return e.Err }

// Hints says how to have one.
func (e *OfflineError) Hints() []string {
	return []string{"run it once without --offline: den keeps what it resolves, and uses it offline however old"}
}

// offline is implemented by the errors of a client that refuses the network under --offline.
type offline interface{ Offline() bool }

func isOffline(err error) bool {
	var o offline
	return errors.As(err, &o) && o.Offline()
}

// resolutionKey is the memo key of resolving c for e, and whether resolutions of e are kept at
// all: a recipe's resolution reads den's index only and costs nothing.
func (r *Resolver) resolutionKey(e *index.Entry, c string) (string, bool) {
	if r.Memo == nil || e.Backend == index.Recipe {
		return "", false
	}
	registry, ok := r.registrySettings(e.Backend)
	if !ok {
		return "", false // the backend's own error says what is wrong
	}
	entry, err := json.Marshal(e)
	if err != nil {
		return "", false
	}
	return strings.Join([]string{resolutionFormat, r.Salt, e.Name, string(entry), c, registry}, "\n"), true
}

// registrySettings spells the settings that decide where a backend's packages come from.
func (r *Resolver) registrySettings(backend string) (string, bool) {
	switch backend {
	case index.GoToolchain, index.GoSource:
		if r.Env.GoModules == nil {
			return "", false
		}
		client, err := r.Env.GoModules()
		if err != nil {
			return "", false
		}
		cfg := client.Config()
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(cfg.Values)) {
			b.WriteString(k + "=" + cfg.Values[k] + "\n")
		}
		return b.String(), true
	case index.NPM, index.NPMPlatform:
		if r.Env.NPM == nil {
			return "", false
		}
		client, err := r.Env.NPM()
		if err != nil {
			return "", false
		}
		return client.Config().RegistrySettings(), true
	case index.Deb:
		if r.Env.Debian == nil {
			return "", false
		}
		arc, err := r.Env.Debian()
		if err != nil {
			return "", false
		}
		var b strings.Builder
		for _, s := range arc.Sources {
			fmt.Fprintf(&b, "%s %v %v %s %s\n", s.URI, s.Suites, s.Components, s.Keyring, s.Mirror)
		}
		return b.String(), true
	}
	return "", false
}

// lookup returns the kept resolution of c for e on systems, and when it was made.
func (r *Resolver) lookup(key string, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, time.Time, bool) {
	var k kept
	made, ok := r.Memo.Get(key, &k)
	if !ok || k.Package == nil {
		return nil, time.Time{}, false
	}
	p := k.Package
	matches := c.Check
	if e.Backend == index.Deb {
		matches = func(v string) bool { return debpkg.Matches(c, v) }
	}
	if p.Name != e.Name || p.Backend != e.Backend || !matches(p.Version) {
		return nil, time.Time{}, false
	}
	p, ok = restrict(p, systems, r.Env.Current)
	if !ok {
		return nil, time.Time{}, false
	}
	p.Constraint = c.String()
	if r.Verify(p) != nil {
		return nil, time.Time{}, false
	}
	return p, made, true
}

// keep records p as the resolution of c for e under key, and, with exactToo, of p's own exact
// version.
func (r *Resolver) keep(key string, e *index.Entry, c version.Constraint, p *lock.Package, exactToo bool) {
	r.Memo.PutAt(key, kept{Package: p}, r.now())
	exact, err := version.ParseConstraint(p.Version)
	if !exactToo || err != nil || !exact.IsExact() || exact.String() == c.String() {
		return
	}
	if k, ok := r.resolutionKey(e, exact.String()); ok {
		q := *p
		q.Constraint = exact.String()
		r.Memo.PutAt(k, kept{Package: &q}, r.now())
	}
}

// restrict is p locked for systems only (and its dependencies for the current system too, where
// they are locked for it: a Go program's toolchain runs here), or false when p lacks one of them.
func restrict(p *lock.Package, systems []platform.System, current platform.System) (*lock.Package, bool) {
	q := *p
	q.Sources = nil
	q.Attrs = maps.Clone(p.Attrs)
	q.Systems = map[string]*lock.System{}
	for _, sys := range systems {
		s := p.Systems[sys.String()]
		if s == nil {
			return nil, false
		}
		q.Systems[sys.String()] = &lock.System{Sources: p.SourcesFor(sys.String()), Attrs: maps.Clone(s.Attrs)}
	}
	q.Factor()
	// Attributes the same on every system move up, as the backends lock them.
	if len(q.Systems) > 0 {
		for key := range q.Systems[systems[0].String()].Attrs {
			v := q.Systems[systems[0].String()].Attrs[key]
			same := true
			for _, s := range q.Systems {
				if got, ok := s.Attrs[key]; !ok || got != v {
					same = false
				}
			}
			if same {
				if q.Attrs == nil {
					q.Attrs = map[string]string{}
				}
				q.Attrs[key] = v
				for _, s := range q.Systems {
					delete(s.Attrs, key)
				}
			}
		}
		for _, s := range q.Systems {
			if len(s.Attrs) == 0 {
				s.Attrs = nil
			}
		}
	}
	q.Deps = nil
	for _, d := range p.Deps {
		want := systems
		if d.HasSystem(current.String()) && !slices.Contains(systems, current) {
			want = append(slices.Clone(systems), current)
		}
		rd, ok := restrict(d, want, current)
		if !ok {
			return nil, false
		}
		q.Deps = append(q.Deps, rd)
	}
	return &q, true
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Resolver) note(msg string) {
	if r.Note != nil {
		r.Note(msg)
	}
}

// Reused says how many resolutions this resolver took from the memo rather than the registries.
func (r *Resolver) Reused() int { return r.reused }

func (r *Resolver) reusedAt(made time.Time) {
	r.reused++
	if r.oldest.IsZero() || made.Before(r.oldest) {
		r.oldest = made
	}
}

// ResolvedAt is when the oldest resolution this resolver reused was made, or now when it
// reused none: what it answered is as fresh as that.
func (r *Resolver) ResolvedAt() time.Time {
	if r.oldest.IsZero() {
		return r.now()
	}
	return r.oldest
}

// ageText spells a duration as a person would read it in a note.
func ageText(d time.Duration) string {
	switch {
	case d < 2*time.Minute:
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
