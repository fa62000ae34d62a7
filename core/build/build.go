// Package build realizes derivations into the store: it realizes their inputs first (in
// parallel, bounded), then downloads fixed-output sources with verified hashes or runs build
// scripts in the sandbox, and publishes each result through the store's lock-recheck-publish path.
package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/den-sh/den/core/archive"
	"github.com/den-sh/den/core/debunit"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/fetch"
	"github.com/den-sh/den/core/gomod"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/npm"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/progress"
	"github.com/den-sh/den/core/sandbox"
	"github.com/den-sh/den/core/scratch"
	"github.com/den-sh/den/core/stdenv"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// Builder realizes derivations.
type Builder struct {
	Store     *store.Store
	Sandbox   sandbox.Mode
	Cores     int
	PrintLogs bool               // stream build logs to Progress's writer
	Progress  *progress.Reporter // progress and log lines (stderr); nil for silence
	Client    *http.Client
	Resolve   func(*url.URL) ([]string, error) // mirror:// schemes
	// Auth gives the Authorization header for a download URL (a private npm registry's token
	// from .npmrc), or "".
	Auth func(url string) string
	// GoModules opens the Go module proxy client, on first need: realizing a lock that holds no
	// Go module must not require Go's configuration.
	GoModules func() (*gomod.Client, error)
	// NPM reads npm's configuration, on first need, for the registry a recipe's npm-deps-hash
	// tree is fetched from.
	NPM       func() (*npm.Config, error)
	TempRoots *store.TempRoots
	// Jobs bounds how many downloads and builds run at once.
	Jobs int
	// Substitute, when set, is asked for every path before it is fetched or built; it makes the
	// path valid from a binary cache, references included, and reports whether it could. A
	// derivation whose output substitutes needs none of its inputs.
	Substitute func(ctx context.Context, p storepath.Path) (bool, error)
	// Realized, when set, is told of every derivation whose output this process built or fetched
	// from upstream (not one substituted or found valid), once the output is published: push
	// after build queues them. It must not block.
	Realized func(d *derivation.Derivation)
	// NoBuild forbids building and fetching from upstream: a path that does not substitute is an
	// error naming its package.
	NoBuild bool
	// Timeout ends a build script that runs longer (build-timeout in config.toml); 0 means never.
	Timeout time.Duration
	// MaxProcesses bounds the processes of a sandboxed build (build-max-processes in
	// config.toml); 0 means sandbox.DefaultMaxProcesses.
	MaxProcesses int
	// System is the machine builds run on; the zero value means platform.Current(). A native
	// derivation for another system is refused rather than built here (see derivation.Native).
	System platform.System

	mu       sync.Mutex
	inflight map[storepath.Path]*call
	mode     sandbox.Mode
	sem      chan struct{}
}

type call struct {
	done chan struct{}
	err  error
}

// Error is a failed build, with the tail of its log.
type Error struct {
	Name    string
	Err     error
	Tail    []string
	LogFile string
}

func (e *Error) Error() string {
	var te *sandbox.TimeoutError
	var pe *sandbox.ProcessLimitError
	switch {
	case errors.As(e.Err, &te):
		return fmt.Sprintf("build of %s timed out after %s (build-timeout in config.toml)", e.Name, sandbox.FormatDuration(te.After))
	case errors.As(e.Err, &pe):
		return fmt.Sprintf("build of %s exceeded the process limit of %d (build-max-processes in config.toml)", e.Name, pe.Limit)
	}
	return fmt.Sprintf("build of %s failed: %v", e.Name, e.Err)
}
func (e *Error) Unwrap() error { return e.Err }

// NoBuildError is a path that no cache could provide while building was forbidden.
type NoBuildError struct {
	Name string
	Path storepath.Path
	// Asked says whether any cache was asked; the reasons a cache's copy was refused were
	// reported as they were found.
	Asked bool
}

func (e *NoBuildError) Error() string {
	if !e.Asked {
		return fmt.Sprintf("%s is not in the store, no binary cache is configured, and --no-build forbids building it", e.Name)
	}
	return fmt.Sprintf("no binary cache has a usable copy of %s (%s), and --no-build forbids building it", e.Name, e.Path)
}

// Hints say how to get the path anyway.
func (e *NoBuildError) Hints() []string {
	if !e.Asked {
		return []string{"add a cache: substituters and trusted-public-keys in config.toml or den.toml's [caches]", "or run without --no-build to build it here"}
	}
	return []string{"run without --no-build to build it here (den cache push can then share it)"}
}

// CrossError refuses to build a native derivation (a recipe, a Debian unit) for another system
// than the one den runs on: a recipe's compiler would produce this machine's code under the other
// system's path, and a Debian unit's patchelf is a program of the other system.
type CrossError struct {
	Name   string // the package, without its version
	System string // what it was asked for
	On     string // the machine den runs on
	// Debian says the derivation is a unit of Debian's binaries, relocated by the patchelf
	// of Debian's archive for its own system, which cannot run here.
	Debian bool
}

func (e *CrossError) Error() string {
	if e.Debian {
		return fmt.Sprintf("%s is made of Debian's packages for %s, relocated with that system's own patchelf, and cannot be made on %s", e.Name, e.System, e.On)
	}
	return fmt.Sprintf("%s is built from source and cannot be built for %s on %s; cross-compilation is not supported yet", e.Name, e.System, e.On)
}

// Hints say how to get the output anyway.
func (e *CrossError) Hints() []string {
	return []string{
		fmt.Sprintf("build it on %s itself and share it with den cache push: den build --system %s then substitutes it from the cache", e.System, e.System),
	}
}

// Realize makes d.Out valid, realizing what it needs first, and returns whether anything was
// built or downloaded.
func (b *Builder) Realize(ctx context.Context, d *derivation.Derivation) error {
	b.mu.Lock()
	b.start()
	if c, ok := b.inflight[d.Out]; ok {
		b.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c := &call{done: make(chan struct{})}
	b.inflight[d.Out] = c
	b.mu.Unlock()
	c.err = b.realize(ctx, d)
	close(c.done)
	return c.err
}

// start sets the builder up on first use; callers hold b.mu.
func (b *Builder) start() {
	if b.inflight != nil {
		return
	}
	b.inflight = map[storepath.Path]*call{}
	jobs := b.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	b.sem = make(chan struct{}, jobs)
	// What builds of a killed den left; see makeBuildDir.
	scratch.Sweep(b.buildsDir(), "")
}

func (b *Builder) realize(ctx context.Context, d *derivation.Derivation) error {
	if err := b.TempRoots.Add(d.Out); err != nil {
		return err
	}
	if ok, err := b.Store.IsValid(d.Out); err != nil || ok {
		return err
	}
	// A cache first, fixed-output fetches included: a cache is usually nearer than upstream, and
	// a substituted output needs none of its inputs.
	if b.Substitute != nil {
		ok, err := b.Substitute(ctx, d.Out)
		if err != nil {
			return fmt.Errorf("substituting %s: %w", d.Name, err)
		}
		if ok {
			return nil
		}
	}
	if b.NoBuild {
		return &NoBuildError{Name: d.Name, Path: d.Out, Asked: b.Substitute != nil}
	}
	if err := b.checkNative(d); err != nil {
		return err
	}
	if err := b.realizeNeeds(ctx, d); err != nil {
		return err
	}
	release, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	if d.IsFixed() {
		made, err := b.Store.Ensure(d.Out, func(tmp string) (string, store.Publish, error) {
			if d.Builder == derivation.BuilderGoVendor || d.Builder == derivation.BuilderNPMDeps {
				h, err := hash.Parse(d.OutputHash, "")
				if err != nil {
					return "", store.Publish{}, err
				}
				produce := b.vendor
				if d.Builder == derivation.BuilderNPMDeps {
					produce = b.npmDeps
				}
				return tmp, store.Publish{CA: "fixed:r:" + h.String(), WantNarHash: &h}, produce(ctx, d, tmp)
			}
			if d.Builder == derivation.BuilderFetch {
				h, err := hash.Parse(d.OutputHash, "")
				if err != nil {
					return "", store.Publish{}, err
				}
				return tmp, store.Publish{CA: "fixed:" + h.String()}, b.fetch(ctx, d, tmp)
			}
			return tmp, store.Publish{CA: d.Builder + ":" + d.OutputHash}, b.fetchGo(ctx, d, tmp)
		})
		if err == nil && made && b.Realized != nil {
			b.Realized(d)
		}
		return err
	}
	drv := d.Encode()
	drvPath, err := storepath.Text(b.Store.Dir, hash.Sum(hash.SHA256, drv), d.Name+".drv", d.References())
	if err != nil {
		return err
	}
	made, err := b.Store.Ensure(d.Out, func(tmp string) (string, store.Publish, error) {
		build := b.build
		switch d.Builder {
		case derivation.BuilderDebUnit:
			build = b.buildDebUnit
		case derivation.BuilderCCWrapper:
			build = b.writeWrapper
		}
		where, opt, err := build(ctx, d, tmp)
		opt.Deriver = drvPath
		return where, opt, err
	})
	if err != nil {
		return err
	}
	// The derivation is stored only beside a published output, so a failed build leaves the
	// store as it was.
	if _, err = b.Store.AddText(d.Name+".drv", drv, d.References()); err != nil {
		return err
	}
	if made && b.Realized != nil {
		b.Realized(d)
	}
	return nil
}

// checkNative refuses a native derivation for another system, before its inputs are fetched.
func (b *Builder) checkNative(d *derivation.Derivation) error {
	on := b.System
	if on == (platform.System{}) {
		on = platform.Current()
	}
	if !d.Native || d.IsFixed() || d.System == on.String() {
		return nil
	}
	if d.Builder == derivation.BuilderDebUnit {
		// A unit's name carries the upstream version, not the Debian one it has (greet-1.0).
		return &CrossError{Name: d.Name, System: d.System, On: on.String(), Debian: true}
	}
	return &CrossError{Name: strings.TrimSuffix(d.Name, "-"+d.Version), System: d.System, On: on.String()}
}

// realizeNeeds realizes the inputs of d, side by side.
func (b *Builder) realizeNeeds(ctx context.Context, d *derivation.Derivation) error {
	errs := make([]error, len(d.Needs))
	var wg sync.WaitGroup
	for i, n := range d.Needs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.Realize(ctx, n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// acquire takes one of the builder's job slots.
func (b *Builder) acquire(ctx context.Context) (release func(), err error) {
	select {
	case b.sem <- struct{}{}:
		return func() { <-b.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *Builder) logf(format string, args ...any) { b.Progress.Logf(format, args...) }

func (b *Builder) fetch(ctx context.Context, d *derivation.Derivation, tmp string) error {
	want, err := hash.Parse(d.OutputHash, "")
	if err != nil {
		return err
	}
	task := b.Progress.Start("downloading", d.Name, 0)
	defer task.Done()
	var header http.Header
	if b.Auth != nil {
		if v := b.Auth(d.URLs[0]); v != "" {
			header = http.Header{"Authorization": {v}}
		}
	}
	res, err := fetch.Fetch(ctx, fetch.Request{
		URLs: d.URLs, Hash: want, Dir: filepath.Dir(tmp), Client: b.Client, Resolve: b.Resolve,
		Progress: task.Set, Header: header,
	})
	if err != nil {
		return err
	}
	// An archive the build will unpack is checked before it enters the store, by reading it
	// through without writing it out: the build's unpack is the only one.
	if d.Unpack {
		if err := archive.Check(res.Path, archive.Limits{}); err != nil && !errors.Is(err, archive.ErrUnknownFormat) {
			os.Remove(res.Path)
			return err
		}
	}
	return os.Rename(res.Path, tmp)
}

// fetchGo downloads a Go module (or toolchain, or go.mod) through the module proxies and checks
// it against the h1: hash the lock recorded from the checksum database before unpacking it.
func (b *Builder) fetchGo(ctx context.Context, d *derivation.Derivation, tmp string) error {
	if b.GoModules == nil {
		return fmt.Errorf("%s: no Go module proxy is configured", d.Name)
	}
	client, err := b.GoModules()
	if err != nil {
		return err
	}
	what := d.Module + "@" + d.ModVersion
	if d.Builder == derivation.BuilderGoMod {
		what += " go.mod"
	}
	task := b.Progress.Start("downloading", what, 0)
	defer task.Done()
	ctx = gomod.WithProgress(ctx, func(n int64) { task.Set(n, 0) })
	if d.Builder == derivation.BuilderGoMod {
		data, err := client.GoMod(ctx, d.Module, d.ModVersion)
		if err != nil {
			return err
		}
		if err := gomod.VerifyMod(data, d.OutputHash); err != nil {
			return err
		}
		return os.WriteFile(tmp, data, 0o444)
	}
	zipFile := tmp + ".zip"
	defer os.Remove(zipFile)
	if err := client.DownloadZip(ctx, d.Module, d.ModVersion, zipFile); err != nil {
		return err
	}
	return gomod.UnzipVerified(zipFile, d.Module, d.ModVersion, tmp, d.OutputHash, d.Builder == derivation.BuilderGoToolchain)
}

// build runs the script of d. In the sandbox the output is assembled at tmp and appears to the
// script at its final path; without one, the script must write the final path itself, so the
// build runs in place (under the path's lock, and unregistered until published).
func (b *Builder) build(ctx context.Context, d *derivation.Derivation, tmp string) (string, store.Publish, error) {
	switch d.Builder {
	case derivation.BuilderUnion:
		return b.buildUnion(d, tmp)
	}
	mode, err := b.sandboxMode()
	if err != nil {
		return tmp, store.Publish{}, err
	}
	run := scriptRun{out: string(d.Out), outHost: tmp}
	if mode == sandbox.ModeOff {
		run.outHost = string(d.Out)
	}
	candidates, err := b.runScript(ctx, d, mode, run)
	return run.outHost, store.Publish{Candidates: candidates}, err
}

// scriptRun says where one run of a derivation's script leaves its output.
type scriptRun struct {
	out     string // $out as the script sees it
	outHost string // where the output is written on the host (out itself without a sandbox)
	logTag  string // added to the log file's name, so a check keeps the build's log
	network bool   // a fixed-output build that fetches
}

// runScript runs the script of d and returns the store paths its output may reference.
func (b *Builder) runScript(ctx context.Context, d *derivation.Derivation, mode sandbox.Mode, run scriptRun) ([]storepath.Path, error) {
	outHost := run.outHost
	// $out exists as an empty directory when the script starts: in the sandbox it is a mount point.
	if err := os.Mkdir(outHost, 0o755); err != nil {
		return nil, err
	}
	top, err := b.makeBuildDir(d)
	if err != nil {
		return nil, err
	}
	defer top.Remove()
	buildDir := filepath.Join(top.Path, "build")
	work, err := b.unpack(d, buildDir)
	if err != nil {
		return nil, err
	}
	closure, err := b.Store.Closure(d.References()...)
	if err != nil {
		return nil, err
	}
	var inputs []string
	var candidates []storepath.Path
	for _, c := range closure {
		inputs = append(inputs, string(c.Path))
		candidates = append(candidates, c.Path)
	}
	// In the sandbox the build dir appears at a fixed path, so that no random path of the host
	// ends up in an output; the script is told where it is.
	seen := buildDir
	if mode != sandbox.ModeOff {
		seen = sandboxBuildPath
	}
	inside := func(p string) string { return seen + strings.TrimPrefix(p, buildDir) }
	toolsBin := filepath.Join(buildDir, ".den", "bin")
	if err := os.MkdirAll(toolsBin, 0o755); err != nil {
		return nil, err
	}
	var shell string
	for _, t := range d.HostTools {
		if err := os.Symlink(t.Path, filepath.Join(toolsBin, t.Name)); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if t.Name == "bash" && !d.Stdenv {
			shell = t.Path
		}
	}
	var setup map[string]string
	var links map[string]string
	if d.Stdenv {
		if shell, err = stdenvShell(d, closure); err != nil {
			return nil, err
		}
		triplet, err := stdenv.Triplet(d.Host)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.Name, err)
		}
		libs := programInputs(d)
		if d.Host != d.System {
			// A cross build compiles against the target's libraries alone: the stdenv's own
			// headers and libraries are the build machine's.
			if libs, err = targetInputs(d); err != nil {
				return nil, err
			}
		}
		setup = stdenv.SetupEnv(pathStrings(libs), triplet)
		delete(setup, "PATH") // computed below, with the host tools
		setup["DEN_ENFORCE_PURITY"] = "1"
		links = map[string]string{"/bin/sh": shell, "/bin/bash": shell}
		if env := findProgram(programInputs(d), "env"); env != "" {
			links["/usr/bin/env"] = env
		}
	}
	if shell == "" {
		return nil, fmt.Errorf("%s: no bash among the host tools", d.Name)
	}
	script := filepath.Join(buildDir, ".den", "build.sh")
	if err := os.WriteFile(script, []byte(d.Script+"\n"), 0o644); err != nil {
		return nil, err
	}
	var path []string
	targets, err := targetInputs(d)
	if err != nil {
		return nil, err
	}
	for _, in := range programInputs(d) {
		if slices.Contains(targets, in) {
			continue // the target's programs do not run here
		}
		if fi, err := os.Stat(filepath.Join(string(in), "bin")); err == nil && fi.IsDir() {
			path = append(path, filepath.Join(string(in), "bin"))
		}
	}
	if len(d.HostTools) > 0 {
		path = append(path, inside(toolsBin))
	}
	cores := b.Cores
	if cores <= 0 {
		cores = runtime.NumCPU()
	}
	env := map[string]string{}
	for k, v := range setup {
		env[k] = v
	}
	for k, v := range d.Env {
		env[k] = v
	}
	for k, v := range map[string]string{
		"out": run.out, "src": string(d.Src), "name": d.Name, "version": d.Version,
		"system": d.System, "HOME": "/homeless-shelter", "TMPDIR": seen, "TMP": seen,
		"TEMP": seen, "TERM": "dumb", "PATH": strings.Join(path, ":"),
		"DEN_BUILD_CORES": strconv.Itoa(cores), "DEN_BUILD_TOP": seen,
		"DEN_INPUTS": strings.Join(pathStrings(d.Inputs), " "), "SOURCE_DATE_EPOCH": "315532800",
		"LC_ALL": "C", "TZ": "UTC", "NIX_STORE": b.Store.Dir,
	} {
		env[k] = v
	}
	if len(d.GoModules) > 0 {
		goEnv, err := prepareGoProxy(d.GoModules, buildDir, seen)
		if err != nil {
			return nil, fmt.Errorf("%s: preparing its Go modules: %w", d.Name, err)
		}
		for k, v := range goEnv {
			env[k] = v
		}
		// The go command finds its GOROOT from its own path, the toolchain in the store.
		delete(env, "GOROOT")
	}
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	sort.Strings(envList)

	logFile, w, tail, done, err := b.buildLog(d, run.logTag)
	if err != nil {
		return nil, err
	}
	defer done()
	var hostPaths []string // nil: the host's /usr, /bin, /lib for host tools
	if d.Stdenv && len(d.HostTools) == 0 {
		hostPaths = []string{}
	}
	buildPath := ""
	if mode != sandbox.ModeOff {
		buildPath = sandboxBuildPath
	}
	err = sandbox.Run(ctx, sandbox.Spec{
		Args:      []string{shell, "--noprofile", "--norc", "-e", "-o", "pipefail", inside(script)},
		Env:       envList,
		Dir:       work,
		BuildDir:  buildDir,
		BuildPath: buildPath,
		HostPaths: hostPaths,
		Links:     links,
		StoreDir:  b.Store.Dir,
		Inputs:    inputs,
		OutPath:   run.out,
		OutTemp:   outHost,
		RootDir:   filepath.Join(top.Path, "root"),
		Stdout:    w,
		Stderr:    w,
		Mode:      mode,

		Network:      run.network,
		MaxProcesses: b.MaxProcesses,
		Timeout:      b.Timeout,
	})
	if err != nil {
		return nil, &Error{Name: d.Name, Err: err, Tail: tail.lines(), LogFile: logFile}
	}
	return candidates, nil
}

// buildDebUnit relocates the .debs of a Debian unit into tmp (core/debunit). It runs in den's
// own process, not the sandbox: it reads only its inputs, writes only tmp, and runs only the
// store's patchelf, with an empty environment. References are scanned for among the closure of
// its inputs, so the dependency units that RUNPATHs, interpreters and links name are registered.
func (b *Builder) buildDebUnit(ctx context.Context, d *derivation.Derivation, tmp string) (string, store.Publish, error) {
	inputs := map[storepath.Path]bool{}
	for _, in := range d.Inputs {
		inputs[in] = true
	}
	among := func(what string) ([]string, error) {
		var ps []string
		for _, f := range strings.Fields(d.Env[what]) {
			if !inputs[storepath.Path(f)] {
				return nil, fmt.Errorf("%s: env %s names %s, which is not among its inputs", d.Name, what, f)
			}
			ps = append(ps, f)
		}
		return ps, nil
	}
	debs, err := among("debs")
	if err != nil {
		return tmp, store.Publish{}, err
	}
	deps, err := among("deps")
	if err != nil {
		return tmp, store.Publish{}, err
	}
	candidates, err := b.candidates(d)
	if err != nil {
		return tmp, store.Publish{}, err
	}
	// What runs or is pointed at must be in the store, among what the derivation hashes.
	inClosure := func(p string) bool {
		for _, c := range candidates {
			if p == string(c) || strings.HasPrefix(p, string(c)+"/") {
				return true
			}
		}
		return false
	}
	if r := d.Env["relocation"]; r != debunit.Revision {
		return tmp, store.Publish{}, fmt.Errorf("%s: planned by another den, whose Debian relocation rules are revision %q (this den's are %q); plan it again", d.Name, r, debunit.Revision)
	}
	interp := d.Env["interp"]
	if rest, ok := strings.CutPrefix(interp, derivation.DebUnitOutPrefix); ok {
		interp = string(d.Out) + "/" + rest
	} else if interp != "" && !inClosure(interp) {
		return tmp, store.Publish{}, fmt.Errorf("%s: its interpreter %s is not in the closure of its inputs", d.Name, interp)
	}
	patchelf := strings.Fields(d.Env["patchelf"])
	for _, a := range patchelf {
		if strings.HasPrefix(a, "/") && !inClosure(a) {
			return tmp, store.Publish{}, fmt.Errorf("%s: its patchelf command names %s, which is not in the closure of its inputs", d.Name, a)
		}
	}
	if len(patchelf) > 0 && !strings.HasPrefix(patchelf[0], "/") {
		return tmp, store.Publish{}, fmt.Errorf("%s: its patchelf command %q does not start with an absolute path", d.Name, patchelf[0])
	}
	logFile, w, tail, done, err := b.buildLog(d, "")
	if err != nil {
		return tmp, store.Publish{}, err
	}
	defer done()
	err = debunit.Build(ctx, debunit.Spec{
		Debs: debs, Out: tmp, FinalOut: string(d.Out), Deps: deps, Interp: interp, Patchelf: patchelf,
		Triplet: d.Env["triplet"], Log: w, Jobs: b.Cores,
	})
	if err != nil {
		return tmp, store.Publish{}, &Error{Name: d.Name, Err: err, Tail: tail.lines(), LogFile: logFile}
	}
	return tmp, store.Publish{Candidates: candidates}, nil
}

// sandboxBuildPath is where a sandboxed build sees its build directory.
const sandboxBuildPath = "/build"

// targetInputs are the inputs a cross build names as its target's libraries (env targetInputs,
// see core/recipe.UseCross), each one of its inputs.
func targetInputs(d *derivation.Derivation) ([]storepath.Path, error) {
	if d.Host == d.System {
		return nil, nil
	}
	var out []storepath.Path
	for _, f := range strings.Fields(d.Env["targetInputs"]) {
		if !slices.Contains(d.Inputs, storepath.Path(f)) {
			return nil, fmt.Errorf("%s: env targetInputs names %s, which is not among its inputs", d.Name, f)
		}
		out = append(out, storepath.Path(f))
	}
	return out, nil
}

// programInputs are d's inputs but its Go modules, which are inputs but not programs: a module
// that happens to have a bin directory must not land on the build's PATH.
func programInputs(d *derivation.Derivation) []storepath.Path {
	notPrograms := goModulePaths(d)
	var ins []storepath.Path
	for _, in := range d.Inputs {
		if !notPrograms[in] {
			ins = append(ins, in)
		}
	}
	return ins
}

// findProgram is the first of inputs' bin/name, or "".
func findProgram(inputs []storepath.Path, name string) string {
	for _, in := range inputs {
		p := filepath.Join(string(in), "bin", name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// stdenvShell is the bash a stdenv build runs its script with: Env["shell"], a file inside a
// store path of the build's closure, so that the sandbox shows it.
func stdenvShell(d *derivation.Derivation, closure []store.PathInfo) (string, error) {
	shell := d.Env["shell"]
	if shell == "" {
		return "", fmt.Errorf("%s: a stdenv build names its bash in env.shell", d.Name)
	}
	for _, c := range closure {
		if strings.HasPrefix(shell, string(c.Path)+"/") {
			return shell, nil
		}
	}
	return "", fmt.Errorf("%s: its shell %s is in none of its inputs; add the store path that holds it", d.Name, shell)
}

// writeWrapper writes the compiler wrapper of a BuilderCCWrapper derivation at tmp, in process:
// it is a few scripts whose content the derivation fixes.
func (b *Builder) writeWrapper(_ context.Context, d *derivation.Derivation, tmp string) (string, store.Publish, error) {
	tc, err := stdenv.ToolchainFromEnv(d.Env, string(d.Out))
	if err != nil {
		return tmp, store.Publish{}, fmt.Errorf("%s: %w", d.Name, err)
	}
	for _, u := range tc.Units() {
		ok := false
		for _, in := range d.Inputs {
			ok = ok || u == string(in) || strings.HasPrefix(u, string(in)+"/")
		}
		if !ok {
			return tmp, store.Publish{}, fmt.Errorf("%s: the wrapper names %s, which is in none of its inputs", d.Name, u)
		}
	}
	files, err := stdenv.Wrapper(tc)
	if err != nil {
		return tmp, store.Publish{}, fmt.Errorf("%s: %w", d.Name, err)
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return tmp, store.Publish{}, err
	}
	for _, name := range stdenv.Names(files) {
		p := filepath.Join(tmp, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return tmp, store.Publish{}, err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return tmp, store.Publish{}, err
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(p, files[name], mode); err != nil {
			return tmp, store.Publish{}, err
		}
	}
	return tmp, store.Publish{Candidates: d.Inputs}, nil
}

// makeBuildDir makes the directory of one build in den's state, not /tmp: the sandbox can then
// show the build directory as /tmp, which scripts that ignore TMPDIR write to. It holds "build",
// the build directory the script sees, and "root", the sandbox's mount point, and it is locked
// while the build runs, so that the next den to realize anything removes what a killed den left
// (its build tree and mount point) and nothing of a running one.
func (b *Builder) makeBuildDir(d *derivation.Derivation) (*scratch.Dir, error) {
	builds := b.buildsDir()
	if err := b.Store.MkdirAll(builds); err != nil {
		return nil, err
	}
	top, err := scratch.Make(builds, d.Out.HashPart()+"-")
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"build", "root"} {
		if err := os.Mkdir(filepath.Join(top.Path, sub), 0o755); err != nil {
			top.Remove()
			return nil, err
		}
	}
	return top, nil
}

func (b *Builder) buildsDir() string { return filepath.Join(b.Store.StateDir, "builds") }

// sandboxMode settles the sandbox setting once per builder: the host is probed once, and a
// warning about missing isolation is printed once.
func (b *Builder) sandboxMode() (sandbox.Mode, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mode == "" {
		mode, err := sandbox.Resolve(b.Sandbox, func(msg string) { b.logf("warning: %s", msg) })
		if err != nil {
			return "", err
		}
		b.mode = mode
	}
	return b.mode, nil
}

func pathStrings(ps []storepath.Path) []string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return s
}

// unpack puts the source into the build directory, as Nix's unpackPhase does: an archive is
// unpacked (defensively) and the build starts in its single top directory; a directory is copied
// so the build can write in it; any other file is copied as is.
func (b *Builder) unpack(d *derivation.Derivation, buildDir string) (string, error) {
	if d.Src == "" {
		return buildDir, nil
	}
	dest := filepath.Join(buildDir, "source")
	fi, err := os.Stat(string(d.Src))
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		if err := copyTree(string(d.Src), dest); err != nil {
			return "", err
		}
		return dest, nil
	}
	err = archive.Unpack(string(d.Src), dest, archive.Limits{})
	if errors.Is(err, archive.ErrUnknownFormat) {
		data, err := os.ReadFile(string(d.Src))
		if err != nil {
			return "", err
		}
		return buildDir, os.WriteFile(filepath.Join(buildDir, d.Src.Name()), data, 0o644)
	}
	if err != nil {
		return "", err
	}
	ents, err := os.ReadDir(dest)
	if err != nil {
		return "", err
	}
	if len(ents) == 1 && ents[0].IsDir() {
		return filepath.Join(dest, ents[0].Name()), nil
	}
	return dest, nil
}

// copyTree copies a read-only store tree into a writable one.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		default:
			fi, err := d.Info()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, fi.Mode().Perm()|0o200)
		}
	})
}

// buildLog opens d's build log and returns the writer a build writes to: the log, the tail its
// error shows, and the progress reporter when logs stream. done closes the log and ends the
// progress task.
func (b *Builder) buildLog(d *derivation.Derivation, tag string) (logFile string, w io.Writer, tail *tailBuffer, done func(), err error) {
	logFile, log, err := b.openLog(d.Out, tag)
	if err != nil {
		return "", nil, nil, nil, err
	}
	tail = &tailBuffer{max: 25}
	w = io.MultiWriter(log, tail)
	if b.PrintLogs && b.Progress != nil {
		w = io.MultiWriter(log, tail, &logLines{r: b.Progress})
	}
	task := b.Progress.Start("building", d.Name, 0)
	return logFile, w, tail, func() { task.Done(); log.Close() }, nil
}

func (b *Builder) openLog(out storepath.Path, tag string) (string, *os.File, error) {
	dir := b.Store.LogDir()
	if err := b.Store.MkdirAll(dir); err != nil {
		return "", nil, err
	}
	name := filepath.Join(dir, out.Base()+tag+".log")
	f, err := os.Create(name)
	if errors.Is(err, fs.ErrPermission) {
		// Another user's log of the same build, in a shared store's state dir.
		os.Remove(name)
		f, err = os.Create(name)
	}
	return name, f, err
}

// logLines passes a build's log to the progress reporter line by line, so streamed logs and
// progress bars do not overwrite each other.
type logLines struct {
	r       *progress.Reporter
	mu      sync.Mutex
	partial []byte
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.r.Logf("%s", l.partial[:i])
		l.partial = l.partial[i+1:]
	}
}

// tailBuffer keeps the last lines written to it, to show when a build fails.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	partial []byte
	ls      []string
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.ls = append(t.ls, string(t.partial[:i]))
		t.partial = t.partial[i+1:]
		if len(t.ls) > t.max {
			t.ls = t.ls[len(t.ls)-t.max:]
		}
	}
	return len(p), nil
}

func (t *tailBuffer) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string{}, t.ls...)
	if len(t.partial) > 0 {
		out = append(out, string(t.partial))
	}
	if len(out) > t.max {
		out = out[len(out)-t.max:]
	}
	return out
}
