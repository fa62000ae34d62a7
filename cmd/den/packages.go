package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/deb"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/gomod"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/memo"
	"github.com/den-sh/den/core/npm"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/resolve"
)

// registryEnv is the environment as the registries' own tools would see it, with den's config
// ([registries] goproxy, gosumdb, npm) taking precedence.
func (a *App) registryEnv() func(string) string {
	over := map[string]string{}
	if a.cfg != nil {
		for k, v := range a.cfg.User.Registries {
			switch strings.ToLower(k) {
			case "goproxy":
				over["GOPROXY"] = v
			case "gosumdb":
				over["GOSUMDB"] = v
			case "npm":
				over["npm_config_registry"] = v
			}
		}
	}
	return func(k string) string {
		if v, ok := over[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
}

// Resolver wires the index and the backends to this process's store and registries.
func (a *App) Resolver() (*resolve.Resolver, error) {
	if a.resolver != nil {
		return a.resolver, nil
	}
	s, err := a.Store()
	if err != nil {
		return nil, err
	}
	ix, err := index.Load()
	if err != nil {
		return nil, err
	}
	projectDir, _ := os.Getwd()
	if root, err := a.projectRoot(); err == nil {
		projectDir = root
	}
	env := &backend.Env{
		Store:     s,
		Tools:     a.Tools(),
		Current:   platform.Current(),
		GoModules: a.goModules,
		NPM: sync.OnceValues(func() (*npm.Client, error) {
			cfg, err := npm.LoadConfig(a.registryEnv(), projectDir)
			if err != nil {
				return nil, err
			}
			return npm.NewClient(cfg, a.httpClient()), nil
		}),
	}
	env.Debian = sync.OnceValues(func() (*deb.Archive, error) {
		srcs, err := deb.Sources("", a.cfg.User.DebianSources)
		if err != nil {
			return nil, err
		}
		return &deb.Archive{Sources: srcs, Client: a.httpClient(), CacheDir: filepath.Join(a.cfg.CacheDir, "deb")}, nil
	})
	env.Realize = func(ctx context.Context, d *derivation.Derivation) error {
		b, err := a.Builder(false)
		if err != nil {
			return err
		}
		return b.Realize(ctx, d)
	}
	env.Memo = memo.Open(filepath.Join(a.cfg.CacheDir, "memo"))
	r := resolve.New(ix, env)
	r.Memo, r.TTL, r.Salt = env.Memo, a.cfg.User.ResolutionTTL(), denIdentity()
	r.Refresh, r.Offline = a.Globals.Refresh, a.Globals.Offline
	r.Note = func(msg string) {
		if !a.Globals.Quiet {
			fmt.Fprintf(a.Stderr, "den: %s\n", msg)
		}
	}
	a.resolver = r
	return a.resolver, nil
}

// denIdentity tells this den from another: its version and, for builds between releases, its
// executable's size and time. A resolution kept by one den is not reused by another, which may
// resolve differently.
func denIdentity() string {
	id := denVersion
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			id += fmt.Sprintf(" %d %d", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return id
}

// goModules opens the Go module proxy client once.
func (a *App) goModules() (*gomod.Client, error) {
	a.goOnce.Do(func() {
		cfg, err := gomod.LoadConfig(a.registryEnv())
		if err != nil {
			a.goErr = err
			return
		}
		a.goClient = gomod.NewClient(cfg, a.httpClient(), filepath.Join(a.cfg.CacheDir, "gomod"))
	})
	return a.goClient, a.goErr
}

// VersionsCmd is den versions.
type VersionsCmd struct {
	Package string `arg:"" help:"Package name (from den search, or npm:PACKAGE, go:MODULE/PATH)."`
	JSON    bool   `help:"Print a JSON array."`
}

func (c *VersionsCmd) Run(a *App) error {
	r, err := a.Resolver()
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	vs, err := r.Versions(ctx, c.Package)
	if err != nil {
		return err
	}
	if c.JSON {
		if vs == nil {
			vs = []string{}
		}
		return json.NewEncoder(a.Stdout).Encode(vs)
	}
	for _, v := range vs {
		fmt.Fprintln(a.Stdout, v)
	}
	return nil
}

// SearchCmd is den search.
type SearchCmd struct {
	Term string `arg:"" optional:"" help:"Text to look for in package names, descriptions and tags (none: list them all)."`
	JSON bool   `help:"Print JSON."`
}

func (c *SearchCmd) Run(a *App) error {
	ix, err := index.Load()
	if err != nil {
		return err
	}
	found := ix.Search(c.Term)
	if c.JSON {
		type row struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			Backend     string `json:"backend"`
		}
		rows := []row{}
		for _, e := range found {
			rows = append(rows, row{e.Name, e.Description, e.Backend})
		}
		return json.NewEncoder(a.Stdout).Encode(rows)
	}
	if len(found) == 0 {
		return &usageError{err: fmt.Errorf("no package matches %q", c.Term),
			hints: []string{"npm:PACKAGE and go:MODULE/PATH reach anything on those registries"}}
	}
	width := 0
	for _, e := range found {
		width = max(width, len(e.Name))
	}
	for _, e := range found {
		fmt.Fprintf(a.Stdout, "%-*s  %s\n", width, e.Name, e.Description)
	}
	return nil
}

// buildPackage resolves ref for sys, realizes it and returns its store path.
func (a *App) buildPackage(ctx context.Context, ref string, sys platform.System, printLogs bool) (string, error) {
	r, err := a.Resolver()
	if err != nil {
		return "", err
	}
	p, err := r.LockRef(ctx, ref, []platform.System{sys})
	if err != nil {
		return "", err
	}
	return a.realizeLocked(ctx, nil, p, sys, printLogs)
}

// realizeLocked plans a locked package for sys and realizes it, under the project's sandbox
// setting when there is a project.
func (a *App) realizeLocked(ctx context.Context, m *manifest.Manifest, p *lock.Package, sys platform.System, printLogs bool) (string, error) {
	r, err := a.Resolver()
	if err != nil {
		return "", err
	}
	d, err := r.Plan(ctx, p, sys)
	if err != nil {
		return "", err
	}
	b, err := a.Builder(printLogs)
	if err != nil {
		return "", err
	}
	if m != nil {
		a.applyProjectSandbox(m, b)
	}
	if err := b.Realize(ctx, d); err != nil {
		return "", buildFailure(err)
	}
	return string(d.Out), nil
}
