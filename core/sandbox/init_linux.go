package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The builder's identity in its nested user namespace: an ordinary user, as in Nix's sandbox.
const (
	builderUID = 1000
	builderGID = 100
)

// Main is the sandbox's init: main must call it first thing when os.Args[1] is InitArg, before
// parsing flags or reading configuration. It never returns.
func Main() {
	if len(os.Args) < 3 {
		fmt.Fprintf(os.Stderr, "sandbox: %s is for den's own use\n", InitArg)
		os.Exit(125)
	}
	op := os.Args[2]
	switch op {
	case opNop:
		os.Exit(0)
	case opRun, opProbe:
	default:
		fmt.Fprintf(os.Stderr, "sandbox: unknown operation %q\n", op)
		os.Exit(125)
	}
	// The configuration and status pipes are the init's alone; no builder may inherit them.
	syscall.CloseOnExec(3)
	syscall.CloseOnExec(4)
	status := os.NewFile(4, "status")
	st := initMain(op)
	data, _ := json.Marshal(st)
	if _, err := status.Write(data); err != nil && st.Error != "" {
		// Not started by Run (someone typed the argument): say it where a person will see it.
		fmt.Fprintf(os.Stderr, "sandbox: %s\n", st.Error)
	}
	status.Close()
	if st.Error != "" {
		os.Exit(125)
	}
	os.Exit(st.Code)
}

func initMain(op string) (st initStatus) {
	defer func() {
		if r := recover(); r != nil {
			st = initStatus{Error: fmt.Sprintf("internal error: %v", r)}
		}
	}()
	// Capabilities and no_new_privs are per thread, and Go forks a child from the thread that
	// starts it; locking keeps what runBuilder sets on the thread that forks the builder.
	runtime.LockOSThread()
	// The builder runs as the same host user as the init, whose capabilities could remount the
	// root writable. The kernel already refuses to let a process trace (or read the /proc files
	// of) one with more capabilities; being undumpable keeps the init out of reach even so.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return initStatus{Error: "make the init undumpable: " + err.Error()}
	}
	var cfg initConfig
	f := os.NewFile(3, "config")
	err := json.NewDecoder(f).Decode(&cfg)
	f.Close()
	if err != nil {
		return initStatus{Error: "read the build's configuration: " + err.Error()}
	}
	haveProc, err := buildRoot(&cfg)
	if err != nil {
		return initStatus{Error: err.Error()}
	}
	if op == opProbe {
		if !haveProc {
			return initStatus{}
		}
		// Whether a nested user namespace can be made and mapped is the last thing a build needs.
		cfg.Args, cfg.Env, cfg.Dir = []string{"/proc/self/exe", InitArg, opNop}, []string{}, "/"
	}
	code, err := runBuilder(&cfg, haveProc)
	if errors.Is(err, errProcessLimit) {
		return initStatus{ProcessLimit: true}
	}
	if err != nil {
		return initStatus{Error: err.Error()}
	}
	if op == opProbe && code != 0 {
		return initStatus{Error: fmt.Sprintf("a process in a nested user namespace failed with status %d", code)}
	}
	return initStatus{Code: code}
}

type mountKind int

const (
	mountHost     mountKind = iota // a host path, read-only (or a symlink, recreated)
	mountWritable                  // a host path, read-write
	mountStore                     // an empty tmpfs for the store dir
	mountDev
	mountProc
)

type mountEntry struct {
	kind     mountKind
	src, dst string
}

type rootBuilder struct {
	root       string
	hostMounts []string // the host's mount points, parents first
	maxProcs   int
	noProc     bool // tests only
	haveProc   bool
}

// buildRoot makes the build's root at cfg.Root and pivots into it. It reports whether a fresh
// /proc could be mounted.
func buildRoot(cfg *initConfig) (bool, error) {
	hostMounts, err := readMountPoints("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("read the mount table: %w", err)
	}
	// Nothing mounted from here on may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return false, fmt.Errorf("make mounts private: %w", err)
	}
	b := &rootBuilder{root: cfg.Root, hostMounts: hostMounts, maxProcs: cfg.MaxProcesses, noProc: cfg.NoProc}
	if err := unix.Mount("tmpfs", b.root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return false, fmt.Errorf("mount a tmpfs on %s: %w", b.root, err)
	}

	var ms []mountEntry
	for _, p := range cfg.HostPaths {
		ms = append(ms, mountEntry{kind: mountHost, src: p, dst: p})
	}
	if cfg.StoreDir != "" {
		ms = append(ms, mountEntry{kind: mountStore, dst: cfg.StoreDir})
	}
	for _, in := range cfg.Inputs {
		ms = append(ms, mountEntry{kind: mountHost, src: in, dst: in})
	}
	if cfg.OutPath != "" {
		ms = append(ms, mountEntry{kind: mountWritable, src: cfg.OutTemp, dst: cfg.OutPath})
	}
	if cfg.BuildDir != "" {
		ms = append(ms, mountEntry{kind: mountWritable, src: cfg.BuildDir, dst: cfg.BuildPath})
	}
	ms = append(ms, mountEntry{kind: mountDev, dst: "/dev"}, mountEntry{kind: mountProc, dst: "/proc"})
	// A path sorts before every path below it, so each mount lands on its parent, not under it.
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].dst < ms[j].dst })
	for i, m := range ms {
		if i > 0 && ms[i-1].dst == m.dst {
			return false, fmt.Errorf("%s would be mounted twice", m.dst)
		}
		if err := b.mount(m); err != nil {
			return false, err
		}
	}
	if err := b.writeEtc(cfg.Etc); err != nil {
		return false, err
	}
	if err := b.makeLinks(cfg.Links); err != nil {
		return false, err
	}
	// Tools that ignore TMPDIR still get a writable /tmp, unless /tmp holds other mount
	// points (a build dir or store below /tmp), where it must stay read-only.
	if cfg.BuildDir != "" {
		if _, err := os.Lstat(b.root + "/tmp"); errors.Is(err, fs.ErrNotExist) {
			if err := os.Symlink(cfg.BuildPath, b.root+"/tmp"); err != nil {
				return false, err
			}
		}
	}
	if err := unix.Sethostname([]byte("localhost")); err != nil {
		return false, fmt.Errorf("set the hostname: %w", err)
	}

	// pivot_root(".", ".") stacks the old root on the new one, and the detach removes it, so
	// no host path stays reachable and no directory for the old root is needed.
	if err := unix.Chdir(b.root); err != nil {
		return false, err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return false, fmt.Errorf("pivot_root into %s: %w", b.root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return false, fmt.Errorf("detach the host's root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return false, err
	}
	// The skeleton tmpfs mounts become read-only last, once every mount point exists.
	for _, p := range []string{"/", cfg.StoreDir, "/dev"} {
		if p == "" {
			continue
		}
		if err := remountReadOnly(p); err != nil {
			return false, fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	return b.haveProc, nil
}

func (b *rootBuilder) mount(m mountEntry) error {
	target := b.root + m.dst
	switch m.kind {
	case mountHost, mountWritable:
		fi, err := os.Lstat(m.src)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 && m.kind == mountHost {
			// Merged-/usr hosts have /bin -> usr/bin; store paths may be links too. Binding
			// would follow the link, so recreate it and let it resolve inside.
			link, err := os.Readlink(m.src)
			if err != nil {
				return err
			}
			if err := makeMountpoint(b.root, filepath.Dir(m.dst), true); err != nil {
				return err
			}
			return os.Symlink(link, target)
		}
		if fi, err = os.Stat(m.src); err != nil {
			return err
		}
		if err := makeMountpoint(b.root, m.dst, fi.IsDir()); err != nil {
			return err
		}
		// MS_REC because the kernel refuses a plain bind of a tree whose submounts it
		// locked for this user namespace; the submounts must then be made read-only too.
		if err := unix.Mount(m.src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s at %s: %w", m.src, m.dst, err)
		}
		if m.kind == mountWritable {
			return nil
		}
		return b.readOnlyTree(m.src, m.dst)
	case mountStore:
		if err := makeMountpoint(b.root, m.dst, true); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
			return fmt.Errorf("mount a tmpfs on %s: %w", m.dst, err)
		}
		return nil
	case mountDev:
		return b.mountDev(target)
	case mountProc:
		return b.mountProc(target)
	}
	return fmt.Errorf("unknown mount kind %d", m.kind)
}

// readOnlyTree makes the bind of src at dst read-only, with every host mount below src.
func (b *rootBuilder) readOnlyTree(src, dst string) error {
	target := b.root + dst
	if err := remountReadOnly(target); err != nil {
		return fmt.Errorf("make %s read-only: %w", dst, err)
	}
	canon, err := filepath.EvalSymlinks(src)
	if err != nil {
		return err
	}
	for _, mp := range b.hostMounts {
		rel, ok := below(mp, canon)
		if !ok {
			continue
		}
		err := remountReadOnly(target + rel)
		// A host mount hidden under another one is not reachable, so it needs nothing.
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("make %s read-only: %w", dst+rel, err)
		}
	}
	return nil
}

// below reports whether path lies strictly below dir, and its remainder ("/x/y") if so.
func below(path, dir string) (string, bool) {
	if dir == "/" {
		return path, path != "/"
	}
	rest, ok := strings.CutPrefix(path, dir)
	if !ok || !strings.HasPrefix(rest, "/") {
		return "", false
	}
	return rest, true
}

// remountReadOnly makes the mount at path read-only. A user namespace may not clear the
// nosuid, nodev and noexec flags the host set (the kernel locks them, and the remount fails
// with EPERM), so they are kept; the kernel keeps the atime flags when none is given.
func remountReadOnly(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
	for _, f := range []struct {
		st    int64
		mount uintptr
	}{
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
	} {
		if int64(st.Flags)&f.st != 0 {
			flags |= f.mount
		}
	}
	return unix.Mount("", path, "", flags, "")
}

// makeMountpoint creates dst (a directory or an empty file) and its missing parents below
// root. It refuses to cross a symbolic link: before the pivot, an absolute link would resolve
// on the host and put the mount outside the new root.
func makeMountpoint(root, dst string, dir bool) error {
	if dst == "/" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(dst, "/"), "/")
	cur := root
	for i, p := range parts {
		cur += "/" + p
		last := i == len(parts)-1
		fi, err := os.Lstat(cur)
		switch {
		case err == nil && fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("cannot mount on %s: %s is a symbolic link", dst, strings.TrimPrefix(cur, root))
		case err == nil:
			continue
		case !errors.Is(err, fs.ErrNotExist):
			return err
		case last && !dir:
			f, err := os.OpenFile(cur, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("create mount point %s: %w", dst, err)
			}
			f.Close()
		default:
			if err := os.Mkdir(cur, 0o755); err != nil {
				return fmt.Errorf("create mount point %s: %w", dst, err)
			}
		}
	}
	return nil
}

// writeEtc writes the build's own /etc files on the root's tmpfs, which becomes read-only with
// the rest of the skeleton. A host path already there (given by the caller) wins.
func (b *rootBuilder) writeEtc(files map[string]string) error {
	if len(files) == 0 {
		return nil
	}
	if err := makeMountpoint(b.root, "/etc", true); err != nil {
		return err
	}
	for name, content := range files {
		p := b.root + "/etc/" + name
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("write /etc/%s: %w", name, err)
		}
	}
	return nil
}

// makeLinks makes the caller's symbolic links on the root's tmpfs, in a stable order so that a
// link's parent made by another link is an error every time, not by chance.
func (b *rootBuilder) makeLinks(links map[string]string) error {
	paths := make([]string, 0, len(links))
	for p := range links {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := makeMountpoint(b.root, filepath.Dir(p), true); err != nil {
			return fmt.Errorf("link %s: %w", p, err)
		}
		if err := os.Symlink(links[p], b.root+p); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("link %s: the build's root already has %s (a host path, an input or /etc)", p, p)
			}
			return fmt.Errorf("link %s: %w", p, err)
		}
	}
	return nil
}

// mountDev makes a minimal /dev: a devtmpfs cannot be mounted in a user namespace, and device
// nodes made on a tmpfs there cannot be opened, so the host's harmless devices are bound in.
// /dev/tty is not among them: it is the opener's controlling terminal, and a build has none.
func (b *rootBuilder) mountDev(target string) error {
	if err := makeMountpoint(b.root, "/dev", true); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755"); err != nil {
		return fmt.Errorf("mount a tmpfs on /dev: %w", err)
	}
	for _, name := range []string{"null", "zero", "full", "random", "urandom"} {
		host := "/dev/" + name
		if _, err := os.Stat(host); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := makeMountpoint(b.root, host, false); err != nil {
			return err
		}
		if err := unix.Mount(host, target+"/"+name, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", host, err)
		}
	}
	for name, link := range map[string]string{
		"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(link, target+"/"+name); err != nil {
			return err
		}
	}
	if err := os.Mkdir(target+"/shm", 0o755); err != nil {
		return err
	}
	if err := unix.Mount("shm", target+"/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("mount a tmpfs on /dev/shm: %w", err)
	}
	if err := os.Mkdir(target+"/pts", 0o755); err != nil {
		return err
	}
	// Pseudo-terminals only serve the odd test suite, and some kernels refuse devpts in a user
	// namespace; a build must not fail for want of them.
	if unix.Mount("devpts", target+"/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") == nil {
		if err := os.Symlink("pts/ptmx", target+"/ptmx"); err != nil {
			return err
		}
	}
	return nil
}

// mountProc mounts a /proc of the build's own pid namespace. A host that hides parts of its
// own /proc (containers cover some of its files) makes the kernel refuse a new one; the build
// then goes without /proc rather than failing.
func (b *rootBuilder) mountProc(target string) error {
	if err := makeMountpoint(b.root, "/proc", true); err != nil {
		return err
	}
	if b.noProc {
		return nil
	}
	if err := unix.Mount("proc", target, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return nil
	}
	b.haveProc = true
	if b.maxProcs > 0 && pidMaxPerNamespace() {
		// Best effort: the watchdog in runBuilder holds the limit without it.
		os.WriteFile(target+"/sys/kernel/pid_max", []byte(strconv.Itoa(kernelTaskCap(b.maxProcs)+reservedPids)), 0)
	}
	// These files act on the whole machine and check only file permissions, which a build run
	// by root passes: uid 1000 in the nested namespace is the host's uid 0.
	for _, name := range []string{"sys", "sysrq-trigger", "irq", "bus", "fs"} {
		p := target + "/" + name
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind /proc/%s: %w", name, err)
		}
		if err := remountReadOnly(p); err != nil {
			return fmt.Errorf("make /proc/%s read-only: %w", name, err)
		}
	}
	return nil
}

// readMountPoints lists the mount points in a mountinfo file, in its order (parents first).
func readMountPoints(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mps []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			return nil, fmt.Errorf("%s: malformed line %q", name, sc.Text())
		}
		mps = append(mps, unescapeOctal(fields[4]))
	}
	return mps, sc.Err()
}

// unescapeOctal undoes the kernel's \ooo escapes of spaces, tabs, newlines and backslashes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// The process limit. A build's processes are all in its pid namespace, whose pid 1 is the init,
// so the init can count them in its own /proc and end them all with kill(-1), whoever runs den.
// The kernel's own limits do not cover every case: RLIMIT_NPROC is not enforced for a build run
// by root (the kernel exempts the host's uid 0, and the builder is that uid, mapped), and a pids
// cgroup is writable only by root on most hosts, and would be left behind by a killed den.
// Counting by polling lets a fast fork bomb overshoot between two looks, so the kernel also caps
// the build's tasks (processes and threads) at kernelTaskCap where it can: RLIMIT_NPROC for a
// build of a normal user, counted per user namespace and so over the build's own tasks only, and
// on Linux 6.14 and later the pid namespace's own pid_max, for root too. A bomb of threads
// rather than processes meets only these caps: the machine is safe, and the build fails or
// hangs (build-timeout) by itself. Root on an older kernel has the watchdog alone.
const watchInterval = 50 * time.Millisecond

// errProcessLimit is runBuilder's report that the watchdog killed the build.
var errProcessLimit = errors.New("process limit exceeded")

// reservedPids are the pids below 300, which the kernel does not hand out again once a
// namespace's pids have wrapped around.
const reservedPids = 300

// kernelTaskCap is the kernel's backstop for a limit of n processes: room for threads, and for
// what a fork bomb makes between two looks of the watchdog.
func kernelTaskCap(n int) int { return 2*n + 64 }

// pidMaxPerNamespace reports whether kernel.pid_max is per pid namespace (Linux 6.14 and later).
// On older kernels it is global, and the init, which is the host's root when den runs as root,
// would set the whole machine's: it must not even try there.
func pidMaxPerNamespace() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 6 || major == 6 && minor >= 14
}

// overLimit reports whether the init's pid namespace holds more than limit processes besides
// the init. It stops reading /proc once it knows: under a fork bomb the init gets a small share
// of the CPU, and the namespace may hold twice the limit.
func overLimit(limit int) bool {
	f, err := os.Open("/proc")
	if err != nil {
		return false
	}
	defer f.Close()
	n := -1 // the init
	for {
		names, err := f.Readdirnames(512)
		for _, name := range names {
			if name != "" && name[0] >= '0' && name[0] <= '9' {
				n++
			}
		}
		if n > limit {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// startThreads makes the Go runtime start n threads, which it keeps, idle, for when it needs
// them: each goroutine holds a thread of its own until all have one. With GOMAXPROCS=1 the init
// never runs more than a few at once (one on the P, the reaper in wait4, a syscall or two).
func startThreads(n int) {
	var all sync.WaitGroup
	release := make(chan struct{})
	for range n {
		all.Add(1)
		go func() {
			runtime.LockOSThread()
			all.Done()
			<-release
			// Unlocked, the thread goes back to the runtime instead of exiting with the goroutine.
			runtime.UnlockOSThread()
		}()
	}
	all.Wait()
	close(release)
}

// watchProcesses kills every process of the build once there are more than limit, until stop
// is closed, and reports through over whether it did.
func watchProcesses(limit int, over *atomic.Bool, stop <-chan struct{}) {
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if !overLimit(limit) {
			continue
		}
		over.Store(true)
		// From pid 1, kill(-1) reaches every process of the namespace, nested ones included,
		// and a process being killed cannot fork; the repeats are for good measure. It fails
		// with ESRCH once none is left but zombies for the reaper.
		for range 50 {
			if unix.Kill(-1, unix.SIGKILL) == unix.ESRCH {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		return
	}
}

// runBuilder starts the builder without any power over the mounts, reaps every process as
// pid 1 must, and returns the builder's exit code once it exits; the init's exit then ends the
// pid namespace and every process left in it. It returns errProcessLimit when the build ran
// more than cfg.MaxProcesses processes and was killed.
func runBuilder(cfg *initConfig, haveProc bool) (int, error) {
	// Per-thread, inherited by the builder; file capabilities and setuid bits then grant nothing.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("set no_new_privs: %w", err)
	}
	cmd := &exec.Cmd{
		Path: cfg.Args[0], Args: cfg.Args, Env: cfg.Env, Dir: cfg.Dir,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	}
	// A session of its own puts the build in a scheduling group of its own where the kernel has
	// autogroups (most distributions): a fork bomb then competes with the init, whose watchdog
	// must run to stop it, as one group rather than as thousands of processes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if haveProc {
		a := cmd.SysProcAttr
		a.Cloneflags = syscall.CLONE_NEWUSER
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: builderUID, HostID: 0, Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: builderGID, HostID: 0, Size: 1}}
		a.GidMappingsEnableSetgroups = false
	} else if err := dropCapabilities(); err != nil {
		// Go writes the nested namespace's id maps through /proc, so without one the
		// builder stays uid 0 here, stripped of every capability it could gain at exec.
		return 0, err
	}
	sigs := make(chan os.Signal, 4)
	// As pid 1 the init would ignore these unless it handles them. SIGTERM and SIGHUP are
	// passed on; SIGINT and SIGQUIT come from no terminal (the build has none), and den stops a
	// build by killing the init.
	signal.Notify(sigs, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGHUP)
	// The builder inherits the cap, and its user namespace takes it as its maximum. The init
	// cannot raise its own limit again (that needs CAP_SYS_RESOURCE on the host), so it shares
	// the cap with the build, as it shares the pid namespace's pid_max, and a fork bomb can
	// reach it between two looks of the watchdog: the threads the Go runtime will want are
	// therefore started now, while it can.
	if cfg.MaxProcesses > 0 {
		startThreads(8)
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_NPROC, &lim); err != nil {
			return 0, fmt.Errorf("read the process limit: %w", err)
		}
		lim.Max = min(lim.Max, uint64(kernelTaskCap(cfg.MaxProcesses)))
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, &lim); err != nil {
			return 0, fmt.Errorf("limit the build's processes: %w", err)
		}
	}
	if err := cmd.Start(); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return 0, fmt.Errorf("start %s in %s: %w", cfg.Args[0], cfg.Dir, err)
	}
	pid := cmd.Process.Pid
	var over atomic.Bool
	stop := make(chan struct{})
	defer close(stop)
	if haveProc && cfg.MaxProcesses > 0 {
		go watchProcesses(cfg.MaxProcesses, &over, stop)
	}
	go func() {
		for sig := range sigs {
			if sig == unix.SIGTERM || sig == unix.SIGHUP {
				unix.Kill(pid, sig.(syscall.Signal))
			}
		}
	}()
	for {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait for the builder: %w", err)
		}
		if wpid == pid {
			// A builder that died of a failed fork (dash exits) leaves the rest of the bomb.
			if over.Load() || haveProc && cfg.MaxProcesses > 0 && overLimit(cfg.MaxProcesses) {
				return 0, errProcessLimit
			}
			return exitCode(ws), nil
		}
	}
}

// dropCapabilities empties this thread's bounding and inheritable sets, so that a uid 0
// builder forked from it has no capabilities after exec.
func dropCapabilities() error {
	for c := 0; c < 64; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if err == unix.EINVAL { // past the kernel's last capability
				break
			}
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("drop inheritable capabilities: %w", err)
	}
	return nil
}
