package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
)

// systemsFlag is --systems of the commands that write den.toml or den.lock: the systems the
// project locks for, which den writes into den.toml's systems line, so that every later
// command, and a teammate's, locks the same. A registry that lacks some platforms (a proxy that
// serves Go toolchains for linux only) is the usual reason: den lock --systems current.
type systemsFlag struct {
	Systems string `placeholder:"LIST" help:"Lock only for these systems, written into den.toml: current (this system's) or a comma-separated list, like x86_64-linux,aarch64-darwin."`
}

// list is the flag's systems, current spelled out, or nil when the flag is not given.
func (f systemsFlag) list() ([]string, error) {
	if f.Systems == "" {
		return nil, nil
	}
	var out []string
	for _, s := range strings.Split(f.Systems, ",") {
		s = strings.TrimSpace(s)
		if s == "current" {
			s = platform.Current().String()
		}
		if _, err := platform.Parse(s); err != nil {
			return nil, &usageError{err: fmt.Errorf("--systems: %w", err), hints: []string{"--systems current locks for this system only"}}
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// apply returns den.toml's data with the flag's systems, or data as it is without the flag.
func (f systemsFlag) apply(path string, data []byte) ([]byte, error) {
	systems, err := f.list()
	if err != nil || systems == nil {
		return data, err
	}
	return manifest.SetSystems(path, data, systems)
}

// report says what the flag wrote, once the command has succeeded.
func (f systemsFlag) report(a *App) {
	systems, err := f.list()
	if err != nil || systems == nil || a.Globals.Quiet {
		return
	}
	q := make([]string, len(systems))
	for i, s := range systems {
		q[i] = fmt.Sprintf("%q", s)
	}
	fmt.Fprintf(a.Stderr, "den.toml: systems = [%s]\n", strings.Join(q, ", "))
}
