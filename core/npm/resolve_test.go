package npm_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/den-sh/den/core/fetch"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/npm"
	"github.com/den-sh/den/core/npm/npmtest"
)

var linuxX64 = npm.System{OS: "linux", CPU: "x64"}

type deps = map[string]string

// layout is a tree as "path@version" lines, the shape tests compare.
func layout(t *npm.Tree) []string {
	var out []string
	for _, n := range t.Nodes {
		s := n.Path + "@" + n.Version
		if n.Package != n.Name {
			s += " (" + n.Package + ")"
		}
		out = append(out, s)
	}
	return out
}

func resolve(t *testing.T, reg *npmtest.Registry, name, spec string, sys npm.System) *npm.Tree {
	t.Helper()
	tree, err := clientFor(t, reg).Resolve(context.Background(), name, spec, sys)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func wantLayout(t *testing.T, tree *npm.Tree, want ...string) {
	t.Helper()
	if got := layout(tree); !reflect.DeepEqual(got, want) {
		t.Errorf("layout:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

func TestResolveDiamondDedupes(t *testing.T) {
	reg := npmtest.New(t,
		npmtest.Package{Name: "app", Version: "1.0.0", Deps: deps{"a": "^1", "b": "^1"}},
		npmtest.Package{Name: "a", Version: "1.0.0", Deps: deps{"c": "^1.0.0"}},
		npmtest.Package{Name: "b", Version: "1.0.0", Deps: deps{"c": "^1.1.0"}},
		npmtest.Package{Name: "c", Version: "1.0.0"},
		npmtest.Package{Name: "c", Version: "1.1.0"},
		npmtest.Package{Name: "c", Version: "1.2.0", Deps: deps{"d": "~2.0.0"}},
		npmtest.Package{Name: "c", Version: "2.0.0"},
		npmtest.Package{Name: "d", Version: "2.0.5", Bin: "d.js"},
		npmtest.Package{Name: "d", Version: "2.1.0"},
	)
	tree := resolve(t, reg, "app", "latest", linuxX64)
	if tree.Root != "node_modules/app" {
		t.Errorf("root %s", tree.Root)
	}
	wantLayout(t, tree,
		"node_modules/a@1.0.0", "node_modules/app@1.0.0", "node_modules/b@1.0.0",
		"node_modules/c@1.2.0", "node_modules/d@2.0.5")
	d := tree.Nodes[4]
	if !reflect.DeepEqual(d.Bin, map[string]string{"d": "d.js"}) || d.Integrity != reg.Integrity("d", "2.0.5") {
		t.Errorf("node d: %+v", d)
	}
}

func TestResolveConflictsNest(t *testing.T) {
	reg := npmtest.New(t,
		npmtest.Package{Name: "app", Version: "1.0.0", Deps: deps{"a": "1", "b": "1", "x": "^1"}},
		npmtest.Package{Name: "a", Version: "1.0.0", Deps: deps{"x": "^2"}},
		npmtest.Package{Name: "b", Version: "1.0.0", Deps: deps{"x": "^2", "app": "^0.1"}},
		npmtest.Package{Name: "x", Version: "1.5.0"},
		npmtest.Package{Name: "x", Version: "2.3.0"},
		npmtest.Package{Name: "app", Version: "0.1.0"},
	)
	wantLayout(t, resolve(t, reg, "app", "1.0.0", linuxX64),
		"node_modules/a@1.0.0",
		"node_modules/a/node_modules/x@2.3.0",
		"node_modules/app@1.0.0",
		"node_modules/b@1.0.0",
		"node_modules/b/node_modules/app@0.1.0",
		"node_modules/b/node_modules/x@2.3.0",
		"node_modules/x@1.5.0")
}

// Placing a package must not hide, from a package below, the version that package already uses.
func TestResolveDoesNotShadow(t *testing.T) {
	reg := npmtest.New(t,
		npmtest.Package{Name: "app", Version: "1.0.0", Deps: deps{"p": "^1", "q": "^2", "x": "^1"}},
		npmtest.Package{Name: "p", Version: "1.0.0", Deps: deps{"q": "^1", "x": "^1"}},
		npmtest.Package{Name: "q", Version: "1.0.0", Deps: deps{"x": "^2"}},
		npmtest.Package{Name: "q", Version: "2.0.0"},
		npmtest.Package{Name: "x", Version: "1.0.0"},
		npmtest.Package{Name: "x", Version: "2.0.0"},
	)
	reg.Tag("q", "latest", "1.0.0")
	reg.Tag("x", "latest", "1.0.0")
	wantLayout(t, resolve(t, reg, "app", "", linuxX64),
		"node_modules/app@1.0.0",
		"node_modules/p@1.0.0",
		"node_modules/p/node_modules/q@1.0.0",
		"node_modules/p/node_modules/q/node_modules/x@2.0.0",
		"node_modules/q@2.0.0",
		"node_modules/x@1.0.0")
}

func TestResolvePlatformPackages(t *testing.T) {
	platforms := []npmtest.Package{
		{Name: "@esb/linux-x64", Version: "0.20.0", OS: []string{"linux"}, CPU: []string{"x64"}, Bin: map[string]string{"esb": "bin/esb"}},
		{Name: "@esb/linux-x64-musl", Version: "0.20.0", OS: []string{"linux"}, CPU: []string{"x64"}, Libc: []string{"musl"}},
		{Name: "@esb/linux-arm64", Version: "0.20.0", OS: []string{"linux"}, CPU: []string{"arm64"}},
		{Name: "@esb/darwin-arm64", Version: "0.20.0", OS: []string{"darwin"}, CPU: []string{"arm64"}},
		{Name: "@esb/not-win", Version: "0.20.0", OS: []string{"!win32"}},
		{Name: "fsevents", Version: "2.0.0", OS: []string{"darwin"}},
	}
	optional := deps{}
	for _, p := range platforms {
		optional[p.Name] = p.Version
	}
	optional["gone"] = "^1"
	optional["fsevents"] = "2"
	reg := npmtest.New(t, append(platforms, npmtest.Package{
		Name: "esb", Version: "0.20.0", Optional: optional, Scripts: map[string]string{"postinstall": "node install.js"},
	})...)
	for sys, want := range map[npm.System][]string{
		linuxX64:                                {"node_modules/@esb/linux-x64@0.20.0", "node_modules/@esb/not-win@0.20.0", "node_modules/esb@0.20.0"},
		{OS: "linux", CPU: "x64", Libc: "musl"}: {"node_modules/@esb/linux-x64@0.20.0", "node_modules/@esb/linux-x64-musl@0.20.0", "node_modules/@esb/not-win@0.20.0", "node_modules/esb@0.20.0"},
		{OS: "linux", CPU: "arm64"}:             {"node_modules/@esb/linux-arm64@0.20.0", "node_modules/@esb/not-win@0.20.0", "node_modules/esb@0.20.0"},
		{OS: "darwin", CPU: "arm64"}:            {"node_modules/@esb/darwin-arm64@0.20.0", "node_modules/@esb/not-win@0.20.0", "node_modules/esb@0.20.0", "node_modules/fsevents@2.0.0"},
	} {
		tree := resolve(t, reg, "esb", "^0.20", sys)
		if got := layout(tree); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", sys, got, want)
		}
		if !tree.Nodes[len(tree.Nodes)-1-map[bool]int{true: 1}[sys.OS == "darwin"]].HasInstallScript {
			t.Errorf("%s: esb has an install script", sys)
		}
	}

	// Required, a package for another platform is an error naming it.
	reg.Add(npmtest.Package{Name: "needs-darwin", Version: "1.0.0", Deps: deps{"fsevents": "2"}})
	_, err := clientFor(t, reg).Resolve(context.Background(), "needs-darwin", "1", linuxX64)
	var pe *npm.PlatformError
	if !errors.As(err, &pe) || pe.Package != "fsevents" || !strings.Contains(err.Error(), "needs-darwin@1.0.0 > fsevents@2") {
		t.Errorf("want a PlatformError through the chain, got %v", err)
	}
}

// An optional dependency whose own subtree fails is left out with that subtree.
func TestResolveOptionalSubtreeFails(t *testing.T) {
	reg := npmtest.New(t,
		npmtest.Package{Name: "tool", Version: "1.0.0", Deps: deps{"shared": "1"}, Optional: deps{"native": "^1"}},
		npmtest.Package{Name: "native", Version: "1.0.0", Deps: deps{"glue": "1", "shared": "1"}},
		npmtest.Package{Name: "glue", Version: "1.0.0", Deps: deps{"missing": "^1"}},
		npmtest.Package{Name: "shared", Version: "1.0.0"},
	)
	wantLayout(t, resolve(t, reg, "tool", "1", linuxX64), "node_modules/shared@1.0.0", "node_modules/tool@1.0.0")

	// The same failure under a required dependency is an error.
	reg.Add(npmtest.Package{Name: "tool", Version: "2.0.0", Deps: deps{"native": "^1"}})
	_, err := clientFor(t, reg).Resolve(context.Background(), "tool", "2", linuxX64)
	var nf *npm.NotFoundError
	if !errors.As(err, &nf) || nf.Package != "missing" {
		t.Fatalf("want NotFoundError for missing, got %v", err)
	}
	want := "resolve tool@2.0.0 > native@1.0.0 > glue@1.0.0 > missing@^1: package \"missing\" not found in the registry " + reg.URL
	if err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
}

func TestResolvePeers(t *testing.T) {
	reg := npmtest.New(t,
		npmtest.Package{Name: "plugin", Version: "1.0.0", Peer: deps{"host": "^2", "types": "*"}, PeerOptional: []string{"types"}},
		npmtest.Package{Name: "host", Version: "1.0.0"},
		npmtest.Package{Name: "host", Version: "2.1.0"},
		npmtest.Package{Name: "types", Version: "1.0.0"},
		npmtest.Package{Name: "app", Version: "1.0.0", Deps: deps{"host": "^2.0.0", "plugin": "1"}},
		npmtest.Package{Name: "wrapper", Version: "1.0.0", Deps: deps{"plugin": "1"}},
		npmtest.Package{Name: "clash", Version: "1.0.0", Deps: deps{"host": "1", "plugin": "1"}},
		npmtest.Package{Name: "bad-set", Version: "1.0.0", Peer: deps{"host": "^2", "other": "1"}},
		npmtest.Package{Name: "other", Version: "1.0.0", Peer: deps{"host": "^1"}},
	)
	reg.Tag("host", "latest", "1.0.0")
	// The peer is installed beside its dependent, not under it; optional peers are not.
	wantLayout(t, resolve(t, reg, "plugin", "", linuxX64), "node_modules/host@2.1.0", "node_modules/plugin@1.0.0")
	wantLayout(t, resolve(t, reg, "wrapper", "", linuxX64), "node_modules/host@2.1.0", "node_modules/plugin@1.0.0", "node_modules/wrapper@1.0.0")
	// Provided by the dependent's parent already: used, not duplicated.
	wantLayout(t, resolve(t, reg, "app", "", linuxX64), "node_modules/app@1.0.0", "node_modules/host@2.1.0", "node_modules/plugin@1.0.0")
	// The peer set needs the top level, so clash's own host@1 makes way and nests under clash,
	// as npm does.
	wantLayout(t, resolve(t, reg, "clash", "", linuxX64),
		"node_modules/clash@1.0.0", "node_modules/clash/node_modules/host@1.0.0", "node_modules/host@2.1.0", "node_modules/plugin@1.0.0")

	// A peer set that cannot agree is npm's ERESOLVE.
	_, err := clientFor(t, reg).Resolve(context.Background(), "bad-set", "", linuxX64)
	var pc *npm.PeerConflictError
	if !errors.As(err, &pc) || pc.Peer != "host" || pc.Dependent != "other@1.0.0" {
		t.Errorf("want a PeerConflictError, got %v", err)
	}
}

func TestResolveCycles(t *testing.T) {
	reg := npmtest.New(t,
		npmtest.Package{Name: "a", Version: "1.0.0", Deps: deps{"b": "^1"}},
		npmtest.Package{Name: "b", Version: "1.0.0", Deps: deps{"a": "^1", "b": "^1"}},
		npmtest.Package{Name: "p", Version: "1.0.0", Deps: deps{"q": "1"}},
		npmtest.Package{Name: "q", Version: "1.0.0", Deps: deps{"p": "2"}},
		npmtest.Package{Name: "p", Version: "2.0.0", Deps: deps{"q": "1"}},
	)
	wantLayout(t, resolve(t, reg, "a", "1", linuxX64), "node_modules/a@1.0.0", "node_modules/b@1.0.0")
	wantLayout(t, resolve(t, reg, "p", "1", linuxX64), "node_modules/p@1.0.0", "node_modules/q@1.0.0", "node_modules/q/node_modules/p@2.0.0")
}

// A package that would nest inside itself forever is linked to its copy higher up, as npm does.
func TestResolveLinksEndlessNesting(t *testing.T) {
	reg := npmtest.New(t,
		npmtest.Package{Name: "a", Version: "1.0.0", Deps: deps{"b": "1"}},
		npmtest.Package{Name: "b", Version: "1.0.0", Deps: deps{"a": "2"}},
		npmtest.Package{Name: "a", Version: "2.0.0", Deps: deps{"b": "2"}},
		npmtest.Package{Name: "b", Version: "2.0.0", Deps: deps{"a": "1"}},
	)
	tree := resolve(t, reg, "a", "1", linuxX64)
	wantLayout(t, tree,
		"node_modules/a@1.0.0",
		"node_modules/b@1.0.0",
		"node_modules/b/node_modules/a@2.0.0",
		"node_modules/b/node_modules/b@2.0.0",
		"node_modules/b/node_modules/b/node_modules/a@1.0.0",
		"node_modules/b/node_modules/b/node_modules/b@1.0.0")
	if n := tree.Nodes[5]; n.Link != "node_modules/b" || n.Tarball != "" || n.Integrity != "" {
		t.Errorf("the innermost b should be a link to node_modules/b: %+v", n)
	}
}

func TestResolveVersionChoice(t *testing.T) {
	reg := npmtest.New(t,
		npmtest.Package{Name: "v", Version: "1.0.0"},
		npmtest.Package{Name: "v", Version: "1.1.0"},
		npmtest.Package{Name: "v", Version: "1.2.0", Deprecated: "broken"},
		npmtest.Package{Name: "v", Version: "2.0.0"},
		npmtest.Package{Name: "v", Version: "2.1.0-beta.1"},
		npmtest.Package{Name: "v", Version: "3.0.0-rc.1"},
	)
	reg.Tag("v", "latest", "1.0.0")
	reg.Tag("v", "next", "3.0.0-rc.1")
	for _, tc := range []struct{ spec, want string }{
		{"latest", "1.0.0"},
		{"", "1.0.0"},
		{"*", "1.0.0"},          // "latest" satisfies, so npm takes it
		{"^1.0.0", "1.0.0"},     // likewise
		{">=1.1.0 <2", "1.1.0"}, // latest does not fit; 1.2.0 is deprecated
		{"1.2.0", "1.2.0"},      // deprecated, but the only fit
		{"^2", "2.0.0"},         // no prerelease unless asked
		{"^2.1.0-beta.0", "2.1.0-beta.1"},
		{"next", "3.0.0-rc.1"},
		{"3.0.0-rc.1", "3.0.0-rc.1"},
		{"x", "1.0.0"},
	} {
		tree := resolve(t, reg, "v", tc.spec, linuxX64)
		if got := tree.Nodes[0].Version; got != tc.want {
			t.Errorf("v@%q = %s, want %s", tc.spec, got, tc.want)
		}
	}
	reg.Tag("v", "latest", "")
	if got := resolve(t, reg, "v", "*", linuxX64).Nodes[0].Version; got != "2.0.0" {
		t.Errorf("without latest, * is the highest non-deprecated release: %s", got)
	}

	c := clientFor(t, reg)
	_, err := c.Resolve(context.Background(), "v", "^4", linuxX64)
	var nm *npm.NoMatchError
	if !errors.As(err, &nm) || !strings.Contains(err.Error(), `no version of "v" matches "^4"`) {
		t.Errorf("want NoMatchError, got %v", err)
	}
	if _, err := c.Resolve(context.Background(), "v", "beta", linuxX64); !errors.As(err, &nm) {
		t.Errorf("unknown tag: %v", err)
	}
	var us *npm.UnsupportedSpecError
	if _, err := c.Resolve(context.Background(), "v", "git+ssh://127.0.0.1/x.git", linuxX64); !errors.As(err, &us) {
		t.Errorf("git spec: %v", err)
	}
	if _, err := c.Resolve(context.Background(), "v", "1", npm.System{}); err == nil {
		t.Error("a system without os and cpu should be refused")
	}
}

func TestResolveAliasesAndBundles(t *testing.T) {
	reg := npmtest.New(t,
		npmtest.Package{Name: "cli", Version: "1.0.0", Deps: deps{"sw": "^5", "sw-cjs": "npm:sw@^4", "inside": "1"},
			ExtraManifest: map[string]any{"bundleDependencies": []string{"inside"}}},
		npmtest.Package{Name: "sw", Version: "4.2.3"},
		npmtest.Package{Name: "sw", Version: "5.1.0"},
	)
	tree := resolve(t, reg, "cli", "", linuxX64)
	wantLayout(t, tree, "node_modules/cli@1.0.0", "node_modules/sw@5.1.0", "node_modules/sw-cjs@4.2.3 (sw)")
	if n := tree.Nodes[2]; n.TarballPath != "sw/-/sw-4.2.3.tgz" || n.Integrity != reg.Integrity("sw", "4.2.3") {
		t.Errorf("alias node: %+v", n)
	}
}

func TestResolveRefusesWeakIntegrity(t *testing.T) {
	reg := npmtest.New(t,
		npmtest.Package{Name: "old", Version: "0.1.0", NoIntegrity: true},
		npmtest.Package{Name: "uses-old", Version: "1.0.0", Deps: deps{"old": "0.1"}},
	)
	_, err := clientFor(t, reg).Resolve(context.Background(), "uses-old", "", linuxX64)
	var ie *npm.IntegrityError
	if !errors.As(err, &ie) || ie.Package != "old" || !strings.Contains(err.Error(), "sha512") {
		t.Errorf("want IntegrityError, got %v", err)
	}
}

func TestResolveDeterministic(t *testing.T) {
	var pkgs []npmtest.Package
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for i, n := range names {
		for major := 1; major <= 3; major++ {
			d := deps{}
			for j := i + 1; j < len(names) && j < i+4; j++ {
				d[names[j]] = "^" + string(rune('0'+(i+j+major)%3+1))
			}
			pkgs = append(pkgs, npmtest.Package{Name: n, Version: string(rune('0'+major)) + ".0.0", Deps: d, Bin: map[string]string{n: "x.js"}})
		}
	}
	pkgs = append(pkgs, npmtest.Package{Name: "top", Version: "1.0.0", Deps: deps{"a": "1", "b": "2", "c": "3", "d": "1"}})
	reg := npmtest.NewAt(t, "/npm/", pkgs...)

	first, err := json.Marshal(resolve(t, reg, "top", "", linuxX64))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		again, _ := json.Marshal(resolve(t, reg, "top", "", linuxX64))
		if string(again) != string(first) {
			t.Fatalf("resolution differs between runs:\n%s\n%s", first, again)
		}
	}
	var tree npm.Tree
	json.Unmarshal(first, &tree)
	if len(tree.Nodes) < 10 {
		t.Errorf("expected nesting in this graph, got %v", layout(&tree))
	}
	cfg := clientFor(t, reg).Config()
	for _, n := range tree.Nodes {
		if strings.Contains(n.TarballPath, "://") || cfg.TarballURL(n.Package, n.TarballPath) != n.Tarball {
			t.Errorf("%s: tarball path %q should be relative to %s and join back to %s", n.Path, n.TarballPath, reg.URL, n.Tarball)
		}
	}
}

func TestResolveTarballElsewhere(t *testing.T) {
	reg := npmtest.New(t, npmtest.Package{Name: "a", Version: "1.0.0", TarballURL: "http://127.0.0.1:9/files/a.tgz"})
	n := resolve(t, reg, "a", "", linuxX64).Nodes[0]
	if n.TarballPath != "http://127.0.0.1:9/files/a.tgz" || n.Tarball != n.TarballPath {
		t.Errorf("a tarball outside the registry keeps its URL: %+v", n)
	}
}

func TestResolveWithToken(t *testing.T) {
	reg := npmtest.New(t,
		npmtest.Package{Name: "private", Version: "1.0.0", Deps: deps{"dep": "1"}},
		npmtest.Package{Name: "dep", Version: "1.0.0"},
	)
	reg.RequireToken("s3cret")
	key := "npm_config_//" + strings.TrimPrefix(reg.URL, "http://") + ":_authToken"

	// ${NPM_TOKEN} substitution works in npm_config_* values too.
	c := clientFor(t, reg, key, "${NPM_TOKEN}", "NPM_TOKEN", "s3cret")
	tree, err := c.Resolve(context.Background(), "private", "", linuxX64)
	if err != nil {
		t.Fatal(err)
	}
	wantLayout(t, tree, "node_modules/dep@1.0.0", "node_modules/private@1.0.0")

	_, err = clientFor(t, reg).Resolve(context.Background(), "private", "", linuxX64)
	var ae *npm.AuthError
	if !errors.As(err, &ae) || ae.Status != 401 || !strings.Contains(err.Error(), "requires authentication") {
		t.Fatalf("want AuthError without a token, got %v", err)
	}
	if h := ae.Hints(); !strings.Contains(h[len(h)-1], "//"+strings.TrimPrefix(reg.URL, "http://")+":_authToken") {
		t.Errorf("hint should name the key to set: %v", h)
	}

	_, err = clientFor(t, reg, key, "${NPM_TOKEN}").Resolve(context.Background(), "private", "", linuxX64)
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "refused the credentials") || len(ae.UnsetEnv) != 1 {
		t.Errorf("an unset ${NPM_TOKEN} should be pointed out, got %v (%v)", err, ae)
	}

	_, err = clientFor(t, npmtest.New(t), "npm_config_always_auth", "true").Packument(context.Background(), "x")
	if !errors.As(err, &ae) || ae.Status != 0 {
		t.Errorf("always-auth without credentials should be refused before asking: %v", err)
	}
}

// A scope's token goes to the scope's registry and nowhere else.
func TestTokenOnlyForItsRegistry(t *testing.T) {
	public := npmtest.New(t, npmtest.Package{Name: "app", Version: "1.0.0", Deps: deps{"@corp/lib": "1", "util": "1"}},
		npmtest.Package{Name: "util", Version: "1.0.0"})
	corp := npmtest.NewAt(t, "/corp/", npmtest.Package{Name: "@corp/lib", Version: "1.0.0", Deps: deps{"util": "1"}})
	corp.RequireToken("corp-token")
	c := clientFor(t, public,
		"npm_config_@corp:registry", corp.URL,
		"npm_config_//"+strings.TrimPrefix(corp.URL, "http://")+":_authToken", "corp-token")
	tree, err := c.Resolve(context.Background(), "app", "", linuxX64)
	if err != nil {
		t.Fatal(err)
	}
	wantLayout(t, tree, "node_modules/@corp/lib@1.0.0", "node_modules/app@1.0.0", "node_modules/util@1.0.0")
	if n := tree.Nodes[0]; n.TarballPath != "@corp/lib/-/lib-1.0.0.tgz" || c.Config().TarballURL(n.Package, n.TarballPath) != n.Tarball {
		t.Errorf("scoped tarball: %+v", n)
	}
	for _, r := range public.Requests() {
		if r.Authorization != "" {
			t.Errorf("the public registry received credentials: %+v", r)
		}
	}
	for _, r := range corp.Requests() {
		if r.Authorization != "Bearer corp-token" {
			t.Errorf("the scope's registry got %+v", r)
		}
	}
}

// The integrity a tree records is what the fetcher verifies, so a tampered tarball never lands.
func TestTamperedTarballIsCaught(t *testing.T) {
	reg := npmtest.New(t, npmtest.Package{Name: "a", Version: "1.0.0", Files: map[string]string{"index.js": "module.exports = 1\n"}})
	c := clientFor(t, reg)
	n := resolve(t, reg, "a", "", linuxX64).Nodes[0]
	want, err := hash.Parse(n.Integrity, "")
	if err != nil || want.Algo != hash.SHA512 {
		t.Fatalf("integrity %q: %v", n.Integrity, err)
	}
	get := func() error {
		_, err := fetch.Fetch(context.Background(), fetch.Request{
			URLs: []string{c.Config().TarballURL(n.Package, n.TarballPath)}, Hash: want, Dir: t.TempDir(),
		})
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("untampered tarball: %v", err)
	}
	reg.Tamper("a", "1.0.0")
	var hm *fetch.HashMismatchError
	if err := get(); !errors.As(err, &hm) {
		t.Errorf("want a hash mismatch, got %v", err)
	}
}
