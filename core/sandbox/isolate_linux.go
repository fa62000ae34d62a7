package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// The operations of the re-executed binary, its argv[2].
const (
	opRun   = "run"   // build the root and run the builder
	opProbe = "probe" // build an empty root and start a trivial nested builder, for Available
	opNop   = "nop"   // exit at once: the probe's builder
)

// initConfig is what the parent tells the init, as JSON on fd 3. The init answers with one
// initStatus on fd 4.
type initConfig struct {
	Root      string // an empty host directory to mount the new root on
	Args      []string
	Env       []string
	Dir       string
	BuildDir  string
	StoreDir  string
	Inputs    []string
	OutPath   string
	OutTemp   string
	HostPaths []string
	NoProc    bool // tests only: act as if /proc could not be mounted
}

type initStatus struct {
	Code  int    `json:"code"`
	Error string `json:"error,omitempty"`
}

// Available reports whether this host lets den isolate builds: nil, or an *UnavailableError
// saying why. It starts a throwaway sandbox (tens of milliseconds), so that everything a
// build's setup needs is tried, not only the creation of a user namespace; callers building
// many derivations should use Resolve once.
func Available() error {
	err := startInit(context.Background(), opProbe, initConfig{HostPaths: (&Spec{}).hostPaths()}, false, nil, nil, nil)
	var u *UnavailableError
	switch {
	case err == nil, errors.As(err, &u):
		return err
	case errors.Is(err, errInitMissing):
		return fmt.Errorf("sandbox: %w", err)
	}
	return &UnavailableError{Err: err}
}

// errInitMissing means the re-executed binary did not hand over to Main: a bug in its main.
var errInitMissing = fmt.Errorf("the sandbox's init did not start; the program's main must call sandbox.Main first when os.Args[1] is %s", InitArg)

func runIsolated(ctx context.Context, s Spec, noProc bool) error {
	cfg := initConfig{
		Args: s.Args, Env: s.Env, Dir: s.Dir, BuildDir: s.BuildDir, StoreDir: s.StoreDir,
		Inputs: slices.Compact(slices.Sorted(slices.Values(s.Inputs))), OutPath: s.OutPath, OutTemp: s.OutTemp, HostPaths: s.hostPaths(),
		NoProc: noProc,
	}
	if s.Network {
		cfg.HostPaths = withResolver(cfg.HostPaths, "/etc/resolv.conf")
	}
	if cfg.Env == nil {
		cfg.Env = []string{}
	}
	if cfg.Dir == "" {
		cfg.Dir = s.BuildDir
	}
	err := startInit(ctx, opRun, cfg, s.Network, s.Stdin, s.Stdout, s.Stderr)
	var ee *ExitError
	var u *UnavailableError
	if err == nil || errors.As(err, &ee) || errors.As(err, &u) {
		return err
	}
	return fmt.Errorf("sandbox: %w", err)
}

// withResolver adds the directory of conf's target to paths when conf's directory is exposed
// but conf links outside every exposed path, as systemd-resolved's does (into /run), so that a
// fetch with the host's network can also resolve names.
func withResolver(paths []string, conf string) []string {
	target, err := filepath.EvalSymlinks(conf)
	if err != nil || !slices.Contains(paths, filepath.Dir(conf)) {
		return paths
	}
	for _, p := range paths {
		if _, ok := below(target, p); ok {
			return paths
		}
	}
	return append(slices.Clip(paths), filepath.Dir(target))
}

// startInit runs the init with cfg and waits for it, translating its report. Errors other than
// *ExitError and *UnavailableError have no "sandbox: " prefix yet.
func startInit(ctx context.Context, op string, cfg initConfig, network bool, stdin io.Reader, stdout, stderr io.Writer) error {
	// The new root needs a mount point; the init mounts a tmpfs on it in its private mount
	// namespace, so the host only ever sees this empty directory.
	root, err := os.MkdirTemp("", "den-sandbox-")
	if err != nil {
		return err
	}
	defer os.Remove(root)
	cfg.Root = root
	data, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer cfgW.Close()
	statR, statW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		return err
	}
	defer statR.Close()

	cmd := exec.CommandContext(ctx, "/proc/self/exe", InitArg, op)
	cmd.Args[0] = os.Args[0]
	// The init must not see the caller's environment; GOTRACEBACK stays quiet unless a
	// developer asked for tracebacks, because users must not see Go stack traces.
	cmd.Env = []string{"GOTRACEBACK=none"}
	if v, ok := os.LookupEnv("GOTRACEBACK"); ok {
		cmd.Env = []string{"GOTRACEBACK=" + v}
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.ExtraFiles = []*os.File{cfgR, statW}
	flags := syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC
	if !network {
		flags |= syscall.CLONE_NEWNET
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 uintptr(flags),
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		// Killing the init (pid 1) kills every process of the build: the pid namespace ends.
		Pdeathsig: syscall.SIGKILL,
	}
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Start()
	cfgR.Close()
	statW.Close()
	if err != nil {
		if ctx.Err() != nil {
			return interrupted(ctx)
		}
		if reason := cloneFailure(err); reason != "" {
			return &UnavailableError{Err: errors.New(reason)}
		}
		return fmt.Errorf("start the sandbox's init: %w", err)
	}
	// A failed write means the init died before reading; its report (or its absence) says why.
	cfgW.Write(data)
	cfgW.Close()
	report, _ := io.ReadAll(statR)
	waitErr := cmd.Wait()

	var st initStatus
	if len(report) == 0 || json.Unmarshal(report, &st) != nil {
		if ctx.Err() != nil {
			return interrupted(ctx)
		}
		return fmt.Errorf("%w (%v)", errInitMissing, waitErr)
	}
	if st.Error != "" {
		return errors.New(st.Error)
	}
	if st.Code != 0 {
		return &ExitError{Code: st.Code}
	}
	return nil
}

// cloneFailure says in words why clone refused the namespaces, or "" when err is not that.
func cloneFailure(err error) string {
	switch {
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return "creating a user namespace is not permitted"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EUSERS):
		return "the limit on user namespaces (user.max_user_namespaces) is reached or zero"
	case errors.Is(err, syscall.EINVAL):
		return "the kernel lacks user, mount, pid, UTS, IPC or network namespaces"
	}
	return ""
}

// directAttr is how an unsandboxed builder starts: in its own process group, and killed if den
// dies, so that a killed den does not leave a builder writing into a path the next den cleans up.
func directAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
