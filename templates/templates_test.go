package templates

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/den-sh/den/core/manifest"
)

func TestTemplatesParse(t *testing.T) {
	names := Names()
	for _, want := range []string{"empty", "go", "node", "python"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() = %v, missing %q", names, want)
		}
	}
	packages := map[string][]string{
		"empty":  nil,
		"go":     {"go", "gopls"},
		"node":   {"node", "typescript", "prettier"},
		"python": {"python"},
	}
	for _, name := range names {
		data, err := Get(name)
		if err != nil {
			t.Fatalf("Get(%q): %v", name, err)
		}
		if !strings.HasPrefix(string(data), "# ") {
			t.Errorf("%s: does not start with a comment saying what it is", name)
		}
		m, err := manifest.Parse("den.toml", data)
		if err != nil {
			t.Fatalf("%s does not parse:\n%v", name, err)
		}
		if m.PackagesHeader.Start == m.PackagesHeader.End {
			t.Errorf("%s has no [packages] header for den add to extend", name)
		}
		var got []string
		for _, p := range m.Packages {
			got = append(got, p.Name)
		}
		if want, ok := packages[name]; ok && !slices.Equal(got, want) {
			t.Errorf("%s: packages %v, want %v", name, got, want)
		}
		// den add extends every template in place.
		if _, err := manifest.AddPackage("den.toml", data, "npm:esbuild", "latest"); err != nil {
			t.Errorf("%s: den add would fail: %v", name, err)
		}
	}
}

func TestGetUnknown(t *testing.T) {
	_, err := Get("rust")
	var ue *UnknownError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "empty, go, node, python") {
		t.Errorf("Get(rust) = %v", err)
	}
	if _, err := Get("../go"); err == nil {
		t.Error("Get(../go) succeeded")
	}
}
