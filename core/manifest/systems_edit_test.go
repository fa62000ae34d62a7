package manifest

import "testing"

func TestSetSystems(t *testing.T) {
	linux := []string{"x86_64-linux"}
	for _, tc := range []struct{ name, in, want string }{
		{"empty file", "", "systems = [\"x86_64-linux\"]\n"},
		{"comments only, no final newline", "# mine", "# mine\nsystems = [\"x86_64-linux\"]\n"},
		{"below the file's opening comment, above the first table",
			"# den.toml for a Go project\n\n[packages]\ngo = \"1.22\"\n",
			"# den.toml for a Go project\n\nsystems = [\"x86_64-linux\"]\n\n[packages]\ngo = \"1.22\"\n"},
		{"above the comment that is about the first table",
			"# top\n\n# the tools\n[packages]\n",
			"# top\n\nsystems = [\"x86_64-linux\"]\n\n# the tools\n[packages]\n"},
		{"a comment at the very top about the first table", "# tools\n[packages]\n",
			"systems = [\"x86_64-linux\"]\n\n# tools\n[packages]\n"},
		{"replaced, comment and spacing kept",
			"systems  =  [ \"x86_64-linux\", # ours\n  \"aarch64-darwin\" ] # where we build\n[packages]\n",
			"systems  =  [\"x86_64-linux\"] # where we build\n[packages]\n"},
		{"CRLF", "[packages]\r\ngo = \"1\"\r\n", "systems = [\"x86_64-linux\"]\r\n\r\n[packages]\r\ngo = \"1\"\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SetSystems("den.toml", []byte(tc.in), linux)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
			m, err := Parse("den.toml", got)
			if err != nil || len(m.Systems) != 1 || m.Systems[0] != "x86_64-linux" {
				t.Fatalf("result parses to %v, %v", m, err)
			}
		})
	}
	two, err := SetSystems("den.toml", []byte("systems = []\n"), []string{"x86_64-linux", "aarch64-darwin"})
	if err != nil || string(two) != "systems = [\"x86_64-linux\", \"aarch64-darwin\"]\n" {
		t.Fatalf("two systems: %q, %v", two, err)
	}
}
