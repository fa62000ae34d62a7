package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/den-sh/den/core/backend/recipes"
	"github.com/den-sh/den/core/build"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/hosttools"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/recipe"
	"github.com/den-sh/den/core/resolve"
)

// BuildCmd is den build.
type BuildCmd struct {
	Targets   []string `arg:"" name:"package" help:"Packages (go@1.22, node, npm:prettier, go:MODULE/PATH) or recipes of den.toml."`
	System    string   `help:"Build for another system (x86_64-linux, aarch64-darwin, …)." placeholder:"SYSTEM"`
	Target    string   `help:"Cross-build on this system for another (aarch64-linux): the output runs there, its libraries are the target's." placeholder:"SYSTEM"`
	PrintLogs bool     `short:"L" name:"print-build-logs" help:"Stream build logs to stderr."`
	Check     bool     `help:"Rebuild targets that are built already and compare the results (downloads: download again)."`
}

func (c *BuildCmd) Run(a *App) error {
	sys := platform.Current()
	if c.System != "" {
		s, err := platform.Parse(c.System)
		if err != nil {
			return &usageError{err: err}
		}
		sys = s
	}
	var target platform.System
	if c.Target != "" {
		t, err := platform.Parse(c.Target)
		if err != nil {
			return &usageError{err: fmt.Errorf("--target: %w", err)}
		}
		if t != sys {
			target = t
		}
	}
	// A project is optional: without one, every target is a package.
	m, err := a.Project()
	var nf *manifest.NotFoundError
	if err != nil && !errors.As(err, &nf) {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	// Every target is planned first, in order, and then all are realized at once: what they
	// substitute, download or build shares one builder (each path once, its job limit), and on
	// two cores one target's decompression overlaps another's disk writes instead of waiting
	// for it. A target that cannot be planned fails the command before anything is realized.
	var planner *recipe.Planner
	drvs := make([]*derivation.Derivation, len(c.Targets))
	for i, name := range c.Targets {
		var d *derivation.Derivation
		if target != (platform.System{}) {
			d, err = a.planCross(ctx, m, name, sys, target)
		} else {
			d, err = a.planTarget(ctx, m, &planner, name, sys)
		}
		if err != nil {
			return err
		}
		drvs[i] = d
	}
	b, err := a.Builder(c.PrintLogs)
	if err != nil {
		return err
	}
	if m != nil {
		a.applyProjectSandbox(m, b)
	}
	if c.Check {
		return a.checkTargets(ctx, b, c.Targets, drvs)
	}
	// Targets already valid need no goroutine (a repeated den build). Asking the store about
	// them one after another first also makes sure its database exists before the goroutines
	// open it at once: openers racing to create it wait out bbolt's 50 ms lock retry.
	valid := make([]bool, len(drvs))
	for i, d := range drvs {
		if err := b.TempRoots.Add(d.Out); err != nil {
			return err
		}
		if valid[i], err = b.Store.IsValid(d.Out); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(drvs))
	var wg sync.WaitGroup
	for i, d := range drvs {
		if valid[i] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = b.Realize(ctx, d); errs[i] != nil {
				cancel() // as when targets ran one after another: a failure stops the rest
			}
		}()
	}
	wg.Wait()
	// Outputs in the targets' order up to the first that failed; that failure is reported rather
	// than the cancellations it caused in the others.
	var failed error
	for _, err := range errs {
		if err != nil && (failed == nil || errors.Is(failed, context.Canceled) && !errors.Is(err, context.Canceled)) {
			failed = err
		}
	}
	for i, d := range drvs {
		if errs[i] != nil {
			break
		}
		if hosttools.Impure(d) && !a.Globals.Quiet {
			fmt.Fprintf(a.Stderr, "den: %s is impure: it was built with the host's tools (host-tools), which its hash does not pin; den cache push refuses it without --allow-impure\n", d.Name)
		}
		fmt.Fprintln(a.Stdout, d.Out)
	}
	if failed != nil {
		return buildFailure(failed)
	}
	return nil
}

// checkTargets rebuilds each target and compares it with its valid output, one after another
// (a check is for finding out, not for speed), and fails if any differs.
func (a *App) checkTargets(ctx context.Context, b *build.Builder, targets []string, drvs []*derivation.Derivation) error {
	failed := false
	for i, d := range drvs {
		err := b.Check(ctx, d)
		var nb *build.NotBuiltError
		var nr *build.NotReproducibleError
		switch {
		case err == nil:
			fmt.Fprintf(a.Stderr, "den: %s is reproducible\n", d.Out)
			fmt.Fprintln(a.Stdout, d.Out)
		case errors.As(err, &nb):
			nb.Name = targets[i]
			return err
		case errors.As(err, &nr):
			// The others are still checked; each difference is told as it is found.
			report(a.Stderr, err)
			failed = true
		default:
			return buildFailure(err)
		}
	}
	if failed {
		return &exitError{code: exitFail}
	}
	return nil
}

// planTarget plans one target of den build: a recipe of den.toml, a package of den.toml (from
// den.lock when it has the package for this constraint and system, as buildLocked), or any
// package den knows (resolved in memory; den build never writes the lock).
func (a *App) planTarget(ctx context.Context, m *manifest.Manifest, planner **recipe.Planner, target string, sys platform.System) (*derivation.Derivation, error) {
	if m != nil && m.Recipes[target] != nil {
		if err := a.requireAllowed(m, true); err != nil {
			return nil, err
		}
		if *planner == nil {
			p, err := a.recipePlanner(ctx, m, sys)
			if err != nil {
				return nil, err
			}
			*planner = p
		}
		return (*planner).Plan(target)
	}
	r, err := a.Resolver()
	if err != nil {
		return nil, err
	}
	if pkg, ok := projectPackage(m, target); ok {
		if err := a.requireAllowed(m, true); err != nil {
			return nil, err
		}
		r.UseProject(m)
		f, _, err := lock.Read(m.Root)
		if err != nil {
			return nil, err
		}
		p := f.Get(pkg.Name)
		if p == nil || p.Constraint != pkg.Version || !p.HasSystem(sys.String()) {
			if p, err = r.LockRef(ctx, pkg.Name+"@"+pkg.Version, []platform.System{sys}); err != nil {
				return nil, err
			}
		}
		return r.Plan(ctx, p, sys)
	}
	p, err := r.LockRef(ctx, target, []platform.System{sys})
	if err != nil {
		var ue *index.UnknownError
		if errors.As(err, &ue) && m != nil && len(m.Recipes) > 0 {
			names := make([]string, 0, len(m.Recipes))
			for n := range m.Recipes {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, &usageError{err: fmt.Errorf("%w, and den.toml has no such recipe (recipes: %s)", err, strings.Join(names, ", "))}
		}
		return nil, err
	}
	return r.Plan(ctx, p, sys)
}

// planCross plans a package of den's index cross-built on sys for target: its recipe with the
// stdenv and the cross toolchain, its libraries the target's (resolved in memory, as
// planTarget resolves a package den.toml does not have).
func (a *App) planCross(ctx context.Context, m *manifest.Manifest, name string, sys, target platform.System) (*derivation.Derivation, error) {
	r, err := a.Resolver()
	if err != nil {
		return nil, err
	}
	if m != nil && m.Recipes[name] != nil {
		return a.planCrossRecipe(ctx, r, m, name, sys, target)
	}
	p, err := r.LockRefTarget(ctx, name, []platform.System{sys}, target)
	if err != nil {
		return nil, err
	}
	if p.Target != target.String() {
		return nil, &usageError{err: fmt.Errorf("%s comes from the %s backend, which den does not cross-build; den build --system %s gets its build for %s", name, p.Backend, target, target),
			hints: []string{"den build --target cross-builds den's index recipes (hello) and Debian libraries (zlib)"}}
	}
	return r.Plan(ctx, p, sys)
}

// planCrossRecipe plans a recipe of den.toml cross-built on sys for target: with the stdenv (as
// den build plans it for sys) and the cross toolchain, its deps that are packages of den's index
// realized for target (resolved in memory: den.lock holds what a project builds for itself).
func (a *App) planCrossRecipe(ctx context.Context, r *resolve.Resolver, m *manifest.Manifest, name string, sys, target platform.System) (*derivation.Derivation, error) {
	if err := a.requireAllowed(m, true); err != nil {
		return nil, err
	}
	if err := checkRecipeDeps(m); err != nil {
		return nil, err
	}
	s, err := a.Store()
	if err != nil {
		return nil, err
	}
	r.UseProject(m)
	var none *recipe.Planner
	p := &recipe.Planner{Manifest: m, Store: s, Tools: a.Tools(), System: sys, Target: target}
	if p.Cross, err = a.planTarget(ctx, m, &none, recipes.CrossToolchain(target), sys); err != nil {
		return nil, err
	}
	p.Package = func(dep string) (*derivation.Derivation, error) {
		if dep == recipe.Stdenv {
			return a.planTarget(ctx, m, &none, dep, sys)
		}
		lp, err := r.LockRefTarget(ctx, dep, []platform.System{sys}, target)
		if err != nil {
			return nil, err
		}
		if lp.Target != target.String() {
			return nil, fmt.Errorf("%s comes from the %s backend, which den does not cross-build for %s", dep, lp.Backend, target)
		}
		return r.Plan(ctx, lp, sys)
	}
	return p.Plan(name)
}

// recipePlanner plans m's recipes for sys; a dep that names no recipe is a package of den's
// index, planned as den build plans a package (from den.lock when it has it).
func (a *App) recipePlanner(ctx context.Context, m *manifest.Manifest, sys platform.System) (*recipe.Planner, error) {
	if err := checkRecipeDeps(m); err != nil {
		return nil, err
	}
	s, err := a.Store()
	if err != nil {
		return nil, err
	}
	p := &recipe.Planner{Manifest: m, Store: s, Tools: a.Tools(), System: sys}
	p.Package = func(name string) (*derivation.Derivation, error) {
		var none *recipe.Planner
		return a.planTarget(ctx, m, &none, name, sys)
	}
	return p, nil
}

// checkRecipeDeps checks that the deps of m's recipes that name no recipe are packages of den's
// index, pointing at the one that is not.
func checkRecipeDeps(m *manifest.Manifest) error {
	if len(m.PackageDeps()) == 0 {
		return nil
	}
	ix, err := index.Load()
	if err != nil {
		return err
	}
	return m.CheckDeps(func(name string) bool {
		_, err := ix.Lookup(name)
		return err == nil
	}, ix.Names())
}

// projectPackage finds target among den.toml's [packages] (by name, without a version).
func projectPackage(m *manifest.Manifest, target string) (manifest.Package, bool) {
	if m == nil {
		return manifest.Package{}, false
	}
	for _, p := range m.Packages {
		if p.Name == target {
			return p, true
		}
	}
	return manifest.Package{}, false
}

func (a *App) buildRecipe(ctx context.Context, m *manifest.Manifest, planner *recipe.Planner, name string, printLogs bool) (string, error) {
	b, err := a.Builder(printLogs)
	if err != nil {
		return "", err
	}
	a.applyProjectSandbox(m, b)
	d, err := planner.Plan(name)
	if err != nil {
		return "", err
	}
	if err := b.Realize(ctx, d); err != nil {
		return "", buildFailure(err)
	}
	return string(d.Out), nil
}

// buildFailed shows the tail of a failed build's log under the error line, and names the log.
type buildFailed struct{ be *build.Error }

func (e *buildFailed) Error() string {
	var sb strings.Builder
	sb.WriteString(e.be.Error())
	if len(e.be.Tail) > 0 {
		fmt.Fprintf(&sb, "\nlast %d lines of the log:", len(e.be.Tail))
		for _, l := range e.be.Tail {
			sb.WriteString("\n  | " + l)
		}
	}
	return sb.String()
}

func (e *buildFailed) Unwrap() error { return e.be }

func (e *buildFailed) Hints() []string {
	return []string{"the full log is " + e.be.LogFile, "den build -L streams the log while building"}
}

func buildFailure(err error) error {
	var be *build.Error
	if errors.As(err, &be) {
		return &buildFailed{be}
	}
	return err
}
