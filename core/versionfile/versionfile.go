// Package versionfile reads the files in which other tools pin a project's toolchains — .nvmrc
// and .node-version (nvm, fnm, volta's users), go.mod's toolchain and go lines, .python-version
// (pyenv), .tool-versions (asdf, mise) — and says which den packages, at which constraints, they
// ask for, so that den init can start a project's den.toml from what is already there.
package versionfile

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
)

// Pin is one package a versions file asks for.
type Pin struct {
	Package    string // den's name: go, node, python…
	Constraint string // as den.toml writes it
	From       string // the file, relative to the project: ".nvmrc", "go.mod"
}

// asdfNames maps .tool-versions' plugin names onto den's package names.
var asdfNames = map[string]string{
	"nodejs": "node", "node": "node", "golang": "go", "go": "go", "python": "python",
	"pnpm": "pnpm", "yarn": "yarn", "bun": "bun", "deno": "deno",
}

// Skipped is a tool a versions file names that den has no package for.
type Skipped struct {
	Tool, From string
}

// Read looks for versions files in dir and returns what they pin, one pin per package (the
// first file in the order above wins), and the tools den cannot provide.
func Read(dir string) ([]Pin, []Skipped, error) {
	var pins []Pin
	var skipped []Skipped
	have := map[string]bool{}
	add := func(p Pin) {
		if p.Constraint != "" && !have[p.Package] {
			have[p.Package] = true
			pins = append(pins, p)
		}
	}
	read := func(name string) (string, bool, error) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return "", false, nil
		}
		return string(data), err == nil, err
	}
	for _, name := range []string{".nvmrc", ".node-version"} {
		text, ok, err := read(name)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			add(Pin{Package: "node", Constraint: nodeConstraint(firstLine(text)), From: name})
		}
	}
	if text, ok, err := read("go.mod"); err != nil {
		return nil, nil, err
	} else if ok {
		if c := goConstraint([]byte(text)); c != "" {
			add(Pin{Package: "go", Constraint: c, From: "go.mod"})
		}
	}
	if text, ok, err := read(".python-version"); err != nil {
		return nil, nil, err
	} else if ok {
		add(Pin{Package: "python", Constraint: strings.TrimPrefix(firstLine(text), "python-"), From: ".python-version"})
	}
	if text, ok, err := read(".tool-versions"); err != nil {
		return nil, nil, err
	} else if ok {
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			pkg, known := asdfNames[f[0]]
			if !known {
				skipped = append(skipped, Skipped{Tool: f[0], From: ".tool-versions"})
				continue
			}
			c := f[1] // the first version listed is the one asdf uses
			if pkg == "node" {
				c = nodeConstraint(c)
			}
			add(Pin{Package: pkg, Constraint: c, From: ".tool-versions"})
		}
	}
	return pins, skipped, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	line, _, _ = strings.Cut(line, "#")
	return strings.TrimSpace(line)
}

// nodeConstraint spells what nvm accepts as den's constraint: v20.11.0 → 20.11.0, node and stable
// → latest, lts/* → lts, lts/iron as it is.
func nodeConstraint(s string) string {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "":
		return ""
	case "node", "stable", "latest", "current":
		return "latest"
	case "lts/*", "lts":
		return "lts"
	}
	if strings.HasPrefix(strings.ToLower(s), "lts/") {
		return strings.ToLower(s)
	}
	return strings.TrimPrefix(strings.TrimPrefix(s, "v"), "V")
}

// goConstraint is the Go a go.mod asks for: its toolchain line exactly (go1.22.3 → 1.22.3), else
// the highest release of its go line's minor version (go 1.22.1 → 1.22, which takes the newest
// 1.22.x, at least the one go.mod needs).
func goConstraint(data []byte) string {
	f, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		return ""
	}
	if f.Toolchain != nil && strings.HasPrefix(f.Toolchain.Name, "go1") {
		name := strings.TrimPrefix(f.Toolchain.Name, "go")
		if i := strings.IndexByte(name, '-'); i >= 0 {
			name = name[:i] // go1.22.3-custom: the release it is built from
		}
		return name
	}
	if f.Go != nil {
		parts := strings.SplitN(f.Go.Version, ".", 3)
		if len(parts) >= 2 {
			minor := parts[1]
			if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
				minor = minor[:i] // 23rc1: a prerelease of 1.23
			}
			return parts[0] + "." + minor
		}
		return f.Go.Version
	}
	return ""
}

// Names lists where pins came from, for a message: ".nvmrc (node 20), go.mod (go 1.22)".
func Names(pins []Pin) string {
	var b bytes.Buffer
	for i, p := range pins {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.From + " (" + p.Package + " " + p.Constraint + ")")
	}
	return b.String()
}
