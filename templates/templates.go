// Package templates owns the starter den.toml files that den init writes, embedded in the binary.
package templates

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// Default is the template den init uses when none is named.
const Default = "empty"

//go:embed *.toml
var files embed.FS

// Names lists the templates, sorted.
func Names() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(err) // the embedded directory always reads
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".toml"); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// UnknownError says that no template has the name asked for.
type UnknownError struct {
	Name string
}

func (e *UnknownError) Error() string {
	return fmt.Sprintf("no template %q; templates are %s", e.Name, strings.Join(Names(), ", "))
}

// Get returns the den.toml of the template called name.
func Get(name string) ([]byte, error) {
	if !slices.Contains(Names(), name) {
		return nil, &UnknownError{Name: name}
	}
	return files.ReadFile(name + ".toml")
}
