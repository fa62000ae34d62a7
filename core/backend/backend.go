// Package backend owns the contract between den and the places packages come from: each backend
// lists versions, locks a chosen version for every system (sources and content hashes only, so
// that den.lock alone realizes it), and plans a locked package into derivations without network
// access to version lists.
package backend

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/den-sh/den/core/deb"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/gomod"
	"github.com/den-sh/den/core/hosttools"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/memo"
	"github.com/den-sh/den/core/npm"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/version"
)

// Env is what backends work with. Registry clients are opened on first use, so that a command
// touching only npm packages never needs Go's configuration, and the reverse.
type Env struct {
	Store   *store.Store
	Tools   *hosttools.Resolver
	Current platform.System

	GoModules func() (*gomod.Client, error)
	NPM       func() (*npm.Client, error)
	// Debian opens Debian's archive, as the host's apt sources and den's config name it.
	Debian func() (*deb.Archive, error)

	// Lock and Plan let a backend lock and plan the packages it depends on (the Go toolchain that
	// builds a Go program, the node that runs a JavaScript tool) through the same machinery.
	Lock func(ctx context.Context, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error)
	Plan func(ctx context.Context, p *lock.Package, sys platform.System) (*derivation.Derivation, error)
	// LockTarget is Lock for a package realized for target (a library a cross build links
	// against); a zero target is Lock.
	LockTarget func(ctx context.Context, e *index.Entry, c version.Constraint, systems []platform.System, target platform.System) (*lock.Package, error)
	// Target is the system the package being locked is for, when it is cross-built on the
	// systems it is locked for (see lock.Package.Target); zero for those systems' own.
	Target platform.System
	// Index finds the entries of such dependencies.
	Index *index.Index
	// ProjectNode is the node a project locks, while its other packages are locked: an npm tool
	// runs with it when it satisfies the tool's engines, rather than with a node of its own.
	ProjectNode *lock.Package
	// Realize builds a derivation into the store; backends that must run a tool to lock (the Go
	// toolchain, to find which modules a program needs) realize it through this.
	Realize func(ctx context.Context, d *derivation.Derivation) error
	// ProjectRoot is the allowed project's directory, where the local sources of its recipes
	// are (den.toml's recipes listed in [packages]); "" outside a project.
	ProjectRoot string
	// Memo keeps what a backend works out at some cost and what never changes once worked out
	// (which modules go install needs for a program's version); nil keeps nothing.
	Memo *memo.Dir
}

// Backend is one source of packages.
type Backend interface {
	// Versions lists the versions available, newest first.
	Versions(ctx context.Context, env *Env, e *index.Entry) ([]string, error)
	// Lock resolves c and records, for each system, what realizes it.
	Lock(ctx context.Context, env *Env, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error)
	// Plan turns a locked package into the derivation of its output on sys, from the lock alone.
	Plan(ctx context.Context, env *Env, p *lock.Package, sys platform.System) (*derivation.Derivation, error)
}

// NotLockedForError says a lock has no entry for a system.
type NotLockedForError struct {
	Package, System string
}

func (e *NotLockedForError) Error() string {
	return fmt.Sprintf("%s is not locked for %s", e.Package, e.System)
}

// Hints says how to add the system.
func (e *NotLockedForError) Hints() []string {
	return []string{fmt.Sprintf("add %q to systems in den.toml and run den update %s", e.System, e.Package)}
}

// NoBuildError says the registry has no build of a package's version for some of the systems
// asked for: a Go module proxy without that toolchain, an npm registry without that platform
// package. Lock reports every such system at once, and the newest version that has them all.
type NoBuildError struct {
	Package    string   // the index name: "go", "node"
	Version    string   // the version chosen for the current system
	Constraint string   // what was asked: "1.22", "latest"
	Missing    []string // the systems without a build, in the order asked
	Asked      []string // every system asked for
	Newest     string   // the newest version c selects with a build for every system asked, or ""
	Detail     string   // what the registry said about the first missing one
}

func (e *NoBuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s has no build for %s", e.Package, e.Version, strings.Join(e.Missing, ", "))
	if e.Detail != "" {
		fmt.Fprintf(&b, " (%s)", e.Detail)
	}
	all := "all of them"
	if len(e.Asked) > 1 {
		all = fmt.Sprintf("all %d systems", len(e.Asked))
	}
	switch {
	case e.Newest != "" && e.Newest != e.Version:
		fmt.Fprintf(&b, "; %s %s is the newest %q with builds for %s", e.Package, e.Newest, e.Constraint, all)
	case e.Newest == "" && len(e.Asked) > len(e.Missing):
		fmt.Fprintf(&b, "; no %s %q has builds for %s", e.Package, e.Constraint, all)
	}
	return b.String()
}

// Available are the systems asked for that have a build.
func (e *NoBuildError) Available() []string {
	var out []string
	for _, s := range e.Asked {
		if !slices.Contains(e.Missing, s) {
			out = append(out, s)
		}
	}
	return out
}
