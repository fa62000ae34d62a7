// Package gotoolchain is the backend for Go toolchains: the golang.org/toolchain module on the Go
// module proxy, one version per release and platform, verified against the checksum database
// exactly as the go command verifies the toolchains it switches to.
package gotoolchain

import (
	"context"
	"fmt"
	"strings"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/gomod"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/version"
)

// Backend implements backend.Backend.
type Backend struct{}

// Name of the backend in den.lock.
const Name = index.GoToolchain

// ModuleVersion is the golang.org/toolchain version holding Go v (semver spelling) for sys.
func ModuleVersion(v string, sys platform.System) string {
	return "v0.0.1-go" + version.ToGo(v) + "." + sys.GOOS() + "-" + sys.GOARCH()
}

// parse splits a toolchain module version into its Go version (semver) and platform.
func parse(mv string) (goVersion, platformSuffix string, ok bool) {
	rest, ok := strings.CutPrefix(mv, "v0.0.1-go")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return "", "", false
	}
	return version.FromGo(rest[:i]), rest[i+1:], true
}

// Versions lists the Go releases that have a toolchain for the current system, spelled as Go
// spells them (1.22.3, 1.21rc2, 1.20).
func (Backend) Versions(ctx context.Context, env *backend.Env, e *index.Entry) ([]string, error) {
	client, err := env.GoModules()
	if err != nil {
		return nil, err
	}
	all, err := client.Versions(ctx, gomod.ToolchainModule)
	if err != nil {
		return nil, err
	}
	want := env.Current.GOOS() + "-" + env.Current.GOARCH()
	seen := map[string]bool{}
	var out []string
	for _, mv := range all {
		v, plat, ok := parse(mv)
		if ok && plat == want && !seen[v] {
			seen[v] = true
			out = append(out, version.ToGo(v))
		}
	}
	version.Sort(out)
	return out, nil
}

// Lock picks the version and records each system's toolchain hash from the checksum database.
func (b Backend) Lock(ctx context.Context, env *backend.Env, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
	versions, err := b.Versions(ctx, env, e)
	if err != nil {
		return nil, err
	}
	v, err := version.Select(c, versions)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	client, err := env.GoModules()
	if err != nil {
		return nil, err
	}
	p := &lock.Package{Name: e.Name, Constraint: c.String(), Version: v, Backend: Name, Systems: map[string]*lock.System{}}
	for _, sys := range systems {
		mv := ModuleVersion(v, sys)
		zipHash, _, err := client.Lookup(ctx, gomod.ToolchainModule, mv)
		if err != nil {
			return nil, fmt.Errorf("go %s for %s: %w", version.ToGo(v), sys, err)
		}
		p.Systems[sys.String()] = &lock.System{Sources: []lock.Source{{
			Kind: derivation.BuilderGoToolchain, Name: gomod.ToolchainModule, Version: mv, Hash: zipHash,
		}}}
	}
	return p, nil
}

// Plan is the toolchain download for sys: its GOROOT is the store path.
func (Backend) Plan(ctx context.Context, env *backend.Env, p *lock.Package, sys platform.System) (*derivation.Derivation, error) {
	srcs := p.SourcesFor(sys.String())
	if !p.HasSystem(sys.String()) || len(srcs) != 1 {
		return nil, &backend.NotLockedForError{Package: p.Name, System: sys.String()}
	}
	s := srcs[0]
	d := &derivation.Derivation{
		Name:       "go-" + version.ToGo(p.Version),
		Version:    p.Version,
		System:     sys.String(),
		Host:       sys.String(),
		Builder:    derivation.BuilderGoToolchain,
		Module:     s.Name,
		ModVersion: s.Version,
		OutputHash: s.Hash,
	}
	return d, d.Seal(env.Store.Dir)
}
