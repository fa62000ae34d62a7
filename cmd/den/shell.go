package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/den-sh/den/shellhook"
)

// ShellCmd is den shell.
type ShellCmd struct {
	envFlags
}

func (c *ShellCmd) Run(a *App) error {
	m, err := a.Project()
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	env, _, err := a.syncProject(ctx, m, c.Frozen)
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
	dir, err := os.MkdirTemp("", "den-shell-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cmd, err := sh.Command(shellPath, childEnv(env.vars, c.Pure), shellhook.Session{
		Marker:  "(den:" + filepath.Base(m.Root) + ") ",
		Init:    m.Shell.Init,
		TempDir: dir,
	})
	if err != nil {
		return err
	}
	return runChild(cmd, true)
}
