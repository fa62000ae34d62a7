package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/den-sh/den/core/progress"
)

// How den stops on SIGINT (Ctrl-C) and SIGTERM: the same way in every command, with progress
// bars cleared, one line ("den: stopped by SIGINT (Ctrl-C)") and status 128+N, as a shell
// expects of a process a signal stopped. One handler serves the whole run (handleSignals).
// A command that can clean up on its way out — stop a build, remove a half-written file — runs
// under a signalContext: the first signal cancels it, the command unwinds and report prints the
// line. A second signal, or a command still busy stopGrace after the first, stops den at once;
// so does a signal while no signalContext is in use, since such a command has nothing to
// unwind that a kill would not leave (the store and den's files are crash-safe). While den
// waits for a program it runs in the foreground (den x, den shell), the program gets the
// keyboard's signals itself and decides; den lets them pass (runChild).

// stopGrace is how long a cancelled command may take to unwind before den stops anyway.
const stopGrace = 3 * time.Second

// interrupts is the one piece of package state: a signal is the process's, and the handler, the
// commands' contexts, the progress bars on screen and report, which decides the exit status,
// meet only here.
var interrupts struct {
	stoppedBy atomic.Int32 // the first SIGINT or SIGTERM of the run, or 0
	contexts  atomic.Int32 // signalContexts in use
	children  atomic.Int32 // programs den waits for in the foreground
	asking    atomic.Bool  // a question waits for its answer, the cursor after it

	mu        sync.Mutex
	stopped   chan struct{} // closed at the first signal
	cancels   map[int]context.CancelCauseFunc
	nextID    int
	reporters []*progress.Reporter // whose bars go before the line
	said      bool
	stderr    io.Writer
}

// handleSignals takes SIGINT and SIGTERM for the rest of the run; stop gives them back.
func handleSignals(stderr io.Writer) (stop func()) {
	in := &interrupts
	in.mu.Lock()
	in.stoppedBy.Store(0)
	in.stopped = make(chan struct{})
	in.cancels = map[int]context.CancelCauseFunc{}
	in.reporters, in.said, in.stderr = nil, false, stderr
	in.mu.Unlock()
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				if sig, ok := s.(syscall.Signal); ok {
					onSignal(sig)
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

func onSignal(sig syscall.Signal) {
	in := &interrupts
	if in.children.Load() > 0 {
		return // the program in the foreground has it; runChild passes SIGTERM on
	}
	if !in.stoppedBy.CompareAndSwap(0, int32(sig)) || in.contexts.Load() == 0 {
		stopNow(syscall.Signal(in.stoppedBy.Load()))
		return
	}
	in.mu.Lock()
	close(in.stopped)
	cancels := make([]context.CancelCauseFunc, 0, len(in.cancels))
	for _, c := range in.cancels {
		cancels = append(cancels, c)
	}
	in.mu.Unlock()
	for _, cancel := range cancels {
		cancel(fmt.Errorf("%v signal received: %w", sig, context.Canceled))
	}
	time.AfterFunc(stopGrace, func() { stopNow(sig) })
}

// stopNow says why den stops and exits, whatever the command is doing.
func stopNow(sig syscall.Signal) {
	sayStopped(nil, sig)
	os.Exit(128 + int(sig))
}

// sayStopped clears the progress bars and prints the one line, once per run.
func sayStopped(w io.Writer, sig syscall.Signal) {
	in := &interrupts
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.said {
		return
	}
	in.said = true
	for _, r := range in.reporters {
		r.Stop()
	}
	if in.stderr != nil {
		w = in.stderr
	}
	if w == nil {
		w = os.Stderr
	}
	if in.asking.Load() {
		fmt.Fprintln(w)
	}
	name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT (Ctrl-C)", syscall.SIGTERM: "SIGTERM"}[sig]
	if name == "" {
		name = sig.String()
	}
	fmt.Fprintf(w, "den: stopped by %s\n", name)
}

// stoppedSignal is the signal that stopped the run, or 0.
func stoppedSignal() syscall.Signal { return syscall.Signal(interrupts.stoppedBy.Load()) }

// stopRequested is closed once a signal asked den to stop; nil outside a run (never ready).
func stopRequested() <-chan struct{} {
	interrupts.mu.Lock()
	defer interrupts.mu.Unlock()
	return interrupts.stopped
}

// showsProgress registers a reporter whose bars a signal clears before den's last line.
func showsProgress(r *progress.Reporter) {
	interrupts.mu.Lock()
	interrupts.reporters = append(interrupts.reporters, r)
	interrupts.mu.Unlock()
}

// signalContext is cancelled by the first SIGINT or SIGTERM, so that builds and downloads stop
// and clean up; report then says so and exits as a shell expects of a process the signal
// stopped. stop must be called once the command no longer needs it.
func signalContext() (ctx context.Context, stop context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	in := &interrupts
	in.mu.Lock()
	if in.cancels == nil {
		in.cancels = map[int]context.CancelCauseFunc{}
	}
	id := in.nextID
	in.nextID++
	in.cancels[id] = cancel
	in.mu.Unlock()
	in.contexts.Add(1)
	if sig := stoppedSignal(); sig != 0 {
		cancel(fmt.Errorf("%v signal received: %w", sig, context.Canceled))
	}
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			in.contexts.Add(-1)
			in.mu.Lock()
			delete(in.cancels, id)
			in.mu.Unlock()
			cancel(nil)
		})
	}
}

// askingOnTerminal marks a question waiting for the user's answer; done unmarks it.
func askingOnTerminal() (done func()) {
	interrupts.asking.Store(true)
	return func() { interrupts.asking.Store(false) }
}

// inForeground marks a program den runs and waits for; done unmarks it.
func inForeground() (done func()) {
	interrupts.children.Add(1)
	var once sync.Once
	return func() { once.Do(func() { interrupts.children.Add(-1) }) }
}
