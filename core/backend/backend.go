// Package backend owns the contract between den and the places packages come from: each backend
// lists versions, locks a chosen version for every system (sources and content hashes only, so
// that den.lock alone realizes it), and plans a locked package into derivations without network
// access to version lists.
package backend

import (
	"context"
	"fmt"

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

	// Lock and Plan let a backend lock and plan the packages it depends on (the Go toolchain that
	// builds a Go program, the node that runs a JavaScript tool) through the same machinery.
	Lock func(ctx context.Context, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error)
	Plan func(ctx context.Context, p *lock.Package, sys platform.System) (*derivation.Derivation, error)
	// Index finds the entries of such dependencies.
	Index *index.Index
	// ProjectNode is the node a project locks, while its other packages are locked: an npm tool
	// runs with it when it satisfies the tool's engines, rather than with a node of its own.
	ProjectNode *lock.Package
	// Realize builds a derivation into the store; backends that must run a tool to lock (the Go
	// toolchain, to find which modules a program needs) realize it through this.
	Realize func(ctx context.Context, d *derivation.Derivation) error
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
