package main

import (
	"bytes"
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
	"github.com/den-sh/den/core/project"
	"github.com/den-sh/den/core/resolve"
	"github.com/den-sh/den/core/storepath"
	"github.com/den-sh/den/envs"
	"github.com/den-sh/den/envs/activate"
	"github.com/den-sh/den/shellhook"
)

// environment is a realized environment: its profile and variables.
type environment struct {
	profile *envs.Profile
	vars    []envs.Var
	lock    *lock.File // what it was made from, which den.lock may not be yet
}

// lockProject brings den.lock up to date with m (unless frozen, where it only checks) and
// returns it; it writes den.lock only when write is set and its content changed. The caller
// holds the project's lock (changeProject).
func (a *App) lockProject(ctx context.Context, m *manifest.Manifest, frozen, write bool, update []string) (*lock.File, []resolve.Change, error) {
	old, exists, err := lock.Read(m.Root)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRecipeDeps(m); err != nil {
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
	r.UseProject(m)
	next, changes, err := r.LockManifest(ctx, m, old, update)
	if err != nil {
		return nil, nil, err
	}
	if write {
		if err := a.commitProject(m.Root, nil, next); err != nil {
			return nil, nil, err
		}
	}
	a.warnPackageManager(m, next)
	return next, changes, nil
}

// commitProject writes den.toml (unless manifestData is nil) and den.lock (unless f is nil) of
// the project at root as one change (envs.CommitFiles): both or neither, the user's allowance
// carried over, and a file whose content stays the same is not rewritten — editors, direnv
// and the hook watch these files, and a rewrite that changes nothing would wake them all.
func (a *App) commitProject(root string, manifestData []byte, f *lock.File) error {
	files := map[string][]byte{}
	if manifestData != nil {
		files[manifest.FileName] = manifestData
	}
	if f != nil {
		data, err := lock.Encode(f)
		if err != nil {
			return err
		}
		files[lock.FileName] = data
	}
	for name, data := range files {
		if old, err := os.ReadFile(filepath.Join(root, name)); err == nil && bytes.Equal(old, data) {
			delete(files, name)
		}
	}
	if len(files) == 0 {
		return nil
	}
	cfg, err := a.Config()
	if err != nil {
		return err
	}
	if err := envs.CommitFiles(cfg.StateDir, root, files, true); err != nil {
		return err
	}
	if a.trust.Trust == envs.Allowed {
		// The allowance was carried over to the new content, in a new trust record.
		a.trust = envs.CheckTrust(cfg.StateDir, root)
	}
	return nil
}

// changeProject finds the project around the working directory, takes its lock for a change
// (den add, sync, run…: one at a time per project, each reading and writing den.toml and
// den.lock whole), finishes a change a stopped den left, and loads it. With trust it requires
// the user's allowance (asking on a terminal when ask is set). unlock releases the lock.
func (a *App) changeProject(ctx context.Context, trust, ask bool) (m *manifest.Manifest, unlock func(), err error) {
	root, err := a.projectRoot()
	if err != nil {
		return nil, nil, err
	}
	return a.changeProjectAt(ctx, ctx, root, trust, ask)
}

// changeProjectAt is changeProject for the project at root, waiting for its lock as long as
// lockCtx lasts.
func (a *App) changeProjectAt(ctx, lockCtx context.Context, root string, trust, ask bool) (m *manifest.Manifest, unlock func(), err error) {
	unlock, err = envs.LockProject(lockCtx, root, func() {
		if !a.Globals.Quiet {
			fmt.Fprintln(a.Stderr, "den: waiting for another den command in this project to finish")
		}
	})
	if err != nil {
		return nil, nil, err
	}
	if err := envs.RecoverHeld(root); err != nil {
		unlock()
		return nil, nil, err
	}
	m, err = a.loadProject(root)
	if err == nil && trust {
		err = a.requireAllowed(m, ask)
	}
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return m, unlock, nil
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
			pkgs[i] = envs.Package{Name: name, Out: d.Out, Vars: r.Vars(p, string(d.Out)), Defaults: r.Defaults(p)}
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
	// Held before it is looked up: a profile found valid must stay so until Switch roots it.
	p, err := envs.ProfilePath(s.Dir, profileName, pkgs)
	if err != nil {
		return nil, err
	}
	if err := a.roots.Add(p); err != nil {
		return nil, err
	}
	return envs.BuildProfile(s, profileName, pkgs)
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

// changeWords names lock changes in a few words: +node 22.3.0, go 1.22.3 → 1.23.1, -gopls.
func changeWords(changes []resolve.Change) string {
	var words []string
	for _, ch := range changes {
		switch {
		case ch.Old == "":
			words = append(words, "+"+ch.Name+" "+ch.New)
		case ch.New == "":
			words = append(words, "-"+ch.Name)
		default:
			words = append(words, ch.Name+" "+ch.Old+" → "+ch.New)
		}
	}
	return strings.Join(words, ", ")
}

// syncProject locks (or, frozen, checks the lock), realizes and switches the project to its
// environment, and returns it. It writes den.lock only with write: den run, den env and den
// shell resolve a changed den.toml for themselves and leave the file alone (an editor, direnv
// and the hook watch it, and a git status would show a change nobody asked for).
func (a *App) syncProject(ctx context.Context, m *manifest.Manifest, frozen, write bool) (*environment, []resolve.Change, error) {
	f, changes, err := a.lockProject(ctx, m, frozen, write, nil)
	if err != nil {
		return nil, nil, err
	}
	if !write && len(changes) > 0 && !a.Globals.Quiet {
		// Resolved for this command only: den.lock is written by the commands meant to lock.
		fmt.Fprintf(a.Stderr, "den: den.lock is out of date with den.toml (%s); den lock writes it\n", changeWords(changes))
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
	r, err := a.Resolver()
	if err != nil {
		return nil, err
	}
	r.UseProject(m)
	prof, err := a.realizeEnvironment(ctx, f, projectPackages(m), profileName(m))
	if err != nil {
		return nil, err
	}
	vars, err := envs.Variables(prof.Path, prof.Packages, m.Env, m.Root, os.Getenv)
	if err != nil {
		return nil, err
	}
	return &environment{profile: prof, vars: vars, lock: f}, nil
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
	if err := a.snapshot(m, g.Number, env); err != nil {
		return err
	}
	// The stamp lets den run and the hook skip all of this next time, for as long as den.toml,
	// den.lock and the user's allowance stay as they are now.
	if a.trust.Trust != envs.Allowed {
		return nil
	}
	a.trust = envs.CheckTrust(a.cfg.StateDir, m.Root)
	if a.trust.Trust != envs.Allowed {
		return nil // denied meanwhile
	}
	return envs.WriteStamp(m.Root, a.trust, env.profile.Path, m)
}

// snapshot keeps, beside generation n, the den.toml and den.lock it was made from.
func (a *App) snapshot(m *manifest.Manifest, n int, env *environment) error {
	// The copies are of den.toml as it is and of the lock the environment was made from, which
	// den run and the hook resolve without writing den.lock. Both are den's own, made from
	// allowed files: allowed themselves, so that den rollback to them needs no new den allow.
	tomlSnap, lockSnap := snapshotName(n, manifest.FileName), snapshotName(n, lock.FileName)
	if _, err := os.Lstat(envs.StatePath(m.Root, lockSnap)); err == nil {
		return nil // made when the generation was
	}
	tomlData, err := os.ReadFile(filepath.Join(m.Root, manifest.FileName))
	if err != nil {
		return err
	}
	lockData, err := lock.Encode(env.lock)
	if err != nil {
		return err
	}
	if a.trust.Trust == envs.Allowed {
		if err := envs.AllowContent(a.cfg.StateDir, m.Root, envs.ContentHash(tomlData, lockData, true)); err != nil {
			return err
		}
	}
	if err := envs.WriteStateFile(m.Root, tomlSnap, tomlData, 0o444); err != nil {
		return err
	}
	return envs.WriteStateFile(m.Root, lockSnap, lockData, 0o444)
}

// snapshotName is the state file (below .den) in which generation n keeps its copy of
// den.toml or den.lock.
func snapshotName(n int, name string) string {
	return fmt.Sprintf("generations/%d.%s", n, name)
}

// entered is a project's environment as den run, den env and den shell enter it.
type entered struct {
	root    string
	vars    []envs.Var
	scripts map[string]string
	init    string // [shell] init
	// session fingerprints den.toml, den.lock and the user's decision as they were before den
	// read them, so that an edit made meanwhile shows at a den shell's first prompt.
	session shellhook.HookSession
}

// enterProject returns the environment of the project around the working directory: the current
// generation's, from its stamp alone, when den.toml, den.lock and the user's allowance are as
// they were when it was made (no TOML, no lock, no planning, no store), else synced now, asking
// for the user's allowance on a terminal when ask is set.
func (a *App) enterProject(ctx context.Context, frozen, ask bool) (*entered, error) {
	if root, err := a.projectRoot(); err == nil {
		if cfg, err := a.Config(); err == nil {
			tc := envs.TrustCheck{File: envs.TrustFile(cfg.StateDir, root)}
			tc.ID = project.FileIDOf(tc.File)
			sess := hookSession(root, tc)
			// The stamp records the allowance it was made under: a den deny or an edit since
			// misses it, and the full path below says why.
			if st, vars, ok := activate.Unchanged(root, os.Getenv); ok {
				return &entered{root: root, vars: vars, scripts: st.Scripts, init: st.Init, session: sess}, nil
			}
		}
	}
	m, unlock, err := a.changeProject(ctx, true, ask)
	if err != nil {
		return nil, err
	}
	defer unlock()
	sess := hookSession(m.Root, a.trust)
	env, _, err := a.syncProject(ctx, m, frozen, false)
	if err != nil {
		return nil, err
	}
	return &entered{root: m.Root, vars: env.vars, scripts: m.Scripts, init: m.Shell.Init, session: sess}, nil
}

// unchangedAt returns the current environment of the project at root when den.toml and den.lock
// are exactly as when it was made (activate.Unchanged), the hook's fast path.
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
		// Started by the hook in the project's root (startBackgroundSync), which names the
		// status file; the file is always .den's own.
		if wd, werr := os.Getwd(); werr == nil {
			holdSyncLock(wd)
			defer func() { writeSyncStatus(wd, err) }()
		}
	}
	ctx, stop := signalContext()
	defer stop()
	m, unlock, err := a.changeProject(ctx, true, c.Status == "")
	if err != nil {
		return err
	}
	defer unlock()
	// den sync locks; the hook's background sync (--status-file) does not write den.lock
	// behind the user's back, as a cd must not change the repository.
	env, changes, err := a.syncProject(ctx, m, c.Frozen, c.Status == "")
	if err != nil {
		return err
	}
	a.printChanges(changes)
	if !a.Globals.Quiet {
		fmt.Fprintf(a.Stderr, "environment ready: %s\n", env.profile.Path)
	}
	return nil
}

// writeSyncStatus records how a background sync of the project at root ended, for the hook to
// report a failure once.
func writeSyncStatus(root string, err error) {
	line := "ok\n"
	if err != nil {
		msg := strings.SplitN(err.Error(), "\n", 2)[0]
		line = "error: " + msg + "\n"
	}
	envs.WriteStateFile(root, statusName, []byte(line), 0o644)
}

// pureToolsPackage is the package of den's index that --pure environments get their shell and
// command-line tools from, after the project's own: the host's /usr/bin is not on their PATH,
// and a script's sh, sed or grep must still be found.
const pureToolsPackage = "base-tools"

// pureTools realizes pureToolsPackage for this system and returns its bin directory.
func (a *App) pureTools() (string, error) {
	ctx, stop := signalContext()
	defer stop()
	out, err := a.buildPackage(ctx, pureToolsPackage, platform.Current(), false)
	if err != nil {
		return "", fmt.Errorf("--pure: the store's shell and tools (%s): %w", pureToolsPackage, err)
	}
	return filepath.Join(out, "bin"), nil
}

// appendPath puts dir at the end of env's PATH.
func appendPath(env []string, dir string) []string {
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			if v == "" {
				env[i] = "PATH=" + dir
			} else {
				env[i] = "PATH=" + v + ":" + dir
			}
			return env
		}
	}
	return append(env, "PATH="+dir)
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
