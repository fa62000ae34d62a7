// Package gotoolchain is the backend for Go toolchains: the golang.org/toolchain module on the Go
// module proxy, one version per release and platform, verified against the checksum database
// exactly as the go command verifies the toolchains it switches to.
package gotoolchain

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	listed, err := toolchains(ctx, env)
	if err != nil {
		return nil, err
	}
	return listed.versionsFor(env.Current), nil
}

// listed are the toolchains a proxy lists: for each Go version (semver), its platforms
// ("linux-amd64").
type listed map[string]map[string]bool

func toolchains(ctx context.Context, env *backend.Env) (listed, error) {
	client, err := env.GoModules()
	if err != nil {
		return nil, err
	}
	all, err := client.Versions(ctx, gomod.ToolchainModule)
	if err != nil {
		return nil, err
	}
	out := listed{}
	for _, mv := range all {
		if v, plat, ok := parse(mv); ok {
			if out[v] == nil {
				out[v] = map[string]bool{}
			}
			out[v][plat] = true
		}
	}
	return out, nil
}

// versionsFor are the Go versions (Go's spelling) listed for every one of systems, newest first.
func (l listed) versionsFor(systems ...platform.System) []string {
	var out []string
	for v, plats := range l {
		all := true
		for _, sys := range systems {
			all = all && plats[sys.GOOS()+"-"+sys.GOARCH()]
		}
		if all {
			out = append(out, version.ToGo(v))
		}
	}
	version.Sort(out)
	return out
}

// Lock picks the version and records each system's toolchain hash from the checksum database.
// A system whose toolchain the database does not know has no build: Lock names all such systems,
// and the newest version the proxy lists for every system.
func (b Backend) Lock(ctx context.Context, env *backend.Env, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
	tcs, err := toolchains(ctx, env)
	if err != nil {
		return nil, err
	}
	v, err := version.Select(c, tcs.versionsFor(env.Current))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	client, err := env.GoModules()
	if err != nil {
		return nil, err
	}
	p := &lock.Package{Name: e.Name, Constraint: c.String(), Version: v, Backend: Name, Systems: map[string]*lock.System{}}
	var missing *backend.NoBuildError
	for _, sys := range systems {
		mv := ModuleVersion(v, sys)
		zipHash, _, err := client.Lookup(ctx, gomod.ToolchainModule, mv)
		if errors.Is(err, fs.ErrNotExist) {
			if missing == nil {
				missing = &backend.NoBuildError{Package: e.Name, Version: version.ToGo(v), Constraint: c.String(),
					Detail: "the checksum database has no " + gomod.ToolchainModule + "@" + mv}
				var he *gomod.HTTPError
				if errors.As(err, &he) {
					missing.Detail += ": " + he.Status
				}
			}
			missing.Missing = append(missing.Missing, sys.String())
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("go %s for %s: %w", version.ToGo(v), sys, err)
		}
		p.Systems[sys.String()] = &lock.System{Sources: []lock.Source{{
			Kind: derivation.BuilderGoToolchain, Name: gomod.ToolchainModule, Version: mv, Hash: zipHash,
		}}}
	}
	if missing != nil {
		for _, sys := range systems {
			missing.Asked = append(missing.Asked, sys.String())
		}
		if newest, err := version.Select(c, tcs.versionsFor(systems...)); err == nil {
			missing.Newest = newest
		}
		return nil, missing
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
