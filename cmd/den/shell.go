package main

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/den-sh/den/shellhook"
)

// ShellCmd is den shell.
type ShellCmd struct {
	Pure   bool `help:"Keep only HOME, USER, LOGNAME, TERM, LANG, LC_*, SHELL and TZ from the outer environment."`
	Frozen bool `help:"Use den.lock as it is; fail if it is missing or out of date."`
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
	return runInteractive(cmd)
}

// runInteractive runs an interactive shell on den's terminal. The shell owns the keyboard's
// signals (Ctrl-C interrupts what runs in it, not den); den passes on those sent to it alone.
func runInteractive(cmd *exec.Cmd) error {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	signal.Ignore(syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP)
	defer signal.Reset(syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &exitError{code: ee.ExitCode()}
	}
	return err
}
