package deb

import (
	"fmt"
	"sort"
	"strings"

	"pault.ag/go/debian/dependency"
	"pault.ag/go/debian/version"
)

// Resolved is a package of a closure and the packages of the closure it depends on.
type Resolved struct {
	*Package
	// Deps are the names of the chosen packages that satisfy this one's Depends and
	// Pre-Depends, sorted; excluded packages are left out.
	Deps []string
}

// UnsatisfiableError is a relation no package of the index satisfies, and the chain of
// packages that led to it.
type UnsatisfiableError struct {
	Chain    []string // from a root to the package whose relation fails; empty for a root
	Relation string   // as written: "binutils (>= 2.40)"
	Arch     string
	Have     []string // what the index has under those names: "binutils 2.38", "awk (provided by mawk)"
}

func (e *UnsatisfiableError) Error() string {
	var b strings.Builder
	if len(e.Chain) == 0 {
		fmt.Fprintf(&b, "no archive has %s for %s", e.Relation, e.Arch)
	} else {
		b.WriteString(e.Chain[0])
		for _, name := range e.Chain[1:] {
			b.WriteString(" depends on " + name + ", which")
		}
		fmt.Fprintf(&b, " depends on %s which no archive has for %s", e.Relation, e.Arch)
	}
	if len(e.Have) > 0 {
		fmt.Fprintf(&b, " (the archives have %s)", strings.Join(e.Have, ", "))
	}
	return b.String()
}

// Hints says what to do.
func (e *UnsatisfiableError) Hints() []string {
	return []string{"check the suites of the Debian sources (a package's dependencies may be in bookworm-updates or bookworm-security), or exclude the package that needs it"}
}

// RelationError is a relation in a root or an index entry that does not parse.
type RelationError struct {
	Package, Field, Text string
	Err                  error
}

func (e *RelationError) Error() string {
	if e.Package == "" {
		return fmt.Sprintf("%q: %v", e.Text, e.Err)
	}
	return fmt.Sprintf("package %s: %s %q: %v", e.Package, e.Field, e.Text, e.Err)
}

func (e *RelationError) Unwrap() error { return e.Err }

// priorityRank orders the providers of a virtual package: the package Debian ranks higher is
// the one a base system has.
var priorityRank = map[string]int{"required": 0, "important": 1, "standard": 2, "optional": 3, "extra": 4}

// Closure resolves roots and their Depends and Pre-Depends into the set of packages they need,
// sorted by name. A root is a package name or any relation ("gcc-12 (>= 12.2)", "mawk | gawk").
// Recommends and Suggests are not followed, and neither is Essential: Debian packages may rely
// on the Essential set without declaring it, so a caller that runs maintainer scripts or
// needs a base system adds those roots itself.
//
// Of a relation's alternatives the first satisfiable one is chosen, except that one already in
// the closure is preferred. A name is a real package when the index has one (its version must
// satisfy the relation) and otherwise a virtual one: among its providers (a versioned relation
// needs a versioned Provides) one already chosen is preferred, then by Priority, then by name.
// The index holds one architecture, so arch qualifiers (:any, :native) name the package itself;
// a qualifier of another architecture is unsatisfiable.
//
// Names in exclude are taken as present: they and whatever only they need stay out of the
// closure, and out of Deps.
func (ix *Index) Closure(roots []string, exclude []string) ([]*Resolved, error) {
	r := &resolver{ix: ix, excluded: map[string]bool{}, chosen: map[string]*Resolved{}, parent: map[string]string{}}
	for _, n := range exclude {
		r.excluded[n] = true
	}
	for _, root := range roots {
		dep, err := dependency.Parse(root)
		if err != nil {
			return nil, &RelationError{Text: root, Err: err}
		}
		for _, rel := range dep.Relations {
			p, err := r.satisfy(rel, "")
			if err != nil {
				return nil, err
			}
			if p != nil {
				r.choose(p, "")
			}
		}
	}
	for len(r.queue) > 0 {
		res := r.queue[0]
		r.queue = r.queue[1:]
		for _, field := range [...]struct{ name, text string }{{"Pre-Depends", res.PreDepends}, {"Depends", res.Depends}} {
			if field.text == "" {
				continue
			}
			dep, err := dependency.Parse(field.text)
			if err != nil {
				return nil, &RelationError{Package: res.Name, Field: field.name, Text: field.text, Err: err}
			}
			for _, rel := range dep.Relations {
				p, err := r.satisfy(rel, res.Name)
				if err != nil {
					return nil, err
				}
				if p == nil {
					continue
				}
				r.choose(p, res.Name)
				if p.Name != res.Name {
					res.Deps = append(res.Deps, p.Name)
				}
			}
		}
	}
	out := make([]*Resolved, 0, len(r.chosen))
	for _, res := range r.chosen {
		sort.Strings(res.Deps)
		res.Deps = uniq(res.Deps)
		out = append(out, res)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

type resolver struct {
	ix       *Index
	excluded map[string]bool
	chosen   map[string]*Resolved
	parent   map[string]string // who pulled a package in first; "" for a root
	queue    []*Resolved
}

func (r *resolver) choose(p *Package, by string) {
	if r.chosen[p.Name] != nil {
		return
	}
	res := &Resolved{Package: p}
	r.chosen[p.Name] = res
	r.parent[p.Name] = by
	r.queue = append(r.queue, res)
}

// satisfy picks the package that satisfies rel, or nil when an excluded package does (or no
// alternative applies to this architecture).
func (r *resolver) satisfy(rel dependency.Relation, by string) (*Package, error) {
	var alts []dependency.Possibility
	native := &dependency.Arch{ABI: "any", Libc: "any", OS: "any", CPU: r.ix.Arch}
	for _, poss := range rel.Possibilities {
		if poss.Architectures != nil && !poss.Architectures.Matches(native) {
			continue
		}
		alts = append(alts, poss)
	}
	if len(alts) == 0 {
		return nil, nil
	}
	cands := make([][]*Package, len(alts))
	for i, poss := range alts {
		if r.excluded[poss.Name] {
			return nil, nil
		}
		cands[i] = r.candidates(poss)
		for _, p := range cands[i] {
			if r.chosen[p.Name] != nil {
				return p, nil
			}
		}
	}
	for _, cs := range cands {
		for _, p := range cs {
			if r.excluded[p.Name] {
				return nil, nil
			}
		}
		if len(cs) > 0 {
			return cs[0], nil
		}
	}
	return nil, r.unsatisfiable(rel, alts, by)
}

// candidates lists the packages that satisfy one alternative, best first: the real package of
// that name, else its providers.
func (r *resolver) candidates(poss dependency.Possibility) []*Package {
	if poss.Arch != nil {
		switch q := poss.Arch.CPU; q {
		case "any", "native", r.ix.Arch:
		default:
			return nil
		}
	}
	if p := r.ix.pkgs[poss.Name]; p != nil && (poss.Version == nil || satisfies(*poss.Version, p.ver)) {
		return []*Package{p}
	}
	var out []*Package
	for _, pr := range r.ix.providers[poss.Name] {
		if poss.Version != nil && (pr.ver == nil || !satisfies(*poss.Version, *pr.ver)) {
			continue
		}
		out = append(out, pr.pkg)
	}
	sort.SliceStable(out, func(i, j int) bool {
		pi, pj := rank(out[i].Priority), rank(out[j].Priority)
		if pi != pj {
			return pi < pj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func rank(priority string) int {
	if r, ok := priorityRank[priority]; ok {
		return r
	}
	return len(priorityRank)
}

func satisfies(rel dependency.VersionRelation, v version.Version) bool {
	want, err := version.Parse(rel.Number)
	if err != nil {
		return false
	}
	c := version.Compare(v, want)
	switch rel.Operator {
	case ">=", ">": // ">" and "<" are the obsolete spellings of >= and <=
		return c >= 0
	case "<=", "<":
		return c <= 0
	case ">>":
		return c > 0
	case "<<":
		return c < 0
	case "=":
		return c == 0
	}
	return false
}

func (r *resolver) unsatisfiable(rel dependency.Relation, alts []dependency.Possibility, by string) error {
	var chain []string
	for n := by; n != ""; n = r.parent[n] {
		chain = append([]string{n}, chain...)
	}
	var have []string
	for _, poss := range alts {
		if p := r.ix.pkgs[poss.Name]; p != nil {
			have = append(have, poss.Name+" "+p.Version)
		}
		for _, pr := range r.ix.providers[poss.Name] {
			s := poss.Name + " (provided by " + pr.pkg.Name
			if pr.ver != nil {
				s += " at " + pr.ver.String()
			}
			have = append(have, s+")")
		}
	}
	sort.Strings(have) // providers come from a map: the message must not change between runs
	return &UnsatisfiableError{Chain: chain, Relation: rel.String(), Arch: r.ix.Arch, Have: have}
}

func uniq(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
