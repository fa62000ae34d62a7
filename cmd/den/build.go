package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/den-sh/den/core/build"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/recipe"
)

// BuildCmd is den build.
type BuildCmd struct {
	Targets   []string `arg:"" name:"package" help:"Packages (go@1.22, node, npm:prettier, go:MODULE/PATH) or recipes of den.toml."`
	System    string   `help:"Build for another system (x86_64-linux, aarch64-darwin, …)." placeholder:"SYSTEM"`
	PrintLogs bool     `short:"L" name:"print-build-logs" help:"Stream build logs to stderr."`
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
	// A project is optional: without one, every target is a package.
	m, err := a.Project()
	var nf *manifest.NotFoundError
	if err != nil && !errors.As(err, &nf) {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	var planner *recipe.Planner
	for _, target := range c.Targets {
		if m != nil && m.Recipes[target] != nil {
			if planner == nil {
				s, err := a.Store()
				if err != nil {
					return err
				}
				planner = &recipe.Planner{Manifest: m, Store: s, Tools: a.Tools(), System: sys}
			}
			out, err := a.buildRecipe(ctx, m, planner, target, c.PrintLogs)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Stdout, out)
			continue
		}
		if pkg, ok := projectPackage(m, target); ok {
			out, err := a.buildLocked(ctx, m, pkg, sys, c.PrintLogs)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.Stdout, out)
			continue
		}
		out, err := a.buildPackage(ctx, target, sys, c.PrintLogs)
		if err != nil {
			var ue *index.UnknownError
			if errors.As(err, &ue) && m != nil && len(m.Recipes) > 0 {
				names := make([]string, 0, len(m.Recipes))
				for n := range m.Recipes {
					names = append(names, n)
				}
				sort.Strings(names)
				return &usageError{err: fmt.Errorf("%w, and den.toml has no such recipe (recipes: %s)", err, strings.Join(names, ", "))}
			}
			return err
		}
		fmt.Fprintln(a.Stdout, out)
	}
	return nil
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
