package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestInterruptPTY presses Ctrl-C on den's terminal, as a user does: while a download draws its
// progress bar, and at the question den asks before it acts on a new project. Each time den
// stops at once with status 130 and one line, and nothing of the bar is left on the screen.
func TestInterruptPTY(t *testing.T) {
	// A source that sends a quarter of its bytes, a little at a time, then nothing: den shows
	// the bar and waits.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stall := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(4<<20))
		for range 16 {
			w.Write(make([]byte, 64<<10))
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	})}
	go srv.Serve(ln)
	defer func() { close(stall); srv.Close() }()

	installed := installDen(t)
	h := newPTYHome(t, "bash", installed)
	proj := filepath.Join(h.dir, "proj")
	os.MkdirAll(proj, 0o755)
	os.WriteFile(filepath.Join(proj, "den.toml"), []byte(fmt.Sprintf(`[recipes.big]
version = "1"
src = { url = "http://%s/big.tar.gz", hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
build = "true"
`, ln.Addr())), 0o644)

	// ctrlC starts den with args on a terminal of its own, presses Ctrl-C once the output holds
	// ready, and returns the screen and the exit status.
	ctrlC := func(ready string, args ...string) (*screen, string, int) {
		t.Helper()
		cmd := exec.Command(filepath.Join(h.bin, "den"), args...)
		cmd.Dir, cmd.Env = proj, append(h.env("bash", "http://127.0.0.1:9/"), "TERM=xterm")
		ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 100})
		if err != nil {
			t.Fatal(err)
		}
		defer ptmx.Close()
		out := readPTY(ptmx)
		out.expect(t, 0, ready)
		time.Sleep(300 * time.Millisecond) // the bar is redrawn at most ten times a second
		ptmx.Write([]byte{3})
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var code int
		select {
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("den %s did not stop at Ctrl-C:\n%s", strings.Join(args, " "), out.String())
		}
		select {
		case <-out.done:
		case <-time.After(5 * time.Second):
		}
		return render(out.String(), 24, 100), out.String(), code
	}

	lastLines := func(scr *screen) []string {
		var lines []string
		for _, l := range scr.lines() {
			if l != "" {
				lines = append(lines, l)
			}
		}
		return lines
	}

	// At the question: the line goes below it, on a line of its own.
	scr, raw, code := ctrlC("[y/N] ", "build", "big")
	lines := lastLines(scr)
	if code != 130 || len(lines) < 2 || lines[len(lines)-1] != "den: stopped by SIGINT (Ctrl-C)" ||
		!strings.HasSuffix(lines[len(lines)-2], "[y/N] ^C") || strings.Count(raw, "den: stopped") != 1 {
		t.Fatalf("Ctrl-C at the question: status %d, screen:\n%s\n%q", code, scr, raw)
	}

	// During the download: the bar goes, and the line is the last thing on the screen.
	allow := exec.Command(filepath.Join(h.bin, "den"), "allow")
	allow.Dir, allow.Env = proj, h.env("bash", "http://127.0.0.1:9/")
	if msg, err := allow.CombinedOutput(); err != nil {
		t.Fatalf("den allow: %v\n%s", err, msg)
	}
	scr, raw, code = ctrlC("/4 MiB", "build", "big")
	lines = lastLines(scr)
	if code != 130 || lines[len(lines)-1] != "den: stopped by SIGINT (Ctrl-C)" || strings.Count(raw, "den: stopped") != 1 {
		t.Fatalf("Ctrl-C during the download: status %d, screen:\n%s\n%q", code, scr, raw)
	}
	for _, l := range lines {
		if strings.Contains(l, "MiB") || strings.Contains(l, "^C") {
			t.Fatalf("the bar or ^C is left on the screen:\n%s\n%q", scr, raw)
		}
	}
}
