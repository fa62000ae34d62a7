package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// builtWithHostTools reports which host tools a store path was built with, from the derivation
// den stored beside it: a path built with host tools (a recipe's host-tools escape hatch) depends
// on the host's compiler and libraries beyond what its hash says, so it is no output to share.
func builtWithHostTools(s *store.Store, p storepath.Path) ([]string, error) {
	info, err := s.Info(p)
	if err != nil || info == nil || info.Deriver == "" {
		return nil, err
	}
	data, err := os.ReadFile(string(info.Deriver))
	if err != nil {
		return nil, nil // a substituted path comes without its derivation: the cache vouched for it
	}
	var d derivation.Derivation
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, nil // not a derivation den wrote
	}
	if d.IsFixed() {
		return nil, nil
	}
	var names []string
	for _, t := range d.HostTools {
		names = append(names, t.Name)
	}
	return names, nil
}

// ImpureError says den cache push was asked to share outputs built with host tools.
type ImpureError struct{ Paths, Tools []string }

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
		tools, err := builtWithHostTools(s, c.Path)
		if err != nil {
			return err
		}
		if len(tools) == 0 {
			continue
		}
		e.Paths = append(e.Paths, string(c.Path))
		for _, t := range tools {
			if !slices.Contains(e.Tools, t) {
				e.Tools = append(e.Tools, t)
			}
		}
	}
	if len(e.Paths) == 0 {
		return nil
	}
	slices.Sort(e.Tools)
	return e
}
