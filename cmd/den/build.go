package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/den-sh/den/core/build"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/recipe"
)

// BuildCmd is den build.
type BuildCmd struct {
	Recipes   []string `arg:"" name:"recipe" help:"Recipes of den.toml to realize."`
	PrintLogs bool     `short:"L" name:"print-build-logs" help:"Stream build logs to stderr."`
}

func (c *BuildCmd) Run(a *App) error {
	m, err := a.Project()
	if err != nil {
		return err
	}
	s, err := a.Store()
	if err != nil {
		return err
	}
	b, err := a.Builder(c.PrintLogs)
	if err != nil {
		return err
	}
	a.applyProjectSandbox(m, b)
	planner := &recipe.Planner{Manifest: m, Store: s, Tools: a.Tools(), System: platform.Current()}
	ctx, stop := signalContext()
	defer stop()
	for _, name := range c.Recipes {
		d, err := planner.Plan(name)
		if err != nil {
			var ue *recipe.UnknownError
			if errors.As(err, &ue) {
				return &usageError{err: err}
			}
			return err
		}
		if err := b.Realize(ctx, d); err != nil {
			return buildFailure(err)
		}
		fmt.Fprintln(a.Stdout, d.Out)
	}
	return nil
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
