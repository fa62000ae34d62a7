// Package progress owns what den shows while it works: on a terminal, a line per running
// download or build with a bar, redrawn in place under the log lines; elsewhere (a pipe, CI),
// plain log lines only, one when each task starts.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// Reporter shows tasks and log lines.
type Reporter struct {
	w     io.Writer
	tty   bool
	width int

	mu      sync.Mutex
	tasks   []*Task
	drawn   int // task lines currently on screen
	last    time.Time
	stopped bool
}

// New reports to w; bars are drawn only when w is a terminal.
func New(w io.Writer) *Reporter {
	r := &Reporter{w: w, width: 80}
	if f, ok := w.(*os.File); ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		r.tty = true
	}
	return r
}

// Plain reports without bars, whatever w is.
func Plain(w io.Writer) *Reporter { return &Reporter{w: w} }

// Task is one download or build.
type Task struct {
	r           *Reporter
	verb, name  string
	done, total int64
	start       time.Time
}

// Stop erases the bars and shows nothing more, for the program's last line to stand alone:
// a signal stops den while tasks still run and would redraw them under that line.
func (r *Reporter) Stop() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clear()
	r.tasks, r.stopped = nil, true
}

// Logf prints a line above the bars.
func (r *Reporter) Logf(format string, args ...any) {
	if r == nil || r.w == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	r.clear()
	fmt.Fprintf(r.w, format+"\n", args...)
	r.draw()
}

// Start begins a task ("downloading", "go-1.22.3"); total may be 0 when unknown. Without a
// terminal it prints "downloading go-1.22.3" once.
func (r *Reporter) Start(verb, name string, total int64) *Task {
	t := &Task{r: r, verb: verb, name: name, total: total, start: time.Now()}
	if r == nil || r.w == nil {
		return t
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return t
	}
	r.clear()
	fmt.Fprintf(r.w, "%s %s\n", verb, name)
	if r.tty {
		r.tasks = append(r.tasks, t)
	}
	r.draw()
	return t
}

// Set records progress, redrawing at most ten times a second.
func (t *Task) Set(done, total int64) {
	r := t.r
	if r == nil || !r.tty {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.done = done
	if total > 0 {
		t.total = total
	}
	if time.Since(r.last) < 100*time.Millisecond {
		return
	}
	r.clear()
	r.draw()
}

// Done ends the task and removes its bar.
func (t *Task) Done() {
	r := t.r
	if r == nil || !r.tty {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clear()
	for i, x := range r.tasks {
		if x == t {
			r.tasks = append(r.tasks[:i], r.tasks[i+1:]...)
			break
		}
	}
	r.draw()
}

// clear erases the task lines drawn last time. It starts from the line's start: the terminal
// may have echoed something meanwhile (^C).
func (r *Reporter) clear() {
	if !r.tty || r.drawn == 0 {
		return
	}
	fmt.Fprintf(r.w, "\r\x1b[%dA\x1b[J", r.drawn)
	r.drawn = 0
}

func (r *Reporter) draw() {
	if !r.tty || r.stopped {
		return
	}
	r.last = time.Now()
	for _, t := range r.tasks {
		fmt.Fprintln(r.w, t.line(r.width))
		r.drawn++
	}
}

func (t *Task) line(width int) string {
	elapsed := time.Since(t.start).Seconds()
	label := fmt.Sprintf("  %s %s", t.verb, t.name)
	if t.total <= 0 {
		if t.done > 0 {
			return fmt.Sprintf("%s  %s", label, Bytes(t.done))
		}
		return fmt.Sprintf("%s  %.0fs", label, elapsed)
	}
	frac := float64(t.done) / float64(t.total)
	if frac > 1 {
		frac = 1
	}
	barWidth := 24
	filled := int(frac * float64(barWidth))
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", barWidth-filled)
	rate := ""
	if elapsed > 0.5 {
		rate = "  " + Bytes(int64(float64(t.done)/elapsed)) + "/s"
	}
	s := fmt.Sprintf("%s [%s] %s/%s%s", label, bar, Bytes(t.done), Bytes(t.total), rate)
	if len(s) > width {
		s = s[:width]
	}
	return s
}

// Bytes spells a size for people.
func Bytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") + " " + units[i]
}
