package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/versionfile"
	"github.com/den-sh/den/envs"
	"github.com/den-sh/den/templates"
)

// InitCmd is den init.
type InitCmd struct {
	systemsFlag
	Template string `short:"t" default:"empty" placeholder:"NAME" help:"Start from template NAME (default: ${default})."`
	From     bool   `help:"Add the tools that the project's versions files pin (.nvmrc, .node-version, go.mod, .python-version, .tool-versions)."`
	Dir      string `arg:"" optional:"" default:"." placeholder:"DIR" help:"The project's directory, created if missing (default: the current one)."`
}

// Help lists the templates, from the embedded files so that the list never goes stale.
func (c *InitCmd) Help() string {
	return "Writes DIR/den.toml from a template and adds .den/ to DIR/.gitignore.\n\nTemplates: " +
		strings.Join(templates.Names(), ", ") + "."
}

// existsError refuses to replace a den.toml, which holds the user's choices.
type existsError struct{ path string }

func (e *existsError) Error() string   { return e.path + " already exists" }
func (e *existsError) Hints() []string { return []string{"den add PKG adds a package to it"} }

func (c *InitCmd) Run(a *App, k *kong.Context) error {
	data, err := templates.Get(c.Template)
	if err != nil {
		return &usageError{err: err}
	}
	if data, err = c.apply(manifest.FileName, data); err != nil {
		return err
	}
	if fi, err := os.Stat(c.Dir); err == nil && !fi.IsDir() {
		return &usageError{err: fmt.Errorf("%s is not a directory", c.Dir)}
	}
	if err := os.MkdirAll(c.Dir, 0o777); err != nil {
		return err
	}
	path := filepath.Join(c.Dir, manifest.FileName)
	pins, skipped, err := versionfile.Read(c.Dir)
	if err != nil {
		return err
	}
	if len(pins) > 0 && !c.From && a.interactive() {
		fmt.Fprintf(a.Stderr, "den: this project pins %s. Add them to den.toml? [Y/n] ", versionfile.Names(pins))
		answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		c.From = !strings.HasPrefix(strings.ToLower(strings.TrimSpace(answer)), "n")
	}
	if c.From {
		for _, p := range pins {
			if data, err = manifest.AddPackage(path, data, p.Package, p.Constraint); err != nil {
				return err
			}
		}
	}
	// O_EXCL, so that a den.toml written meanwhile by someone else is not replaced either.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if errors.Is(err, fs.ErrExist) {
		return &existsError{path: path}
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	// The user made this den.toml here and now: it is theirs, and allowed.
	if root, err := filepath.Abs(c.Dir); err == nil {
		if cfg, err := a.Config(); err == nil {
			envs.SetTrust(cfg.StateDir, root, envs.Allowed)
		}
	}
	added, err := ignoreStateDir(filepath.Join(c.Dir, ".gitignore"))
	if err != nil {
		return fmt.Errorf("created %s, but could not add .den/ to .gitignore: %w", path, err)
	}
	if a.Globals.Quiet {
		return nil
	}
	fmt.Fprintf(a.Stderr, "created %s (template %s)\n", path, c.Template)
	switch {
	case c.From && len(pins) > 0:
		fmt.Fprintf(a.Stderr, "added what %s pin\n", versionfile.Names(pins))
	case len(pins) > 0:
		var refs []string
		for _, p := range pins {
			refs = append(refs, p.Package+"@"+p.Constraint)
		}
		fmt.Fprintf(a.Stderr, "hint: this project pins %s; den add %s adds them (den init --from does it at once)\n",
			versionfile.Names(pins), strings.Join(refs, " "))
	}
	for _, sk := range skipped {
		fmt.Fprintf(a.Stderr, "den: %s names %s, which den has no package for\n", sk.From, sk.Tool)
	}
	c.report(a)
	if added {
		fmt.Fprintf(a.Stderr, "added .den/ to %s\n", filepath.Join(c.Dir, ".gitignore"))
	}
	fmt.Fprintf(a.Stderr, "next: %s\n", nextSteps(k))
	return nil
}

// nextSteps says what to do after den init with the commands this den has.
func nextSteps(k *kong.Context) string {
	has := func(name string) bool {
		for _, c := range k.Model.Children {
			if c.Name == name {
				return true
			}
		}
		return false
	}
	steps := []string{"list packages under [packages] in den.toml (den search TERM finds them)"}
	if has("add") {
		steps = []string{"den add PKG"}
	}
	switch {
	case has("run"):
		steps = append(steps, "den run -- CMD")
	case has("lock"):
		steps = append(steps, "den lock")
	}
	return strings.Join(steps, ", then ")
}

// ignoreStateDir makes git ignore the project's .den/ state, which holds links into the local
// store. It appends to .gitignore, keeping what is there, unless a line already ignores .den.
func ignoreStateDir(path string) (added bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		switch strings.TrimSpace(line) {
		case ".den", ".den/", "/.den", "/.den/", "**/.den", "**/.den/":
			return false, nil
		}
	}
	text := ".den/\n"
	if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
		text = "\n" + text
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
	if err != nil {
		return false, err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return false, err
	}
	return true, f.Close()
}
