package resolve

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/backend/recipes"
	"github.com/den-sh/den/core/emulator"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
)

// TargetNeed is one package a [targets.SYSTEM] table locks: the cross toolchain and the
// emulator run on the build machine; a library is realized for the target.
type TargetNeed struct {
	Name    string
	Library bool
}

// TargetPlan is what den.lock holds for one of den.toml's targets: its needs, locked for the
// build systems that cross-build for it.
type TargetPlan struct {
	Target       platform.System
	BuildSystems []platform.System
	Needs        []TargetNeed
}

// TargetPlans are den.toml's [targets], sorted by system. A target den has no C cross
// toolchain for (a macOS target: Go and npm alone build for it) locks nothing, unless it lists
// libraries, which is an error; so is a target none of den.toml's systems can cross-build for
// when it lists libraries.
func TargetPlans(ix *index.Index, m *manifest.Manifest, systems []platform.System) ([]TargetPlan, error) {
	var out []TargetPlan
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range m.Targets {
			if !yield(k) {
				return
			}
		}
	}) {
		target, err := platform.Parse(name)
		if err != nil {
			return nil, err
		}
		libs := m.TargetLibraries(name)
		cross := recipes.CrossToolchain(target)
		e, err := ix.Lookup(cross)
		if err != nil {
			if len(libs) > 0 {
				return nil, fmt.Errorf("[targets.%s] libraries: den has no C cross toolchain for %s, so it builds no C libraries for it (Go and npm build for it without)", name, name)
			}
			continue
		}
		plan := TargetPlan{Target: target}
		for _, s := range systems {
			if s.OS == "linux" && s != target && (len(e.BuildSystems) == 0 || slices.Contains(e.BuildSystems, s.String())) {
				plan.BuildSystems = append(plan.BuildSystems, s)
			}
		}
		if len(plan.BuildSystems) == 0 {
			if len(libs) > 0 {
				return nil, fmt.Errorf("[targets.%s] libraries: none of den.toml's systems cross-builds for %s (its cross toolchain runs on %v)", name, name, e.BuildSystems)
			}
			continue
		}
		plan.Needs = append(plan.Needs, TargetNeed{Name: cross}, TargetNeed{Name: emulator.Package})
		for _, l := range libs {
			plan.Needs = append(plan.Needs, TargetNeed{Name: l, Library: true})
		}
		out = append(out, plan)
	}
	return out, nil
}

// lockTargets locks den.toml's [targets] into next, keeping what old has of them that still
// covers their build systems, unless again names it.
func (r *Resolver) lockTargets(ctx context.Context, env *backend.Env, m *manifest.Manifest, systems []platform.System, old, next *lock.File, again map[string]bool) ([]Change, error) {
	plans, err := TargetPlans(r.Index, m, systems)
	if err != nil {
		return nil, err
	}
	var changes []Change
	for _, plan := range plans {
		t := &lock.Target{System: plan.Target.String()}
		prevT := old.Target(t.System)
		for _, need := range plan.Needs {
			prev := prevT.Get(need.Name)
			if prev != nil && coversAll(prev, plan.BuildSystems) && !again[need.Name] && !again["*"] {
				t.Packages = append(t.Packages, prev)
				continue
			}
			e, err := r.Index.Lookup(need.Name)
			if err != nil {
				return nil, fmt.Errorf("[targets.%s]: %w", t.System, err)
			}
			c, err := e.Constraint("latest")
			if err != nil {
				return nil, fmt.Errorf("[targets.%s]: %s: %w", t.System, need.Name, err)
			}
			var p *lock.Package
			if need.Library {
				envT := *env
				envT.Target = plan.Target
				p, err = r.lock(ctx, &envT, e, c, plan.BuildSystems)
				if err == nil && p.Target != t.System {
					err = fmt.Errorf("it comes from the %s backend, which den does not build for another system (a target's libraries are Debian-backed packages of den's index: zlib, openssl, libffi…)", p.Backend)
				}
			} else {
				p, err = r.lock(ctx, env, e, c, plan.BuildSystems)
			}
			if err != nil {
				return nil, fmt.Errorf("[targets.%s]: %s: %w", t.System, need.Name, err)
			}
			p.Name = need.Name
			t.Packages = append(t.Packages, p)
			if prev == nil || prev.Version != p.Version {
				ch := Change{Name: need.Name + " (" + t.System + ")", New: p.Version}
				if prev != nil {
					ch.Old = prev.Version
				}
				changes = append(changes, ch)
			}
		}
		next.Targets = append(next.Targets, t)
	}
	for _, t := range old.Targets {
		for _, p := range t.Packages {
			if next.Target(t.System).Get(p.Name) == nil {
				changes = append(changes, Change{Name: p.Name + " (" + t.System + ")", Old: p.Version})
			}
		}
	}
	sort.Slice(next.Targets, func(i, j int) bool { return next.Targets[i].System < next.Targets[j].System })
	return changes, nil
}

// targetsUpToDate says, without the network, how den.lock's targets differ from den.toml's.
func targetsUpToDate(ix *index.Index, m *manifest.Manifest, f *lock.File, systems []platform.System) ([]string, error) {
	plans, err := TargetPlans(ix, m, systems)
	if err != nil {
		return nil, err
	}
	var reasons []string
	want := map[string]map[string]bool{}
	for _, plan := range plans {
		sys := plan.Target.String()
		want[sys] = map[string]bool{}
		t := f.Target(sys)
		for _, need := range plan.Needs {
			want[sys][need.Name] = true
			switch p := t.Get(need.Name); {
			case p == nil:
				reasons = append(reasons, fmt.Sprintf("%s for the target %s is not locked", need.Name, sys))
			case !coversAll(p, plan.BuildSystems):
				reasons = append(reasons, fmt.Sprintf("%s for the target %s is not locked for the systems that build for it", need.Name, sys))
			}
		}
	}
	for _, t := range f.Targets {
		for _, p := range t.Packages {
			if !want[t.System][p.Name] {
				reasons = append(reasons, fmt.Sprintf("%s is locked for the target %s, which den.toml does not ask for", p.Name, t.System))
			}
		}
	}
	return reasons, nil
}
