package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/den-sh/den/core/config"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/envs"
	"github.com/den-sh/den/shellhook"
)

// HookCmd is den hook.
type HookCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

// selfPath is the path den was started as, made absolute through PATH but not through symlinks:
// the hook and background syncs run den again by the name the user installed it under.
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
	q := shQuote(self)
	switch c.Shell {
	case "bash":
		fmt.Fprintf(a.Stdout, `_den_hook() {
  local previous_exit_status=$?
  trap -- '' SIGINT
  eval "$(%s export bash)"
  trap - SIGINT
  return $previous_exit_status
}
if [[ ";${PROMPT_COMMAND[*]:-};" != *";_den_hook;"* ]]; then
  if [[ "$(declare -p PROMPT_COMMAND 2>&1)" == "declare -a"* ]]; then
    PROMPT_COMMAND=(_den_hook "${PROMPT_COMMAND[@]}")
  else
    PROMPT_COMMAND="_den_hook${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
  fi
fi
`, q)
	case "zsh":
		fmt.Fprintf(a.Stdout, `_den_hook() {
  trap -- '' SIGINT
  eval "$(%s export zsh)"
  trap - SIGINT
}
typeset -ag precmd_functions
if (( ! ${precmd_functions[(I)_den_hook]} )); then
  precmd_functions=(_den_hook $precmd_functions)
fi
typeset -ag chpwd_functions
if (( ! ${chpwd_functions[(I)_den_hook]} )); then
  chpwd_functions=(_den_hook $chpwd_functions)
fi
`, q)
	case "fish":
		fmt.Fprintf(a.Stdout, `function __den_hook --on-event fish_prompt
  %s export fish | source
end
function __den_cd_hook --on-variable PWD
  if status --is-command-substitution; return; end
  %s export fish | source
end
`, fishQuote(self), fishQuote(self))
	}
	return nil
}

// statusFile is where a background sync records how it ended, relative to the project.
var statusFile = filepath.Join(envs.StateDir, "sync.status")

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
	data, err := os.ReadFile(status)
	if err != nil {
		return "", false
	}
	msg, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "error: ")
	return msg, ok
}

// envUntrusted remembers, for the shell's session, the project whose hint was already shown.
const envUntrusted = "DEN_UNTRUSTED"

// exportHook is den export SHELL, the per-prompt step of the hook, run before the command line
// parser is built. Its no-change path decodes the session variable and stats a few files; only a
// change reads anything else. It writes code for the shell on stdout and, rarely, one line on
// stderr, and always exits 0: a prompt must never fail because of den.
func exportHook(shell string, stdout, stderr io.Writer) {
	root := ""
	if wd, err := os.Getwd(); err == nil {
		if r, err := manifest.Find(wd); err == nil {
			root = r
		}
	}
	sessVar := os.Getenv(shellhook.EnvSession)
	var sess shellhook.HookSession
	if sessVar != "" {
		if s, err := shellhook.DecodeHookSession(sessVar); err == nil {
			sess = s
			if root != "" && s.Unchanged(root) {
				return
			}
		}
	}
	if root == "" && sessVar == "" {
		if os.Getenv(envUntrusted) != "" {
			fmt.Fprint(stdout, shellhook.Export(shell, map[string]*string{envUntrusted: nil}))
		}
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
	switch {
	case root == "":
		leave()
	default:
		cfg, err := config.Load(os.Getenv)
		if err != nil {
			fmt.Fprintf(stderr, "den: %v\n", err)
			return
		}
		switch envs.TrustOf(cfg.StateDir, root) {
		case envs.Allowed:
		case envs.Denied:
			leave()
			env[envUntrusted] = root
		default:
			// den.toml changed under an active environment (an edit, a git pull): keep what was
			// allowed, apply nothing new until the user allows this content.
			active := sess.Root == root && env[shellhook.EnvDiff] != ""
			if !active {
				leave()
			}
			if before[envUntrusted] != root {
				if active {
					fmt.Fprintf(stderr, "den: %s changed; run den allow to apply it\n", filepath.Join(root, manifest.FileName))
				} else {
					fmt.Fprintf(stderr, "den: %s is not allowed yet; run den allow to activate it\n", filepath.Join(root, manifest.FileName))
				}
			}
			env[envUntrusted] = root
			fmt.Fprint(stdout, shellhook.Export(shell, shellhook.Changes(before, env)))
			return
		}
		delete(env, envUntrusted)
		next := shellhook.NewHookSession(root)
		// A background sync's outcome is part of what the next prompt must notice.
		next.Files[statusFile] = envs.FileIDOf(filepath.Join(root, statusFile))
		_, _, vars, ok := unchangedAt(root)
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
			} else {
				startBackgroundSync(root, stderr)
			}
			env[shellhook.EnvSession] = next.Encode()
			fmt.Fprint(stdout, shellhook.Export(shell, shellhook.Changes(before, env)))
			return
		}
		leave()
		after, d := shellhook.Enter(env, vars)
		env = after
		env[shellhook.EnvDiff] = d.Encode()
		env[shellhook.EnvSession] = next.Encode()
	}
	fmt.Fprint(stdout, shellhook.Export(shell, shellhook.Changes(before, env)))
}

// startBackgroundSync runs den sync for root detached from the shell, its output in .den/sync.log.
func startBackgroundSync(root string, stderr io.Writer) {
	self, err := selfPath()
	if err != nil {
		return
	}
	os.MkdirAll(filepath.Join(root, envs.StateDir), 0o755)
	if syncRunning(root) {
		return
	}
	logf, err := os.Create(filepath.Join(root, envs.StateDir, "sync.log"))
	if err != nil {
		return
	}
	defer logf.Close()
	cmd := exec.Command(self, "sync", "--quiet", "--status-file", filepath.Join(root, statusFile))
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if cmd.Start() == nil {
		fmt.Fprintf(stderr, "den: updating environment in the background (log: %s)\n", filepath.Join(root, envs.StateDir, "sync.log"))
		cmd.Process.Release()
	}
}

// ExportCmd is den export; main runs it before parsing, this is what --help shows.
type ExportCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

func (c *ExportCmd) Run(a *App) error {
	exportHook(c.Shell, a.Stdout, a.Stderr)
	return nil
}

// syncLockPath is held by a background sync while it runs. A lock, unlike a pid, is released the
// moment the process dies, even when nobody reaps it.
func syncLockPath(root string) string { return filepath.Join(root, envs.StateDir, "sync.lock") }

func syncRunning(root string) bool {
	f, err := os.Open(syncLockPath(root))
	if err != nil {
		return false
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return true
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// holdSyncLock marks this process as the project's background sync until it exits.
func holdSyncLock(root string) {
	f, err := os.OpenFile(syncLockPath(root), os.O_RDWR|os.O_CREATE, 0o644)
	if err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_EX) // kept: released when the process ends
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
