package progress

import (
	"bytes"
	"strings"
	"testing"
)

// Without a terminal only the start lines and log lines appear: no escape codes, no bars.
func TestPlain(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf)
	task := r.Start("downloading", "go-1.22.3", 100)
	task.Set(50, 100)
	r.Logf("building %s", "x")
	task.Done()
	if got := buf.String(); got != "downloading go-1.22.3\nbuilding x\n" {
		t.Fatalf("got %q", got)
	}
}

// On a terminal, bars are drawn under the log and erased when done.
func TestTerminal(t *testing.T) {
	var buf bytes.Buffer
	r := &Reporter{w: &buf, tty: true, width: 100}
	task := r.Start("downloading", "node-22.3.0", 2048)
	task.r.last = task.start.Add(-1e9) // allow a redraw now
	task.Set(1024, 2048)
	task.Done()
	out := buf.String()
	if !strings.Contains(out, "[============            ] 1 KiB/2 KiB") {
		t.Fatalf("no half-full bar in %q", out)
	}
	if !strings.HasSuffix(out, "\x1b[1A\x1b[J") {
		t.Fatalf("bar not erased at the end: %q", out)
	}
	if Bytes(1536) != "1.5 KiB" || Bytes(10) != "10 B" {
		t.Fatal("Bytes")
	}
}

// Stop erases the bars at once, and tasks still running draw nothing after it: the line a
// stopped program prints last is not followed by a bar.
func TestStop(t *testing.T) {
	var buf bytes.Buffer
	r := &Reporter{w: &buf, tty: true, width: 100}
	task := r.Start("downloading", "node-22.3.0", 2048)
	r.Stop()
	stoppedAt := buf.Len()
	if !strings.HasSuffix(buf.String(), "\x1b[1A\x1b[J") {
		t.Fatalf("Stop left the bar on screen: %q", buf.String())
	}
	task.r.last = task.start.Add(-1e9)
	task.Set(1024, 2048)
	r.Logf("late")
	r.Start("building", "x", 0)
	task.Done()
	if rest := buf.String()[stoppedAt:]; rest != "" {
		t.Fatalf("after Stop: %q", rest)
	}
}
