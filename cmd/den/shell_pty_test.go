package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/den-sh/den/core/npm"
	"github.com/den-sh/den/core/npm/npmtest"
	"github.com/den-sh/den/core/platform"
)

// ptyOutput collects what a program writes to its terminal; EIO is the end of output.
type ptyOutput struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func readPTY(f *os.File) *ptyOutput {
	o := &ptyOutput{done: make(chan struct{})}
	go func() {
		defer close(o.done)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			o.mu.Lock()
			o.buf.Write(b[:n])
			o.mu.Unlock()
			if err != nil {
				return // EIO when the other side is gone, as Linux reports it
			}
		}
	}()
	return o
}

func (o *ptyOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// expect waits, with a deadline, until the output after from holds want; it returns where it
// ends.
// poll sends cmdline every 300 ms until want shows after offset from (for 30 s at most), and
// returns the offset past it; on a timeout it fails with the output and what diag adds.
func (o *ptyOutput) poll(t *testing.T, from int, send func(string), cmdline, want string, diag func() string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		send(cmdline)
		if i := strings.Index(o.String()[from:], want); i >= 0 {
			return from + i + len(want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never showed:\n%s\n%s", want, o.String(), diag())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (o *ptyOutput) expect(t *testing.T, from int, want string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s := o.String()
		if from <= len(s) {
			if i := strings.Index(s[from:], want); i >= 0 {
				return from + i + len(want)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q in the terminal output after byte %d:\n%s", want, from, o.String())
	return 0
}

// fakeNodeRegistry serves a fake node 20.1.0 for this system, the one package the pty tests use.
func fakeNodeRegistry(t *testing.T) *npmtest.Registry {
	nodeSys, err := npm.SystemFor(platform.Current())
	if err != nil {
		t.Skip(err)
	}
	return npmtest.New(t, append(fakeNPMReleases(), npmtest.Package{Name: "node-" + nodeSys.OS + "-" + nodeSys.CPU, Version: "20.1.0",
		OS: []string{nodeSys.OS}, CPU: []string{nodeSys.CPU}, Bin: map[string]string{"node": "bin/node"},
		Files: map[string]string{"bin/node": fakeNode("20.1.0")}})...)
}

// installDen builds den as make build does, the launcher (cmd/den/front) as den and the full
// program as den-core, into a new directory, which it returns: the pty tests run what users run.
func installDen(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	for out, pkg := range map[string]string{"den": "./front", "den-core": "."} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(bin, out), pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, msg)
		}
	}
	return bin
}

// ptyHome is one shell's test world: the shell's path, a temp dir holding home (with fish's
// completion cache made, so fish starts quietly), and bin with a link to den as installDen built
// it, the way a user links an installed den into a directory on PATH.
type ptyHome struct{ shellPath, dir, home, bin string }

func newPTYHome(t *testing.T, shell, installed string) ptyHome {
	shellPath, err := exec.LookPath(shell)
	if err != nil {
		if os.Getenv("DEN_REQUIRE_SHELLS") == "1" {
			t.Fatalf("%s is not installed", shell)
		}
		t.Skipf("%s is not installed", shell)
	}
	dir := t.TempDir()
	h := ptyHome{shellPath: shellPath, dir: dir, home: filepath.Join(dir, "home"), bin: filepath.Join(dir, "bin")}
	for _, d := range []string{h.bin, filepath.Join(h.home, ".config/fish"), filepath.Join(h.home, ".local/share/fish/generated_completions")} {
		os.MkdirAll(d, 0o755)
	}
	if err := os.Symlink(filepath.Join(installed, "den"), filepath.Join(h.bin, "den")); err != nil {
		t.Fatal(err)
	}
	return h
}

// env is the environment the shell starts with: its own home, store and registry.
func (h ptyHome) env(shell, registry string) []string {
	return []string{"HOME=" + h.home, "PATH=" + h.bin + ":/usr/bin:/bin", "SHELL=" + h.shellPath, "TERM=dumb",
		"DEN_STORE=" + h.dir + "/store", "DEN_STATE=" + h.dir + "/state", "DEN_CACHE=" + h.dir + "/cache",
		"XDG_CONFIG_HOME=" + h.home + "/.config", "npm_config_registry=" + registry, "LANG=C.UTF-8",
		"DEN_REQUIRE_SANDBOX=" + os.Getenv("DEN_REQUIRE_SANDBOX")}
}

// TestShellPTY drives den shell in real interactive bash, zsh and fish: asked whether to allow
// a new project, the project's tools on PATH, the prompt marker, [shell] init, [env], a nested den shell without duplicate PATH
// entries, and exit back out.
func TestShellPTY(t *testing.T) {
	reg := fakeNodeRegistry(t)
	installed := installDen(t)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			h := newPTYHome(t, shell, installed)
			home, proj := h.home, filepath.Join(h.dir, "proj")
			os.MkdirAll(proj, 0o755)
			writeShellRCs(home)
			os.WriteFile(filepath.Join(proj, "den.toml"), []byte(fmt.Sprintf(
				"systems = [%q]\n\n[packages]\nnode = \"20\"\n\n[env]\nGREETING = \"hello wörld\"\n\n[shell]\ninit = \"echo init-ran\"\n",
				platform.Current().String())), 0o644)

			cmd := exec.Command(filepath.Join(h.bin, "den"), "shell")
			cmd.Args[0] = "den" // as a shell starts it, found on PATH
			cmd.Dir = proj
			cmd.Env = h.env(shell, reg.URL)
			ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
			if err != nil {
				t.Fatal(err)
			}
			defer ptmx.Close()
			out := readPTY(ptmx)
			send := func(s string) { ptmx.Write([]byte(s + "\n")) }

			// A project nobody allowed yet: den shell shows what it asks for and asks.
			at := out.expect(t, 0, "is new to den. It asks for:")
			at = out.expect(t, at, "packages: node 20")
			at = out.expect(t, at, "variables: GREETING")
			at = out.expect(t, at, "[y/N] ")
			send("y")
			at = out.expect(t, at, "init-ran")
			at = out.expect(t, at, "(den:proj) $ ")
			send("node --version")
			at = out.expect(t, at, "v20.1.0")
			send("printenv GREETING")
			at = out.expect(t, at, "hello wörld")

			// A den shell inside the den shell: init runs again, PATH gains nothing twice.
			send("den shell")
			at = out.expect(t, at, "init-ran")
			at = out.expect(t, at, "(den:proj) ")
			send("printenv PATH | tr ':' '\\n' | grep -c -- '-proj-env/bin$' | sed 's/^/count=/'")
			at = out.expect(t, at, "count=1\r\n")
			send("exit")
			at = out.expect(t, at, "(den:proj) $ ")

			// Ctrl-C stops the command running in the shell, and only that: den shell must
			// not leave SIGINT ignored for the shell to pass on.
			send("sleep 30")
			time.Sleep(500 * time.Millisecond)
			ptmx.Write([]byte{3})
			status := "$?"
			if shell == "fish" {
				status = "$status"
			}
			send("echo interrupted=" + status)
			at = out.expect(t, at, "interrupted=130")
			send("exit")
			select {
			case <-out.done:
			case <-time.After(20 * time.Second):
				t.Fatalf("den shell did not end after exit:\n%s", out.String())
			}
			err = cmd.Wait()
			var ee *exec.ExitError
			if errors.As(err, &ee) && !errors.Is(err, syscall.EIO) {
				t.Fatalf("den shell exited with %v:\n%s", err, out.String())
			}
		})
	}
}

// writeShellRCs gives each shell a plain "$ " prompt; bash runs with set -u and pipefail, which
// den's rc code and hook must bear.
func writeShellRCs(home string) {
	os.WriteFile(filepath.Join(home, ".bashrc"), []byte("set -u -o pipefail\nPS1='$ '\n"), 0o644)
	os.WriteFile(filepath.Join(home, ".zshrc"), []byte("PROMPT='$ '\n"), 0o644)
	os.WriteFile(filepath.Join(home, ".config/fish/config.fish"), []byte("function fish_prompt; echo -n '$ '; end\n"), 0o644)
}

// TestShellPTYLiveReload drives den shell in real interactive bash, zsh and fish while den.toml
// changes: an edit saved the way editors save (a new file renamed over den.toml) and allowed
// while the shell sits at its prompt is noticed by den shell's watcher, which starts the update
// and says which package it adds; a few prompts later the tool is on PATH. The environment
// stays when the user leaves the project directory. A save while a program has the terminal
// starts the update without printing over the program; an edit typed in the shell (removing the
// package, changing [env]) waits for den allow and then applies, announced once.
func TestShellPTYLiveReload(t *testing.T) {
	reg := fakeNodeRegistry(t)
	installed := installDen(t)
	nodeSys, _ := npm.SystemFor(platform.Current())
	reg.Add(npmtest.Package{Name: "node-" + nodeSys.OS + "-" + nodeSys.CPU, Version: "22.3.0",
		OS: []string{nodeSys.OS}, CPU: []string{nodeSys.CPU}, Bin: map[string]string{"node": "bin/node"},
		Files: map[string]string{"bin/node": fakeNode("22.3.0")}})
	sys := platform.Current().String()
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			h := newPTYHome(t, shell, installed)
			proj := filepath.Join(h.dir, "proj")
			os.MkdirAll(proj, 0o755)
			writeShellRCs(h.home)
			os.WriteFile(filepath.Join(proj, "den.toml"), []byte(fmt.Sprintf("systems = [%q]\n\n[env]\nGREETING = \"one\"\n", sys)), 0o644)

			cmd := exec.Command(filepath.Join(h.bin, "den"), "shell")
			cmd.Args[0] = "den" // as a shell starts it, found on PATH
			cmd.Dir = proj
			// A terminal with cursor motion, as users have: the notice is drawn with it.
			cmd.Env = append(h.env(shell, reg.URL), "TERM=xterm")
			ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { ptmx.Close(); cmd.Process.Kill() }()
			out := readPTY(ptmx)
			send := func(s string) { ptmx.Write([]byte(s + "\n")) }
			at := out.expect(t, 0, "[y/N] ")
			send("y")
			at = out.expect(t, at, "(den:proj) $ ")
			// What the user allows from outside the shell, the way a second terminal would, as
			// soon as they have saved den.toml: within den shell's settling time, so the
			// watcher finds the edit allowed.
			allow := func() {
				t.Helper()
				c := exec.Command(filepath.Join(h.bin, "den"), "allow")
				c.Dir, c.Env = proj, h.env(shell, reg.URL)
				if msg, err := c.CombinedOutput(); err != nil {
					t.Fatalf("den allow: %v\n%s", err, msg)
				}
			}
			// The terminal echoes what is typed, and the machine may have a node of its own:
			// count den's, in output that the command line does not contain.
			denNode := "sh -c 'command -v node' | grep -c -- -proj-env/ | sed 's/^/dennode=/'"
			send(denNode)
			at = out.expect(t, at, "dennode=0\r\n")
			at = out.expect(t, at, "$ ")

			// An editor's save while the shell sits at its prompt, with half a command typed:
			// nobody presses Enter, and den shell starts the update by itself. The line it
			// prints stands above a prompt drawn again with what was typed, the cursor after
			// it, on the screen as the user sees it; the command then runs as typed.
			ptmx.Write([]byte("echo kept-"))
			typed := "(den:proj) $ echo kept-"
			screenShows := func(what string, ok func(*screen) bool) {
				t.Helper()
				deadline := time.Now().Add(20 * time.Second)
				for {
					scr := render(out.String(), 40, 200)
					if ok(scr) {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("the screen never showed %s:\n%s\n%q", what, scr, out.String())
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			screenShows("the typed text", func(scr *screen) bool { return scr.cursorLine() == typed })
			tmp := filepath.Join(proj, ".den.toml.swp")
			os.WriteFile(tmp, []byte(fmt.Sprintf("systems = [%q]\n\n[packages]\nnode = \"20\"\n\n[env]\nGREETING = \"one\"\n", sys)), 0o644)
			if err := os.Rename(tmp, filepath.Join(proj, "den.toml")); err != nil {
				t.Fatal(err)
			}
			allow()
			notice := "den: updating environment (+node) in the background"
			at = out.expect(t, at, notice)
			screenShows("the line above the prompt and the typed text", func(scr *screen) bool {
				lines := scr.lines()
				return scr.cursorLine() == typed && scr.r > 0 && lines[scr.r] == typed && lines[scr.r-1] == notice
			})
			ptmx.Write([]byte("typed\n"))
			at = out.expect(t, at, "kept-typed\r\n")
			screenShows("the command as typed, then its output", func(scr *screen) bool {
				lines := scr.lines()
				for r := 1; r+1 < len(lines); r++ {
					if lines[r-1] == notice && lines[r] == typed+"typed" && lines[r+1] == "kept-typed" {
						return true
					}
				}
				return false
			})
			until := func(cmdline, want string) {
				t.Helper()
				at = out.poll(t, at, send, cmdline, want, func() string {
					log, _ := os.ReadFile(filepath.Join(proj, ".den", "sync.log"))
					return "--- .den/sync.log:\n" + string(log)
				})
			}
			until("node --version 2>/dev/null | sed 's/^/node=/'", "node=v20.1.0")

			// den shell's project stays active outside its directory.
			send("cd .. && node --version | sed 's/^/outside=/' && cd proj")
			at = out.expect(t, at, "outside=v20.1.0")

			// A save while a program has the terminal (an editor, here sleep): den shell starts
			// the update at once but prints nothing over the program's screen; the prompt after
			// it says so if the update still runs, and applies it when done.
			send("sleep 3; printf 'slept%s\\n' -done")
			at = out.expect(t, at, "$ ")
			time.Sleep(300 * time.Millisecond) // the shell has handed the terminal to sleep
			edited := time.Now()
			data, _ := os.ReadFile(filepath.Join(proj, "den.toml"))
			os.WriteFile(tmp, []byte(strings.Replace(string(data), `"20"`, `"22"`, 1)), 0o644)
			if err := os.Rename(tmp, filepath.Join(proj, "den.toml")); err != nil {
				t.Fatal(err)
			}
			allow()
			for {
				if fi, err := os.Stat(filepath.Join(proj, ".den", "sync.log")); err == nil && fi.ModTime().After(edited) {
					break // the watcher started the sync
				}
				if time.Since(edited) > 2500*time.Millisecond {
					t.Fatalf("den shell started no update while sleep ran:\n%s", out.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			slept := out.expect(t, at, "slept-done")
			if strings.Contains(out.String()[at:slept], "den: updating") {
				t.Fatalf("den shell printed while sleep had the terminal:\n%s", out.String())
			}
			at = slept
			until("node --version 2>/dev/null | sed 's/^/node=/'", "node=v22.3.0")
			if n := strings.Count(out.String(), "den: updating environment (node 20.1.0 → 22) in the background"); n > 1 {
				t.Fatalf("the version change was announced %d times:\n%s", n, out.String())
			}
			if _, err := os.Stat(filepath.Join(proj, ".den", "sync.announce")); err == nil {
				t.Fatalf("the announcement of an update already applied was left behind")
			}

			// An edit nobody allowed (typed here, or a git pull): nothing applies, the prompt says
			// why; den allow then applies it, and the line names the removal.
			send(fmt.Sprintf(`printf 'systems = ["%s"]\n[env]\nGREETING = "two"\n' > den.toml`, sys))
			at = out.expect(t, at, "den.toml changed; run den allow to apply it")
			send("printenv GREETING | sed 's/^/greeting=/'")
			at = out.expect(t, at, "greeting=one")
			send("den allow")
			at = out.expect(t, at, "den: updating environment (-node) in the background")
			until("printenv GREETING | sed 's/^/greeting=/'", "greeting=two")
			send(denNode)
			at = out.expect(t, at, "dennode=0\r\n")

			all := out.String()
			for _, bad := range []string{"unbound variable", "command not found"} {
				if strings.Contains(all, bad) {
					t.Fatalf("%q in den shell's output:\n%s", bad, all)
				}
			}
			for _, line := range []string{"(+node)", "(-node)"} {
				if n := strings.Count(all, line); n != 1 {
					t.Fatalf("the update line with %s was printed %d times:\n%s", line, n, all)
				}
			}
			send("exit 0") // grep -c found nothing: under pipefail, bash would exit with 1
			select {
			case <-out.done:
			case <-time.After(20 * time.Second):
				t.Fatalf("den shell did not end after exit:\n%s", out.String())
			}
			// den shell itself ends too: its watcher stops with the shell.
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("den shell exited with %v:\n%s", err, out.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("den shell still runs after its shell ended:\n%s", out.String())
			}
		})
	}
}
