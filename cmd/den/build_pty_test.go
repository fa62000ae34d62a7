package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ttyProbe writes MARK-write to /dev/tty and types MARK-typed into it with TIOCSTI (0x5412 on
// amd64 and arm64), which the terminal echoes; what it prints never holds the marker.
const ttyProbe = `if { echo "MARK-write" > /dev/tty; } 2>/dev/null; then echo "tty write: done"; else echo "tty write: refused"; fi
perl -e 'open(my $t, "+<", "/dev/tty") or do { print "tiocsti: no tty\n"; exit 0 }; for (split //, "MARK-typed\n") { ioctl($t, 0x5412, $_) or do { print "tiocsti: $!\n"; exit 0 } } print "tiocsti: done\n"'
`

// TestBuildPTY runs den build from a terminal, as a user does, with a recipe that tries to write
// to that terminal and to type a command into it for the shell to run after den exits, sandboxed
// and with sandbox = "off". The same probe run from the terminal itself shows the test can see it.
func TestBuildPTY(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("the probe's TIOCSTI number is amd64's and arm64's")
	}
	if _, err := exec.LookPath("perl"); err != nil {
		t.Skip("no perl for the TIOCSTI probe")
	}
	installed := installDen(t)
	h := newPTYHome(t, "bash", installed)
	proj := filepath.Join(h.dir, "proj")
	if err := os.MkdirAll(filepath.Join(h.home, ".config/den"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(proj, 0o755); err != nil {
		t.Fatal(err)
	}
	var recipes strings.Builder
	for _, name := range []string{"sandboxed", "unsandboxed"} {
		fmt.Fprintf(&recipes, "[recipes.%s]\nversion = \"1\"\nhost-tools = [\"perl\"]\nbuild = '''\n%stouch $out/done\n'''\n\n",
			name, strings.ReplaceAll(ttyProbe, "MARK", "den-"+name))
	}
	if err := os.WriteFile(filepath.Join(proj, "den.toml"), []byte(recipes.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	// run starts args on a new terminal, as its controlling terminal, and returns what the
	// terminal showed once the program and everything holding the terminal are gone.
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir, cmd.Env = proj, h.env("bash", "http://127.0.0.1:9/")
		ptmx, err := pty.Start(cmd)
		if err != nil {
			t.Fatal(err)
		}
		defer ptmx.Close()
		out := readPTY(ptmx)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out.String())
			}
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			t.Fatalf("%s did not finish:\n%s", strings.Join(args, " "), out.String())
		}
		select {
		case <-out.done:
		case <-time.After(10 * time.Second):
			t.Errorf("something still holds the terminal after %s exited:\n%s", args[0], out.String())
		}
		return out.String()
	}

	control := run("bash", "-c", strings.ReplaceAll(ttyProbe, "MARK", "den-control"))
	if !strings.Contains(control, "den-control-write") {
		t.Fatalf("the probe's write from the terminal itself did not show, so the test proves nothing:\n%s", control)
	}
	if strings.Contains(control, "tiocsti: done") && !strings.Contains(control, "den-control-typed") {
		t.Fatalf("the probe's TIOCSTI from the terminal itself did not show:\n%s", control)
	}

	den := filepath.Join(h.bin, "den")
	allow := exec.Command(den, "allow")
	allow.Dir, allow.Env = proj, h.env("bash", "http://127.0.0.1:9/")
	if msg, err := allow.CombinedOutput(); err != nil {
		t.Fatalf("den allow: %v\n%s", err, msg)
	}
	out := run(den, "build", "-L", "sandboxed")
	if err := os.WriteFile(filepath.Join(h.home, ".config/den/config.toml"), []byte("sandbox = \"off\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out += run(den, "build", "-L", "unsandboxed")
	for _, name := range []string{"sandboxed", "unsandboxed"} {
		if strings.Contains(out, "den-"+name+"-") {
			t.Errorf("the %s build reached the terminal:\n%s", name, out)
		}
	}
	if strings.Count(out, "tty write: refused") != 2 {
		t.Errorf("want both builds refused /dev/tty:\n%s", out)
	}
}
