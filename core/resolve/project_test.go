package resolve

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/den-sh/den/core/backend"
)

// A package's error says its name once, at its line in den.toml when it has one.
func TestPackageErrorNamesOnce(t *testing.T) {
	for _, tc := range []struct {
		err  *PackageError
		want string
	}{
		{&PackageError{File: "den.toml", Line: 3, Col: 1, Name: "node", Err: errors.New(`node: no version matches "99"`)},
			`den.toml:3:1: node: no version matches "99"`},
		{&PackageError{File: "den.toml", Line: 3, Col: 1, Name: "go", Err: errors.New("go 1.22.3 has no build for x86_64-darwin")},
			"den.toml:3:1: go 1.22.3 has no build for x86_64-darwin"},
		{&PackageError{File: "den.toml", Line: 2, Col: 1, Name: "gopls", Err: errors.New("the lookup failed")},
			"den.toml:2:1: gopls: the lookup failed"},
		// den add's package is on no line of the file yet.
		{&PackageError{Name: "npm:x", Err: errors.New("not found")}, "npm:x: not found"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// A missing build hints at fewer systems, for the project and for the package as den.toml
// spells it, and at the newest version every system has when it is the package's own.
func TestPackageErrorHintsSystems(t *testing.T) {
	nb := &backend.NoBuildError{Package: "go", Version: "1.22.3", Constraint: "^1.21", Newest: "1.21.9",
		Missing: []string{"x86_64-darwin"}, Asked: []string{"x86_64-linux", "x86_64-darwin"}}
	e := &PackageError{File: "den.toml", Name: "go", Constraint: "^1.21", Err: nb}
	hints := strings.Join(e.Hints(), "\n")
	for _, want := range []string{"den lock --systems current", `go = { version = "^1.21", systems = ["x86_64-linux"] }`, `go = "1.21.9"`} {
		if !strings.Contains(hints, want) {
			t.Errorf("hints lack %q:\n%s", want, hints)
		}
	}
	tool := &PackageError{File: "den.toml", Name: "npm:prettier", Constraint: "3", Err: fmt.Errorf("npm:prettier needs node: %w", nb)}
	hints = strings.Join(tool.Hints(), "\n")
	if !strings.Contains(hints, `"npm:prettier" = { version = "3", systems = ["x86_64-linux"] }`) || strings.Contains(hints, "1.21.9") {
		t.Errorf("a tool's hints:\n%s", hints)
	}
}
