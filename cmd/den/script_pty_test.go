package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/creack/pty"
	"github.com/rogpeppe/go-internal/testscript"
)

// ptyScriptCmds drive a program on a terminal from a script.
var ptyScriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// ptyrun DIALOG PROG ARGS...: run PROG on a new terminal in the script's directory and
	// environment, and follow DIALOG, a file of lines: "> TEXT" types TEXT and Enter; "< TEXT"
	// waits (up to five minutes: a line may build something) until TEXT shows in the output
	// after what the last "<" matched, its $VAR references the script's. PROG must end after the
	// dialog (it ends with "> exit"). The terminal's output is $WORK/pty.out.
	"ptyrun": func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) < 2 {
			ts.Fatalf("usage: ptyrun DIALOG PROG ARGS...")
		}
		dialog := strings.Split(ts.ReadFile(args[0]), "\n")
		prog, err := exec.LookPath(args[1])
		if err != nil {
			// LookPath in the script's PATH, not the test's.
			for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
				if p := filepath.Join(dir, args[1]); fileExecutable(p) {
					prog, err = p, nil
					break
				}
			}
		}
		ts.Check(err)
		cmd := exec.Command(prog, args[2:]...)
		cmd.Args[0] = args[1]
		cmd.Dir = ts.MkAbs(".")
		cmd.Env = scriptEnv(ts)
		ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
		ts.Check(err)
		defer ptmx.Close()
		out := readPTY(ptmx)
		log := func() { os.WriteFile(ts.MkAbs("pty.out"), []byte(out.String()), 0o644) }
		defer log()
		at := 0
		for _, line := range dialog {
			switch {
			case strings.HasPrefix(line, "> "):
				ptmx.Write([]byte(line[2:] + "\n")) // as typed: the shell expands it
			case strings.HasPrefix(line, "< "):
				want := os.Expand(line[2:], ts.Getenv)
				deadline := time.Now().Add(5 * time.Minute)
				for {
					s := out.String()
					if i := strings.Index(s[at:], want); i >= 0 {
						at += i + len(want)
						break
					}
					if time.Now().After(deadline) {
						ts.Fatalf("ptyrun: %q never showed on the terminal:\n%s", want, s)
					}
					time.Sleep(50 * time.Millisecond)
				}
			case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
			default:
				ts.Fatalf("ptyrun: %s: a dialog line starts with \"> \" or \"< \": %q", args[0], line)
			}
		}
		select {
		case <-out.done:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			ts.Fatalf("ptyrun: %s did not end after the dialog:\n%s", args[1], out.String())
		}
		cmd.Wait()
		ts.Logf("%s", out.String())
	},
}

// scriptEnv is the script's environment as far as a program started from Go needs it: the
// variables setup gives every script, and those of the test's own environment, with the
// script's values.
func scriptEnv(ts *testscript.TestScript) []string {
	names := []string{"HOME", "PATH", "WORK", "TMPDIR", "LANG", "DEN_STORE", "DEN_STATE", "DEN_CACHE", "DEN_REPO",
		"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME",
		"GOPROXY", "GOSUMDB", "GOFLAGS", "GOCACHE", "GOPATH", "GOMODCACHE", "GOENV", "npm_config_registry"}
	for _, kv := range os.Environ() {
		names = append(names, strings.SplitN(kv, "=", 2)[0])
	}
	var env []string
	seen := map[string]bool{}
	for _, n := range names {
		if v := ts.Getenv(n); v != "" && !seen[n] && n != "TERM" {
			seen[n] = true
			env = append(env, n+"="+v)
		}
	}
	return append(env, "TERM=dumb")
}

func fileExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
