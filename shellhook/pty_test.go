package shellhook

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

const (
	marker   = "(den:demo) "
	greeting = `hello "quoted" wörld with spaces`
)

// TestMain doubles as a nested den shell: a test types a command that runs this binary again
// with DEN_SHELLHOOK_NESTED set, and it launches the shell the way den shell does, from inside
// the outer one.
func TestMain(m *testing.M) {
	if name := os.Getenv("DEN_SHELLHOOK_NESTED"); name != "" {
		os.Exit(nested(name))
	}
	os.Exit(m.Run())
}

func nested(name string) int {
	sh, err := For(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	dir, err := os.MkdirTemp("", "den-shell-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	env := os.Environ()
	path, _ := lookupEnv(env, "PATH")
	env = setEnv(env, "PATH="+prependPath(os.Getenv("DEN_TEST_TOOLBIN"), path))
	cmd, err := sh.Command(bin, env, Session{Marker: marker, Init: "echo init-ran", TempDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// prependPath puts dir in front of path without repeating it, as envs.Apply does for den.
func prependPath(dir, path string) string {
	out := []string{dir}
	for _, e := range strings.Split(path, ":") {
		if e != dir {
			out = append(out, e)
		}
	}
	return strings.Join(out, ":")
}

// userRC is each shell's rc in the test's HOME: an alias, a plain prompt, and a PATH reset to a
// plain value plus one entry of its own, as users' rc files do. bash's turns on set -u, which den's rc
// must survive.
var userRC = map[string]map[string]string{
	"bash": {
		".bashrc": "set -u\nPATH=/usr/bin:/bin:$HOME/.local/bin\nalias hi='echo alias-works'\nPS1='$ '\n",
	},
	"zsh": {
		// The alias shows that .zshenv ran too.
		".zshenv": "skip_global_compinit=1\nzshenv=-zshenv\n",
		".zshrc":  "PATH=/usr/bin:/bin:$HOME/.local/bin\nalias hi='echo alias-works$zshenv'\nPROMPT='$ '\nRPROMPT=\n",
	},
	"fish": {
		".config/fish/config.fish": "set -gx PATH /usr/bin /bin $HOME/.local/bin\nalias hi 'echo alias-works'\nset -g fish_greeting\n",
		// An autoloaded prompt, the way fish's own default prompt is defined.
		".config/fish/functions/fish_prompt.fish": "function fish_prompt\n    printf '$ '\nend\n",
		// Present, so that fish does not start generating completions from man pages in the
		// background on its first start, holding the terminal open after exit.
		".local/share/fish/generated_completions/.keep": "",
	},
}

func TestShell(t *testing.T) {
	for _, name := range []string{"bash", "zsh", "fish"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testShell(t, name)
		})
	}
}

func testShell(t *testing.T, name string) {
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("DEN_REQUIRE_SHELLS") == "1" {
			t.Fatalf("%s is not installed and DEN_REQUIRE_SHELLS=1", name)
		}
		t.Skipf("%s is not installed", name)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	for file, text := range userRC[name] {
		writeTestFile(t, filepath.Join(home, file), text, 0o644)
	}
	toolBin := filepath.Join(t.TempDir(), "bin")
	writeTestFile(t, filepath.Join(toolBin, "dentool"), "#!/bin/sh\necho dentool works\n", 0o755)

	env := []string{
		"HOME=" + home,
		"TERM=dumb",
		"LANG=C.UTF-8",
		"USER=den",
		"SHELL=" + bin,
		"PATH=" + toolBin + ":/usr/local/bin:/usr/bin:/bin",
		"GREETING=" + greeting,
		"DEN_TEST_TOOLBIN=" + toolBin,
	}
	sh, err := For(bin)
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := sh.Command(bin, env, Session{Marker: marker, Init: "echo init-ran", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	term := startTerm(t, cmd)

	// The user's rc reset PATH; den's entries come back in front, and the user's own entry
	// stays behind them.
	wantPath := toolBin + ":/usr/local/bin:/usr/bin:/bin:" + home + "/.local/bin"
	prompt := marker + "$ "

	term.expect(prompt)
	if n := strings.Count(term.out.String(), "init-ran"); n != 1 {
		t.Fatalf("init ran %d times, want once", n)
	}
	term.run("dentool", "dentool works")
	term.run(`printf '%s\n' "$GREETING"`, greeting+"\r\n")
	if name == "zsh" {
		term.run("hi", "alias-works-zshenv")
		// The user had no ZDOTDIR; den's is gone once the rc files ran.
		term.run(`print -r -- "Z=[${ZDOTDIR-unset}]"`, "Z=[unset]")
	} else {
		term.run("hi", "alias-works")
	}
	term.send(`echo "P=[$PATH]"`)
	if got := term.expectRE(`P=\[(/[^\]]*)\]`); got != wantPath {
		t.Errorf("PATH in the shell:\n got %s\nwant %s", got, wantPath)
	}
	term.expect(prompt)

	// A den shell inside this one: same PATH, marker once, init once more.
	term.send("env DEN_SHELLHOOK_NESTED=" + name + " " + quoteSh(self))
	term.expect("init-ran")
	term.expect(prompt)
	if strings.Contains(term.out.String(), marker+marker) {
		t.Errorf("the marker is shown twice in the nested shell")
	}
	term.send(`echo "P=[$PATH]"`)
	if got := term.expectRE(`P=\[(/[^\]]*)\]`); got != wantPath {
		t.Errorf("PATH in the nested shell:\n got %s\nwant %s", got, wantPath)
	}
	term.expect(prompt)
	term.run(`printf '%s\n' "$GREETING"`, greeting+"\r\n")
	term.run("exit", "") // back in the outer shell, at its prompt
	if n := strings.Count(term.out.String(), "init-ran"); n != 2 {
		t.Errorf("init ran %d times in two shells, want twice", n)
	}

	term.send("exit")
	term.expectEOF()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s exited with %v, want status 0", name, err)
	}
}

// TestMarkerQuoting shows a marker full of characters that prompts and shells treat specially
// exactly as it is written.
func TestMarkerQuoting(t *testing.T) {
	const odd = `(den:%d $HOME \w 'q' "d" \\ $(false) wörld) `
	for _, name := range []string{"bash", "zsh", "fish"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bin, err := exec.LookPath(name)
			if err != nil {
				if os.Getenv("DEN_REQUIRE_SHELLS") == "1" {
					t.Fatalf("%s is not installed and DEN_REQUIRE_SHELLS=1", name)
				}
				t.Skipf("%s is not installed", name)
			}
			home := t.TempDir()
			for file, text := range userRC[name] {
				writeTestFile(t, filepath.Join(home, file), text, 0o644)
			}
			env := []string{"HOME=" + home, "TERM=dumb", "LANG=C.UTF-8", "PATH=/usr/bin:/bin"}
			sh, err := For(bin)
			if err != nil {
				t.Fatal(err)
			}
			// The same init is valid sh and fish.
			init := `printf '%s\n' "it's $HOME"`
			want := "it's " + home
			cmd, err := sh.Command(bin, env, Session{Marker: odd, Init: init, TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			term := startTerm(t, cmd)
			term.expect(want)
			term.expect(odd + "$ ")
			term.send("exit")
			term.expectEOF()
			if err := cmd.Wait(); err != nil {
				t.Fatalf("%s exited with %v, want status 0", name, err)
			}
		})
	}
}

func writeTestFile(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
}

// term reads a shell's pseudo-terminal. Every read has a deadline, and EIO (the shell closed its
// side) is the end of output.
type term struct {
	t    *testing.T
	ptmx *os.File
	out  strings.Builder // everything read so far
	pos  int             // where the next expectation starts looking
	eof  bool
}

const readTimeout = 8 * time.Second

// startTerm starts cmd on a new pseudo-terminal. When the test ends the terminal is closed; a
// failed test also kills the shell and logs what the terminal showed.
func startTerm(t *testing.T, cmd *exec.Cmd) *term {
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 500})
	if err != nil {
		t.Fatal(err)
	}
	tm := &term{t: t, ptmx: ptmx}
	t.Cleanup(func() {
		if t.Failed() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Logf("transcript:\n%q", tm.out.String())
		}
		ptmx.Close()
	})
	// pty.Start's Fd calls put the master back in blocking mode; deadlines need the poller.
	if err := syscall.SetNonblock(int(ptmx.Fd()), true); err != nil {
		t.Fatal(err)
	}
	return tm
}

func (tm *term) send(line string) {
	tm.t.Helper()
	if _, err := io.WriteString(tm.ptmx, line+"\r"); err != nil {
		tm.t.Fatalf("typing %q: %v", line, err)
	}
}

// fill reads more output; it reports false at the end of output.
func (tm *term) fill(deadline time.Time) bool {
	tm.t.Helper()
	if tm.eof {
		return false
	}
	if err := tm.ptmx.SetReadDeadline(deadline); err != nil {
		tm.t.Fatalf("pty read deadline: %v", err)
	}
	buf := make([]byte, 4096)
	n, err := tm.ptmx.Read(buf)
	tm.out.Write(buf[:n])
	switch {
	case err == nil:
	case errors.Is(err, syscall.EIO) || errors.Is(err, io.EOF):
		tm.eof = true
	case errors.Is(err, os.ErrDeadlineExceeded):
		tm.t.Fatalf("no output for %v; waiting from byte %d", readTimeout, tm.pos)
	default:
		tm.t.Fatalf("reading the pty: %v", err)
	}
	return n > 0 || !tm.eof
}

// expect waits for s in the output after the last match and moves past it.
func (tm *term) expect(s string) {
	tm.t.Helper()
	deadline := time.Now().Add(readTimeout)
	for {
		if i := strings.Index(tm.out.String()[tm.pos:], s); i >= 0 {
			tm.pos += i + len(s)
			return
		}
		if !tm.fill(deadline) {
			tm.t.Fatalf("output ended before %q", s)
		}
	}
}

// expectRE waits for a match of re after the last match, moves past it and returns its first group.
func (tm *term) expectRE(re string) string {
	tm.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(readTimeout)
	for {
		if m := rx.FindStringSubmatchIndex(tm.out.String()[tm.pos:]); m != nil {
			got := tm.out.String()[tm.pos+m[2] : tm.pos+m[3]]
			tm.pos += m[1]
			return got
		}
		if !tm.fill(deadline) {
			tm.t.Fatalf("output ended before a match of %s", re)
		}
	}
}

// run types line, waits for want (if any) and then for the next prompt.
func (tm *term) run(line, want string) {
	tm.t.Helper()
	tm.send(line)
	if want != "" {
		tm.expect(want)
	}
	tm.expect(marker + "$ ")
}

func (tm *term) expectEOF() {
	tm.t.Helper()
	deadline := time.Now().Add(readTimeout)
	for tm.fill(deadline) {
	}
}
