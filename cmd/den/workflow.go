package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/den-sh/den/core/emulator"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/project"
	"github.com/den-sh/den/core/resolve"
	"github.com/den-sh/den/core/version"
	"github.com/den-sh/den/envs"
	"github.com/den-sh/den/envs/activate"
	"golang.org/x/sys/unix"
)

// envFlags are the flags of the commands that enter the environment.
type envFlags struct {
	Pure   bool `help:"Keep only HOME, USER, LOGNAME, TERM, LANG, LC_*, SHELL and TZ from the outer environment; the store's shell and tools (base-tools) come last on PATH."`
	Frozen bool `help:"Use den.lock as it is; fail if it is missing or out of date."`
}

// RunCmd is den run.
type RunCmd struct {
	envFlags
	Target string   `help:"Build for another system (aarch64-linux, aarch64-darwin): its cross compilers and Go's, Cargo's, CMake's and meson's settings for it; an ELF program of that system runs under the store's QEMU user-mode emulator when this machine cannot run it." placeholder:"SYSTEM"`
	Args   []string `arg:"" optional:"" passthrough:"" name:"command" help:"A script of den.toml's [scripts] with its arguments, or -- and a command (none: list the scripts)."`
}

// listScripts is den run without a command, which says what den run can run, as npm run does:
// den.toml's [scripts], read and never run, so the project needs no allowance for it.
func (a *App) listScripts() error {
	m, err := a.Project()
	if err != nil {
		return err
	}
	if len(m.Scripts) == 0 {
		return &usageError{err: fmt.Errorf("%s has no [scripts]; den run needs -- and a command", m.Path),
			hints: []string{"den run -- go version", "add a [scripts] table to den.toml: test = \"go test ./...\""}}
	}
	names := slices.Sorted(maps.Keys(m.Scripts))
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		fmt.Fprintf(a.Stdout, "%-*s  %s\n", width, n, strings.ReplaceAll(strings.TrimSpace(m.Scripts[n]), "\n", "; "))
	}
	return nil
}

func (c *RunCmd) Run(a *App) error {
	if len(c.Args) == 0 || len(c.Args) == 1 && c.Args[0] == "--" {
		return a.listScripts()
	}
	target, err := parseTarget(c.Target)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	e, err := a.enterProject(ctx, c.Frozen, true)
	stop()
	if err != nil {
		return err
	}
	var te *targetEnv
	if target != (platform.System{}) {
		if te, err = a.targetEnv(e.root, target, c.Frozen); err != nil {
			return err
		}
		a.noteTarget(te)
	}
	vars, scripts := e.vars, e.scripts
	// "den run -- CMD" runs a command; "den run NAME" runs the script NAME if there is one.
	argv := c.Args
	explicit := len(argv) > 0 && argv[0] == "--"
	if explicit {
		argv = argv[1:]
	}
	if script, ok := scripts[argv[0]]; ok && !explicit {
		argv = scriptArgv(script, argv)
	}
	childEnv := childEnv(vars, c.Pure)
	if c.Pure {
		childEnv = a.withPureTools(childEnv)
	}
	if te != nil {
		childEnv = envs.Apply(childEnv, te.vars)
	}
	path, err := lookPathIn(argv[0], childEnv)
	if err != nil {
		return err
	}
	if path, argv, err = a.emulate(e.root, target, te, path, argv, c.Frozen); err != nil {
		return err
	}
	// The environment is rooted by the project's generation, so den can step aside: the
	// command gets den's pid, terminal, signals and exit status as they are.
	if a.cleanup != nil {
		a.cleanup()
	}
	return fmt.Errorf("exec %s: %w", path, syscall.Exec(path, argv, childEnv))
}

// emulators realizes the emulator package (core/emulator.Package) for this machine and returns
// its store path: as den.lock of the project at root has it, when it does (den add qemu-user,
// or a [targets] table of den.toml);
// else resolved now, as den build resolves a package den.toml does not have, which --frozen
// refuses (the emulator would not be the one den.lock pins).
func (a *App) emulators(root string, target platform.System, frozen bool) (string, error) {
	ctx, stop := signalContext()
	defer stop()
	sys := platform.Current()
	if p := lockedFor(root, emulator.Package, sys, target); p != nil && p.Target == "" {
		return a.realizeLocked(ctx, nil, p, sys, false)
	}
	if frozen {
		return "", &usageError{err: fmt.Errorf("--frozen: den.lock has no %s for %s, the emulator den run --target runs other systems' programs with", emulator.Package, sys),
			hints: []string{fmt.Sprintf("a [targets.%s] table in den.toml locks it in den.lock (den sync), as den add %s does", target, emulator.Package)}}
	}
	out, err := a.buildPackage(ctx, emulator.Package, sys, false)
	if err != nil {
		return "", fmt.Errorf("--target: the emulator (%s): %w", emulator.Package, err)
	}
	return out, nil
}

// emulate returns the program at path with its argv as they run for target: under the store's
// emulator when it is a program of target this machine cannot run (a system QEMU cannot run,
// macOS, is only built for: its programs are not run), else as they are — a script, or one of
// this machine's programs (binfmt_misc is never assumed).
func (a *App) emulate(root string, target platform.System, te *targetEnv, path string, argv []string, frozen bool) (string, []string, error) {
	if _, err := emulator.Program(target); err != nil || !emulator.Needed(target, platform.Current()) {
		return path, argv, nil
	}
	foreign, err := emulator.IsTarget(path, target)
	if err != nil || !foreign {
		return path, argv, err
	}
	// The target's environment realized it already, unless it could not (then this says why,
	// and fails).
	emulators := ""
	if te != nil {
		emulators = te.emulators
	}
	if emulators == "" {
		if emulators, err = a.emulators(root, target, frozen); err != nil {
			return "", nil, err
		}
	}
	wrapped, _, err := emulator.Wrap(argv, path, target, emulators)
	if err != nil {
		return "", nil, err
	}
	return wrapped[0], wrapped, nil
}

// fastRun is den run for an unchanged project, before the command line parser is even built:
// running a command is den's most frequent job and its overhead is measured against running the
// command directly. It handles only the plain forms (den run [--frozen] -- CMD…, den run
// SCRIPT…) and returns, having done nothing, whenever anything else is asked or anything is off.
func fastRun(args []string) { activate.FastRun(args) }

// scriptArgv runs a [scripts] entry with sh, its arguments appended as "$@".
func scriptArgv(script string, args []string) []string { return activate.ScriptArgv(script, args) }

// EnvCmd is den env.
type EnvCmd struct {
	JSON   bool   `help:"Print a JSON object of the variables' values."`
	Shell  string `enum:",bash,zsh,fish" default:"" help:"Print code that sets the variables in this shell (bash, zsh, fish)."`
	Frozen bool   `help:"Use den.lock as it is; fail if it is missing or out of date."`
	Target string `help:"The environment of a build for another system (aarch64-linux, aarch64-darwin): its cross compilers and Go's, Cargo's, CMake's and meson's settings for it." placeholder:"SYSTEM"`
}

func (c *EnvCmd) Run(a *App) error {
	ctx, stop := signalContext()
	defer stop()
	// den env is what scripts and direnv's use den read: it never asks, and an unallowed
	// project gets nothing exported, only the reason on stderr.
	target, err := parseTarget(c.Target)
	if err != nil {
		return err
	}
	env, err := a.enterProject(ctx, c.Frozen, false)
	if err != nil {
		return err
	}
	if target != (platform.System{}) {
		te, err := a.targetEnv(env.root, target, c.Frozen)
		if err != nil {
			return err
		}
		a.noteTarget(te)
		env.vars = append(env.vars, te.vars...)
	}
	final := map[string]string{}
	for _, kv := range envs.Apply(os.Environ(), env.vars) {
		k, v, _ := strings.Cut(kv, "=")
		final[k] = v
	}
	names := make([]string, 0, len(env.vars))
	seen := map[string]bool{}
	for _, v := range env.vars {
		if !seen[v.Name] {
			seen[v.Name] = true
			names = append(names, v.Name)
		}
	}
	if c.JSON {
		out := map[string]string{}
		for _, n := range names {
			out[n] = final[n]
		}
		enc := json.NewEncoder(a.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, n := range names {
		switch c.Shell {
		case "fish":
			if n == "PATH" || strings.HasSuffix(n, "PATH") {
				fmt.Fprintf(a.Stdout, "set -gx %s", n)
				for _, e := range filepath.SplitList(final[n]) {
					fmt.Fprintf(a.Stdout, " %s", fishQuote(e))
				}
				fmt.Fprintln(a.Stdout, ";")
			} else {
				fmt.Fprintf(a.Stdout, "set -gx %s %s;\n", n, fishQuote(final[n]))
			}
		default:
			fmt.Fprintf(a.Stdout, "export %s=%s;\n", n, shQuote(final[n]))
		}
	}
	return nil
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// AddCmd is den add.
type AddCmd struct {
	systemsFlag
	Packages []string `arg:"" name:"package" help:"Packages, with an optional version: node@20, gopls, npm:prettier@3."`
}

func (c *AddCmd) Run(a *App) error {
	err := a.editProject(func(path string, data []byte) ([]byte, error) {
		ix, err := index.Load()
		if err != nil {
			return nil, err
		}
		if data, err = c.apply(path, data); err != nil {
			return nil, err
		}
		for _, ref := range c.Packages {
			name, constraint := version.SplitRef(ref)
			e, err := ix.Lookup(name)
			if err != nil {
				return nil, &usageError{err: err}
			}
			// A bare name adds the newest version, but keeps the constraint of a package
			// den.toml has already: den add node must not turn node = "22" into "latest".
			if name == strings.TrimSpace(ref) {
				if m, err := manifest.Parse(path, data); err == nil {
					if pkg, ok := projectPackage(m, name); ok {
						if !a.Globals.Quiet {
							fmt.Fprintf(a.Stderr, "%s is in den.toml already, as %q; den add %s@VERSION changes it\n", name, pkg.Version, name)
						}
						continue
					}
				}
			}
			if _, err := e.Constraint(constraint); err != nil {
				return nil, &usageError{err: fmt.Errorf("%s: %w", name, err)}
			}
			if data, err = manifest.AddPackage(path, data, name, constraint); err != nil {
				return nil, err
			}
		}
		return data, nil
	}, nil)
	if err == nil {
		c.report(a)
	}
	return err
}

// RmCmd is den rm.
type RmCmd struct {
	Packages []string `arg:"" name:"package" help:"Packages to remove from den.toml."`
}

func (c *RmCmd) Run(a *App) error {
	return a.editProject(func(path string, data []byte) (out []byte, err error) {
		out = data
		for _, name := range c.Packages {
			if out, err = manifest.RemovePackage(path, out, name); err != nil {
				return nil, err
			}
		}
		return out, nil
	}, nil)
}

// UpdateCmd is den update.
type UpdateCmd struct {
	systemsFlag
	Packages []string `arg:"" optional:"" name:"package" help:"Packages to re-resolve (default: all)."`
}

func (c *UpdateCmd) Run(a *App) error {
	update := c.Packages
	if len(update) == 0 {
		update = []string{"*"}
	}
	var edit func(path string, data []byte) ([]byte, error)
	if c.Systems != "" {
		edit = c.apply
	}
	if err := a.editProject(edit, update); err != nil {
		return err
	}
	c.report(a)
	// An update that asked nobody says so: a release made since is found with --refresh.
	if r := a.resolver; r != nil && r.Reused() > 0 && !a.Globals.Offline && !a.Globals.Quiet {
		fmt.Fprintf(a.Stderr, "den: resolutions den made in the last %s were reused; den update --refresh asks the registries again\n", durationText(r.TTL))
	}
	return nil
}

// durationText spells a duration of config.toml the way a sentence would: "hour", "10 minutes".
func durationText(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "hour"
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

// editProject applies edit to den.toml (if any), re-locks (re-resolving update), realizes the
// result, and only then writes den.toml and den.lock, as one change: a failure anywhere leaves
// both as they were, and the project's lock keeps two edits from losing one another.
func (a *App) editProject(edit func(path string, data []byte) ([]byte, error), update []string) error {
	ctx, stop := signalContext()
	defer stop()
	m, unlock, err := a.changeProject(ctx, true, true)
	if err != nil {
		return err
	}
	defer unlock()
	path := filepath.Join(m.Root, manifest.FileName)
	orig, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var data []byte
	// Packages the command line adds or changes are not at any line of den.toml yet: their
	// errors name no position (see below).
	fromCommandLine := map[string]bool{}
	if edit != nil {
		before := map[string]string{}
		for _, p := range m.Packages {
			before[p.Name] = p.Version
		}
		if data, err = edit(m.Path, orig); err != nil {
			return err
		}
		if m, err = manifest.Parse(m.Path, data); err != nil {
			return err
		}
		for _, p := range m.Packages {
			if v, ok := before[p.Name]; !ok || v != p.Version {
				fromCommandLine[p.Name] = true
			}
		}
	}
	for _, name := range update {
		if name != "*" && !containsPackage(m, name) {
			return &usageError{err: fmt.Errorf("no package %q in den.toml", name)}
		}
	}
	f, changes, err := a.lockProject(ctx, m, false, false, update)
	var pe *resolve.PackageError
	if errors.As(err, &pe) && fromCommandLine[pe.Name] {
		pe.File = ""
	}
	if err != nil {
		return err
	}
	env, err := a.compose(ctx, m, f)
	if err != nil {
		return err
	}
	if err := a.commitProject(m.Root, data, f); err != nil {
		return err
	}
	if err := a.switchTo(m, env); err != nil {
		return err
	}
	a.printChanges(changes)
	return nil
}

func containsPackage(m *manifest.Manifest, name string) bool {
	for _, p := range m.Packages {
		if p.Name == name {
			return true
		}
	}
	return false
}

// XCmd is den x.
type XCmd struct {
	Target   string   `help:"Run for another system (aarch64-linux, aarch64-darwin): the packages' tools with the cross compilers and Go's, Cargo's, CMake's and meson's settings for it; a program of that system runs under the store's QEMU." placeholder:"SYSTEM"`
	Packages []string `arg:"" name:"package" help:"Packages with optional versions, then -- and the command." passthrough:""`
}

func (c *XCmd) Run(a *App) error {
	var refs, argv []string
	for i, arg := range c.Packages {
		if arg == "--" {
			argv = c.Packages[i+1:]
			break
		}
		refs = append(refs, arg)
	}
	if len(refs) == 0 || len(argv) == 0 {
		return &usageError{err: errors.New("den x needs packages, then -- and a command"),
			hints: []string{"den x node@22 -- node --version"}}
	}
	target, err := parseTarget(c.Target)
	if err != nil {
		return err
	}
	r, err := a.Resolver()
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	f := &lock.File{Version: lock.FormatVersion}
	var names []string
	for _, ref := range refs {
		p, err := r.LockRef(ctx, ref, []platform.System{platform.Current()})
		if err != nil {
			return err
		}
		f.Put(p)
		names = append(names, p.Name)
	}
	prof, err := a.realizeEnvironment(ctx, f, names, "den-x-env")
	if err != nil {
		return err
	}
	vars, err := envs.Variables(prof.Path, prof.Packages, nil, "", os.Getenv)
	if err != nil {
		return err
	}
	var te *targetEnv
	if target != (platform.System{}) {
		// No project: what the target needs is resolved now, as den x resolves its packages.
		if te, err = a.targetEnv("", target, false); err != nil {
			return err
		}
		a.noteTarget(te)
	}
	// The launcher runs the next den x of these refs from this, while the resolutions last
	// (a --target's is den-core's).
	if cfg, err := a.Config(); err == nil && r.TTL > 0 && te == nil {
		activate.WriteXStamp(cfg.StateDir, cfg.StoreState, cfg.File, refs, string(prof.Path), r.ResolvedAt(), r.TTL)
	}
	env := childEnv(vars, false)
	if te != nil {
		env = envs.Apply(env, te.vars)
	}
	path, err := lookPathIn(argv[0], env)
	if err != nil {
		return err
	}
	if path, argv, err = a.emulate("", target, te, path, argv, false); err != nil {
		return err
	}
	// den stays, holding the environment as temp roots while the command runs.
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args, cmd.Env = argv, env
	return runChild(cmd, false)
}

// runChild runs cmd on den's terminal and returns its exit status as an exitError (128+N when
// signal N killed it). den passes on the signals sent to it, but not the keyboard's when the
// terminal sends them to the child already: a program that asks for a second Ctrl-C (node's
// REPL) would get two. An interactive child (a shell) owns the keyboard's signals: Ctrl-C
// interrupts what runs in it, never den. den catches rather than ignores them, as a child
// inherits an ignored signal and the shell would pass that on to every command it runs.
func runChild(cmd *exec.Cmd, interactive bool) error {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	forward := []os.Signal{syscall.SIGTERM, syscall.SIGHUP}
	keyboard := []os.Signal{syscall.SIGINT, syscall.SIGQUIT}
	if interactive || inTerminalForeground() {
		if interactive {
			keyboard = append(keyboard, syscall.SIGTSTP) // Ctrl-Z stops a job of the shell, not den
		}
		caught := make(chan os.Signal, 4)
		signal.Notify(caught, keyboard...)
		defer signal.Stop(caught)
	} else {
		forward = append(forward, keyboard...)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, forward...)
	defer signal.Stop(sigs)
	done := inForeground()
	defer done()
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &exitError{code: 128 + int(ws.Signal())}
		}
		return &exitError{code: ee.ExitCode()}
	}
	return err
}

// inTerminalForeground reports whether den's process group owns the terminal on its stdin, so
// that the keyboard's signals reach den's children without den's help.
func inTerminalForeground() bool {
	pgrp, err := unix.IoctlGetInt(int(os.Stdin.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == syscall.Getpgrp()
}

// GenerationsCmd is den generations.
type GenerationsCmd struct {
	JSON bool `help:"Print JSON."`
}

func (c *GenerationsCmd) Run(a *App) error {
	m, err := a.Project()
	if err != nil {
		return err
	}
	gens, err := envs.List(m.Root)
	if err != nil {
		return err
	}
	if c.JSON {
		return json.NewEncoder(a.Stdout).Encode(gens)
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i].Number < gens[j].Number })
	for _, g := range gens {
		mark := " "
		if g.Current {
			mark = "*"
		}
		names := ""
		if p, err := envs.ReadProfile(g.Profile); err == nil {
			var parts []string
			for _, pkg := range p.Packages {
				parts = append(parts, pkg.Name+" "+versionOf(pkg.Out))
			}
			names = strings.Join(parts, ", ")
		}
		fmt.Fprintf(a.Stdout, "%s %3d  %s  %s\n", mark, g.Number, g.Time.Format("2006-01-02 15:04:05"), names)
	}
	return nil
}

// versionOf reads a version from a store name like "go-1.22.3".
func versionOf(p interface{ Name() string }) string {
	n := p.Name()
	if i := strings.LastIndexByte(n, '-'); i >= 0 {
		return n[i+1:]
	}
	return n
}

// RollbackCmd is den rollback.
type RollbackCmd struct {
	Generation int `arg:"" optional:"" help:"Generation to switch to (default: the previous one)."`
}

func (c *RollbackCmd) Run(a *App) error {
	ctx, stop := signalContext()
	defer stop()
	m, unlock, err := a.changeProject(ctx, true, true)
	if err != nil {
		return err
	}
	defer unlock()
	s, err := a.Store()
	if err != nil {
		return err
	}
	g, err := envs.Rollback(s, m.Root, c.Generation)
	if err != nil {
		return err
	}
	// The generation's den.toml and den.lock come back with its tools; otherwise the next den
	// run would sync straight back to the files as they are. The allowance is not carried
	// over: a generation is made only from allowed files, which therefore stay allowed
	// (envs.Trust remembers them), while copies den did not make wait for a den allow.
	files := map[string][]byte{}
	for _, name := range []string{manifest.FileName, lock.FileName} {
		data, err := project.ReadStateFile(m.Root, snapshotName(g.Number, name), maxProjectFile)
		if err != nil {
			continue
		}
		files[name] = data
	}
	if len(files) > 0 {
		cfg, err := a.Config()
		if err != nil {
			return err
		}
		if err := envs.CommitFiles(cfg.StateDir, m.Root, files, false); err != nil {
			return err
		}
		fmt.Fprintf(a.Stderr, "switched to generation %d; den.toml and den.lock restored\n", g.Number)
	} else {
		fmt.Fprintf(a.Stderr, "switched to generation %d\n", g.Number)
	}
	return nil
}

// maxProjectFile bounds a den.toml or den.lock den reads back from its own copies.
const maxProjectFile = 64 << 20
