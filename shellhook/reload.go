package shellhook

import (
	"fmt"
	"sort"
	"strings"

	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/project"
)

// PackageChanges names what an update does to the packages of an environment, as far as the
// files tell without resolving anything: old is the den.lock the current environment was made
// from (nil when there is none), wanted are den.toml's packages for this system, and locked is
// den.lock as it is now (nil when there is none). Each change is one of
//
//	+name version   added, and den.lock already has its version
//	+name           added, to be resolved
//	-name           removed
//	name old → new  another version; new is den.lock's version, or den.toml's constraint when
//	                den.lock does not hold the package for that constraint yet
//
// in den.toml's order, removals last in den.lock's order. An entry of den.lock counts only when
// it was resolved for the constraint den.toml asks now: otherwise the update resolves it again.
// old's packages that were not locked for sys were not in the environment and are ignored.
func PackageChanges(old *lock.File, wanted []manifest.Package, locked *lock.File, sys string) []string {
	get := func(f *lock.File, name string) *lock.Package {
		if f == nil {
			return nil
		}
		return f.Get(name)
	}
	var out []string
	want := map[string]bool{}
	for _, w := range wanted {
		want[w.Name] = true
		before := get(old, w.Name)
		if before != nil && len(before.Systems) > 0 && !before.HasSystem(sys) {
			before = nil
		}
		after := get(locked, w.Name)
		if after != nil && after.Constraint != w.Version {
			after = nil
		}
		switch {
		case before == nil && after != nil:
			out = append(out, "+"+w.Name+" "+after.Version)
		case before == nil:
			out = append(out, "+"+w.Name)
		case after != nil && after.Version != before.Version:
			out = append(out, w.Name+" "+before.Version+" → "+after.Version)
		case after == nil && w.Version != before.Constraint:
			out = append(out, w.Name+" "+before.Version+" → "+w.Version)
		}
	}
	if old != nil {
		for _, p := range old.Packages {
			if !want[p.Name] && (len(p.Systems) == 0 || p.HasSystem(sys)) {
				out = append(out, "-"+p.Name)
			}
		}
	}
	return out
}

// maxNamedChanges bounds how many changes the update line names, to keep it one line.
const maxNamedChanges = 4

// UpdateLine is what the hook or den shell says when it starts realizing a new environment in
// the background, naming changes (from PackageChanges); the caller adds den's prefix.
func UpdateLine(changes []string) string {
	if len(changes) == 0 {
		return "updating environment in the background"
	}
	named := changes
	if len(named) > maxNamedChanges {
		named = append(named[:maxNamedChanges:maxNamedChanges], fmt.Sprintf("%d more", len(changes)-maxNamedChanges))
	}
	return "updating environment (" + strings.Join(named, ", ") + ") in the background"
}

// Pkg is one package of an active environment, for ActivationLine: its name and version.
type Pkg struct{ Name, Version string }

// ActivationLine says in one line what applying or leaving an environment changed, as direnv's
// users expect to see it: packages that came (+go 1.22.3), went (-node) or changed (node 20.1.0 →
// 22.3.0), then the variables set (+NAME), changed (~NAME) or unset (-NAME); "" when nothing
// did. before and after are the shell's variables; den's own bookkeeping is not named.
func ActivationLine(oldPkgs, newPkgs []Pkg, before, after map[string]string) string {
	var parts []string
	oldV := map[string]string{}
	for _, p := range oldPkgs {
		oldV[p.Name] = p.Version
	}
	newV := map[string]string{}
	for _, p := range newPkgs {
		newV[p.Name] = p.Version
		switch v, ok := oldV[p.Name]; {
		case !ok:
			parts = append(parts, "+"+p.Name+" "+p.Version)
		case v != p.Version:
			parts = append(parts, p.Name+" "+v+" → "+p.Version)
		}
	}
	for _, p := range oldPkgs {
		if _, ok := newV[p.Name]; !ok {
			parts = append(parts, "-"+p.Name)
		}
	}
	var vars []string
	seen := map[string]bool{}
	for _, m := range []map[string]string{after, before} {
		for k := range m {
			if seen[k] || bookkeeping(k) {
				continue
			}
			seen[k] = true
			b, inBefore := before[k]
			a, inAfter := after[k]
			switch {
			case !inBefore && inAfter:
				vars = append(vars, "+"+k)
			case inBefore && !inAfter:
				vars = append(vars, "-"+k)
			case a != b:
				vars = append(vars, "~"+k)
			}
		}
	}
	sort.Slice(vars, func(i, j int) bool { return vars[i][1:] < vars[j][1:] })
	parts = append(parts, vars...)
	return strings.Join(parts, " ")
}

// bookkeeping names the variables den keeps for itself in the shell, and those every
// environment has (DEN_ROOT, DEN_PROFILE), which would only lengthen the line.
func bookkeeping(name string) bool {
	switch name {
	case EnvDiff, EnvSession, project.EnvUntrusted, "DEN_REPORTED", "DEN_ROOT", "DEN_PROFILE":
		return true
	}
	return false
}
