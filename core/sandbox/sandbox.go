// Package sandbox owns running one build process isolated from the host with Linux namespaces.
//
// A build sees a new root made of read-only host directories (/usr, /bin, /lib, ...), an /etc of
// its own (see etcFiles) with only the host files that host tools need, its inputs' store paths
// (read-only; the rest of the store is invisible), its output at its final store path (written
// into a temporary directory on the host), its private build directory (at a fixed path such as
// /build if the caller asks, so no random host path leaks into outputs), the symbolic links
// the caller asks for (/bin/sh to a store path's bash, for a build that sees no host paths), a
// minimal /dev without /dev/tty, its own /proc, hostname "localhost", and no network unless it
// is a fixed-output fetch. It runs in a session of its own with no controlling terminal, stdin
// /dev/null by default, so that nothing it does reaches the user's terminal; a process limit and
// an optional timeout keep a fork bomb or a hung build from taking the machine.
//
// Go cannot run code between clone and exec, so the namespaces cannot be prepared in the child
// the way a C sandbox (bubblewrap, Nix) does it. Run therefore re-executes the current binary
// (/proc/self/exe) with argv[1] = InitArg inside fresh user, mount, pid, UTS, IPC and network
// namespaces; main must hand that process to Main, which reads the Spec from an inherited pipe,
// builds the new root, pivots into it and becomes pid 1 of the build. The init is root of its
// user namespace and so could undo every read-only mount it made; the builder therefore runs in
// a second, nested user namespace as uid 1000 (mapped to the init's uid 0, itself mapped to the
// caller) with no capabilities over the mounts, so it cannot remount anything, while the files it
// writes are still owned by the caller on the host. (Go writes the nested namespace's id maps
// through /proc; on a host whose /proc cannot be mounted again, the builder instead stays uid 0
// with its bounding and inheritable capabilities emptied.) Mounts are made by hand with
// x/sys/unix because no well-kept Go library builds an unprivileged sandbox root.
//
// Without namespaces (ModeOff, or ModeAuto on a host that forbids them) the builder runs
// directly and must write its output at its final path; Resolve tells a caller which case it is
// in before it prepares a build.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Mode says how strictly builds are isolated; it is the user's sandbox setting.
type Mode string

const (
	// ModeAuto isolates builds where the host allows user namespaces and warns otherwise.
	ModeAuto Mode = "auto"
	// ModeRequired fails rather than build without isolation.
	ModeRequired Mode = "required"
	// ModeOff runs builds directly on the host.
	ModeOff Mode = "off"
)

// InitArg is argv[1] of the re-executed binary that must go to Main.
const InitArg = "__den-sandbox-init"

// rootPrefix names the mount points Run makes in the temp dir when the caller gives no RootDir.
const rootPrefix = "den-sandbox-"

// Spec describes one build process.
type Spec struct {
	Args []string // argv; Args[0] is the absolute path of a program visible inside (a host program or an input's)
	Env  []string // the complete environment; nil means an empty one, never the caller's
	Dir  string   // working directory; empty means BuildDir

	// BuildDir is the private, writable build directory; it appears inside at BuildPath.
	// The caller should set TMPDIR to where it appears: /tmp inside is a link to it only when no
	// other sandbox path lies under /tmp.
	BuildDir string

	// BuildPath is where BuildDir appears inside, such as /build: a fixed path, so that no
	// random host path ends up in an output (debug info, scripts). Empty means BuildDir's own
	// path. A Dir below BuildDir is taken to mean the same place below BuildPath. Only a
	// sandboxed build sees it: without isolation the build runs in BuildDir.
	BuildPath string

	// Links are symbolic links made in the build's root before it starts, by absolute path
	// inside (their parents are made as needed), to their targets: /bin/sh to a store path's
	// bash, say, for a build that sees no host paths. A link cannot replace a path the root
	// already has (a host path, an input, /etc). Only a sandboxed build sees them.
	Links map[string]string

	StoreDir string   // the store dir, e.g. /home/u/.local/share/den/store
	Inputs   []string // store paths visible read-only inside: the inputs' closure
	OutPath  string   // the output's final store path; empty when the build has no output

	// OutTemp is an existing directory (or file) on the store's filesystem that appears,
	// writable, at OutPath inside. Because it is a mount point, $out already exists when the
	// builder starts, and the builder can fill it but not replace it.
	OutTemp string

	// HostPaths are host directories (or files) exposed read-only at the same path. nil means
	// the defaults that exist among /usr /bin /lib /lib64 /lib32 /sbin and the few files of
	// /etc that dynamically linked host tools need (defaultEtc; with Network also networkEtc); a
	// non-nil empty slice exposes none. A symbolic link (such as /bin -> usr/bin) is recreated,
	// not followed. Unless /etc itself is among them, the build's /etc also holds passwd, group,
	// hosts and nsswitch.conf written for it (etcFiles).
	HostPaths []string

	// Network keeps the host's network, for fixed-output fetches only. Where /etc/resolv.conf
	// links outside HostPaths (systemd-resolved), its target's directory is exposed too.
	Network bool

	// RootDir is an empty directory to mount the build's root on; the build never sees its
	// path, and the host only ever sees it empty. Empty means a directory in os.TempDir(), locked
	// while in use and swept by a later Run if den is killed; a caller with a place of its own
	// to clean (core/build's build directory) should give one there.
	RootDir string

	// MaxProcesses bounds the processes a sandboxed build runs at once; 0 means
	// DefaultMaxProcesses. A build that goes past it is killed with a *ProcessLimitError.
	// Unsandboxed builds (ModeOff) have no process limit: they are plain host processes.
	MaxProcesses int

	// Timeout kills the build after that long with a *TimeoutError; 0 means no limit.
	Timeout time.Duration

	Stdin          io.Reader // nil means /dev/null
	Stdout, Stderr io.Writer // nil means /dev/null

	Mode Mode             // empty means ModeAuto
	Warn func(msg string) // called once by Run when Mode is auto and isolation is unavailable
}

// ExitError reports that the builder ran and did not exit with status 0. A builder killed by a
// signal has Code 128 plus the signal's number, as shells report it.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("builder exited with status %d", e.Code) }

// DefaultMaxProcesses is the process limit of a build that sets none: far above what a parallel
// build needs (CPython's make -j on 64 cores runs a few hundred), far below what takes a machine.
const DefaultMaxProcesses = 4096

// ProcessLimitError reports a build that ran more processes at once than Spec.MaxProcesses, and
// was killed.
type ProcessLimitError struct {
	Limit int
}

func (e *ProcessLimitError) Error() string {
	return fmt.Sprintf("exceeded the process limit of %d", e.Limit)
}

// TimeoutError reports a build that ran longer than Spec.Timeout, and was killed.
type TimeoutError struct {
	After time.Duration
}

func (e *TimeoutError) Error() string { return "timed out after " + FormatDuration(e.After) }

// FormatDuration writes d as people write it in config.toml: 2h, 1h30m, 90s rather than
// time.Duration's 2h0m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnavailableError reports that this host does not let den create the namespaces it needs.
type UnavailableError struct {
	Err error // why, as the kernel or the sandbox's setup said it
}

func (e *UnavailableError) Error() string {
	return "sandbox: cannot isolate builds here: " + e.Err.Error() +
		"\nhint: allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1," +
		" user.max_user_namespaces > 0, or on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0)," +
		" or set sandbox = \"off\" in den's config.toml"
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Resolve settles m into ModeRequired (isolate) or ModeOff for a whole session, so that a caller
// building many derivations probes the host once, and knows before a build whether its output
// must be assembled at the final path (ModeOff) or may go to a temporary directory. When m is
// auto and isolation is unavailable, warn (if not nil) is called with the reason.
func Resolve(m Mode, warn func(msg string)) (Mode, error) {
	switch m {
	case ModeOff:
		return ModeOff, nil
	case ModeRequired:
		if err := Available(); err != nil {
			return "", err
		}
		return ModeRequired, nil
	case ModeAuto, "":
		err := Available()
		if err == nil {
			return ModeRequired, nil
		}
		if warn != nil {
			warn(warning(err))
		}
		return ModeOff, nil
	}
	return "", fmt.Errorf("sandbox: unknown mode %q", m)
}

func warning(err error) string {
	var u *UnavailableError
	if errors.As(err, &u) {
		err = u.Err
	}
	return fmt.Sprintf("building without a sandbox: %v", err)
}

// Run runs the build s describes and waits for it. A builder that exits non-zero yields an
// *ExitError; a host that cannot isolate yields an *UnavailableError (in ModeRequired); a build
// killed for its limits a *TimeoutError or *ProcessLimitError; any other error means the sandbox
// itself failed. When ctx is done, every process of the build is killed.
//
// In ModeOff (and ModeAuto where isolation is unavailable) the builder runs directly, in a
// session of its own, and sees the host as it is: it writes its output at OutPath itself, so Run then
// requires OutTemp == OutPath. Use Resolve first to know which case applies.
func Run(ctx context.Context, s Spec) error {
	return run(ctx, s, false)
}

// run is Run with a test hook: noProc makes the init behave as on a host whose /proc cannot be
// mounted again, the one case in which the builder is dropped to no capabilities differently.
func run(ctx context.Context, s Spec, noProc bool) error {
	if err := s.check(); err != nil {
		return err
	}
	mode := s.Mode
	switch mode {
	case "":
		mode = ModeAuto
	case ModeAuto, ModeRequired, ModeOff:
	default:
		return fmt.Errorf("sandbox: unknown mode %q", mode)
	}
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.Timeout, &TimeoutError{After: s.Timeout})
		defer cancel()
	}
	if mode == ModeAuto {
		mode = ModeRequired
		if err := Available(); err != nil {
			if s.OutPath != s.OutTemp {
				return fmt.Errorf("sandbox: cannot fall back to an unsandboxed build (%s): it would have to write its output at %s itself; settle the mode with sandbox.Resolve before preparing a build", warning(err), s.OutPath)
			}
			if s.Warn != nil {
				s.Warn(warning(err))
			}
			mode = ModeOff
		}
	}
	if mode == ModeOff {
		if s.OutPath != s.OutTemp {
			return fmt.Errorf("sandbox: an unsandboxed build writes its output in place, so OutTemp (%s) must be OutPath (%s)", s.OutTemp, s.OutPath)
		}
		return runDirect(ctx, s)
	}
	return runIsolated(ctx, s, noProc)
}

// check rejects specs that would otherwise fail obscurely halfway through building the root.
func (s *Spec) check() error {
	if len(s.Args) == 0 {
		return errors.New("sandbox: no command to run")
	}
	for _, p := range []struct{ what, path string }{
		{"program", s.Args[0]}, {"BuildDir", s.BuildDir}, {"Dir", s.Dir}, {"StoreDir", s.StoreDir},
		{"OutPath", s.OutPath}, {"OutTemp", s.OutTemp}, {"RootDir", s.RootDir},
	} {
		if p.path != "" && (!filepath.IsAbs(p.path) || filepath.Clean(p.path) != p.path) {
			return fmt.Errorf("sandbox: %s %q is not a clean absolute path", p.what, p.path)
		}
	}
	if s.BuildDir == "" {
		return errors.New("sandbox: no build directory")
	}
	if s.BuildPath != "" {
		bp := s.BuildPath
		switch {
		case !filepath.IsAbs(bp) || filepath.Clean(bp) != bp || bp == "/":
			return fmt.Errorf("sandbox: BuildPath %q is not a clean absolute path below /", bp)
		case bp == "/dev" || bp == "/proc" || bp == "/etc" || strings.HasPrefix(bp, "/dev/") || strings.HasPrefix(bp, "/proc/") || strings.HasPrefix(bp, "/etc/"):
			return fmt.Errorf("sandbox: BuildPath %s would hide the build's %s", bp, strings.SplitN(bp, "/", 3)[1])
		case s.StoreDir != "" && (bp == s.StoreDir || strings.HasPrefix(bp, s.StoreDir+"/") || strings.HasPrefix(s.StoreDir, bp+"/")):
			return fmt.Errorf("sandbox: BuildPath %s and the store %s overlap", bp, s.StoreDir)
		}
	}
	for p, target := range s.Links {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
			return fmt.Errorf("sandbox: link %q is not a clean absolute path below /", p)
		}
		if target == "" {
			return fmt.Errorf("sandbox: link %s has no target", p)
		}
	}
	if fi, err := os.Stat(s.BuildDir); err != nil {
		return fmt.Errorf("sandbox: build directory: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("sandbox: build directory %s is not a directory", s.BuildDir)
	}
	if s.RootDir != "" {
		if fi, err := os.Stat(s.RootDir); err != nil {
			return fmt.Errorf("sandbox: root directory: %w", err)
		} else if !fi.IsDir() {
			return fmt.Errorf("sandbox: root directory %s is not a directory", s.RootDir)
		}
	}
	if s.MaxProcesses < 0 {
		return fmt.Errorf("sandbox: a process limit of %d is not a limit", s.MaxProcesses)
	}
	if (s.OutPath == "") != (s.OutTemp == "") {
		return errors.New("sandbox: OutPath and OutTemp go together")
	}
	if (s.OutPath != "" || len(s.Inputs) > 0) && s.StoreDir == "" {
		return errors.New("sandbox: inputs or an output need StoreDir")
	}
	if s.OutPath != "" {
		if filepath.Dir(s.OutPath) != s.StoreDir {
			return fmt.Errorf("sandbox: output %s is not in the store %s", s.OutPath, s.StoreDir)
		}
		if _, err := os.Stat(s.OutTemp); err != nil {
			return fmt.Errorf("sandbox: output directory: %w", err)
		}
	}
	for _, in := range s.Inputs {
		if filepath.Dir(in) != s.StoreDir || filepath.Clean(in) != in {
			return fmt.Errorf("sandbox: input %s is not a path in the store %s", in, s.StoreDir)
		}
		if in == s.OutPath {
			return fmt.Errorf("sandbox: %s is both an input and the output", in)
		}
		if _, err := os.Lstat(in); err != nil {
			return fmt.Errorf("sandbox: input: %w", err)
		}
	}
	for _, p := range s.HostPaths {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
			return fmt.Errorf("sandbox: host path %q is not a clean absolute path below /", p)
		}
		if _, err := os.Lstat(p); err != nil {
			return fmt.Errorf("sandbox: host path: %w", err)
		}
	}
	return nil
}

// defaultEtc is what host tools need of the host's /etc, the rest of which (shadow, ssh keys, the
// real passwd) is none of a build's business: the dynamic linker's cache and configuration, as
// host tools are dynamically linked, and Debian's alternatives, through which cc, awk or
// yacc link to the real program.
var defaultEtc = []string{"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives"}

// networkEtc is what a fixed-output fetch, which has the network, needs besides: name
// resolution, service and protocol names, and the CA certificates that HTTPS checks servers
// against (Debian's and Fedora's places; their bundles link into /usr or into each other).
var networkEtc = []string{
	"/etc/resolv.conf", "/etc/protocols", "/etc/services",
	"/etc/ssl/certs", "/etc/ca-certificates", "/etc/ca-certificates.conf",
	"/etc/pki/tls/certs", "/etc/pki/ca-trust/extracted",
}

// hostPaths returns HostPaths, or the host paths most builds need for a shell and host tools.
func (s *Spec) hostPaths() []string {
	if s.HostPaths != nil {
		return s.HostPaths
	}
	cands := []string{"/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin"}
	cands = append(cands, defaultEtc...)
	if s.Network {
		cands = append(cands, networkEtc...)
	}
	var ps []string
	for _, p := range cands {
		if _, err := os.Lstat(p); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// maxProcesses is MaxProcesses or its default.
func (s *Spec) maxProcesses() int {
	if s.MaxProcesses == 0 {
		return DefaultMaxProcesses
	}
	return s.MaxProcesses
}

// runDirect runs the builder on the host. Its own session (and so process group) lets a cancelled
// build take its background children with it, which namespaces do for free otherwise, and
// leaves it no controlling terminal to type into.
func runDirect(ctx context.Context, s Spec) error {
	cmd := exec.CommandContext(ctx, s.Args[0], s.Args[1:]...)
	cmd.Args = s.Args
	cmd.Env = s.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = s.Dir
	if cmd.Dir == "" {
		cmd.Dir = s.BuildDir
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.Stdin, s.Stdout, s.Stderr
	cmd.SysProcAttr = directAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err := interrupted(ctx)
		if _, ok := err.(*TimeoutError); ok {
			return err
		}
		return fmt.Errorf("sandbox: %w", err)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			return &ExitError{Code: exitCode(ws)}
		}
	}
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return nil
}

// interrupted says why ctx ended the build: its timeout as the *TimeoutError it is, or the
// caller's cancellation.
func interrupted(ctx context.Context) error {
	cause := context.Cause(ctx)
	var te *TimeoutError
	if errors.As(cause, &te) {
		return te
	}
	return fmt.Errorf("build interrupted: %w", cause)
}

func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
