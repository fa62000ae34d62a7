package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain lets the test binary serve as the sandbox's init when Run re-executes it.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == InitArg {
		Main()
	}
	testRole()
	os.Exit(m.Run())
}

// requireSandbox skips a test that needs namespaces where the host has none, unless
// DEN_REQUIRE_SANDBOX=1 says this machine must have them.
func requireSandbox(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("DEN_REQUIRE_SANDBOX") == "1" {
			t.Fatalf("DEN_REQUIRE_SANDBOX=1 but: %v", err)
		}
		t.Skipf("no sandbox here: %v", err)
	}
}

type fixture struct {
	spec     Spec
	store    string
	input    string // listed in Inputs
	secret   string // in the store, not listed
	out      string
	outTemp  string
	build    string
	hostFile string // a host file outside every sandbox path
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureIn(t, t.TempDir())
}

func newFixtureIn(t *testing.T, dir string) *fixture {
	t.Helper()
	f := &fixture{
		store:    dir + "/store",
		build:    dir + "/build",
		hostFile: dir + "/host-file",
	}
	f.input = f.store + "/00000000000000000000000000000000-input-1.0"
	f.secret = f.store + "/11111111111111111111111111111111-secret-1.0"
	f.out = f.store + "/22222222222222222222222222222222-out-1.0"
	f.outTemp = f.store + "/.tmp-22222222222222222222222222222222"
	for _, d := range []string{f.store, f.build, f.input, f.secret, f.outTemp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{
		f.input + "/hello":  "hello from the input\n",
		f.secret + "/hello": "secret\n",
		f.hostFile:          "host\n",
	} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.spec = Spec{
		Env: []string{
			"PATH=/usr/bin:/bin", "HOME=/homeless-shelter", "TMPDIR=" + f.build, "out=" + f.out,
			"input=" + f.input, "secret=" + f.secret, "store=" + f.store, "hostfile=" + f.hostFile,
		},
		BuildDir: f.build,
		StoreDir: f.store,
		Inputs:   []string{f.input},
		OutPath:  f.out,
		OutTemp:  f.outTemp,
		Mode:     ModeRequired,
	}
	return f
}

// run runs script with program (a shell) and returns its output.
func (f *fixture) run(t *testing.T, ctx context.Context, s Spec, script string) (string, string, error) {
	t.Helper()
	if len(s.Args) == 0 {
		s.Args = []string{"/bin/sh", "-c", script}
	}
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	err := Run(ctx, s)
	if strings.Contains(stderr.String(), "goroutine ") {
		t.Errorf("a Go stack trace reached the user:\n%s", stderr.String())
	}
	return stdout.String(), stderr.String(), err
}

func TestNetwork(t *testing.T) {
	requireSandbox(t)
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Skip("no /bin/bash for /dev/tcp")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	f := newFixture(t)
	port := ln.Addr().(*net.TCPAddr).Port
	s := f.spec
	s.Args = []string{"/bin/bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d && echo connected", port)}

	out, _, err := f.run(t, context.Background(), s, "")
	var ee *ExitError
	if !errors.As(err, &ee) || strings.Contains(out, "connected") {
		t.Errorf("without Network: err = %v, stdout %q; want the connection to fail", err, out)
	}

	s.Network = true
	out, stderr, err := f.run(t, context.Background(), s, "")
	if err != nil || out != "connected\n" {
		t.Errorf("with Network: err = %v, stdout %q, stderr %q; want connected", err, out, stderr)
	}
}

func TestOutput(t *testing.T) {
	requireSandbox(t)
	f := newFixture(t)
	_, stderr, err := f.run(t, context.Background(), f.spec, `echo built > "$out/result" && mkdir "$out/bin"`)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr)
	}
	data, err := os.ReadFile(f.outTemp + "/result")
	if err != nil || string(data) != "built\n" {
		t.Fatalf("OutTemp/result = %q, %v; want \"built\\n\"", data, err)
	}
	for _, name := range []string{"result", "bin"} {
		fi, err := os.Stat(filepath.Join(f.outTemp, name))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid() {
			t.Errorf("%s is owned by %d:%d, want the caller %d:%d", name, st.Uid, st.Gid, os.Getuid(), os.Getgid())
		}
	}
	if _, err := os.Lstat(f.out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the final path %s exists on the host (%v); the output belongs in OutTemp", f.out, err)
	}
}

func TestWritesOutsideOutFail(t *testing.T) {
	requireSandbox(t)
	f := newFixture(t)
	home, _ := os.UserHomeDir()
	stray := []string{
		f.store + "/new",
		f.secret + "/new",
		"/etc/den-sandbox-test",
		"/usr/den-sandbox-test",
		"/den-sandbox-test",
		os.TempDir() + "/den-sandbox-test",
		filepath.Dir(f.hostFile) + "/new",
	}
	if home != "" {
		stray = append(stray, home+"/den-sandbox-test")
	}
	targets := append([]string{f.input + "/hello", f.input + "/new", f.hostFile}, stray...)
	for _, p := range stray {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists before the test", p)
		}
	}
	for _, target := range targets {
		s := f.spec
		s.Args = []string{"/bin/sh", "-c", `echo overwritten > "$1"`, "sh", target}
		out, stderr, err := f.run(t, context.Background(), s, "")
		if err == nil {
			t.Errorf("writing %s succeeded (stdout %q, stderr %q)", target, out, stderr)
		}
	}
	for _, p := range stray {
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Errorf("the sandbox created %s on the host", p)
		}
	}
	for name, want := range map[string]string{f.input + "/hello": "hello from the input\n", f.hostFile: "host\n"} {
		if data, err := os.ReadFile(name); err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want it unchanged", name, data, err)
		}
	}
	if _, err := os.Lstat(f.input + "/new"); err == nil {
		t.Errorf("the sandbox wrote into the input %s", f.input)
	}
}

func TestIdentity(t *testing.T) {
	requireSandbox(t)
	f := newFixture(t)
	script := `echo "home=$HOME"
echo "host=$(uname -n)"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "pid=$$"
if test -e /proc/self; then echo proc=yes; fi
if mount -o remount,rw /usr 2>/dev/null || mount -o remount,bind,rw /usr 2>/dev/null; then echo remounted; fi
if touch /usr/den-sandbox-test 2>/dev/null; then echo wrote-usr; fi
if umount /usr 2>/dev/null; then echo unmounted; fi
if cat /proc/1/environ >/dev/null 2>&1; then echo traced-init; fi
`
	out, stderr, err := f.run(t, context.Background(), f.spec, script)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	want := map[string]string{"home": "/homeless-shelter", "host": "localhost", "uid": "1000", "gid": "100"}
	if got["proc"] != "yes" {
		// A host that hides parts of its /proc gets a builder that is uid 0 without capabilities.
		want["uid"], want["gid"] = "0", "0"
	}
	for k, want := range want {
		if got[k] != want {
			t.Errorf("%s = %q, want %q (output %q)", k, got[k], want, out)
		}
	}
	if pid, err := strconv.Atoi(got["pid"]); err != nil || pid > 100 {
		t.Errorf("the shell's pid is %q; want a small one in a new pid namespace", got["pid"])
	}
	for _, bad := range []string{"remounted", "wrote-usr", "unmounted", "traced-init"} {
		if _, ok := got[bad]; ok {
			t.Errorf("the builder could do this: %s", bad)
		}
	}
	os.Remove("/usr/den-sandbox-test")
}

func TestInputsVisibleOthersNot(t *testing.T) {
	requireSandbox(t)
	f := newFixture(t)
	out, stderr, err := f.run(t, context.Background(), f.spec, `cat "$input/hello"; ls -A "$store"; if test -e "$secret"; then echo secret-visible; fi`)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr)
	}
	want := "hello from the input\n" + filepath.Base(f.input) + "\n" + filepath.Base(f.out) + "\n"
	if out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
}

// TestFileOutputAndInputs covers store paths that are single files (a fetched archive) or
// symbolic links, and a fixed-output fetch whose output is one file.
func TestFileOutputAndInputs(t *testing.T) {
	requireSandbox(t)
	f := newFixture(t)
	file := f.store + "/44444444444444444444444444444444-src.tar"
	link := f.store + "/55555555555555555555555555555555-link"
	out := f.store + "/66666666666666666666666666666666-fetched"
	outTemp := f.store + "/.tmp-66666666666666666666666666666666"
	if err := os.WriteFile(file, []byte("archive\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(f.input), link); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outTemp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := f.spec
	s.Inputs = []string{f.input, file, link}
	s.OutPath, s.OutTemp = out, outTemp
	s.Args = []string{"/bin/sh", "-c", `cat "$1" "$2/hello" && echo fetched > "$3"`, "sh", file, link, out}
	stdout, stderr, err := f.run(t, context.Background(), s, "")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr)
	}
	if want := "archive\nhello from the input\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	if data, err := os.ReadFile(outTemp); err != nil || string(data) != "fetched\n" {
		t.Errorf("OutTemp = %q, %v; want \"fetched\\n\"", data, err)
	}
}

func TestDevAndTmp(t *testing.T) {
	requireSandbox(t)
	f := newFixture(t)
	script := `echo x > /dev/null && head -c 8 /dev/urandom | wc -c && head -c 3 /dev/zero | wc -c
echo temp > "$TMPDIR/t" && cat "$TMPDIR/t"
if { echo x > /tmp/t; } 2>/dev/null; then echo wrote-tmp; fi
`
	out, stderr, err := f.run(t, context.Background(), f.spec, script)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr)
	}
	// The fixture's build dir and store lie under the host's /tmp, so /tmp inside holds mount
	// points and stays read-only.
	if out != "8\n3\ntemp\n" {
		t.Errorf("stdout = %q; want the devices and TMPDIR to work, and /tmp to be read-only", out)
	}

	// Elsewhere, /tmp is the build dir.
	base, err := os.MkdirTemp("/var/tmp", "den-sandbox-test-")
	if err != nil {
		t.Skipf("no directory outside /tmp: %v", err)
	}
	defer os.RemoveAll(base)
	f = newFixtureIn(t, base)
	out, stderr, err = f.run(t, context.Background(), f.spec, `echo temp > /tmp/t && cat "$TMPDIR/t"`)
	if err != nil || out != "temp\n" {
		t.Errorf("stdout = %q, err = %v (%s); want /tmp to be the build dir", out, err, stderr)
	}
}

func TestExitStatus(t *testing.T) {
	requireSandbox(t)
	f := newFixture(t)
	_, _, err := f.run(t, context.Background(), f.spec, "exit 7")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 7 {
		t.Errorf("err = %v, want exit status 7", err)
	}
	_, _, err = f.run(t, context.Background(), f.spec, "kill -TERM $$")
	if !errors.As(err, &ee) || ee.Code != 128+int(syscall.SIGTERM) {
		t.Errorf("err = %v, want exit status %d", err, 128+int(syscall.SIGTERM))
	}
}

func TestStdin(t *testing.T) {
	requireSandbox(t)
	f := newFixture(t)
	s := f.spec
	s.Stdin = strings.NewReader("from stdin")
	out, stderr, err := f.run(t, context.Background(), s, "cat")
	if err != nil || out != "from stdin" {
		t.Errorf("stdout = %q, err = %v (%s)", out, err, stderr)
	}
}

func TestCancelKillsBuild(t *testing.T) {
	requireSandbox(t)
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := f.spec
	var stdout bytes.Buffer
	s.Stdout = &stdout
	s.Args = []string{"/bin/sh", "-c", "echo started; sleep 100 & sleep 100; echo finished"}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, s) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if strings.Contains(stdout.String(), "finished") {
		t.Errorf("the build finished: %q", stdout.String())
	}
}

func TestSetupErrorsAreClear(t *testing.T) {
	requireSandbox(t)
	f := newFixture(t)
	s := f.spec
	s.Args = []string{"/nonexistent/builder"}
	_, stderr, err := f.run(t, context.Background(), s, "")
	if err == nil || !strings.HasPrefix(err.Error(), "sandbox: start /nonexistent/builder") {
		t.Errorf("err = %v, want a sandbox error naming the builder", err)
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		t.Errorf("a setup error came back as an exit status: %v", err)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}

	s = f.spec
	s.Args = []string{"/bin/sh", "-c", "true"}
	s.Inputs = []string{f.store + "/33333333333333333333333333333333-missing"}
	if _, _, err := f.run(t, context.Background(), s, ""); err == nil {
		t.Error("a missing input was accepted")
	}
	s = f.spec
	s.Args = []string{"sh", "-c", "true"}
	if _, _, err := f.run(t, context.Background(), s, ""); err == nil {
		t.Error("a relative program path was accepted")
	}
}

// TestWithoutProc covers hosts whose /proc cannot be mounted again: the builder stays uid 0
// of the outer namespace but has no capabilities.
func TestWithoutProc(t *testing.T) {
	requireSandbox(t)
	f := newFixture(t)
	s := f.spec
	s.Args = []string{"/bin/sh", "-c", `echo "uid=$(id -u)"
test -e /proc/self && echo proc
mount -o remount,rw /usr 2>/dev/null && echo remounted
mount -t tmpfs none "$TMPDIR" 2>/dev/null && echo mounted
touch /usr/den-sandbox-test 2>/dev/null && echo wrote-usr
echo built > "$out/result"
`}
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	if err := run(context.Background(), s, true); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if got := stdout.String(); got != "uid=0\n" {
		t.Errorf("stdout = %q, want only uid=0", got)
	}
	os.Remove("/usr/den-sandbox-test")
	if data, err := os.ReadFile(f.outTemp + "/result"); err != nil || string(data) != "built\n" {
		t.Errorf("OutTemp/result = %q, %v", data, err)
	}
}

func TestModeOff(t *testing.T) {
	f := newFixture(t)
	s := f.spec
	s.Mode = ModeOff
	if _, _, err := f.run(t, context.Background(), s, "true"); err == nil {
		t.Error("ModeOff accepted OutTemp != OutPath")
	}
	if err := os.Mkdir(f.out, 0o755); err != nil {
		t.Fatal(err)
	}
	s.OutTemp = f.out
	out, stderr, err := f.run(t, context.Background(), s, `uname -n; id -u; cat "$secret/hello"; echo built > "$out/result"`)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr)
	}
	host, _ := os.Hostname()
	want := fmt.Sprintf("%s\n%d\nsecret\n", host, os.Getuid())
	if out != want {
		t.Errorf("stdout = %q, want %q: the host as it is", out, want)
	}
	if data, err := os.ReadFile(f.out + "/result"); err != nil || string(data) != "built\n" {
		t.Errorf("out/result = %q, %v", data, err)
	}
	_, _, err = f.run(t, context.Background(), s, "exit 3")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Errorf("err = %v, want exit status 3", err)
	}
}

func TestModeOffCancel(t *testing.T) {
	f := newFixture(t)
	s := f.spec
	s.Mode, s.OutTemp = ModeOff, f.out
	if err := os.Mkdir(f.out, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var stdout bytes.Buffer
	s.Stdout = &stdout
	s.Args = []string{"/bin/sh", "-c", "sleep 100 & sleep 100; echo finished"}
	if err := Run(ctx, s); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
}

// TestAuto checks whichever branch of auto this host takes; run the tests where user
// namespaces are unavailable (unshare -Ur, then echo 0 > /proc/sys/user/max_user_namespaces)
// for the other.
func TestAuto(t *testing.T) {
	f := newFixture(t)
	var warnings []string
	warn := func(msg string) { warnings = append(warnings, msg) }
	avail := Available()
	mode, err := Resolve(ModeAuto, warn)
	if err != nil {
		t.Fatalf("Resolve(auto): %v", err)
	}
	s := f.spec
	s.Mode, s.Warn = ModeAuto, warn
	wantUID := "1000\n"
	if avail == nil {
		if mode != ModeRequired || len(warnings) != 0 {
			t.Errorf("Resolve(auto) = %q with warnings %q; want required and none", mode, warnings)
		}
	} else {
		if mode != ModeOff || len(warnings) != 1 {
			t.Errorf("Resolve(auto) = %q with warnings %q; want off and one", mode, warnings)
		}
		var u *UnavailableError
		if _, err := Resolve(ModeRequired, nil); !errors.As(err, &u) {
			t.Errorf("Resolve(required) = %v; want an *UnavailableError", err)
		}
		s.Mode = ModeRequired
		if _, _, err := f.run(t, context.Background(), s, "true"); !errors.As(err, &u) {
			t.Errorf("Run(required) = %v; want an *UnavailableError", err)
		}
		s.Mode = ModeAuto
		if _, _, err := f.run(t, context.Background(), s, "true"); err == nil {
			t.Error("Run(auto) fell back to an unsandboxed build that writes OutTemp instead of OutPath")
		}
		if err := os.Mkdir(f.out, 0o755); err != nil {
			t.Fatal(err)
		}
		s.OutTemp = f.out
		wantUID = strconv.Itoa(os.Getuid()) + "\n"
		warnings = nil
	}
	out, stderr, err := f.run(t, context.Background(), s, "test -e /proc/self || echo no-proc; id -u")
	if avail == nil && strings.HasPrefix(out, "no-proc\n") {
		out, wantUID = strings.TrimPrefix(out, "no-proc\n"), "0\n"
	}
	if err != nil || out != wantUID {
		t.Errorf("Run(auto): stdout %q, err %v (%s); want %q", out, err, stderr, wantUID)
	}
	if avail != nil && len(warnings) != 1 {
		t.Errorf("Run(auto) warned %q; want one warning", warnings)
	}
}

// TestNoTerminal checks that a build has no controlling terminal and no /dev/tty, and runs in
// a session of its own, so that it cannot type into (TIOCSTI) or write to the user's terminal.
// sandbox_pty_test.go tries it with a real terminal.
func TestNoTerminal(t *testing.T) {
	// The shell's session id is field 6 of /proc/$$/stat; the ") " ends the command name.
	const script = `read -r line < /proc/$$/stat; rest=${line##*) }; set -- $rest; echo "sid=$4 pid=$$"
test -e /dev/tty && echo tty-exists
if (exec 3</dev/tty) 2>/dev/null; then echo tty-opened; fi
true`
	t.Run("sandboxed", func(t *testing.T) {
		requireSandbox(t)
		f := newFixture(t)
		out, stderr, err := f.run(t, context.Background(), f.spec, script)
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, stderr)
		}
		// The builder leads a session inside the build's namespace; one led from outside (den's)
		// would show as 0.
		var sid, pid int
		if _, err := fmt.Sscanf(out, "sid=%d pid=%d", &sid, &pid); err != nil {
			t.Fatalf("stdout = %q: %v", out, err)
		}
		if sid != pid || strings.Contains(out, "tty-") {
			t.Errorf("stdout = %q; want the builder to lead its own session, with no /dev/tty", out)
		}
	})
	t.Run("off", func(t *testing.T) {
		f := newFixture(t)
		s := f.spec
		s.Mode, s.OutTemp = ModeOff, f.out
		if err := os.Mkdir(f.out, 0o755); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := f.run(t, context.Background(), s, script)
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, stderr)
		}
		var sid, pid int
		if _, err := fmt.Sscanf(out, "sid=%d pid=%d", &sid, &pid); err != nil {
			t.Fatalf("stdout = %q: %v", out, err)
		}
		mine, err := unix.Getsid(0)
		if err != nil {
			t.Fatal(err)
		}
		// The builder leads a session of its own; /dev/tty exists on the host but opens nothing.
		if sid == mine || sid != pid || strings.Contains(out, "tty-opened") {
			t.Errorf("stdout = %q (the test's session is %d); want the builder to lead its own session, with no terminal", out, mine)
		}
	})
}

// TestEtc checks that a build sees an /etc of its own: users and hosts written for it, the
// dynamic linker's files and Debian's alternatives, and nothing else of the host's (as root, the
// old whole-/etc bind showed /etc/shadow).
func TestEtc(t *testing.T) {
	requireSandbox(t)
	f := newFixture(t)
	script := `ls -A /etc | tr '\n' ' '; echo
echo "user=$(id -un) group=$(id -gn)"
cat /etc/passwd
for p in /etc/shadow /etc/ssh /etc/sudoers /etc/resolv.conf /etc/ssl; do test -e $p && echo "visible $p"; done
cat /etc/shadow 2>/dev/null && echo read-shadow
if [ -e /etc/alternatives/awk ]; then awk 'BEGIN { print "awk works" }'; fi
echo x > /etc/passwd 2>/dev/null && echo wrote-passwd
true`
	out, stderr, err := f.run(t, context.Background(), f.spec, script)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr)
	}
	want := []string{"group", "hosts", "nsswitch.conf", "passwd"}
	for _, p := range defaultEtc {
		if _, err := os.Lstat(p); err == nil {
			want = append(want, filepath.Base(p))
		}
	}
	slices.Sort(want)
	lines := strings.Split(out, "\n")
	got := strings.Fields(lines[0])
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("/etc holds %q, want %q", got, want)
	}
	if lines[1] != "user=den group=den" {
		t.Errorf("id says %q, want the build user den", lines[1])
	}
	if !strings.Contains(out, "den:x:1000:100:") || strings.Contains(out, "root:x:0:0:root:/root:") {
		t.Errorf("/etc/passwd is not the build's own:\n%s", out)
	}
	for _, bad := range []string{"visible ", "read-shadow", "wrote-passwd"} {
		if strings.Contains(out, bad) {
			t.Errorf("stdout has %q:\n%s", bad, out)
		}
	}
	if _, err := os.Lstat("/etc/alternatives/awk"); err == nil && !strings.Contains(out, "awk works\n") {
		t.Errorf("awk (a link through /etc/alternatives) did not run:\n%s\n%s", out, stderr)
	}

	// A fixed-output fetch also gets what name resolution and HTTPS need.
	s := f.spec
	s.Network = true
	out, stderr, err = f.run(t, context.Background(), s, `for p in /etc/resolv.conf /etc/services /etc/ssl/certs /etc/shadow /etc/ssl/private; do test -e $p && echo "visible $p"; done; true`)
	if err != nil {
		t.Fatalf("Run with Network: %v\n%s", err, stderr)
	}
	for _, p := range []string{"/etc/resolv.conf", "/etc/services", "/etc/ssl/certs"} {
		if _, err := os.Stat(p); err == nil && !strings.Contains(out, "visible "+p+"\n") {
			t.Errorf("with Network, %s is not visible:\n%s", p, out)
		}
	}
	for _, p := range []string{"/etc/shadow", "/etc/ssl/private"} {
		if strings.Contains(out, "visible "+p+"\n") {
			t.Errorf("with Network, %s is visible", p)
		}
	}

	// A caller that asks for the host's /etc gets it, as before.
	s = f.spec
	s.HostPaths = []string{"/usr", "/bin", "/lib", "/etc"}
	for _, p := range []string{"/lib64", "/sbin"} {
		if _, err := os.Lstat(p); err == nil {
			s.HostPaths = append(s.HostPaths, p)
		}
	}
	out, _, err = f.run(t, context.Background(), s, `test -e /etc/services && echo host-etc; true`)
	if err != nil || out != "host-etc\n" {
		t.Errorf("with /etc among HostPaths: stdout %q, err %v; want the host's /etc", out, err)
	}
}

// TestProcessLimit checks that a build running more processes than its limit is killed with a
// *ProcessLimitError, however it makes them (a fork bomb included), and that one within the
// limit is not.
func TestProcessLimit(t *testing.T) {
	requireSandbox(t)
	f := newFixture(t)
	s := f.spec
	s.MaxProcesses = 64
	// A safety net: a broken limit must not hang the test.
	s.Timeout = 2 * time.Minute
	_, stderr, err := f.run(t, context.Background(), s, `for i in $(seq 40); do sleep 1 & done; wait`)
	if err != nil {
		t.Fatalf("40 processes under a limit of 64: %v\n%s", err, stderr)
	}
	// bash retries a fork that fails at the kernel's cap, as a real bomb would; dash gives up,
	// and its bomb dies out by itself.
	for name, args := range map[string][]string{
		"many":      {"/bin/sh", "-c", `for i in $(seq 200); do sleep 100 & done; wait`},
		"fork bomb": {"/bin/bash", "-c", `bomb() { bomb | bomb & }; bomb; sleep 100`},
	} {
		if _, err := os.Stat(args[0]); err != nil {
			t.Logf("%s: no %s", name, args[0])
			continue
		}
		s.Args = args
		start := time.Now()
		_, stderr, err := f.run(t, context.Background(), s, "")
		var pe *ProcessLimitError
		if !errors.As(err, &pe) || pe.Limit != 64 {
			t.Errorf("%s: err = %v, want a process limit of 64\n%s", name, err, stderr)
		}
		if d := time.Since(start); d > time.Minute {
			t.Errorf("%s: the build took %v to be stopped", name, d)
		}
	}
	// Nothing of the killed builds survives (they were all in the build's pid namespace).
	if out, _ := exec.Command("pgrep", "-f", "sleep 100").Output(); len(out) > 0 {
		t.Errorf("processes of a killed build are still running: %s", out)
	}
}

func TestTimeout(t *testing.T) {
	for _, mode := range []Mode{ModeRequired, ModeOff} {
		t.Run(string(mode), func(t *testing.T) {
			if mode == ModeRequired {
				requireSandbox(t)
			}
			f := newFixture(t)
			s := f.spec
			s.Mode, s.Timeout = mode, 500*time.Millisecond
			if mode == ModeOff {
				s.OutTemp = f.out
				if err := os.Mkdir(f.out, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			_, _, err := f.run(t, context.Background(), s, "sleep 100 & sleep 100")
			var te *TimeoutError
			if !errors.As(err, &te) || te.After != s.Timeout {
				t.Errorf("err = %v, want a timeout after 500ms", err)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("the build took %v to time out", d)
			}
			if _, _, err := f.run(t, context.Background(), s, "true"); err != nil {
				t.Errorf("a quick build with a timeout: %v", err)
			}
		})
	}
	if got := FormatDuration(2 * time.Hour); got != "2h" {
		t.Errorf("FormatDuration(2h) = %q", got)
	}
	if got := FormatDuration(90 * time.Minute); got != "1h30m" {
		t.Errorf("FormatDuration(90m) = %q", got)
	}
	if got := FormatDuration(1500 * time.Millisecond); got != "1.5s" {
		t.Errorf("FormatDuration(1.5s) = %q", got)
	}
}

// TestRootDir checks where the build's root is mounted: on the caller's RootDir when it gives
// one, leaving nothing in the temp dir, and otherwise on a locked temp dir that a later Run
// removes if its den was killed.
func TestRootDir(t *testing.T) {
	requireSandbox(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	stale := filepath.Join(tmp, rootPrefix+"left-by-a-killed-den")
	if err := os.Mkdir(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	s := f.spec
	s.RootDir = t.TempDir()
	if _, stderr, err := f.run(t, context.Background(), s, "true"); err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
		t.Errorf("a build with a RootDir touched the temp dir: %v", ents)
	}
	if ents, err := os.ReadDir(s.RootDir); err != nil || len(ents) != 0 {
		t.Errorf("RootDir holds %v (%v) after the build; want it empty", ents, err)
	}
	if _, stderr, err := f.run(t, context.Background(), f.spec, "true"); err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("the temp dir holds %v; want the stale mount point swept and this run's removed", ents)
	}
}
