package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/den-sh/den/core/config"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/project"
	"github.com/den-sh/den/envs"
	"github.com/den-sh/den/envs/activate"
	"github.com/den-sh/den/shellhook"
)

// HookCmd is den hook.
type HookCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

// selfPath is the path den was started as, made absolute through PATH but not through symlinks:
// the hook and background syncs run den again by the name the user installed it under. Started
// by the launcher (cmd/den/front), den was started as the launcher (main set os.Args[0] from
// DEN_FRONT), so that every prompt runs the launcher's fast step first.
func selfPath() (string, error) {
	if filepath.IsAbs(os.Args[0]) {
		return os.Args[0], nil
	}
	if strings.Contains(os.Args[0], "/") {
		return filepath.Abs(os.Args[0])
	}
	if p, err := exec.LookPath(os.Args[0]); err == nil {
		return filepath.Abs(p)
	}
	return os.Executable()
}

func (c *HookCmd) Run(a *App) error {
	self, err := selfPath()
	if err != nil {
		return err
	}
	sh, err := shellhook.For(c.Shell)
	if err != nil {
		return err
	}
	_, err = io.WriteString(a.Stdout, sh.Hook(self))
	return err
}

// statusName is the state file in which a background sync records how it ended, and statusFile
// that file relative to the project, as the hook's session names it.
const statusName = "sync.status"

var statusFile = filepath.Join(envs.StateDir, statusName)

// envReported remembers the background failure already reported to this shell.
const envReported = "DEN_REPORTED"

// lastSyncFailed reports the error of the last background sync of root if it failed after
// den.toml and den.lock last changed: syncing again would fail the same way.
func lastSyncFailed(root string) (string, bool) {
	status := filepath.Join(root, statusFile)
	st, err := os.Stat(status)
	if err != nil {
		return "", false
	}
	for _, name := range []string{manifest.FileName, "den.lock"} {
		if fi, err := os.Stat(filepath.Join(root, name)); err == nil && fi.ModTime().After(st.ModTime()) {
			return "", false
		}
	}
	data, err := project.ReadStateFile(root, statusName, 64<<10)
	if err != nil {
		return "", false
	}
	msg, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "error: ")
	return msg, ok
}

// envUntrusted remembers, for the shell's session, the project whose hint was already shown.
const envUntrusted = project.EnvUntrusted

// exportHook is den export SHELL, the per-prompt step of the hook, run before the command line
// parser is built. Its no-change path decodes the session variable and stats a few files; only a
// change reads anything else. It writes code for the shell on stdout and, rarely, one line on
// stderr, and always exits 0: a prompt must never fail because of den.
func exportHook(shell string, stdout, stderr io.Writer) {
	// The launcher (cmd/den/front) makes the same decision before it would start this program.
	p := project.AtPrompt(os.Getenv, shellhook.DecodeHookSession)
	if p.Quiet {
		return
	}
	root, shellRoot, sess := p.Root, p.ShellRoot, p.Session
	if root == "" && p.SessionVar == "" {
		// Outside any project, with the hint of one this shell left behind.
		fmt.Fprint(stdout, shellhook.Export(shell, map[string]*string{envUntrusted: nil}))
		return
	}
	before := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		before[k] = v
	}
	env := map[string]string{}
	for k, v := range before {
		env[k] = v
	}
	leave := func() {
		if d, err := shellhook.DecodeDiff(env[shellhook.EnvDiff]); err == nil && env[shellhook.EnvDiff] != "" {
			env = d.Leave(env)
		}
		delete(env, shellhook.EnvDiff)
		delete(env, shellhook.EnvSession)
	}
	// emit writes the shell code that takes the shell from before to env, after one line that
	// says what that changes for the user (off with DEN_LOG=quiet).
	emit := func() {
		if os.Getenv("DEN_LOG") != "quiet" {
			var oldProfile, newProfile string
			if before[shellhook.EnvDiff] != "" {
				oldProfile = sess.Profile
			}
			if env[shellhook.EnvDiff] != "" {
				if s, err := shellhook.DecodeHookSession(env[shellhook.EnvSession]); err == nil {
					newProfile = s.Profile
				}
			}
			if line := shellhook.ActivationLine(profilePkgs(oldProfile), profilePkgs(newProfile), before, env); line != "" {
				fmt.Fprintf(stderr, "den: %s\n", line)
			}
		}
		fmt.Fprint(stdout, shellhook.Export(shell, shellhook.Changes(before, env)))
	}
	switch {
	case root == "":
		leave()
		delete(env, envUntrusted)
	default:
		cfg, err := config.Load(os.Getenv)
		if err != nil {
			fmt.Fprintf(stderr, "den: %v\n", err)
			return
		}
		// Nothing of a project takes effect before the user allows its den.toml and den.lock as
		// they are — in den shell too, whose start asked for it: an edit or a git pull there
		// waits for den allow like anywhere else.
		tc := envs.CheckTrust(cfg.StateDir, root)
		switch tc.Trust {
		case envs.Allowed:
		case envs.Denied:
			leave()
			if before[envUntrusted] != root {
				fmt.Fprintf(stderr, "den: %s is denied; run den allow to activate it\n", filepath.Join(root, manifest.FileName))
			}
			env[envUntrusted] = root
			env[shellhook.EnvSession] = untrustedSession(root, tc).Encode()
			emit()
			return
		default:
			// den.toml or den.lock changed under an active environment (an edit, a git pull):
			// keep what was allowed, apply nothing new until the user allows this content.
			active := sess.Root == root && env[shellhook.EnvDiff] != ""
			if !active {
				leave()
			}
			if before[envUntrusted] != root {
				switch {
				case active:
					fmt.Fprintf(stderr, "den: %s changed; run den allow to apply it\n", changedFiles(root, sess))
				case tc.AllowedBefore:
					fmt.Fprintf(stderr, "den: %s changed since you allowed it; run den allow to activate it\n", filepath.Join(root, manifest.FileName))
				default:
					fmt.Fprintf(stderr, "den: %s is not allowed yet; run den allow to activate it\n", filepath.Join(root, manifest.FileName))
				}
			}
			env[envUntrusted] = root
			env[shellhook.EnvSession] = untrustedSession(root, tc).Encode()
			emit()
			return
		}
		delete(env, envUntrusted)
		next := hookSession(root, tc)
		_, _, vars, ok := unchangedAt(root)
		if !ok && applyRealized(root) {
			// Everything it needs is in the store already (a den allow, say): at once.
			next = hookSession(root, envs.CheckTrust(cfg.StateDir, root))
			_, _, vars, ok = unchangedAt(root)
		}
		if !ok {
			// Not realized yet, or den.toml changed: realize in the background; a later prompt
			// applies the result. A reload keeps the project's old environment meanwhile; another
			// project's environment goes at once.
			if sess.Root != root {
				leave()
			}
			if msg, failed := lastSyncFailed(root); failed {
				// Reported once per failure; the old environment stays until the files change.
				if before[envReported] != msg {
					fmt.Fprintf(stderr, "den: updating the environment failed: %s\n", msg)
					env[envReported] = msg
				}
				takeAnnouncement(root) // that sync has ended
			} else if line, ok := startBackgroundSync(root, false, false); ok {
				fmt.Fprintln(stderr, line)
			} else if line := takeAnnouncement(root); line != "" {
				fmt.Fprintln(stderr, line) // den shell started this sync while a program had the terminal
			}
			env[shellhook.EnvSession] = next.Encode()
			emit()
			return
		}
		if shellRoot == root {
			takeAnnouncement(root) // its sync ended before the prompt: nothing left to say
		}
		leave()
		after, d := shellhook.Enter(env, vars)
		env = after
		env[shellhook.EnvDiff] = d.Encode()
		env[shellhook.EnvSession] = next.Encode()
	}
	emit()
}

// profilePkgs lists the packages of the profile at path, with the versions their store names
// give; none for "".
func profilePkgs(path string) []shellhook.Pkg {
	if path == "" {
		return nil
	}
	pkgs, err := activate.ReadProfile(path)
	if err != nil {
		return nil
	}
	out := make([]shellhook.Pkg, len(pkgs))
	for i, p := range pkgs {
		base := filepath.Base(p.Out)
		if len(base) > 33 {
			base = base[33:] // past the hash and its dash
		}
		out[i] = shellhook.Pkg{Name: p.Name, Version: base[strings.LastIndexByte(base, '-')+1:]}
	}
	return out
}

// applyRealized makes the environment of the project at root current when that needs nothing
// but what the store has already — a den allow of a realized environment, or the allowance
// moving — and reports whether it did. It resolves nothing, builds, downloads and substitutes
// nothing, and never waits for another den: the prompt is waiting. Otherwise the background
// sync does the work.
func applyRealized(root string) bool {
	a := &App{Stdout: io.Discard, Stderr: io.Discard, Globals: &Globals{Quiet: true, NoBuild: true, NoSubstitute: true}}
	defer func() {
		if a.cleanup != nil {
			a.cleanup()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	noWait, stop := context.WithCancel(ctx)
	stop()
	m, unlock, err := a.changeProjectAt(ctx, noWait, root, true, false)
	if err != nil {
		return false
	}
	defer unlock()
	_, _, err = a.syncProject(ctx, m, true, false)
	return err == nil
}

// hookSession fingerprints the project at root, allowed as tc found, for the hook's session
// variable.
func hookSession(root string, tc envs.TrustCheck) shellhook.HookSession {
	s := project.NewSession(root)
	// A background sync's outcome is part of what the next prompt must notice, and so is a new
	// decision of the user's (den deny, den allow).
	s.Files[statusFile] = project.FileIDOf(filepath.Join(root, statusFile))
	s.Files[tc.File] = tc.ID
	return s
}

// changedFiles names den.toml, den.lock or both of the project at root, whichever differ from
// what the session's environment was made from.
func changedFiles(root string, sess shellhook.HookSession) string {
	var names []string
	for _, name := range []string{manifest.FileName, lock.FileName} {
		if id, ok := sess.Files[name]; !ok || id != project.FileIDOf(filepath.Join(root, name)) {
			names = append(names, filepath.Join(root, name))
		}
	}
	if len(names) == 0 {
		return filepath.Join(root, manifest.FileName)
	}
	return strings.Join(names, " and ")
}

// untrustedSession fingerprints a project the hook did not activate: the prompts that follow
// stay quiet, without starting den-core, until den.toml, den.lock or the user's decision
// changes.
func untrustedSession(root string, tc envs.TrustCheck) shellhook.HookSession {
	s := project.NewSession(root)
	s.Files[tc.File] = tc.ID
	return s
}

// startBackgroundSync runs den sync for root detached from the shell, its output in .den/sync.log,
// unless one runs already. When it started one it returns the line to tell the user, which names
// the changes. It takes the sync lock itself and hands it to the sync, so that of two callers at
// once (the hook at a prompt and den shell's watcher) exactly one starts a sync and speaks.
// With ifStale, it first checks under the lock that the environment is not up to date already:
// a sync that just ended must not be followed by another, and another line. (The hook does not
// ask for that check: a sync it does not start writes no status for its next prompt to notice.)
// With later, it returns no line but leaves it for the hook to print at the next prompt, when a
// program other than the shell has the terminal.
func startBackgroundSync(root string, ifStale, later bool) (line string, started bool) {
	self, err := selfPath()
	if err != nil {
		return "", false
	}
	lockf, err := envs.OpenStateLock(root, syncLockName)
	if err != nil {
		return "", false
	}
	defer lockf.Close() // the sync keeps the lock through its own descriptor
	if syscall.Flock(int(lockf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return "", false // running already
	}
	if ifStale {
		if _, _, _, ok := unchangedAt(root); ok {
			return "", false
		}
	}
	logf, err := envs.CreateStateFile(root, "sync.log", 0o644)
	if err != nil {
		return "", false
	}
	defer logf.Close()
	cmd := exec.Command(self, "sync", "--quiet", "--status-file", filepath.Join(root, statusFile))
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{lockf}
	cmd.Env = append(os.Environ(), envSyncLockFD+"=3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// Named before the sync starts, which rewrites den.lock.
	line = "den: " + shellhook.UpdateLine(packageChanges(root))
	if later {
		writeAnnouncement(root, line)
		line = ""
	}
	if cmd.Start() != nil {
		takeAnnouncement(root)
		return "", false
	}
	cmd.Process.Release()
	return line, true
}

// announcementName is the state file that holds the line of a background sync that den shell
// started while a program had the terminal, until the hook prints it at the next prompt.
const announcementName = "sync.announce"

func writeAnnouncement(root, line string) {
	envs.WriteStateFile(root, announcementName, []byte(line+"\n"), 0o644)
}

// takeAnnouncement returns the line left by den shell, if any, and removes it: of two shells
// whose prompts come at once, only the one that removed it prints it.
func takeAnnouncement(root string) string {
	data, err := project.ReadStateFile(root, announcementName, 64<<10)
	if err != nil || os.Remove(envs.StatePath(root, announcementName)) != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// packageChanges names what syncing root will change in its packages, from the den.lock of the
// current generation, den.toml and den.lock, resolving nothing.
func packageChanges(root string) []string {
	m, err := manifest.Load(filepath.Join(root, manifest.FileName))
	if err != nil {
		return nil
	}
	sys := platform.Current().String()
	var wanted []manifest.Package
	for _, p := range m.Packages {
		if len(p.Systems) == 0 || contains(p.Systems, sys) {
			wanted = append(wanted, p)
		}
	}
	locked, _, err := lock.Read(root)
	if err != nil {
		locked = nil
	}
	var old *lock.File
	if gen, err := os.Readlink(filepath.Join(root, envs.StateDir, "current")); err == nil {
		if n, err := strconv.Atoi(filepath.Base(gen)); err == nil {
			snap := snapshotName(n, lock.FileName)
			if data, err := project.ReadStateFile(root, snap, maxProjectFile); err == nil {
				old, _ = lock.Decode(snap, data)
			}
		}
	}
	return shellhook.PackageChanges(old, wanted, locked, sys)
}

// ExportCmd is den export; main runs it before parsing, this is what --help shows.
type ExportCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

func (c *ExportCmd) Run(a *App) error {
	exportHook(c.Shell, a.Stdout, a.Stderr)
	return nil
}

// syncLockName is the state file a background sync holds locked while it runs. A lock, unlike a
// pid, is released the moment the process dies, even when nobody reaps it.
const syncLockName = "sync.lock"

// envSyncLockFD names the descriptor through which startBackgroundSync hands its sync the lock.
const envSyncLockFD = "DEN_SYNC_LOCK_FD"

// holdSyncLock marks this process as the project's background sync until it exits. The lock is
// held through a raw descriptor, which no finalizer closes, marked close-on-exec so that builders
// the sync starts do not keep it after the sync ended.
func holdSyncLock(root string) {
	if v := os.Getenv(envSyncLockFD); v != "" {
		os.Unsetenv(envSyncLockFD)
		if fd, err := strconv.Atoi(v); err == nil && syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			syscall.CloseOnExec(fd)
			return // handed over, locked already
		}
	}
	f, err := envs.OpenStateLock(root, syncLockName)
	if err == nil {
		fd, err := syscall.Dup(int(f.Fd())) // a raw descriptor, which no finalizer closes
		f.Close()
		if err == nil {
			syscall.CloseOnExec(fd)
			syscall.Flock(fd, syscall.LOCK_EX) // kept: released when the process ends
		}
	}
}

// AllowCmd is den allow.
type AllowCmd struct {
	Dir string `arg:"" optional:"" help:"The project (default: the one around the working directory)."`
}

func (c *AllowCmd) Run(a *App) error { return a.setTrust(c.Dir, envs.Allowed) }

// DenyCmd is den deny.
type DenyCmd struct {
	Dir string `arg:"" optional:"" help:"The project (default: the one around the working directory)."`
}

func (c *DenyCmd) Run(a *App) error { return a.setTrust(c.Dir, envs.Denied) }

func (a *App) setTrust(dir string, t envs.Trust) error {
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	root, err := manifest.Find(abs)
	if err != nil {
		return err
	}
	cfg, err := a.Config()
	if err != nil {
		return err
	}
	if err := envs.SetTrust(cfg.StateDir, root, t); err != nil {
		return err
	}
	verb := "allowed"
	if t == envs.Denied {
		verb = "denied"
	}
	fmt.Fprintf(a.Stderr, "%s %s\n", verb, filepath.Join(root, manifest.FileName))
	return nil
}

// DirenvCmd is den direnv.
type DirenvCmd struct{}

func (c *DirenvCmd) Run(a *App) error {
	self, err := selfPath()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.Stdout, `# den for direnv: put this in ~/.config/direnv/direnvrc (or source it there),
# then write "use den" in a project's .envrc and run direnv allow.
use_den() {
  watch_file den.toml den.lock
  eval "$(%s env --shell bash)"
}
`, shQuote(self))
	return err
}
