//go:build !linux

package sandbox

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// Available reports why this system cannot isolate builds: den's sandbox uses Linux namespaces.
func Available() error {
	return &UnavailableError{Err: fmt.Errorf("%s has no Linux namespaces", runtime.GOOS)}
}

func runIsolated(ctx context.Context, s Spec, noProc bool) error {
	return Available()
}

// Main is the sandbox's init on Linux; elsewhere nothing re-executes den with InitArg.
func Main() {
	fmt.Fprintf(os.Stderr, "sandbox: not supported on %s\n", runtime.GOOS)
	os.Exit(125)
}

func directAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
