package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/den-sh/den/core/platform"
)

// TestHookPTY drives the prompt hook in real interactive bash, zsh and fish: an untrusted project
// runs nothing and says so once; den allow activates it (realized in the background, applied at
// a later prompt); leaving restores PATH and every variable; moving from project A straight into
// B swaps cleanly; a change of den.lock alone waits for den allow; den deny leaves and blocks
// the project; values with spaces, quotes and non-ASCII survive; in bash another prompt tool
// in PROMPT_COMMAND still runs, the prompt sees the last command's status, and set -u and
// pipefail in the user's rc cause no error.
func TestHookPTY(t *testing.T) {
	reg := fakeNodeRegistry(t)
	installed := installDen(t)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			h := newPTYHome(t, shell, installed)
			dir, home := h.dir, h.home
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			os.MkdirAll(a, 0o755)
			os.MkdirAll(b, 0o755)
			sys := platform.Current().String()
			os.WriteFile(filepath.Join(a, "den.toml"), []byte(fmt.Sprintf(
				"systems = [%q]\n[packages]\nnode = \"20\"\n[env]\nFOO = \"a 'q' \\\"d\\\" wörld\"\n", sys)), 0o644)
			os.WriteFile(filepath.Join(b, "den.toml"), []byte("[env]\nBAR = \"from b\"\n"), 0o644)
			switch shell {
			case "bash":
				// Strict users' options: the hook must refer to no unset variable and fail no pipe.
				os.WriteFile(filepath.Join(home, ".bashrc"), []byte(
					"set -u -o pipefail\nPROMPT_COMMAND='touch \"$HOME/other-tool-ran\"'\nPS1='[$?] $ '\neval \"$(den hook bash)\"\n"), 0o644)
			case "zsh":
				os.WriteFile(filepath.Join(home, ".zshrc"), []byte("PROMPT='[%?] $ '\neval \"$(den hook zsh)\"\n"), 0o644)
			case "fish":
				os.WriteFile(filepath.Join(home, ".config/fish/config.fish"), []byte(
					"function fish_prompt; echo -n \"[$status] \\$ \"; end\nden hook fish | source\n"), 0o644)
			}
			cmd := exec.Command(h.shellPath, "-i")
			cmd.Dir = dir
			basePath := h.bin + ":/usr/bin:/bin"
			cmd.Env = h.env(shell, reg.URL)
			if shell == "zsh" {
				cmd.Env = append(cmd.Env, "ZDOTDIR="+home)
			}
			ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 250})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { ptmx.Close(); cmd.Process.Kill(); cmd.Wait() }()
			out := readPTY(ptmx)
			// The terminal echoes what is typed: an expected output must not be in the command.
			send := func(s string) { ptmx.Write([]byte(s + "\n")) }
			at := out.expect(t, 0, "$ ")

			// Untrusted: one hint, nothing applied.
			send("cd a")
			at = out.expect(t, at, "den.toml is not allowed yet; run den allow")
			send("printenv FOO || printf 'FOO-%s\\n' unset")
			at = out.expect(t, at, "FOO-unset")
			if strings.Count(out.String(), "is not allowed yet") != 1 {
				t.Fatalf("the hint was shown more than once:\n%s", out.String())
			}

			// Allowed: realized in the background, applied at a later prompt.
			send("den allow")
			at = out.expect(t, at, "allowed ")
			// The line names the package: no environment yet, and den.lock does not have it.
			at = out.expect(t, at, "den: updating environment (+node) in the background")
			// Prompts are never held: each answers at once, and a later one applies the result.
			until := func(cmdline, want string) {
				t.Helper()
				at = out.poll(t, at, send, cmdline, want, func() string {
					logA, _ := os.ReadFile(filepath.Join(a, ".den", "sync.log"))
					logB, _ := os.ReadFile(filepath.Join(b, ".den", "sync.log"))
					tomlB, _ := os.ReadFile(filepath.Join(b, "den.toml"))
					return fmt.Sprintf("--- a/.den/sync.log:\n%s\n--- b/.den/sync.log:\n%s\n--- b/den.toml:\n%s", logA, logB, tomlB)
				})
			}
			until("node --version 2>/dev/null | sed 's/^/node=/'", "node=v20.1.0")
			send("printenv FOO | sed 's/^/foo=/'")
			at = out.expect(t, at, "foo=a 'q' \"d\" wörld")

			// The prompt sees the last command's status.
			send("false")
			at = out.expect(t, at, "[1] $ ")

			// From A straight into B: B's variables, none of A's.
			send("den allow ../b && cd ../b")
			at = out.expect(t, at, "allowed ")
			send("printenv FOO || printf 'FOO-%s\\n' gone")
			at = out.expect(t, at, "FOO-gone")
			until("printenv BAR | sed 's/^/bar=/'", "bar=from b")

			// Leaving: PATH and every variable as they were.
			send("cd ..")
			send("printenv BAR || printf 'BAR-%s\\n' gone; printenv PATH | sed 's/^/path=/'")
			at = out.expect(t, at, "BAR-gone")
			at = out.expect(t, at, "path="+basePath+"\r\n")
			// Live reload: den.toml gains a package while the shell sits in the project; a few
			// prompts later the tool is on PATH. Broken syntax: one error line, the old
			// environment stays.
			send("cd b")
			until("printenv BAR | sed 's/^/bar=/'", "bar=from b")
			send(fmt.Sprintf(`printf 'systems = ["%s"]\n[packages]\nnode = "20"\n[env]\nBAR = "from b"\n' > den.toml`, sys))
			at = out.expect(t, at, "den.toml changed; run den allow to apply it")
			send("printenv BAR | sed 's/^/kept=/'")
			at = out.expect(t, at, "kept=from b")
			send("den allow")
			at = out.expect(t, at, "den: updating environment (+node) in the background")
			until("node --version 2>/dev/null | sed 's/^/node=/'", "node=v20.1.0")

			// den.lock is inside the allowance: a change of it alone (a git pull, say) applies
			// nothing until den allow. (The hook resolved den.toml's change for itself; den lock
			// writes den.lock.)
			send("den lock")
			at = out.expect(t, at, "+ node 20.1.0")
			send("echo '# pulled' >> den.lock")
			at = out.expect(t, at, "den.lock changed; run den allow to apply it")
			send("printenv BAR | sed 's/^/kept=/'")
			at = out.expect(t, at, "kept=from b")
			send("den allow")
			at = out.expect(t, at, "allowed ")
			until("printenv BAR | sed 's/^/bar=/'", "bar=from b")

			// den deny: the next prompt leaves the environment, and entering again activates
			// nothing until den allow.
			send("den deny")
			at = out.expect(t, at, "b/den.toml is denied; run den allow to activate it")
			send("printenv BAR || printf 'BAR-%s\\n' denied")
			at = out.expect(t, at, "BAR-denied")
			send("cd ..")
			send("cd b")
			at = out.expect(t, at, "b/den.toml is denied")
			// The machine may have a node of its own: count den's.
			send("printenv BAR || printf 'BAR-%s\\n' none; command -v node | grep -c -- -b-env/ | sed 's/^/dennode=/'")
			at = out.expect(t, at, "BAR-none")
			at = out.expect(t, at, "dennode=0\r\n")
			// Allowed again, with everything in the store: applied at the very next prompt, in
			// one line that says what came.
			send("den allow")
			at = out.expect(t, at, "allowed ")
			at = out.expect(t, at, "den: +node 20.1.0 +BAR ~PATH\r\n")
			send("printenv BAR | sed 's/^/bar=/'")
			at = out.expect(t, at, "bar=from b")
			if strings.Contains(out.String()[strings.LastIndex(out.String(), "dennode=0"):], "in the background") {
				t.Fatalf("a realized environment was realized again in the background:\n%s", out.String())
			}

			send("printf '[env\\n' > den.toml && den allow")
			until("echo tick", "den: updating the environment failed: ")
			send("node --version | sed 's/^/still=/'")
			at = out.expect(t, at, "still=v20.1.0")
			send("echo tock")
			at = out.expect(t, at, "tock")
			if n := strings.Count(out.String(), "den: updating the environment failed"); n != 1 {
				t.Fatalf("the failure was reported %d times:\n%s", n, out.String())
			}
			send("cd ..")
			if shell == "bash" {
				for _, bad := range []string{"unbound variable", "syntax error", "command not found"} {
					if strings.Contains(out.String(), bad) {
						t.Fatalf("%q under set -u -o pipefail:\n%s", bad, out.String())
					}
				}
				if _, err := os.Stat(filepath.Join(home, "other-tool-ran")); err != nil {
					t.Fatalf("the other prompt tool did not run: %v", err)
				}
			}
			send("exit")
			select {
			case <-out.done:
			case <-time.After(20 * time.Second):
				t.Fatalf("%s did not end after exit:\n%s", shell, out.String())
			}
		})
	}
}
