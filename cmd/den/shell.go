package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/envs"
	"github.com/den-sh/den/shellhook"
)

// ShellCmd is den shell.
type ShellCmd struct {
	envFlags
}

func (c *ShellCmd) Run(a *App) error {
	ctx, stop := signalContext()
	e, err := a.enterProject(ctx, c.Frozen, true)
	stop()
	if err != nil {
		return err
	}
	shellPath := shellhook.Detect(os.Getenv)
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
	cmd, err := sh.Command(shellPath, shellEnv(e.vars, e.root, e.session, c.Pure), shellhook.Session{
		Marker:  "(den:" + filepath.Base(e.root) + ") ",
		Init:    e.init,
		TempDir: dir,
		Den:     self,
	})
	if err != nil {
		return err
	}
	// While the shell runs, an allowed edit of den.toml or den.lock (den allow after an edit, or
	// den's own) starts realizing the new environment at once, so the hook usually finds it
	// ready at the next prompt. Without a watcher (out of inotify watches, say) the hook still
	// starts it at the next prompt.
	root, stateDir := e.root, a.cfg.StateDir
	if stopWatch, err := shellhook.Watch(root, []string{manifest.FileName, lock.FileName}, shellhook.Settle, func() {
		// At the prompt, where the user may be typing, the line goes on a line of its own and
		// is the only thing den shell prints. While a program has the terminal (an editor
		// saving den.toml, say), the hook prints it at the next prompt instead.
		later := !shellhook.ShellHasTerminal(os.Stdin)
		// An edit nobody allowed (a git pull, an editor's save) waits for den allow; the
		// hook says so at the next prompt.
		if envs.TrustOf(stateDir, root) != envs.Allowed {
			return
		}
		if line, ok := startBackgroundSync(root, true, later); ok && !later {
			fmt.Fprintf(a.Stderr, "\n%s\n", line)
		}
	}); err == nil {
		defer stopWatch()
	}
	return runChild(cmd, true)
}

// shellEnv is the environment den shell starts the user's shell with: the outer one, without
// what a prompt hook active there had applied, with vars entered as the prompt hook enters them,
// so that the hook in the shell takes over from there. sess fingerprints the project at root.
func shellEnv(vars []envs.Var, root string, sess shellhook.HookSession, pure bool) []string {
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
