package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/resolve"
)

// LockCmd is den lock.
type LockCmd struct {
	systemsFlag
}

func (c *LockCmd) Run(a *App) error {
	ctx, stop := signalContext()
	defer stop()
	// Locking resolves versions and runs nothing the project declares, so it needs no den
	// allow; an allowed project stays allowed with the lock it writes.
	m, unlock, err := a.changeProject(ctx, false, false)
	if err != nil {
		return err
	}
	defer unlock()
	r, err := a.Resolver()
	if err != nil {
		return err
	}
	old, _, err := lock.Read(m.Root)
	if err != nil {
		return err
	}
	var data []byte // den.toml's new content, with --systems
	if c.Systems != "" {
		orig, err := os.ReadFile(filepath.Join(m.Root, manifest.FileName))
		if err != nil {
			return err
		}
		if data, err = c.apply(m.Path, orig); err != nil {
			return err
		}
		if m, err = manifest.Parse(m.Path, data); err != nil {
			return err
		}
	}
	next, changes, err := r.LockManifest(ctx, m, old, nil)
	if err != nil {
		return err
	}
	if err := a.commitProject(m.Root, data, next); err != nil {
		return err
	}
	c.report(a)
	a.printChanges(changes)
	a.warnPackageManager(m, next)
	return nil
}

// warnPackageManager says, once a lock is written, when package.json's packageManager and
// den.toml pin different versions of the package manager.
func (a *App) warnPackageManager(m *manifest.Manifest, f *lock.File) {
	if msg, err := resolve.PackageManagerWarning(m, f); err == nil && msg != "" {
		fmt.Fprintf(a.Stderr, "den: warning: %s\n", msg)
	}
}

// printChanges reports what a lock update did, one package a line.
func (a *App) printChanges(changes []resolve.Change) {
	if a.Globals.Quiet {
		return
	}
	if len(changes) == 0 {
		fmt.Fprintln(a.Stderr, "den.lock is up to date")
		return
	}
	for _, ch := range changes {
		switch {
		case ch.Old == "":
			fmt.Fprintf(a.Stderr, "+ %s %s\n", ch.Name, ch.New)
		case ch.New == "":
			fmt.Fprintf(a.Stderr, "- %s %s\n", ch.Name, ch.Old)
		default:
			fmt.Fprintf(a.Stderr, "~ %s %s → %s\n", ch.Name, ch.Old, ch.New)
		}
	}
}

// buildLocked realizes a package of den.toml from den.lock when the lock has it for this
// constraint and system, and otherwise resolves it in memory (den build never writes the lock).
func (a *App) buildLocked(ctx context.Context, m *manifest.Manifest, pkg manifest.Package, sys platform.System, printLogs bool) (string, error) {
	r, err := a.Resolver()
	if err != nil {
		return "", err
	}
	r.UseProject(m)
	f, _, err := lock.Read(m.Root)
	if err != nil {
		return "", err
	}
	p := f.Get(pkg.Name)
	if p == nil || p.Constraint != pkg.Version || !p.HasSystem(sys.String()) {
		p, err = r.LockRef(ctx, pkg.Name+"@"+pkg.Version, []platform.System{sys})
		if err != nil {
			return "", err
		}
	}
	return a.realizeLocked(ctx, m, p, sys, printLogs)
}
