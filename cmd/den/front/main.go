// Command front is den as the user's shell runs it: a small launcher that answers the prompt
// hook's most frequent question itself and hands everything else to the full program, den-core,
// installed next to it.
//
// The shell runs `den export SHELL` before every prompt, and nearly always nothing changed and
// den must print nothing, fast. The full program cannot start fast enough for that: Go runs the
// initialisation of all of its two hundred packages (HTTP, TLS, compression tables, the command
// line parser) before main, and its 16 MB take longer to map, about a millisecond more than an
// empty Go program at every prompt. This launcher links only core/project, which decides "nothing
// changed" from DEN_SESSION and a few stats, and envs/activate, which reads an unchanged
// project's stamp, profile and variables and execs `den run`'s command itself, so that den run
// pays for one Go start-up rather than two; cmd/den's exportHook and fastRun call the same code,
// so the two agree by construction. For anything else — every other command, an export when
// something changed or the launcher cannot tell (an older den's DEN_SESSION, say), a den run it
// cannot decide — it replaces itself with den-core, with the same arguments and environment plus
// DEN_FRONT, its own path, which den-core writes into hook code and starts itself by, so that
// every later prompt comes here first.
//
// `make build` and `make install` put this launcher at bin/den and the full program at
// bin/den-core; the two stay together. `go install ./cmd/den` alone still gives a complete den,
// whose hook only takes that millisecond longer.
package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/den-sh/den/core/project"
	"github.com/den-sh/den/envs/activate"
)

// envFront names the launcher's path for den-core (cmd/den reads it as envFront too).
const envFront = "DEN_FRONT"

// coreName is the full program's name, in the launcher's own directory.
const coreName = "den-core"

func main() {
	args := os.Args[1:]
	export := len(args) == 2 && args[0] == "export" && (args[1] == "bash" || args[1] == "zsh" || args[1] == "fish")
	if export && project.AtPrompt(os.Getenv, project.DecodeSession).Quiet {
		return
	}
	if len(args) > 0 && (args[0] == "run" || args[0] == "x") {
		// Commands never see DEN_FRONT, as when den-core runs them: it unsets it first.
		os.Unsetenv(envFront)
		if args[0] == "run" {
			activate.FastRun(args[1:]) // returns only when den-core must handle it
		} else {
			activate.FastX(args[1:])
		}
	}
	msg, hint := startCore(args)
	os.Stderr.WriteString("den: " + msg + "\n")
	if hint != "" {
		os.Stderr.WriteString("hint: " + hint + "\n")
	}
	if export {
		os.Exit(0) // a prompt must never fail because of den
	}
	os.Exit(1)
}

// startCore replaces this process with den-core running args; it returns only when that failed,
// with what to tell the user.
func startCore(args []string) (msg, hint string) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return "cannot find where den is installed: " + err.Error(), ""
	}
	core := filepath.Join(filepath.Dir(exe), coreName)
	self := invokedAs(exe)
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envFront+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, envFront+"="+self)
	err = syscall.Exec(core, append([]string{core}, args...), env)
	if errors.Is(err, syscall.ENOENT) {
		return "cannot find " + coreName + " next to " + exe,
			"den and den-core are installed together; reinstall both with make install"
	}
	return "cannot run " + core + ": " + err.Error(), "reinstall den and den-core with make install"
}

// invokedAs is the absolute path the shell ran this launcher by, through PATH but not through
// symlinks, as cmd/den's selfPath finds it: the hook den writes runs den by the name the user
// installed it under, which may be a link that a later upgrade points elsewhere. exe is the
// fallback. It looks PATH up by hand rather than with os/exec, which would grow the launcher.
func invokedAs(exe string) string {
	arg0 := os.Args[0]
	switch {
	case filepath.IsAbs(arg0):
		return arg0
	case strings.Contains(arg0, "/"):
		if abs, err := filepath.Abs(arg0); err == nil {
			return abs
		}
		return exe
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, arg0)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			if abs, err := filepath.Abs(p); err == nil {
				return abs
			}
		}
	}
	return exe
}
