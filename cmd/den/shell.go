package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/envs"
	"github.com/den-sh/den/shellhook"
)

// ShellCmd is den shell.
type ShellCmd struct {
	envFlags
	Shell   string `enum:",bash,zsh,fish" default:"" placeholder:"NAME" help:"The shell to start: bash, zsh or fish (default: $SHELL's)."`
	Command string `short:"c" placeholder:"CMD" help:"Run CMD in the shell with the environment and exit with its status, as bash -c does."`
	Target  string `help:"A shell that builds for another system (aarch64-linux, aarch64-darwin): its cross compilers and Go's, Cargo's, CMake's and meson's settings for it; the prompt shows the target." placeholder:"SYSTEM"`
}

// shellPath is the shell to start: --shell's, found as $SHELL when that is the same shell, else
// on PATH; without --shell, $SHELL.
func (c *ShellCmd) shellPath() (string, error) {
	if c.Shell == "" {
		return shellhook.Detect(os.Getenv), nil
	}
	if sh := os.Getenv("SHELL"); filepath.Base(sh) == c.Shell {
		return sh, nil
	}
	p, err := exec.LookPath(c.Shell)
	if err != nil {
		return "", &usageError{err: fmt.Errorf("--shell %s: %s is not on PATH", c.Shell, c.Shell),
			hints: []string{"install " + c.Shell + ", or choose another with --shell bash, zsh or fish"}}
	}
	return p, nil
}

func (c *ShellCmd) Run(a *App) error {
	target, err := parseTarget(c.Target)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	e, err := a.enterProject(ctx, c.Frozen, true)
	stop()
	if err != nil {
		return err
	}
	var targetVars []envs.Var
	marker := "(den:" + filepath.Base(e.root) + ") "
	if target != (platform.System{}) {
		te, err := a.targetEnv(e.root, target, c.Frozen)
		if err != nil {
			return err
		}
		a.noteTarget(te)
		targetVars = te.vars
		marker = "(den:" + filepath.Base(e.root) + "→" + target.String() + ") "
	}
	shellPath, err := c.shellPath()
	if err != nil {
		return err
	}
	sh, err := shellhook.For(shellPath)
	if err != nil {
		var ue *shellhook.UnsupportedError
		if errors.As(err, &ue) {
			return &usageError{err: err}
		}
		return err
	}
	self, err := selfPath()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "den-shell-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	session := shellhook.Session{
		Marker:  marker,
		Init:    e.init,
		TempDir: dir,
		Den:     self,
		Run:     c.Command,
	}
	env := shellEnv(e.vars, e.root, e.session, c.Pure, targetVars)
	if c.Pure {
		env = a.withPureTools(env)
	}
	cmd, err := sh.Command(shellPath, env, session)
	if err != nil {
		return err
	}
	if c.Command != "" {
		return runChild(cmd, false)
	}
	// While the shell runs, an allowed edit of den.toml or den.lock (den allow after an edit, or
	// den's own) starts realizing the new environment at once, so the hook usually finds it
	// ready at the next prompt. Without a watcher (out of inotify watches, say) the hook still
	// starts it at the next prompt.
	cfg, err := a.Config()
	if err != nil {
		return err
	}
	root, stateDir := e.root, cfg.StateDir
	if stopWatch, err := shellhook.Watch(root, []string{manifest.FileName, lock.FileName}, shellhook.Settle, func() {
		// At the prompt, where the user may be typing, the shell shows the line above its
		// prompt, drawn again with what was typed (Shell.Notify); it is the only thing den
		// shell prints. While a program has the terminal (an editor saving den.toml, say), the
		// hook prints it at the next prompt instead.
		pid, atPrompt := shellhook.TerminalShell(os.Stdin)
		later := !atPrompt
		// An edit nobody allowed (a git pull, an editor's save) waits for den allow; the
		// hook says so at the next prompt.
		if envs.TrustOf(stateDir, root) != envs.Allowed {
			return
		}
		if line, ok := startBackgroundSync(root, true, later); ok && !later {
			if tty, ok := a.Stderr.(*os.File); ok {
				sh.Notify(tty, pid, session, line)
			}
		}
	}); err == nil {
		defer stopWatch()
	}
	return runChild(cmd, true)
}

// shellEnv is the environment den shell starts the user's shell with: the outer one, without
// what a prompt hook active there had applied, with vars entered as the prompt hook enters them,
// so that the hook in the shell takes over from there. sess fingerprints the project at root.
func shellEnv(vars []envs.Var, root string, sess shellhook.HookSession, pure bool, target []envs.Var) []string {
	outer := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if !pure || pureKeep(k) {
			outer[k] = v
		}
	}
	if d, err := shellhook.DecodeDiff(outer[shellhook.EnvDiff]); err == nil && outer[shellhook.EnvDiff] != "" {
		outer = d.Leave(outer)
	}
	for _, k := range []string{shellhook.EnvDiff, shellhook.EnvSession, envUntrusted, envReported} {
		delete(outer, k)
	}
	if len(target) > 0 {
		// A target's settings are the shell's outer environment, as if the user had set
		// them: the prompt hook's reloads of the project keep them.
		var kvs []string
		for k, v := range outer {
			kvs = append(kvs, k+"="+v)
		}
		for _, kv := range envs.Apply(kvs, target) {
			k, v, _ := strings.Cut(kv, "=")
			outer[k] = v
		}
	}
	after, d := shellhook.Enter(outer, vars)
	after[shellhook.EnvDiff] = d.Encode()
	after[shellhook.EnvSession] = sess.Encode()
	after[shellhook.EnvShellRoot] = root
	out := make([]string, 0, len(after))
	for k, v := range after {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
