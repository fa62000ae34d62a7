package manifest

import (
	"errors"
	"strings"
	"testing"
)

func TestAddPackage(t *testing.T) {
	tests := []struct {
		name, in, pkg, constraint, want string
	}{
		{
			name: "empty file",
			in:   "", pkg: "go", constraint: "1.22",
			want: "[packages]\ngo = \"1.22\"\n",
		},
		{
			name: "blank file",
			in:   "\n\n", pkg: "go", constraint: "1.22",
			want: "[packages]\ngo = \"1.22\"\n",
		},
		{
			name: "comments only",
			in:   "# my project\n", pkg: "go", constraint: "1.22",
			want: "# my project\n\n[packages]\ngo = \"1.22\"\n",
		},
		{
			name: "no packages table, no final newline",
			in:   "systems = [\"x86_64-linux\"]", pkg: "go", constraint: "1.22",
			want: "systems = [\"x86_64-linux\"]\n\n[packages]\ngo = \"1.22\"\n",
		},
		{
			name: "no packages table, blank line kept single",
			in:   "[env]\nA = \"1\" # why\n\n", pkg: "node", constraint: "^20",
			want: "[env]\nA = \"1\" # why\n\n[packages]\nnode = \"^20\"\n",
		},
		{
			name: "only sub-tables of packages",
			in:   "[packages.gopls]\nversion = \"latest\"\n", pkg: "go", constraint: "1.22",
			want: "[packages.gopls]\nversion = \"latest\"\n\n[packages]\ngo = \"1.22\"\n",
		},
		{
			name: "empty packages table",
			in:   "# top\n[packages] # tools\n# nothing yet\n", pkg: "go", constraint: "1.22",
			want: "# top\n[packages] # tools\ngo = \"1.22\"\n# nothing yet\n",
		},
		{
			name: "header ends the file",
			in:   "[packages]", pkg: "go", constraint: "1.22",
			want: "[packages]\ngo = \"1.22\"\n",
		},
		{
			name: "appended after the last entry",
			in:   "[packages]\n# the compiler\ngo = \"1.22\" # pinned\n\n# later\n", pkg: "gopls", constraint: "latest",
			want: "[packages]\n# the compiler\ngo = \"1.22\" # pinned\ngopls = \"latest\"\n\n# later\n",
		},
		{
			name: "last entry ends the file",
			in:   "[packages]\ngo = \"1.22\"", pkg: "node", constraint: "20",
			want: "[packages]\ngo = \"1.22\"\nnode = \"20\"\n",
		},
		{
			name: "packages in the middle, followed by env",
			in:   "systems = []\n\n[packages]\ngo = \"1.22\"\n\n[env]\nX = \"1\"\n", pkg: "node", constraint: "20",
			want: "systems = []\n\n[packages]\ngo = \"1.22\"\nnode = \"20\"\n\n[env]\nX = \"1\"\n",
		},
		{
			name: "after inline table entry, before sub-table",
			in:   "[packages]\ngo = { version = \"1.22\" }\n[packages.gopls]\nversion = \"latest\"\n", pkg: "node", constraint: "20",
			want: "[packages]\ngo = { version = \"1.22\" }\nnode = \"20\"\n[packages.gopls]\nversion = \"latest\"\n",
		},
		{
			name: "quoted key",
			in:   "[packages]\ngo = \"1.22\"\n", pkg: "npm:prettier", constraint: "3",
			want: "[packages]\ngo = \"1.22\"\n\"npm:prettier\" = \"3\"\n",
		},
		{
			name: "key with dots and @",
			in:   "[packages]\n", pkg: "go:golang.org/x/tools/cmd/stringer@v0", constraint: "latest",
			want: "[packages]\n\"go:golang.org/x/tools/cmd/stringer@v0\" = \"latest\"\n",
		},
		{
			name: "constraint needing escapes",
			in:   "[packages]\n", pkg: "go", constraint: `>=1.21 "x"`,
			want: "[packages]\ngo = \">=1.21 \\\"x\\\"\"\n",
		},
		{
			name: "replace a constraint, comment kept",
			in:   "[packages]\ngo   =   \"1.21\"   # pinned for CI\nnode = \"20\"\n", pkg: "go", constraint: "1.22",
			want: "[packages]\ngo   =   \"1.22\"   # pinned for CI\nnode = \"20\"\n",
		},
		{
			name: "replace a literal string",
			in:   "[packages]\ngo = '1.21'\n", pkg: "go", constraint: "1.22",
			want: "[packages]\ngo = \"1.22\"\n",
		},
		{
			name: "replace under a quoted key",
			in:   "[packages]\n\"npm:prettier\" = \"2\" # fmt\n", pkg: "npm:prettier", constraint: "3",
			want: "[packages]\n\"npm:prettier\" = \"3\" # fmt\n",
		},
		{
			name: "replace inside an inline table",
			in:   "[packages]\ngo = { version = \"1.21\", systems = [\"x86_64-linux\"] } # c\n", pkg: "go", constraint: "1.22",
			want: "[packages]\ngo = { version = \"1.22\", systems = [\"x86_64-linux\"] } # c\n",
		},
		{
			name: "replace dotted keys",
			in:   "[packages]\ngo.version = \"1.21\"\n", pkg: "go", constraint: "1.22",
			want: "[packages]\ngo.version = \"1.22\"\n",
		},
		{
			name: "CRLF line endings",
			in:   "[packages]\r\ngo = \"1.22\"\r\n", pkg: "node", constraint: "20",
			want: "[packages]\r\ngo = \"1.22\"\r\nnode = \"20\"\r\n",
		},
		{
			name: "CRLF without packages",
			in:   "[env]\r\nA = \"1\"\r\n", pkg: "node", constraint: "20",
			want: "[env]\r\nA = \"1\"\r\n\r\n[packages]\r\nnode = \"20\"\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AddPackage("den.toml", []byte(tt.in), tt.pkg, tt.constraint)
			if err != nil {
				t.Fatalf("AddPackage: %v", err)
			}
			if string(got) != tt.want {
				t.Fatalf("AddPackage(%q, %q, %q) =\n%q\nwant\n%q", tt.in, tt.pkg, tt.constraint, got, tt.want)
			}
			m, err := Parse("den.toml", got)
			if err != nil {
				t.Fatalf("result does not parse: %v", err)
			}
			if p := findPackage(m, tt.pkg); p == nil || p.Version != tt.constraint {
				t.Errorf("after the edit, %s is %+v; want version %q", tt.pkg, p, tt.constraint)
			}
		})
	}
}

func TestRemovePackage(t *testing.T) {
	tests := []struct {
		name, in, pkg, want string
	}{
		{
			name: "only entry",
			in:   "[packages]\ngo = \"1.22\"\n", pkg: "go",
			want: "[packages]\n",
		},
		{
			name: "first entry, comment above kept",
			in:   "# tools\n[packages]\n# the compiler\ngo = \"1.22\" # pinned\nnode = \"20\"\n", pkg: "go",
			want: "# tools\n[packages]\n# the compiler\nnode = \"20\"\n",
		},
		{
			name: "last entry, following table kept",
			in:   "[packages]\ngo = \"1.22\"\nnode = \"20\" # lts\n\n[env]\nX = \"1\"\n", pkg: "node",
			want: "[packages]\ngo = \"1.22\"\n\n[env]\nX = \"1\"\n",
		},
		{
			name: "last line without newline",
			in:   "[packages]\ngo = \"1.22\"\nnode = \"20\"", pkg: "node",
			want: "[packages]\ngo = \"1.22\"\n",
		},
		{
			name: "quoted key",
			in:   "[packages]\ngo = \"1.22\"\n\"npm:prettier\" = \"3\"\nnode = \"20\"\n", pkg: "npm:prettier",
			want: "[packages]\ngo = \"1.22\"\nnode = \"20\"\n",
		},
		{
			name: "inline table",
			in:   "[packages]\ngo = { version = \"1.22\", outputs = [\"out\"] } # c\nnode = \"20\"\n", pkg: "go",
			want: "[packages]\nnode = \"20\"\n",
		},
		{
			name: "CRLF",
			in:   "[packages]\r\ngo = \"1.22\"\r\nnode = \"20\"\r\n", pkg: "go",
			want: "[packages]\r\nnode = \"20\"\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RemovePackage("den.toml", []byte(tt.in), tt.pkg)
			if err != nil {
				t.Fatalf("RemovePackage: %v", err)
			}
			if string(got) != tt.want {
				t.Fatalf("RemovePackage(%q, %q) =\n%q\nwant\n%q", tt.in, tt.pkg, got, tt.want)
			}
			m, err := Parse("den.toml", got)
			if err != nil {
				t.Fatalf("result does not parse: %v", err)
			}
			if p := findPackage(m, tt.pkg); p != nil {
				t.Errorf("after the edit, %s is still there: %+v", tt.pkg, p)
			}
		})
	}
}

// TestEditRoundTrip adds and removes packages in a file that uses every section, and checks that
// everything outside the edited lines stays byte-for-byte.
func TestEditRoundTrip(t *testing.T) {
	data := []byte(full)
	added, err := AddPackage("den.toml", data, "npm:typescript", "5")
	if err != nil {
		t.Fatal(err)
	}
	line := "\"npm:typescript\" = \"5\"\n"
	if !strings.Contains(string(added), "outputs = [\"out\"] }\n"+line+"\n[env]") {
		t.Fatalf("typescript not after the last entry:\n%s", added)
	}
	if got := strings.Replace(string(added), line, "", 1); got != full {
		t.Errorf("add changed more than its line:\n%s", added)
	}
	removed, err := RemovePackage("den.toml", added, "npm:typescript")
	if err != nil {
		t.Fatal(err)
	}
	if string(removed) != full {
		t.Errorf("add then remove is not the original:\n%s", removed)
	}
	for _, name := range []string{"go", "npm:prettier", "gopls"} {
		out, err := RemovePackage("den.toml", data, name)
		if err != nil {
			t.Fatalf("RemovePackage(%s): %v", name, err)
		}
		m, err := Parse("den.toml", out)
		if err != nil {
			t.Fatalf("after removing %s: %v", name, err)
		}
		if len(m.Packages) != 2 || len(m.Recipes) != 4 || len(m.Env) != 2 {
			t.Errorf("after removing %s: %d packages, %d recipes, %d env", name, len(m.Packages), len(m.Recipes), len(m.Env))
		}
	}
}

func TestEditErrors(t *testing.T) {
	tests := []struct {
		name, in, op, pkg, constraint string
		want                          []string // substrings of the error
	}{
		{
			name: "remove absent",
			in:   "[packages]\ngo = \"1.22\"\nnode = \"20\"\n", op: "rm", pkg: "nodee",
			want: []string{`den.toml:1:1: no package "nodee" in den.toml; did you mean "node"?`, "hint: den.toml's packages are go and node"},
		},
		{
			name: "remove from no packages",
			in:   "[env]\nA = \"1\"\n", op: "rm", pkg: "go",
			want: []string{`no package "go" in den.toml`, "hint: den.toml has no packages"},
		},
		{
			name: "remove sub-table",
			in:   "[packages]\ngo = \"1\"\n[packages.gopls]\nversion = \"latest\"\n", op: "rm", pkg: "gopls",
			want: []string{"den.toml:3:1: den cannot edit [packages.gopls], a table of its own", "delete the [packages.gopls] table"},
		},
		{
			name: "replace in sub-table",
			in:   "[packages.gopls]\nversion = \"latest\"\n", op: "add", pkg: "gopls", constraint: "v0.16",
			want: []string{"den.toml:1:1: den cannot edit [packages.gopls]", `gopls = { version = "v0.16" }`},
		},
		{
			name: "remove dotted keys",
			in:   "[packages]\ngo.version = \"1.22\"\n", op: "rm", pkg: "go",
			want: []string{"den.toml:2:1: den cannot remove packages.go the way it is written"},
		},
		{
			name: "add to inline packages",
			in:   "packages = { go = \"1.22\" }\n", op: "add", pkg: "node", constraint: "20",
			want: []string{"den.toml:1:1: den cannot add to packages written as an inline table", "[packages] header"},
		},
		{
			name: "add to dotted packages",
			in:   "packages.go = \"1.22\"\n", op: "add", pkg: "node", constraint: "20",
			want: []string{"den.toml:1:10: den cannot add to packages written as dotted keys"},
		},
		{
			name: "broken input",
			in:   "[packages]\ngo = 1.22\n", op: "add", pkg: "node", constraint: "20",
			want: []string{"den.toml:2:6: packages.go must be a string or a table"},
		},
		{
			name: "empty constraint",
			in:   "", op: "add", pkg: "go", constraint: "",
			want: []string{"empty version constraint for go"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.op == "rm" {
				_, err = RemovePackage("den.toml", []byte(tt.in), tt.pkg)
			} else {
				_, err = AddPackage("den.toml", []byte(tt.in), tt.pkg, tt.constraint)
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain %q", err, w)
				}
			}
		})
	}
	// The caller tells a missing package from other failures by type.
	_, err := RemovePackage("den.toml", []byte("[packages]\n"), "go")
	var me *Error
	if !errors.As(err, &me) {
		t.Errorf("RemovePackage of a missing package: %T, want *Error", err)
	}
}

func findPackage(m *Manifest, name string) *Package {
	for i := range m.Packages {
		if m.Packages[i].Name == name {
			return &m.Packages[i]
		}
	}
	return nil
}

// FuzzEdit checks that an edit of any file den accepts either fails or gives a file den accepts,
// with the package set as asked and every other package kept.
func FuzzEdit(f *testing.F) {
	for _, s := range []string{full, "", "[packages]\n", "# c\n[packages]\ngo = \"1\" # x\n[env]\nA = \"b\"\n",
		"[packages.go]\nversion = \"1\"\n", "packages.go = \"1\"\n", "[packages]\ngo.version = \"1\"\n"} {
		f.Add(s, "go", "1.22")
		f.Add(s, "npm:prettier", "3")
	}
	f.Fuzz(func(t *testing.T, data, name, constraint string) {
		before, err := Parse("den.toml", []byte(data))
		if err != nil {
			return
		}
		out, err := AddPackage("den.toml", []byte(data), name, constraint)
		if err == nil {
			m, err := Parse("den.toml", out)
			if err != nil {
				t.Fatalf("AddPackage gave a file that does not parse: %v\n%s", err, out)
			}
			if p := findPackage(m, name); p == nil || p.Version != constraint {
				t.Fatalf("after AddPackage, %q is %+v\n%s", name, p, out)
			}
			for _, p := range before.Packages {
				if findPackage(m, p.Name) == nil {
					t.Fatalf("AddPackage lost %q\n%s", p.Name, out)
				}
			}
		}
		out, err = RemovePackage("den.toml", []byte(data), name)
		if err == nil {
			m, err := Parse("den.toml", out)
			if err != nil {
				t.Fatalf("RemovePackage gave a file that does not parse: %v\n%s", err, out)
			}
			if len(m.Packages) != len(before.Packages)-1 || findPackage(m, name) != nil {
				t.Fatalf("RemovePackage(%q) left %+v\n%s", name, m.Packages, out)
			}
		}
	})
}
