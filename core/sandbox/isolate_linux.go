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

	"github.com/den-sh/den/core/scratch"
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
	BuildPath string // where BuildDir appears inside
	StoreDir  string
	Inputs    []string
	OutPath   string
	OutTemp   string
	HostPaths []string
	// Etc are files the init writes into the build's /etc, by name, unless a host path put
	// one there.
	Etc          map[string]string
	Links        map[string]string
	MaxProcesses int
	NoProc       bool // tests only: act as if /proc could not be mounted
}

type initStatus struct {
	Code  int    `json:"code"`
	Error string `json:"error,omitempty"`
	// ProcessLimit says the init killed the build for running more than MaxProcesses.
	ProcessLimit bool `json:"processLimit,omitempty"`
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
		Root: s.RootDir, Args: s.Args, Env: s.Env, Dir: s.Dir, BuildDir: s.BuildDir, StoreDir: s.StoreDir,
		Inputs: slices.Compact(slices.Sorted(slices.Values(s.Inputs))), OutPath: s.OutPath, OutTemp: s.OutTemp, HostPaths: s.hostPaths(),
		MaxProcesses: s.maxProcesses(), NoProc: noProc, BuildPath: s.BuildPath, Links: s.Links,
	}
	if cfg.BuildPath == "" {
		cfg.BuildPath = s.BuildDir
	}
	if s.Network {
		cfg.HostPaths = withResolver(cfg.HostPaths, "/etc/resolv.conf")
	}
	if !slices.Contains(cfg.HostPaths, "/etc") {
		cfg.Etc = etcFiles()
	}
	if cfg.Env == nil {
		cfg.Env = []string{}
	}
	if cfg.Dir == "" {
		cfg.Dir = s.BuildDir
	}
	if rest, ok := below(cfg.Dir, s.BuildDir); ok {
		cfg.Dir = cfg.BuildPath + rest
	} else if cfg.Dir == s.BuildDir {
		cfg.Dir = cfg.BuildPath
	}
	err := startInit(ctx, opRun, cfg, s.Network, s.Stdin, s.Stdout, s.Stderr)
	var ee *ExitError
	var u *UnavailableError
	var te *TimeoutError
	var pe *ProcessLimitError
	if err == nil || errors.As(err, &ee) || errors.As(err, &u) || errors.As(err, &te) || errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("sandbox: %w", err)
}

// etcFiles is the build's own /etc: its users (root, the builder, nobody, as in Nix's sandbox)
// so that id, whoami and tar's owner lookups work, localhost, and an NSS configuration that
// reads only these files, so no host NSS module (LDAP, systemd) is tried.
func etcFiles() map[string]string {
	return map[string]string{
		"passwd": fmt.Sprintf("root:x:0:0:root:/homeless-shelter:/noshell\n"+
			"den:x:%d:%d:den build user:/homeless-shelter:/noshell\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/noshell\n", builderUID, builderGID),
		"group": fmt.Sprintf("root:x:0:\nden:x:%d:\nnogroup:x:65534:\n", builderGID),
		"hosts": "127.0.0.1 localhost\n::1 localhost\n",
		"nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n" +
			"networks: files\nprotocols: files\nservices: files\n",
	}
}

// withResolver adds the directory of conf's target to paths when conf is exposed but links
// outside every exposed path, as systemd-resolved's does (into /run), so that a fetch with the
// host's network can also resolve names.
func withResolver(paths []string, conf string) []string {
	target, err := filepath.EvalSymlinks(conf)
	if err != nil || !exposed(paths, conf) {
		return paths
	}
	if exposed(paths, target) {
		return paths
	}
	return append(slices.Clip(paths), filepath.Dir(target))
}

// exposed reports whether p is one of paths or lies below one.
func exposed(paths []string, p string) bool {
	for _, q := range paths {
		if _, ok := below(p, q); ok || p == q {
			return true
		}
	}
	return false
}

// startInit runs the init with cfg and waits for it, translating its report. Errors other than
// *ExitError, *UnavailableError, *TimeoutError and *ProcessLimitError have no "sandbox: "
// prefix yet.
func startInit(ctx context.Context, op string, cfg initConfig, network bool, stdin io.Reader, stdout, stderr io.Writer) error {
	// The new root needs a mount point; the init mounts a tmpfs on it in its private mount
	// namespace, so the host only ever sees this empty directory. One of our own is locked
	// while in use, so that the next run can tell a killed den's leftovers from a live one's.
	if cfg.Root == "" {
		scratch.Sweep(os.TempDir(), rootPrefix)
		root, err := scratch.Make(os.TempDir(), rootPrefix)
		if err != nil {
			return err
		}
		defer root.Remove()
		cfg.Root = root.Path
	}
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
	// The init shares the build's cap on tasks (see runBuilder); one P keeps the Go runtime
	// from wanting new threads for idle Ps once the build runs.
	cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
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
		// A session of its own has no controlling terminal, and the build can get none: den's
		// terminal is out of its reach (no TIOCSTI typing into the user's shell, no writes to
		// /dev/tty), and its output reaches the user only through the pipes den reads.
		Setsid: true,
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
	switch {
	case st.ProcessLimit:
		return &ProcessLimitError{Limit: cfg.MaxProcesses}
	case st.Error != "":
		return errors.New(st.Error)
	case st.Code != 0:
		// A build killed because ctx ended reports the signal; say why it came.
		if ctx.Err() != nil {
			return interrupted(ctx)
		}
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

// directAttr is how an unsandboxed builder starts: in a session of its own, so with no
// controlling terminal to type into and in a process group of its own that a cancel kills
// whole, and killed if den dies, so that a killed den does not leave a builder writing into a
// path the next den cleans up.
func directAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
}
