package envs

import (
	"os"

	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/storepath"
	"github.com/den-sh/den/envs/activate"
)

// The variables' computation and application live in the leaf package activate, which the
// launcher links to run commands without the full program; these are the same types and code.
type (
	// Op says how a variable's value combines with the one already in the environment.
	Op = activate.Op
	// Var is one variable of an environment.
	Var = activate.Var
	// VarConflictError says two packages set one variable to different values.
	VarConflictError = activate.VarConflictError
)

const (
	Set     = activate.Set     // replace
	Prepend = activate.Prepend // Value is a colon-separated list put in front of the current entries
	Default = activate.Default // set only where the variable is unset or empty
)

// Variables is activate.Variables for a profile and manifest of den-core's types: the
// environment of a project using profile (built from pkgs), in the order Apply applies it.
func Variables(profile storepath.Path, pkgs []Package, project []manifest.EnvVar, root string, outer func(string) string) ([]Var, error) {
	return activate.Variables(string(profile), activatePackages(pkgs), envVars(project), root, outer)
}

// Expand replaces $NAME and ${NAME} in s with lookup(NAME), and $$ with $.
func Expand(s string, lookup func(string) string) (string, error) { return activate.Expand(s, lookup) }

// Apply returns env ("NAME=value" entries, as os.Environ gives) with vars applied in order.
func Apply(env []string, vars []Var) []string { return activate.Apply(env, vars) }

// Environ is Apply over this process's environment.
func Environ(vars []Var) []string { return Apply(os.Environ(), vars) }

func activatePackages(pkgs []Package) []activate.Package {
	out := make([]activate.Package, len(pkgs))
	for i, p := range pkgs {
		out[i] = activate.Package{Name: p.Name, Out: string(p.Out), Vars: p.Vars, Defaults: p.Defaults}
	}
	return out
}

func envVars(evs []manifest.EnvVar) []activate.EnvVar {
	if evs == nil {
		return nil
	}
	out := make([]activate.EnvVar, len(evs))
	for i, ev := range evs {
		out[i] = activate.EnvVar{Name: ev.Name, Value: ev.Value,
			Pos: activate.Position{Line: ev.Pos.Line, Col: ev.Pos.Col, Offset: ev.Pos.Offset}}
	}
	return out
}
