package npm_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/npm"
	"github.com/den-sh/den/core/npm/npmtest"
)

// clientFor is a client whose only configuration is the fake registry.
func clientFor(t *testing.T, reg *npmtest.Registry, extra ...string) *npm.Client {
	t.Helper()
	e := map[string]string{"npm_config_registry": reg.URL}
	for i := 0; i+1 < len(extra); i += 2 {
		e[extra[i]] = extra[i+1]
	}
	cfg, err := npm.LoadConfig(func(k string) string { return e[k] }, "")
	if err != nil {
		t.Fatal(err)
	}
	return npm.NewClient(cfg, nil)
}

func TestPackumentParsing(t *testing.T) {
	reg := npmtest.New(t,
		npmtest.Package{Name: "@scope/tool", Version: "1.0.0", Bin: "cli.js"},
		npmtest.Package{Name: "@scope/tool", Version: "1.1.0", Bin: map[string]string{
			"tool": "./bin/../bin/tool.js", "../evil": "x.js", "escape": "../../etc/passwd", "scoped:name": "y.js", "empty": "",
		}},
		npmtest.Package{Name: "@scope/tool", Version: "2.0.0-rc.1", OS: []string{"linux"}, CPU: []string{"x64", "arm64"},
			Peer: map[string]string{"host": "^1", "opt": "*"}, PeerOptional: []string{"opt"},
			Scripts: map[string]string{"postinstall": "node x.js"}, Deprecated: "use 3",
			ExtraManifest: map[string]any{"engines": []string{"node >= 0.4"}, "libc": "musl", "bundleDependencies": true, "dependencies": map[string]any{"a": "^1", "b": 7}}},
		npmtest.Package{Name: "@scope/tool", Version: "not-semver"},
	)
	c := clientFor(t, reg)
	p, err := c.Packument(context.Background(), "@scope/tool")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Versions["1.0.0"].Bin; !reflect.DeepEqual(got, map[string]string{"tool": "cli.js"}) {
		t.Errorf("a string bin is named after the unscoped package: %v", got)
	}
	want := map[string]string{"tool": "bin/tool.js", "evil": "x.js", "escape": "etc/passwd", "name": "y.js"}
	if got := p.Versions["1.1.0"].Bin; !reflect.DeepEqual(got, want) {
		t.Errorf("bin map should be cleaned to stay inside the package:\n got %v\nwant %v", got, want)
	}
	m := p.Versions["2.0.0-rc.1"]
	if !reflect.DeepEqual(m.OS, []string{"linux"}) || !reflect.DeepEqual(m.CPU, []string{"x64", "arm64"}) || !reflect.DeepEqual(m.Libc, []string{"musl"}) {
		t.Errorf("platform fields: %v %v %v", m.OS, m.CPU, m.Libc)
	}
	if !m.HasInstallScript || m.Deprecated != "use 3" || m.Engines != nil {
		t.Errorf("install script %v, deprecated %q, engines %v", m.HasInstallScript, m.Deprecated, m.Engines)
	}
	if !m.PeerDependenciesMeta["opt"].Optional || m.PeerDependencies["host"] != "^1" {
		t.Errorf("peers: %v %v", m.PeerDependencies, m.PeerDependenciesMeta)
	}
	if !reflect.DeepEqual(m.Dependencies, map[string]string{"a": "^1"}) || !reflect.DeepEqual(m.BundleDependencies, []string{"a"}) {
		t.Errorf("dependencies %v, bundled %v", m.Dependencies, m.BundleDependencies)
	}
	if h, ok := m.Dist.Hash(); !ok || h.Algo != hash.SHA512 || h.SRI() != reg.Integrity("@scope/tool", "2.0.0-rc.1") {
		t.Errorf("integrity: %v %v", h, ok)
	}
	vs, err := c.Versions(context.Background(), "@scope/tool")
	if err != nil || !reflect.DeepEqual(vs, []string{"1.0.0", "1.1.0", "2.0.0-rc.1"}) {
		t.Errorf("Versions = %v, %v", vs, err)
	}

	reqs := reg.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/@scope%2ftool" || !strings.HasPrefix(reqs[0].Accept, "application/vnd.npm.install-v1+json") {
		t.Errorf("one request for the escaped name with the abbreviated Accept, got %+v", reqs)
	}
}

func TestPackumentCachedOnce(t *testing.T) {
	reg := npmtest.New(t, npmtest.Package{Name: "a", Version: "1.0.0"})
	c := clientFor(t, reg)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Packument(context.Background(), "a"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := reg.PackumentRequests("a"); n != 1 {
		t.Errorf("packument fetched %d times", n)
	}
}

func TestPackumentErrors(t *testing.T) {
	reg := npmtest.New(t, npmtest.Package{Name: "a", Version: "1.0.0"})
	c := clientFor(t, reg)
	_, err := c.Packument(context.Background(), "nope")
	var nf *npm.NotFoundError
	if !errors.As(err, &nf) || nf.Package != "nope" {
		t.Errorf("want *NotFoundError, got %v", err)
	}
	for _, bad := range []string{"../etc", ".hidden", "a/b", "@s/../x", "a b", ""} {
		if _, err := c.Packument(context.Background(), bad); err == nil {
			t.Errorf("name %q should be refused", bad)
		}
	}
}

func TestDistHash(t *testing.T) {
	sha512 := hash.Sum(hash.SHA512, []byte("x")).SRI()
	sha256 := hash.Sum(hash.SHA256, []byte("x")).SRI()
	for _, tc := range []struct {
		integrity string
		want      string
	}{
		{"sha1-abc= " + sha512, sha512},
		{sha256 + " " + sha512, sha512},
		{sha256 + "?opt", sha256},
		{"sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=", ""},
		{"", ""},
	} {
		h, ok := npm.Dist{Integrity: tc.integrity}.Hash()
		if got := map[bool]string{true: h.SRI(), false: ""}[ok]; got != tc.want {
			t.Errorf("Hash(%q) = %q, want %q", tc.integrity, got, tc.want)
		}
	}
}
