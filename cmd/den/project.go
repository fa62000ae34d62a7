package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/resolve"
	"github.com/den-sh/den/core/storepath"
	"github.com/den-sh/den/envs"
	"github.com/den-sh/den/envs/activate"
)

// environment is a realized environment: its profile and variables.
type environment struct {
	profile *envs.Profile
	vars    []envs.Var
}

// lockProject brings den.lock up to date with m (unless frozen, where it only checks) and
// returns it; it writes den.lock only when write is set and something changed.
func (a *App) lockProject(ctx context.Context, m *manifest.Manifest, frozen, write bool, update []string) (*lock.File, []resolve.Change, error) {
	old, exists, err := lock.Read(m.Root)
	if err != nil {
		return nil, nil, err
	}
	if frozen {
		return old, nil, resolve.UpToDate(m, old, exists)
	}
	if len(update) == 0 && resolve.UpToDate(m, old, exists) == nil {
		return old, nil, nil
	}
	r, err := a.Resolver()
	if err != nil {
		return nil, nil, err
	}
	next, changes, err := r.LockManifest(ctx, m, old, update)
	if err != nil {
		return nil, nil, err
	}
	if write {
		if err := lock.Write(m.Root, next); err != nil {
			return nil, nil, err
		}
	}
	return next, changes, nil
}

// realizeEnvironment realizes the locked packages of names (in that order) for this system,
// side by side, and composes them into a profile.
func (a *App) realizeEnvironment(ctx context.Context, f *lock.File, names []string, profileName string) (*envs.Profile, error) {
	r, err := a.Resolver()
	if err != nil {
		return nil, err
	}
	b, err := a.Builder(false)
	if err != nil {
		return nil, err
	}
	sys := platform.Current()
	pkgs := make([]envs.Package, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		p := f.Get(name)
		if p == nil {
			return nil, fmt.Errorf("%s is not in den.lock", name)
		}
		d, err := r.Plan(ctx, p, sys)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.Realize(ctx, d)
			pkgs[i] = envs.Package{Name: name, Out: d.Out, Vars: p.Vars(string(d.Out))}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, buildFailure(err)
	}
	s, err := a.Store()
	if err != nil {
		return nil, err
	}
	prof, err := envs.BuildProfile(s, profileName, pkgs)
	if err != nil {
		return nil, err
	}
	a.roots.Add(prof.Path)
	return prof, nil
}

// projectPackages are the names of m's packages that apply to this system, in file order.
func projectPackages(m *manifest.Manifest) []string {
	cur := platform.Current().String()
	var names []string
	for _, p := range m.Packages {
		if len(p.Systems) > 0 && !contains(p.Systems, cur) {
			continue
		}
		names = append(names, p.Name)
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// profileName is the store name of a project's profile.
func profileName(m *manifest.Manifest) string {
	return storepath.SanitizeName(filepath.Base(m.Root) + "-env")
}

// syncProject locks (or, frozen, checks the lock), realizes and switches the project to its
// environment, and returns it.
func (a *App) syncProject(ctx context.Context, m *manifest.Manifest, frozen bool) (*environment, []resolve.Change, error) {
	f, changes, err := a.lockProject(ctx, m, frozen, true, nil)
	if err != nil {
		return nil, nil, err
	}
	env, err := a.compose(ctx, m, f)
	if err != nil {
		return nil, nil, err
	}
	return env, changes, a.switchTo(m, env)
}

// compose realizes the locked packages of m and composes its environment, without making it
// current.
func (a *App) compose(ctx context.Context, m *manifest.Manifest, f *lock.File) (*environment, error) {
	prof, err := a.realizeEnvironment(ctx, f, projectPackages(m), profileName(m))
	if err != nil {
		return nil, err
	}
	vars, err := envs.Variables(prof.Path, prof.Packages, m.Env, m.Root, os.Getenv)
	if err != nil {
		return nil, err
	}
	return &environment{profile: prof, vars: vars}, nil
}

// switchTo makes env the project's current generation and keeps, beside it, the den.toml and
// den.lock it was made from, so that den rollback restores the files with the tools.
func (a *App) switchTo(m *manifest.Manifest, env *environment) error {
	s, err := a.Store()
	if err != nil {
		return err
	}
	g, err := envs.Switch(s, m.Root, env.profile.Path)
	if err != nil {
		return err
	}
	if err := envs.WriteStamp(m.Root, env.profile.Path, m); err != nil {
		return err
	}
	for _, name := range []string{manifest.FileName, lock.FileName} {
		snap := snapshotPath(m.Root, g.Number, name)
		if _, err := os.Stat(snap); err == nil {
			continue // made when the generation was
		}
		data, err := os.ReadFile(filepath.Join(m.Root, name))
		if err != nil {
			continue
		}
		if err := manifest.WriteAtomic(snap, data); err != nil {
			return err
		}
	}
	return nil
}

// snapshotPath is where generation n keeps its copy of den.toml or den.lock.
func snapshotPath(root string, n int, name string) string {
	return filepath.Join(root, envs.StateDir, "generations", fmt.Sprintf("%d.%s", n, name))
}

// unchanged returns the project's current environment when den.toml and den.lock are exactly as
// when it was made: the fast path of den run, den shell and den env, which then reads no TOML,
// plans nothing and opens no database. ok is false whenever anything is off; callers then sync.
// The launcher decides with the same code (activate.UnchangedHere).
func unchanged() (root string, st *envs.Stamp, vars []envs.Var, ok bool) {
	return activate.UnchangedHere()
}

// unchangedAt is unchanged for the project at root.
func unchangedAt(root string) (string, *envs.Stamp, []envs.Var, bool) {
	st, vars, ok := activate.Unchanged(root, os.Getenv)
	if !ok {
		return "", nil, nil, false
	}
	return root, st, vars, true
}

// SyncCmd is den sync.
type SyncCmd struct {
	Frozen bool `help:"Fail if den.lock is missing or out of date with den.toml; never re-resolve (for CI)."`
	// Status is where a background sync started by the prompt hook records how it ended.
	Status string `hidden:"" name:"status-file"`
}

func (c *SyncCmd) Run(a *App) (err error) {
	if c.Status != "" {
		if wd, err := os.Getwd(); err == nil {
			holdSyncLock(wd)
		}
		defer func() { writeSyncStatus(c.Status, err) }()
	}
	m, err := a.Project()
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	env, changes, err := a.syncProject(ctx, m, c.Frozen)
	if err != nil {
		return err
	}
	a.printChanges(changes)
	if !a.Globals.Quiet {
		fmt.Fprintf(a.Stderr, "environment ready: %s\n", env.profile.Path)
	}
	return nil
}

// writeSyncStatus records how a background sync ended, for the hook to report a failure once.
func writeSyncStatus(file string, err error) {
	line := "ok\n"
	if err != nil {
		msg := strings.SplitN(err.Error(), "\n", 2)[0]
		line = "error: " + msg + "\n"
	}
	tmp := file + ".tmp"
	if os.WriteFile(tmp, []byte(line), 0o644) == nil {
		os.Rename(tmp, file)
	}
}

// pureKeep are the variables --pure keeps from the outer environment.
func pureKeep(name string) bool { return activate.PureKeep(name) }

// childEnv is the environment a command runs with.
func childEnv(vars []envs.Var, pure bool) []string { return activate.ChildEnv(vars, pure) }

// lookPathIn finds a command on the PATH of env.
func lookPathIn(name string, env []string) (string, error) {
	if p, ok := activate.LookPathIn(name, env); ok {
		return p, nil
	}
	return "", &usageError{err: fmt.Errorf("%s: command not found in the environment", name),
		hints: []string{"den add PKG adds the package that provides it"}}
}
