// Package activate computes and applies an unchanged project's environment: the stamp that says
// den.toml and den.lock are as when the current generation was made, the profile's den-env.json,
// the variables they give, and den run's fast path that execs a command with them. It is a leaf
// so that the launcher cmd/den/front can run commands in an unchanged project without starting
// the full program; package envs and cmd/den call the same code, so the two agree by
// construction. It imports core/project and the standard library's small parts plus
// encoding/json (no TOML, no crypto, no store), whose start-up costs nothing measurable.
package activate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/den-sh/den/core/project"
)

// Op says how a variable's value combines with the one already in the environment.
type Op string

const (
	Set     Op = "set"     // replace
	Prepend Op = "prepend" // Value is a colon-separated list put in front of the current entries
	// Default sets the variable only where it is unset or empty, as a tool's own built-in
	// default would be: the user's choice wins. Applied over den's own earlier value (a prompt
	// hook reloading the project), it keeps that value, so it is stable.
	Default Op = "default"
)

// Var is one variable of an environment.
type Var struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Op    Op     `json:"op"`
}

// EnvVar is one entry of den.toml's [env], as manifest.EnvVar is and with the same JSON form.
type EnvVar struct {
	Name, Value string
	Pos         Position // of the name
}

// Position is a place in den.toml, as manifest.Position.
type Position struct {
	Line, Col, Offset int
}

// Package is what activation needs of one package of a profile, as recorded in den-env.json.
type Package struct {
	Name string            `json:"name"`
	Out  string            `json:"out"`
	Vars map[string]string `json:"vars,omitempty"` // set as given, e.g. GOROOT = Out
	// Defaults are set only where the user has not set them (Default), e.g. GOTOOLCHAIN=local.
	Defaults map[string]string `json:"defaults,omitempty"`
}

// EnvFile is the file inside a profile that records its environment.
const EnvFile = "den-env.json"

// ReadProfile returns the packages recorded in the profile at p.
func ReadProfile(p string) ([]Package, error) {
	data, err := os.ReadFile(filepath.Join(p, EnvFile))
	if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	var f struct {
		Packages []Package `json:"packages"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s/%s is corrupt: %w", p, EnvFile, err)
	}
	return f.Packages, nil
}

// Stamp records what the current generation was made from, so that running a command in an
// unchanged project needs no TOML, no lock, no planning and no store database: a few stats of
// den.toml and den.lock decide that the recorded profile and [env] still hold.
type Stamp struct {
	// Files identifies den.toml and den.lock, by name relative to the project, and the trust
	// record the generation was made under, by absolute path: a den deny or a new allowance
	// must reach den run, whose fast path decides from the stamp alone.
	Files   map[string]project.FileID `json:"files"`
	Profile string                    `json:"profile"`
	Env     []EnvVar                  `json:"env,omitempty"`
	Scripts map[string]string         `json:"scripts,omitempty"`
	Init    string                    `json:"init,omitempty"`
	// Den is the Build of the den that made it: another den plans afresh.
	Den string `json:"den,omitempty"`
}

// StampFiles are the files whose change invalidates a stamp.
var StampFiles = []string{project.FileName, project.LockName}

// stampName is the stamp's file in .den, and maxStamp bounds what den reads of it: a stamp holds
// the project's [env], scripts and shell init, a few kilobytes, and a much longer one was not
// written by den.
const (
	stampName = "stamp.json"
	maxStamp  = 16 << 20
)

// StampPath is where the project at root keeps its stamp.
func StampPath(root string) string { return filepath.Join(root, project.StateDir, stampName) }

// ReadStamp returns the project's stamp if den.toml and den.lock are exactly as recorded, the
// recorded profile is still the current generation, and it is still in the store.
func ReadStamp(root string) (*Stamp, bool) {
	data, err := project.ReadStateFile(root, stampName, maxStamp)
	if err != nil {
		return nil, false
	}
	var st Stamp
	if json.Unmarshal(data, &st) != nil {
		return nil, false
	}
	if st.Den != Build {
		return nil, false
	}
	for _, name := range StampFiles {
		if _, ok := st.Files[name]; !ok {
			return nil, false
		}
	}
	for name, id := range st.Files {
		if id != project.FileIDOf(project.At(root, name)) {
			return nil, false
		}
	}
	// CurrentProfile is "" when the generation or its profile is gone from the store.
	if st.Profile == "" || project.CurrentProfile(root) != st.Profile {
		return nil, false
	}
	return &st, true
}

// Unchanged returns the stamp and environment of the project at root when den.toml and den.lock
// are exactly as when it was made: the fast path of den run, den shell, den env and the hook,
// which then reads no TOML, plans nothing and opens no database. ok is false whenever anything
// is off; callers then sync. outer is the environment the project's [env] values see.
func Unchanged(root string, outer func(string) string) (st *Stamp, vars []Var, ok bool) {
	st, ok = ReadStamp(root)
	if !ok {
		return nil, nil, false
	}
	pkgs, err := ReadProfile(st.Profile)
	if err != nil {
		return nil, nil, false
	}
	vars, err = Variables(st.Profile, pkgs, st.Env, root, outer)
	if err != nil {
		return nil, nil, false
	}
	return st, vars, true
}

// UnchangedHere is Unchanged for the project around the working directory.
func UnchangedHere() (root string, st *Stamp, vars []Var, ok bool) {
	wd, err := os.Getwd()
	if err != nil {
		return "", nil, nil, false
	}
	root, err = project.Find(wd)
	if err != nil {
		return "", nil, nil, false
	}
	st, vars, ok = Unchanged(root, os.Getenv)
	return root, st, vars, ok
}

// FastRun is den run for an unchanged project: given den run's arguments, it execs the command
// with the project's environment, without a command line parser, TOML or the store. It returns
// only when it cannot tell (a flag it does not know, a changed project, a command not found) and
// the full program must handle the command line, with its messages.
func FastRun(args []string) {
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "--" {
		switch args[0] {
		case "--pure":
			// --pure adds the store's shell and tools (cmd/den), which takes the index.
			return
		case "--frozen": // an unchanged project's lock is the one its generation was made from
		default:
			return
		}
		args = args[1:]
	}
	explicit := len(args) > 0 && args[0] == "--"
	if explicit {
		args = args[1:]
	}
	if len(args) == 0 {
		return
	}
	_, st, vars, ok := UnchangedHere()
	if !ok {
		return
	}
	argv := args
	if script, ok := st.Scripts[argv[0]]; ok && !explicit {
		argv = ScriptArgv(script, argv)
	}
	env := ChildEnv(vars, false)
	path, ok := LookPathIn(argv[0], env)
	if !ok {
		return
	}
	syscall.Exec(path, argv, env)
}

// ScriptArgv runs a [scripts] entry with sh, its arguments appended as "$@".
func ScriptArgv(script string, args []string) []string {
	if len(args) > 1 {
		script += ` "$@"`
	}
	return append([]string{"/bin/sh", "-c", script}, args...)
}

// PureKeep are the variables --pure keeps from the outer environment.
func PureKeep(name string) bool {
	switch name {
	case "HOME", "USER", "LOGNAME", "TERM", "LANG", "SHELL", "TZ":
		return true
	}
	return strings.HasPrefix(name, "LC_")
}

// ChildEnv is the environment a command runs with: this process's, or with pure only what
// PureKeep keeps of it, with vars applied.
func ChildEnv(vars []Var, pure bool) []string {
	base := os.Environ()
	if pure {
		var kept []string
		for _, kv := range base {
			if k, _, _ := strings.Cut(kv, "="); PureKeep(k) {
				kept = append(kept, kv)
			}
		}
		base = kept
	}
	return Apply(base, vars)
}

// LookPathIn finds a command on the PATH of env; a name with a slash is used as it is.
func LookPathIn(name string, env []string) (string, bool) {
	if strings.Contains(name, "/") {
		return name, true
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}
