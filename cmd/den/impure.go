package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/hosttools"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// builtWithHostTools reports whether a store path was built with declared host tools (beyond the
// base shell and coreutils), from the derivation
// den stored beside it: a path built with host tools (a recipe's host-tools escape hatch) depends
// on the host's compiler and libraries beyond what its hash says, so it is no output to share.
func builtWithHostTools(s *store.Store, p storepath.Path) (bool, error) {
	info, err := s.Info(p)
	if err != nil || info == nil || info.Deriver == "" {
		return false, err
	}
	data, err := os.ReadFile(string(info.Deriver))
	if err != nil {
		return false, nil // a substituted path comes without its derivation: the cache vouched for it
	}
	var d derivation.Derivation
	if err := json.Unmarshal(data, &d); err != nil {
		return false, nil // not a derivation den wrote
	}
	return !d.IsFixed() && len(hosttools.Declared(d.HostTools)) > 0, nil
}

// ImpureError says den cache push was asked to share outputs built with host tools.
type ImpureError struct{ Paths []string }

func (e *ImpureError) Error() string {
	return fmt.Sprintf("%s built with host tools: %s", plural(len(e.Paths), "path was", "paths were"), strings.Join(e.Paths, ", "))
}

// Hints says how to push them anyway.
func (e *ImpureError) Hints() []string {
	return []string{"an output of the host's compiler and libraries is not reproducible elsewhere; build it with the stdenv (drop host-tools), or pass --allow-impure to push it anyway"}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// checkPure refuses a closure holding paths built with host tools.
func checkPure(s *store.Store, roots []storepath.Path) error {
	closure, err := s.Closure(roots...)
	if err != nil {
		return err
	}
	e := &ImpureError{}
	for _, c := range closure {
		impure, err := builtWithHostTools(s, c.Path)
		if err != nil {
			return err
		}
		if !impure {
			continue
		}
		e.Paths = append(e.Paths, string(c.Path))
	}
	if len(e.Paths) == 0 {
		return nil
	}
	return e
}
