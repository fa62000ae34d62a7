package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// The pty test runs this test binary in three roles, chosen by DEN_SANDBOX_TEST_ROLE: the test
// itself; a child on a pseudo-terminal that it has as its controlling terminal, as den has the
// user's; and the builder that child starts, which tries to reach that terminal.
const (
	roleEnv   = "DEN_SANDBOX_TEST_ROLE"
	markerEnv = "DEN_SANDBOX_TEST_MARKER"
)

// testRole runs a role other than the test's and exits, or returns.
func testRole() {
	switch os.Getenv(roleEnv) {
	case "tty-probe":
		fmt.Print(ttyProbe(os.Getenv(markerEnv)))
		os.Exit(0)
	case "tty-child":
		os.Exit(ttyChild())
	}
}

// ttyProbe does what a hostile build would to the user's terminal: it writes marker+"-write"
// to /dev/tty and types marker+"-typed" into it with TIOCSTI (which the terminal then echoes),
// and says what worked. What it prints never contains the marker.
func ttyProbe(marker string) string {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "open=" + errName(err)
	}
	defer f.Close()
	res := "open=ok"
	if _, err := f.WriteString("\r\n" + marker + "-write\r\n"); err != nil {
		res += " write=" + errName(err)
	} else {
		res += " write=ok"
	}
	typed := "ok"
	for _, c := range []byte(marker + "-typed\n") {
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.TIOCSTI, uintptr(unsafe.Pointer(&c))); e != 0 {
			typed = errName(e)
			break
		}
	}
	return res + " tiocsti=" + typed
}

func errName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// ttyChild runs the probe itself (the control: it must reach the terminal), then as a
// sandboxed build if DEN_SANDBOX_TEST_ISOLATE=1, and as an unsandboxed one, and prints what
// each probe reported.
func ttyChild() int {
	fmt.Printf("control: %s\n", ttyProbe("den-control"))
	self, err := os.Executable()
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	modes := []Mode{ModeOff}
	if os.Getenv("DEN_SANDBOX_TEST_ISOLATE") == "1" {
		modes = append(modes, ModeRequired)
	}
	for _, mode := range modes {
		out, err := runProbeBuild(self, mode)
		if err != nil {
			fmt.Printf("error: %s: %v\n", mode, err)
			return 1
		}
		fmt.Printf("%s: %s\n", mode, out)
	}
	fmt.Println("child done")
	return 0
}

// runProbeBuild runs the probe as a build in mode, the probe's binary being an input.
func runProbeBuild(self string, mode Mode) (string, error) {
	dir, err := os.MkdirTemp("", "den-pty-test-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	store, build := dir+"/store", dir+"/build"
	input := store + "/00000000000000000000000000000000-probe"
	out := store + "/22222222222222222222222222222222-out"
	outTemp := store + "/.tmp-22222222222222222222222222222222"
	if mode == ModeOff {
		outTemp = out
	}
	for _, d := range []string{build, input, outTemp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	data, err := os.ReadFile(self)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(input+"/probe", data, 0o755); err != nil {
		return "", err
	}
	var stdout bytes.Buffer
	err = Run(context.Background(), Spec{
		Args:     []string{input + "/probe"},
		Env:      []string{roleEnv + "=tty-probe", markerEnv + "=den-" + string(mode)},
		BuildDir: build, StoreDir: store, Inputs: []string{input}, OutPath: out, OutTemp: outTemp,
		Stdout: &stdout, Stderr: &stdout, Mode: mode,
	})
	return strings.TrimSpace(stdout.String()), err
}

// TestBuildCannotReachTerminal runs builds from a process whose controlling terminal is a pty,
// as den's is the user's, and checks that neither a sandboxed nor an unsandboxed build can
// write to it or type into it (TIOCSTI, which the user's shell would run after den exits),
// while the same probe run by that process itself can.
func TestBuildCannotReachTerminal(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	isolate := "0"
	if Available() == nil {
		isolate = "1"
	} else if os.Getenv("DEN_REQUIRE_SANDBOX") == "1" {
		t.Fatalf("DEN_REQUIRE_SANDBOX=1 but: %v", Available())
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"=tty-child", "DEN_SANDBOX_TEST_ISOLATE="+isolate)
	ptmx, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	var mu sync.Mutex
	var buf bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			mu.Lock()
			buf.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return // EIO once the child and every holder of the terminal are gone
			}
		}
	}()
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
	select {
	case err := <-waitDone:
		if err != nil {
			t.Errorf("the child failed: %v", err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the child did not finish:\n%s", output())
	}
	select {
	case <-readDone:
	case <-time.After(10 * time.Second):
		// The output is complete once the child is gone; a build still holding the terminal
		// would be a finding of its own.
		t.Errorf("something still holds the terminal after the child exited")
	}
	out := output()
	if !strings.Contains(out, "child done") {
		t.Fatalf("the child did not finish its probes:\n%s", out)
	}
	// The control shows that the probe and this test see a build that reaches the terminal.
	if !strings.Contains(out, "den-control-write") {
		t.Fatalf("the control probe's write did not reach the terminal, so the test proves nothing:\n%s", out)
	}
	if strings.Contains(out, "control: open=ok write=ok tiocsti=ok") && !strings.Contains(out, "den-control-typed") {
		t.Fatalf("the control probe's TIOCSTI did not show on the terminal:\n%s", out)
	}
	for _, mode := range []Mode{ModeOff, ModeRequired} {
		if mode == ModeRequired && isolate != "1" {
			continue
		}
		if strings.Contains(out, "den-"+string(mode)+"-") {
			t.Errorf("a build in mode %q reached the terminal:\n%s", mode, out)
		}
		if !strings.Contains(out, string(mode)+": open=E") {
			t.Errorf("a build in mode %q could open /dev/tty:\n%s", mode, out)
		}
	}
	t.Logf("terminal transcript:\n%s", out)
}
