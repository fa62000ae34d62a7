package shellhook

import (
	"fmt"
	"strings"

	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
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
