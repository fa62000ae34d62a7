package main

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mattn/go-isatty"

	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/envs"
)

// notAllowedError refuses to act on a project the user has not allowed as its files are now.
type notAllowedError struct {
	path string // den.toml, as the user would reach it
	tc   envs.TrustCheck
}

func (e *notAllowedError) Error() string {
	switch {
	case e.tc.Trust == envs.Denied:
		return e.path + " is denied (den deny)"
	case e.tc.AllowedBefore:
		return e.path + " or den.lock changed since you allowed it"
	}
	return e.path + " is not allowed yet"
}

func (e *notAllowedError) Hints() []string {
	return []string{
		"den.toml and den.lock decide what den runs, builds and exports; read them, then run den allow",
	}
}

// AllowedProject loads the project around the working directory and makes sure the user
// allowed it, den.toml and den.lock as they are now: everything a repository brings is
// untrusted until then. On a terminal den asks, showing what the project would do; elsewhere
// (scripts, CI, direnv) it refuses with a hint. ask false never asks.
func (a *App) AllowedProject(ask bool) (*manifest.Manifest, error) {
	m, err := a.Project()
	if err != nil {
		return nil, err
	}
	return m, a.requireAllowed(m, ask)
}

// requireAllowed is AllowedProject for a project already loaded.
func (a *App) requireAllowed(m *manifest.Manifest, ask bool) error {
	if a.trust.Trust == envs.Allowed {
		return nil
	}
	cfg, err := a.Config()
	if err != nil {
		return err
	}
	tc := envs.CheckTrust(cfg.StateDir, m.Root)
	if tc.Trust == envs.Unknown && ask && a.interactive() {
		if !a.askAllow(m, tc) {
			return &notAllowedError{path: m.Path, tc: tc}
		}
		if err := envs.SetTrust(cfg.StateDir, m.Root, envs.Allowed); err != nil {
			return err
		}
		tc = envs.CheckTrust(cfg.StateDir, m.Root)
	}
	if tc.Trust != envs.Allowed {
		return &notAllowedError{path: m.Path, tc: tc}
	}
	a.trust = tc
	return nil
}

// interactive reports whether den can ask the user: its input and error output are a terminal.
func (a *App) interactive() bool {
	f, ok := a.Stderr.(*os.File)
	return ok && isatty.IsTerminal(os.Stdin.Fd()) && isatty.IsTerminal(f.Fd())
}

// askAllow shows what the project declares that den would act on, and asks.
func (a *App) askAllow(m *manifest.Manifest, tc envs.TrustCheck) bool {
	what := "is new to den"
	if tc.AllowedBefore {
		what = "changed since you allowed it"
	}
	fmt.Fprintf(a.Stderr, "den: %s %s. It asks for:\n", filepath.Join(m.Root, manifest.FileName), what)
	for _, line := range projectSummary(m) {
		fmt.Fprintf(a.Stderr, "  %s\n", line)
	}
	fmt.Fprint(a.Stderr, "Allow den to run, build and export what den.toml and den.lock declare? [y/N] ")
	// Ctrl-C at the question stops den at once, the line saying so on a line of its own.
	done := askingOnTerminal()
	defer done()
	answers := make(chan string, 1)
	go func() {
		answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		answers <- answer
	}()
	var answer string
	select {
	case answer = <-answers:
	case <-stopRequested():
		done()
		fmt.Fprintln(a.Stderr)
		return false
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return true
	}
	return false
}

// projectSummary lists, one line each, what a project's den.toml would make den do.
func projectSummary(m *manifest.Manifest) []string {
	var out []string
	if len(m.Packages) > 0 {
		var names []string
		for _, p := range m.Packages {
			names = append(names, p.Name+" "+p.Version)
		}
		out = append(out, "packages: "+strings.Join(names, ", "))
	}
	for _, name := range slices.Sorted(maps.Keys(m.Recipes)) {
		r := m.Recipes[name]
		line := "recipe " + name + " (built from source in the sandbox"
		if len(r.HostTools) > 0 {
			line += ", with the host's " + strings.Join(r.HostTools, ", ")
		}
		out = append(out, line+")")
	}
	if len(m.Env) > 0 {
		var names []string
		for _, v := range m.Env {
			names = append(names, v.Name)
		}
		out = append(out, "variables: "+strings.Join(names, ", "))
	}
	if len(m.Scripts) > 0 {
		out = append(out, "scripts: "+strings.Join(slices.Sorted(maps.Keys(m.Scripts)), ", "))
	}
	if m.Shell.Init != "" {
		out = append(out, "a shell init script, run in den shell")
	}
	if len(m.Caches.Substituters) > 0 || len(m.Caches.TrustedPublicKeys) > 0 {
		out = append(out, fmt.Sprintf("binary caches: %s, trusting %d key(s)", strings.Join(m.Caches.Substituters, ", "), len(m.Caches.TrustedPublicKeys)))
	}
	if len(m.Caches.Push) > 0 {
		out = append(out, fmt.Sprintf("pushes what den builds for it to: %s (signed with your push-key)", strings.Join(m.Caches.Push, ", ")))
	}
	if len(out) == 0 {
		out = append(out, "nothing yet")
	}
	if _, err := os.Stat(filepath.Join(m.Root, lock.FileName)); err == nil {
		out = append(out, "den.lock pins their exact versions and sources")
	}
	return out
}
