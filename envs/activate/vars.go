package activate

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
)

// Variables is the environment of a project using profile (built from pkgs), in the order Apply
// applies it: the profile's search paths (PATH gets profile/bin, MANPATH share/man, and so on,
// each only when the profile has that directory), the packages' own variables, DEN_ROOT and
// DEN_PROFILE, and then the project's [env] in file order.
//
// An [env] value may use $VAR and ${VAR}; $$ is a literal $. A name is looked up in the earlier
// [env] entries, then DEN_ROOT and DEN_PROFILE, then the outer environment as the profile changes
// it (so "$PATH" includes the profile's bin); a name found nowhere expands to the empty string, as
// in sh. A value of the form "...:$NAME" for its own name NAME is a prepend, so a nested den shell
// does not add the entries twice.
func Variables(profile string, pkgs []Package, project []EnvVar, root string, outer func(string) string) ([]Var, error) {
	vars, err := PackageVars(profile, pkgs, false)
	if err != nil {
		return nil, err
	}
	if outer == nil {
		outer = func(string) string { return "" }
	}
	vars = dropGoSettings(vars, outer)
	vars = append(vars, Var{Name: "DEN_ROOT", Value: root, Op: Set}, Var{Name: "DEN_PROFILE", Value: profile, Op: Set})
	// The environment the project's values see: outer, changed by the profile's variables.
	base := map[string]string{}
	lookup := func(name string) string {
		if v, ok := base[name]; ok {
			return v
		}
		return outer(name)
	}
	for _, v := range vars {
		base[v.Name] = apply1(v, lookup(v.Name), lookup(v.Name) != "")
	}
	for _, ev := range project {
		where := fmt.Sprintf("den.toml:%d:%d: [env] %s", ev.Pos.Line, ev.Pos.Col, ev.Name)
		if ev.Pos.Line == 0 {
			where = "[env] " + ev.Name
		}
		v := Var{Name: ev.Name, Op: Set}
		raw := ev.Value
		for _, self := range []string{":$" + ev.Name, ":${" + ev.Name + "}"} {
			if prefix, ok := strings.CutSuffix(raw, self); ok {
				raw, v.Op = prefix, Prepend
				break
			}
		}
		value, err := Expand(raw, lookup)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		v.Value = value
		base[v.Name] = apply1(v, lookup(v.Name), lookup(v.Name) != "")
		vars = append(vars, v)
	}
	return vars, nil
}

// Expand replaces $NAME and ${NAME} in s with lookup(NAME), and $$ with $. A $ followed by
// anything else stays as it is.
func Expand(s string, lookup func(string) string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
		case next == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("%q has ${ without a closing }; write $$ for a literal $", s)
			}
			name := s[i+2 : i+2+end]
			if !isName(name) {
				return "", fmt.Errorf("%q: ${%s} is not a variable name (letters, digits and _)", s, name)
			}
			b.WriteString(lookup(name))
			i += 2 + end
		case isNameStart(next):
			j := i + 1
			for j < len(s) && (isNameStart(s[j]) || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			b.WriteString(lookup(s[i+1 : j]))
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func isNameStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameStart(s[i]) && !(s[i] >= '0' && s[i] <= '9') {
			return false
		}
	}
	return true
}

// unsetDefault is what a search path means when it is unset, kept behind the prepended entries
// so that they add to the system's defaults rather than hide them. For MANPATH and INFOPATH an
// empty entry stands for the defaults. A switch rather than a map: a map would be built at every
// start of the launcher, which links this package.
func unsetDefault(name string) (string, bool) {
	switch name {
	case "MANPATH", "INFOPATH":
		return "", true
	case "XDG_DATA_DIRS":
		return "/usr/local/share:/usr/share", true
	}
	return "", false
}

// apply1 is the value of v over the current value cur (set reports whether there is one).
func apply1(v Var, cur string, set bool) string {
	if v.Op == Default {
		// Empty counts as unset, as for the go command, whose settings are the defaults there are.
		if cur != "" {
			return cur
		}
		return v.Value
	}
	if v.Op != Prepend {
		return v.Value
	}
	var rest []string
	if set {
		rest = strings.Split(cur, ":")
	} else if def, ok := unsetDefault(v.Name); ok {
		rest = strings.Split(def, ":")
	}
	var out []string
	for _, e := range strings.Split(v.Value, ":") {
		if e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	for _, e := range rest {
		// An empty entry means something (the current directory in PATH, the defaults in
		// MANPATH), so it stays where it was; named entries already in front are dropped.
		if e == "" || !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return strings.Join(out, ":")
}

// Apply returns env ("NAME=value" entries, as os.Environ gives) with vars applied in order, for a
// child process. Prepending moves entries already present to the front instead of repeating them,
// so applying the same variables twice (a den shell inside a den shell) changes nothing.
func Apply(env []string, vars []Var) []string {
	out := slices.Clone(env)
	for _, v := range vars {
		prefix := v.Name + "="
		cur, set := "", false
		var keep []string
		for _, kv := range out {
			if strings.HasPrefix(kv, prefix) {
				cur, set = kv[len(prefix):], true // the last one wins, as for exec
				continue
			}
			keep = append(keep, kv)
		}
		out = append(keep, prefix+apply1(v, cur, set))
	}
	return out
}

// searchPaths are the variables a profile prepends to, and the profile directories that go in
// them when they exist.
var searchPaths = []struct {
	name string
	dirs []string
}{
	{"PATH", []string{"bin", "sbin"}},
	{"MANPATH", []string{"share/man"}},
	{"INFOPATH", []string{"share/info"}},
	{"PKG_CONFIG_PATH", []string{"lib/pkgconfig", "lib/x86_64-linux-gnu/pkgconfig", "lib/aarch64-linux-gnu/pkgconfig", "lib/arm-linux-gnueabihf/pkgconfig", "lib/i386-linux-gnu/pkgconfig", "share/pkgconfig"}},
	{"ACLOCAL_PATH", []string{"share/aclocal"}},
	{"CPATH", []string{"include/x86_64-linux-gnu", "include/aarch64-linux-gnu", "include/arm-linux-gnueabihf", "include/i386-linux-gnu", "include"}},
	// gcc links with the libraries of the environment's C packages (Debian's, in their
	// multiarch dirs); den's compiler wrapper gives what it links a RUNPATH to them.
	{"LIBRARY_PATH", []string{"lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu", "lib/arm-linux-gnueabihf", "lib/i386-linux-gnu"}},
	// fish finds vendor completions through XDG_DATA_DIRS.
	{"XDG_DATA_DIRS", []string{"share"}},
}

// VarConflictError says two packages set one variable to different values.
type VarConflictError struct {
	Name     string
	Packages []string
	Values   []string
}

func (e *VarConflictError) Error() string {
	return fmt.Sprintf("packages %s and %s set %s differently (%q and %q)", e.Packages[0], e.Packages[1], e.Name, e.Values[0], e.Values[1])
}

// PackageVars computes the variables a profile at dir brings: its search paths (relative to dir
// when relative is set, for den-env.json), the packages' own variables, sorted by name, and then
// their defaults, sorted by name.
func PackageVars(dir string, pkgs []Package, relative bool) ([]Var, error) {
	var vars []Var
	managed := map[string]bool{}
	for _, sp := range searchPaths {
		managed[sp.name] = true
		var entries []string
		for _, d := range sp.dirs {
			if fi, err := os.Stat(filepath.Join(dir, d)); err == nil && fi.IsDir() {
				if relative {
					entries = append(entries, d)
				} else {
					entries = append(entries, filepath.Join(dir, d))
				}
			}
		}
		if len(entries) > 0 {
			vars = append(vars, Var{Name: sp.name, Value: strings.Join(entries, ":"), Op: Prepend})
		}
	}
	managed["DEN_ROOT"], managed["DEN_PROFILE"] = true, true
	setBy := map[string]int{}
	var names []string
	for i, pkg := range pkgs {
		for name, value := range pkg.Vars {
			if managed[name] {
				return nil, fmt.Errorf("package %s sets %s, which den manages itself", pkg.Name, name)
			}
			if j, ok := setBy[name]; ok {
				if pkgs[j].Vars[name] != value {
					return nil, &VarConflictError{Name: name, Packages: []string{pkgs[j].Name, pkg.Name}, Values: []string{pkgs[j].Vars[name], value}}
				}
				continue
			}
			setBy[name] = i
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		vars = append(vars, Var{Name: name, Value: pkgs[setBy[name]].Vars[name], Op: Set})
	}
	defaultBy := map[string]int{}
	var defaults []string
	for i, pkg := range pkgs {
		for name, value := range pkg.Defaults {
			if managed[name] {
				return nil, fmt.Errorf("package %s sets %s, which den manages itself", pkg.Name, name)
			}
			if _, ok := setBy[name]; ok {
				continue // a package sets it outright
			}
			if j, ok := defaultBy[name]; ok {
				if pkgs[j].Defaults[name] != value {
					return nil, &VarConflictError{Name: name, Packages: []string{pkgs[j].Name, pkg.Name}, Values: []string{pkgs[j].Defaults[name], value}}
				}
				continue
			}
			defaultBy[name] = i
			defaults = append(defaults, name)
		}
	}
	sort.Strings(defaults)
	for _, name := range defaults {
		vars = append(vars, Var{Name: name, Value: pkgs[defaultBy[name]].Defaults[name], Op: Default})
	}
	return vars, nil
}

// dropGoSettings removes the defaults of Go's own settings (GOTOOLCHAIN, …) that the user set
// with go env -w. The go command reads a setting from the environment, else from the user's env
// file, else from $GOROOT/go.env: a package's default stands where go.env would, below the
// user's file. The toolchain's own go.env cannot carry it, being the checksummed module as
// published, so den's default is an environment variable, set only when neither the
// environment (Default) nor this file sets it. One small read, and only for Go's names.
func dropGoSettings(vars []Var, outer func(string) string) []Var {
	var file map[string]string
	read := false
	out := vars[:0:0]
	for _, v := range vars {
		if v.Op == Default && strings.HasPrefix(v.Name, "GO") {
			if !read {
				file, read = readGoEnvFile(goEnvFile(outer)), true
			}
			if file[v.Name] != "" {
				continue
			}
		}
		out = append(out, v)
	}
	return out
}

// goEnvFile is the go command's user env file (cmd/go's cfg.EnvFile): $GOENV, none when it is
// "off", else go/env in the user's config directory. core/gomod reads the same file for the
// module settings; this leaf package cannot import it.
func goEnvFile(getenv func(string) string) string {
	switch file := getenv("GOENV"); file {
	case "off":
		return ""
	case "":
	default:
		return file
	}
	var dir string
	switch runtime.GOOS {
	case "darwin", "ios":
		if home := getenv("HOME"); home != "" {
			dir = filepath.Join(home, "Library", "Application Support")
		}
	default:
		dir = getenv("XDG_CONFIG_HOME")
		if !filepath.IsAbs(dir) {
			dir = ""
			if home := getenv("HOME"); home != "" {
				dir = filepath.Join(home, ".config")
			}
		}
	}
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "go", "env")
}

// readGoEnvFile reads KEY=VALUE lines as the go command does, skipping lines that do not start
// with an upper-case letter; a missing or unreadable file sets nothing.
func readGoEnvFile(file string) map[string]string {
	if file == "" {
		return nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	values := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		i := strings.IndexByte(line, '=')
		if i < 0 || line[0] < 'A' || line[0] > 'Z' {
			continue
		}
		values[line[:i]] = line[i+1:]
	}
	return values
}
