// Command den is a developer environment and shell manager: it realizes a project's pinned
// toolchains into a content-addressed store and runs commands and shells with them.
//
// Terminal output rules: errors are one line, "den: " then lowercase text with no final period,
// followed by "hint: " lines that say what to do. Progress goes to stderr; stdout carries only
// what a script would read (store paths, JSON, NAR bytes).
//
// Exit codes: 0 success; 1 an operation failed; 2 the command line or a file den reads is
// invalid; 128+N when signal N (SIGINT, SIGTERM) stopped it; den run passes on the child's own
// status.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/den-sh/den/core/sandbox"
	"github.com/den-sh/den/envs/activate"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// envFront is set by the launcher cmd/den/front, installed as den next to this program (den-core),
// when it hands a command over: the launcher's path, which the user's shell runs as den.
const envFront = "DEN_FRONT"

func main() {
	// Started by the launcher, den takes the launcher's path as the one it was started as: the
	// hook code it writes, den shell's rc and background syncs must run den through the
	// launcher, whose prompt step is the fast one. The variable goes at once, before any child
	// (den run's command, a shell, a build) could inherit it.
	front, fromFront := os.LookupEnv(envFront)
	if fromFront {
		os.Unsetenv(envFront)
		if filepath.IsAbs(front) {
			os.Args[0] = front
		}
	}
	if len(os.Args) > 1 && os.Args[1] == sandbox.InitArg {
		sandbox.Main()
	}
	if len(os.Args) == 3 && os.Args[1] == "export" {
		switch os.Args[2] {
		case "bash", "zsh", "fish":
			exportHook(os.Args[2], os.Stdout, os.Stderr)
			os.Exit(0)
		}
	}
	// The launcher ran the same fast path already and found it could not decide.
	if len(os.Args) > 1 && os.Args[1] == "run" && !fromFront {
		fastRun(os.Args[2:]) // returns only when the full path must handle it
	}
	if len(os.Args) > 1 && os.Args[1] == "x" && !fromFront {
		activate.FastX(os.Args[2:])
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError marks errors in what the user asked for, reported with exit code 2.
type usageError struct {
	err   error
	hints []string
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// exitError carries a status to exit with and no message (a child's status, say).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// hinter is implemented by errors that know what the user should do next.
type hinter interface{ Hints() []string }

func run(args []string, stdout, stderr io.Writer) int {
	var cli CLI
	out := stdout
	if len(args) == 0 {
		// A bare den is a command line without a command: as go does, den prints its help where
		// errors go and exits 2, so that a script that forgot the command does not carry on.
		args, out = []string{"--help"}, stderr
	}
	exitCode := -1
	parser, err := kong.New(&cli,
		kong.Name("den"),
		kong.Description("Pinned developer environments from a content-addressed store."),
		kong.UsageOnError(),
		kong.Writers(out, stderr),
		kong.Exit(func(code int) { exitCode = code; panic(kongExit{}) }),
		kong.Vars{"version": denVersion},
	)
	if err != nil {
		fmt.Fprintf(stderr, "den: %v\n", err)
		return exitFail
	}
	var kctx *kong.Context
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(kongExit); !ok {
					panic(r)
				}
			}
		}()
		kctx, err = parser.Parse(args)
	}()
	if exitCode >= 0 {
		if out == stderr && exitCode == exitOK {
			return exitUsage
		}
		return exitCode
	}
	if err != nil {
		fmt.Fprintf(stderr, "den: %s\n", err)
		var pe *kong.ParseError
		if errors.As(err, &pe) {
			fmt.Fprintf(stderr, "hint: run %s --help\n", strings.TrimSpace("den "+commandPath(pe.Context)))
		}
		return exitUsage
	}
	stopSignals := handleSignals(stderr)
	defer stopSignals()
	app := &App{Stdout: stdout, Stderr: stderr, Globals: &cli.Globals}
	err = kctx.Run(app)
	// What was built is pushed even when the command failed later (a build's dependencies are
	// worth sharing); a signal leaves it queued.
	if stoppedSignal() == 0 {
		app.finishPush()
		if err == nil && stoppedSignal() != 0 {
			err = context.Canceled // stopped while waiting for the pushes: report says so
		}
	}
	if app.cleanup != nil {
		app.cleanup()
	}
	return report(stderr, err)
}

type kongExit struct{}

func commandPath(ctx *kong.Context) string {
	if ctx == nil {
		return ""
	}
	return ctx.Command()
}

// report prints err the one way den prints errors and returns the exit code.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if sig := stoppedSignal(); sig != 0 {
		// Whatever failed on the way out failed because of the signal: one line says so.
		sayStopped(stderr, sig)
		return 128 + int(sig)
	}
	msg := strings.TrimPrefix(err.Error(), "den: ")
	fmt.Fprintf(stderr, "den: %s\n", msg)
	var hints []string
	var h hinter
	if errors.As(err, &h) {
		hints = h.Hints()
	}
	var ue *usageError
	if errors.As(err, &ue) {
		hints = append(hints, ue.hints...)
	}
	for _, line := range hints {
		fmt.Fprintf(stderr, "hint: %s\n", line)
	}
	if ue != nil || isInputError(err) {
		return exitUsage
	}
	return exitFail
}
