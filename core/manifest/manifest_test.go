package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/den-sh/den/core/hash"
)

// full uses every section of den.toml, in the spellings users write.
const full = `# a project
systems = ["x86_64-linux", "aarch64-darwin"]

[packages]
go = "1.22"   # highest 1.22.x
"npm:prettier" = "3"
gopls = { version = "latest", systems = ["x86_64-linux"], outputs = ["out"] }

[env]
GOFLAGS = "-mod=mod"
DATA_DIR = "$DEN_ROOT/.data"

[scripts]
test = "go test ./..."

[shell]
init = "echo ready"

[options]
sandbox = "auto"

[caches]
substituters = ["http://127.0.0.1:8080"]
trusted-public-keys = ["local-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]

[recipes.hello]
description = "GNU hello"
version = "2.12.1"
src = { url = "http://127.0.0.1:8081/hello-2.12.1.tar.gz", hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" }
build = "./configure --prefix=$out && make && make install"
deps = ["lib"]
host-tools = ["cc", "make"]
env = { CFLAGS = "-O2" }

[recipes.lib]
version = "1.0"
build = "make install"

[recipes.lib.src]
urls = ["http://127.0.0.1:8081/a.tgz", "http://127.0.0.1:8082/a.tgz"]
hash = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

[recipes.local]
version = "0.1"
src = "./src"
build = "cp -r . $out"

[recipes.abs]
version = "0.1"
src = { path = "vendor/abs" }
build = "true"
`

func TestParseFull(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	m, err := Parse(path, []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	empty := hash.Sum(hash.SHA256, nil)
	// pos finds the first occurrence of s in the file, where a key's position must point.
	pos := func(s string) Position {
		off := strings.Index(full, s)
		line := strings.Count(full[:off], "\n") + 1
		return Position{Line: line, Col: off - strings.LastIndex(full[:off], "\n"), Offset: off}
	}
	line := func(s string) Span {
		off := strings.Index(full, s)
		return Span{Start: off, End: off + len(s)}
	}
	want := &Manifest{
		Path:    path,
		Root:    dir,
		Systems: []string{"x86_64-linux", "aarch64-darwin"},
		Packages: []Package{
			{Name: "go", Version: "1.22", Pos: pos("go ="), Line: line("go = \"1.22\"   # highest 1.22.x\n")},
			{Name: "npm:prettier", Version: "3", Pos: pos(`"npm:prettier"`), Line: line("\"npm:prettier\" = \"3\"\n")},
			{Name: "gopls", Version: "latest", Systems: []string{"x86_64-linux"}, Outputs: []string{"out"},
				Pos: pos("gopls"), Line: line("gopls = { version = \"latest\", systems = [\"x86_64-linux\"], outputs = [\"out\"] }\n")},
		},
		Env: []EnvVar{
			{Name: "GOFLAGS", Value: "-mod=mod", Pos: pos("GOFLAGS")},
			{Name: "DATA_DIR", Value: "$DEN_ROOT/.data", Pos: pos("DATA_DIR")},
		},
		Scripts: map[string]string{"test": "go test ./..."},
		Shell:   Shell{Init: "echo ready"},
		Options: Options{Sandbox: SandboxAuto},
		Caches: Caches{
			Substituters:      []string{"http://127.0.0.1:8080"},
			TrustedPublicKeys: []string{"local-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		},
		Recipes: map[string]*Recipe{
			"hello": {
				Name:        "hello",
				Description: "GNU hello",
				Version:     "2.12.1",
				Src:         Source{URLs: []string{"http://127.0.0.1:8081/hello-2.12.1.tar.gz"}, Hash: empty},
				Build:       "./configure --prefix=$out && make && make install",
				Deps:        []string{"lib"},
				HostTools:   []string{"cc", "make"},
				Env:         map[string]string{"CFLAGS": "-O2"},
				Pos:         pos("hello]"),
			},
			"lib": {
				Name:    "lib",
				Version: "1.0",
				Src:     Source{URLs: []string{"http://127.0.0.1:8081/a.tgz", "http://127.0.0.1:8082/a.tgz"}, Hash: empty},
				Build:   "make install",
				Pos:     pos("lib]"),
			},
			"local": {Name: "local", Version: "0.1", Src: Source{Path: filepath.Join(dir, "src")}, Build: "cp -r . $out", Pos: pos("local]")},
			"abs":   {Name: "abs", Version: "0.1", Src: Source{Path: filepath.Join(dir, "vendor/abs")}, Build: "true", Pos: pos("abs]")},
		},
		PackagesHeader: line("[packages]\n"),
		data:           []byte(full),
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", m, want)
		for name, r := range m.Recipes {
			if !reflect.DeepEqual(r, want.Recipes[name]) {
				t.Errorf("recipe %s:\n got %+v\nwant %+v", name, r, want.Recipes[name])
			}
		}
	}
	for _, p := range m.Packages {
		if got := full[p.Pos.Offset:]; !strings.HasPrefix(got, p.Name) && !strings.HasPrefix(got, `"`+p.Name) {
			t.Errorf("package %s: Pos points at %.10q", p.Name, got)
		}
	}
	sum := sha256.Sum256([]byte(full))
	if got := m.ContentHash(); got != hex.EncodeToString(sum[:]) {
		t.Errorf("ContentHash = %s", got)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, data := range []string{"", "# nothing yet\n", "\n\n"} {
		m, err := Parse("den.toml", []byte(data))
		if err != nil {
			t.Errorf("Parse(%q): %v", data, err)
			continue
		}
		if len(m.Packages) != 0 || len(m.Recipes) != 0 || m.PackagesHeader != (Span{}) {
			t.Errorf("Parse(%q) = %+v, want an empty manifest", data, m)
		}
	}
}

// TestPackageLines checks the spans den add and den rm will splice: cutting a package's line
// leaves a valid manifest without it.
func TestPackageLines(t *testing.T) {
	data := "systems = []\n[packages]\ngo = \"1.22\"\nnode = \"^20\" # lts\n[packages.gopls]\nversion = \"latest\"\n"
	m, err := Parse("den.toml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if h := m.PackagesHeader; data[h.Start:h.End] != "[packages]\n" {
		t.Errorf("PackagesHeader = %q", data[h.Start:h.End])
	}
	var names []string
	for _, p := range m.Packages {
		names = append(names, p.Name)
	}
	if want := []string{"go", "node", "gopls"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("packages %v, want %v", names, want)
	}
	if l := m.Packages[2].Line; l.Start != l.End {
		t.Errorf("gopls, a table of its own, has Line %v; want empty", l)
	}
	node := m.Packages[1].Line
	if got := data[node.Start:node.End]; got != "node = \"^20\" # lts\n" {
		t.Errorf("node line = %q", got)
	}
	m2, err := Parse("den.toml", []byte(data[:node.Start]+data[node.End:]))
	if err != nil {
		t.Fatal(err)
	}
	if len(m2.Packages) != 2 || m2.Packages[1].Name != "gopls" {
		t.Errorf("after cutting node: %+v", m2.Packages)
	}
}

func TestParseErrors(t *testing.T) {
	const recipe = "[recipes.hello]\nversion = \"1\"\nbuild = \"make\"\n"
	tests := []struct {
		name, data, want string
	}{
		{"top-level typo", "systems = []\n\npakages = 1\n", `den.toml:3:1: unknown key "pakages"; did you mean "packages"?
   3 | pakages = 1
     | ^
hint: top-level keys are systems, packages, env, scripts, shell, options, caches, targets and recipes`},
		{"table typo", "[pakages]\ngo = \"1\"\n", `den.toml:1:2: unknown key "pakages"; did you mean "packages"?
   1 | [pakages]
     |  ^
hint: top-level keys are systems, packages, env, scripts, shell, options, caches, targets and recipes`},
		{"recipe key typo", recipe + "verison = \"1\"\n", `den.toml:4:1: unknown key "verison"; did you mean "version"?
   4 | verison = "1"
     | ^
hint: keys in recipes.hello are description, version, src, build, deps, host-tools, env, vendor-hash and npm-deps-hash`},
		{"host_tools", recipe + "  host_tools = [\"cc\"]\n", `den.toml:4:3: unknown key "host_tools"; did you mean "host-tools"?
   4 |   host_tools = ["cc"]
     |   ^
hint: keys in recipes.hello are description, version, src, build, deps, host-tools, env, vendor-hash and npm-deps-hash`},
		{"dotted typo", "recipes.hello.verison = \"1\"\n", `den.toml:1:15: unknown key "verison"; did you mean "version"?
   1 | recipes.hello.verison = "1"
     |               ^
hint: keys in recipes.hello are description, version, src, build, deps, host-tools, env, vendor-hash and npm-deps-hash`},
		{"package table typo", "[packages]\ngopls = { versoin = \"latest\" }\n", `den.toml:2:11: unknown key "versoin"; did you mean "version"?
   2 | gopls = { versoin = "latest" }
     |           ^
hint: keys in packages.gopls are version, systems, outputs and target`},
		{"cache scheme", "[caches]\nsubstituters = [\"file:///ok\", \"gs://bucket\"]\n", `den.toml:2:31: "gs://bucket": den reads caches from file://, http(s):// and s3:// URLs, not gs://
   2 | substituters = ["file:///ok", "gs://bucket"]
     |                               ^
hint: a cache is file:///DIR, http(s)://HOST/PREFIX or s3://BUCKET/PREFIX?endpoint=…, optionally with ?priority=N`},
		{"s3 cache parameter", "[caches]\nsubstituters = [\"s3://b?endpoint=h&secret=x\"]\n", `den.toml:2:17: "s3://b?endpoint=h&secret=x": unknown parameter "secret" (s3:// takes priority, endpoint, region, profile and scheme)
   2 | substituters = ["s3://b?endpoint=h&secret=x"]
     |                 ^
hint: a cache is file:///DIR, http(s)://HOST/PREFIX or s3://BUCKET/PREFIX?endpoint=…, optionally with ?priority=N`},
		{"cache key", "[caches]\ntrusted-public-keys = [\"k:AAAA\"]\n", `den.toml:2:24: public key "k" is 3 bytes long, an ed25519 public key is 32
   2 | trusted-public-keys = ["k:AAAA"]
     |                        ^
hint: the cache's owner publishes its public key, the NAME.pub file den cache keygen wrote`},
		{"package integer", "[packages]\ngo = 3\n", `den.toml:2:6: packages.go must be a string or a table, not an integer
   2 | go = 3
     |      ^
hint: put it in quotes: go = "3"`},
		{"systems string", "systems = \"x86_64-linux\"\n", `den.toml:1:11: systems must be an array of strings, not a string
   1 | systems = "x86_64-linux"
     |           ^
hint: make it an array: systems = ["x86_64-linux"]`},
		{"array element", recipe + "host-tools = [\"cc\", 1]\n", `den.toml:4:21: recipes.hello.host-tools[1] must be a string, not an integer
   4 | host-tools = ["cc", 1]
     |                     ^
hint: put it in quotes: "1"`},
		{"host tool path", recipe + "host-tools = [\"cc\", \"../../../proc/self/cwd/evil\"]\n", `den.toml:4:21: host tool "../../../proc/self/cwd/evil" is not a program name
   4 | host-tools = ["cc", "../../../proc/self/cwd/evil"]
     |                     ^
hint: name a program on your PATH, like cc or make: den looks it up there`},
		{"host tool absolute", recipe + "host-tools = [\"/usr/bin/cc\"]\n", `den.toml:4:15: host tool "/usr/bin/cc" is not a program name
   4 | host-tools = ["/usr/bin/cc"]
     |               ^
hint: name a program on your PATH, like cc or make: den looks it up there`},
		{"source outside", recipe + "src = \"/home/me/.ssh\"\n", `den.toml:4:7: source "/home/me/.ssh" is outside the project
   4 | src = "/home/me/.ssh"
     |       ^
hint: a recipe's source is a directory or file of the project, like "./src"`},
		{"source above", recipe + "src = { path = \"../other\" }\n", `den.toml:4:16: source "../other" is outside the project
   4 | src = { path = "../other" }
     |                ^
hint: a recipe's source is a directory or file of the project, like "./src"`},
		{"nested array", "systems = [[\"x86_64-linux\"]]\n", `den.toml:1:11: systems[0] must be a string, not an array
   1 | systems = [["x86_64-linux"]]
     |           ^`},
		{"env integer", "[env]\nN = 3\n", `den.toml:2:5: env.N must be a string, not an integer
   2 | N = 3
     |     ^
hint: put it in quotes: N = "3"`},
		{"table as string", "shell = \"bash\"\n", `den.toml:1:9: shell must be a table, not a string
   1 | shell = "bash"
     |         ^
hint: for example: [shell] followed by init = "echo ready"`},
		{"unclosed string", "[scripts]\ntest = \"go test\n", `den.toml:2:16: basic strings cannot have new lines
   2 | test = "go test
     |                ^
hint: close the string on the same line, or use """ for text over several lines`},
		{"duplicate key", "[env]\nA = \"x\"\nA = \"y\"\n", `den.toml:3:1: env.A is already defined on line 2
   3 | A = "y"
     | ^
hint: set each key only once`},
		{"duplicate table", "[env]\nA = \"x\"\n[env]\n", `den.toml:3:2: [env] is already defined on line 1
   3 | [env]
     |  ^
hint: merge the two into one table`},
		{"array of tables", "[[recipes.hello]]\n", `den.toml:1:1: [[recipes.hello]] is an array of tables; write [recipes.hello]
   1 | [[recipes.hello]]
     | ^
hint: den.toml has no arrays of tables`},
		{"bad system", "systems = [\"x86_64-linux\", \"x86_64-windows\"]\n", `den.toml:1:28: unknown system "x86_64-windows"
   1 | systems = ["x86_64-linux", "x86_64-windows"]
     |                            ^
hint: a system is <arch>-<os>, with arch x86_64, aarch64, i686, armv7l or riscv64 and os linux or darwin`},
		{"system alias", "[packages]\ngo = { version = \"1\", systems = [\"arm64-macos\"] }\n", `den.toml:2:34: unknown system "arm64-macos"; did you mean "aarch64-darwin"?
   2 | go = { version = "1", systems = ["arm64-macos"] }
     |                                  ^
hint: a system is <arch>-<os>, with arch x86_64, aarch64, i686, armv7l or riscv64 and os linux or darwin`},
		{"bad sandbox", "[options]\nsandbox = \"of\"\n", `den.toml:2:11: invalid sandbox mode "of"; did you mean "off"?
   2 | sandbox = "of"
     |           ^
hint: sandbox is "auto", "required" or "off"`},
		{"bad hash", recipe + "src = { url = \"http://127.0.0.1/x.tgz\", hash = \"sha256-abc\" }\n", `den.toml:4:48: invalid SRI hash "sha256-abc": want 32 bytes of base64
   4 | src = { url = "http://127.0.0.1/x.tgz", hash = "sha256-abc" }
     |                                                ^
hint: write it as sha256-<base64> (SRI) or sha256:<hex or nix32>`},
		{"sha1 hash", recipe + "src = { url = \"http://127.0.0.1/x.tgz\", hash = \"sha1:a9993e364706816aba3e25717850c26c9cd0d89d\" }\n", `den.toml:4:48: hash "sha1:a9993e364706816aba3e25717850c26c9cd0d89d" is sha1, too weak to prove a download is the file meant
   4 | src = { url = "http://127.0.0.1/x.tgz", hash = "sha1:a9993e364706816aba3e25717850c26c9cd0d89d" }
     |                                                ^
hint: write it as sha256-<base64> (SRI) or sha256:<hex or nix32>`},
		{"no hash", recipe + "[recipes.hello.src]\nurls = [\"http://127.0.0.1/x.tgz\"]\n", `den.toml:5:1: recipes.hello.src has urls but no hash
   5 | urls = ["http://127.0.0.1/x.tgz"]
     | ^
hint: add hash = "sha256-…": den checks every download against it before it enters the store`},
		{"url and path", recipe + "src = { url = \"http://127.0.0.1/x.tgz\", path = \"./x\" }\n", `den.toml:4:41: recipes.hello.src has both url and path; use one
   4 | src = { url = "http://127.0.0.1/x.tgz", path = "./x" }
     |                                         ^
hint: src is { url = "…", hash = "…" }, { urls = ["…", "…"], hash = "…" }, or a path like "./src"`},
		{"vendor without source", recipe + "vendor-hash = \"\"\n", `den.toml:4:15: recipe hello has a vendor-hash but no source to vendor
   4 | vendor-hash = ""
     |               ^
hint: give the recipe its Go module as src, like src = "./"`},
		{"vendor hash sha512", recipe + "src = \"./\"\nvendor-hash = \"sha512-" + strings.Repeat("A", 86) + "==\"\n", `den.toml:5:15: vendor-hash "sha512-` + strings.Repeat("A", 86) + `==" is not a sha256 hash
   5 | vendor-hash = "sha512-` + strings.Repeat("A", 86) + `=="
     |               ^
hint: write the hash den printed ("got: sha256-…"), or vendor-hash = "" to have den compute it`},
		{"npm deps without source", recipe + "npm-deps-hash = \"\"\n", `den.toml:4:17: recipe hello has an npm-deps-hash but no package-lock.json to fetch from
   4 | npm-deps-hash = ""
     |                 ^
hint: give the recipe the directory of its package-lock.json as src, like src = "./"`},
		{"npm deps hash not a hash", recipe + "src = \"./\"\nnpm-deps-hash = \"sha1-abc\"\n", `den.toml:5:17: invalid SRI hash "sha1-abc": want 20 bytes of base64
   5 | npm-deps-hash = "sha1-abc"
     |                 ^
hint: write the hash den printed ("got: sha256-…"), or npm-deps-hash = "" to have den compute it`},
		{"npm deps hash typo", recipe + "npm-dep-hash = \"\"\n", `den.toml:4:1: unknown key "npm-dep-hash"; did you mean "npm-deps-hash"?
   4 | npm-dep-hash = ""
     | ^
hint: keys in recipes.hello are description, version, src, build, deps, host-tools, env, vendor-hash and npm-deps-hash`},
		{"dep cycle", `[recipes.a]
version = "1"
build = "make"
deps = ["b"]
[recipes.b]
version = "1"
build = "make"
deps = ["c"]
[recipes.c]
version = "1"
build = "make"
deps = ["x", "a"]
[recipes.x]
version = "1"
build = "make"
`, `den.toml:12:14: dependency cycle: a -> b -> c -> a
  12 | deps = ["x", "a"]
     |              ^
hint: a recipe cannot depend on itself, directly or through other recipes; remove one of these deps`},
		{"missing version", "[recipes.hello]\nbuild = \"make\"\n", `den.toml:1:10: recipe "hello" has no version
   1 | [recipes.hello]
     |          ^
hint: add a version, like version = "1.0"`},
		{"missing build", "[recipes.hello]\nversion = \"1\"\n", `den.toml:1:10: recipe "hello" has no build script
   1 | [recipes.hello]
     |          ^
hint: add a build script, like build = "make install PREFIX=$out"`},
		{"bad recipe name", "[recipes.\".hidden\"]\nversion = \"1\"\nbuild = \"make\"\n", `den.toml:1:10: invalid recipe name ".hidden"
   1 | [recipes.".hidden"]
     |          ^
hint: a recipe's name goes into store path names: use letters, digits and + - . _ ? =, not starting with "."`},
		{"bad env name", "[env]\n\"MY-VAR\" = \"x\"\n", `den.toml:2:1: "MY-VAR" is not a valid environment variable name
   2 | "MY-VAR" = "x"
     | ^
hint: use letters, digits and _, not starting with a digit`},
		{"tab indent", "[env]\n\tA = 1\n", "den.toml:2:6: env.A must be a string, not an integer\n   2 | \tA = 1\n     | \t    ^\nhint: put it in quotes: A = \"1\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("den.toml", []byte(tt.data))
			if err == nil {
				t.Fatal("no error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"description", "version", "src", "build", "deps", "host-tools", "env"}
	for word, want := range map[string]string{
		"verison":    "version",
		"host_tools": "host-tools",
		"HostTools":  "host-tools",
		"pakages":    "",
		"hosttools":  "host-tools",
		"desc":       "description",
		"dep":        "deps",
		"Version":    "version",
		"zzz":        "",
		"x":          "",
	} {
		if got := suggest(word, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, FileName), []byte("systems = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(root, "a", "b", "c")
	// A directory named den.toml is not a manifest, and the walk must go past it.
	if err := os.MkdirAll(filepath.Join(nested, FileName), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, nested} {
		got, err := Find(dir)
		if err != nil || got != root {
			t.Errorf("Find(%s) = %q, %v; want %q", dir, got, err, root)
		}
	}
	m, err := Load(filepath.Join(root, FileName))
	if err != nil || !reflect.DeepEqual(m.Systems, []string{}) || m.Root != root {
		t.Errorf("Load = %+v, %v", m, err)
	}
}

func TestFindNotFound(t *testing.T) {
	dir := t.TempDir()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, FileName)); err == nil {
			t.Skipf("%s has a %s above it", dir, FileName)
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	_, err := Find(dir)
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Dir != dir {
		t.Fatalf("Find = %v, want *NotFoundError for %s", err, dir)
	}
	want := "no den.toml in " + dir + " or any parent directory\nhint: run den init to create one"
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("NotFoundError is not fs.ErrNotExist")
	}
}

// A dep that names no recipe is a package of den's index, which Parse cannot know; CheckDeps
// asks, and points at a typo with the recipes and packages it might have meant.
func TestCheckDeps(t *testing.T) {
	data := "[recipes.hello]\nversion = \"1\"\nbuild = \"make\"\ndeps = [\"go\", \"wrld\"]\n[recipes.world]\nversion = \"1\"\nbuild = \"make\"\n"
	m, err := Parse("den.toml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	// Recipes without host tools build with the stdenv, a package of den's index too.
	if got := m.PackageDeps(); !slices.Equal(got, []string{"stdenv", "go", "wrld"}) {
		t.Errorf("PackageDeps = %q", got)
	}
	known := func(name string) bool { return name == "go" || name == "zlib" }
	err = m.CheckDeps(known, []string{"go", "zlib"})
	want := `den.toml:4:15: unknown dep "wrld": no recipe or package has that name; did you mean "world"?
   4 | deps = ["go", "wrld"]
     |               ^
hint: deps name other recipes in this file (world) or packages of den's index (den search)`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	m2, err := Parse("den.toml", []byte(strings.Replace(data, `"wrld"`, `"zlb"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.CheckDeps(known, []string{"go", "zlib"}); err == nil || !strings.Contains(err.Error(), `did you mean "zlib"?`) {
		t.Errorf("a misspelt package: %v", err)
	}
	m3, err := Parse("den.toml", []byte(strings.Replace(data, `"wrld"`, `"zlib"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m3.CheckDeps(known, nil); err != nil {
		t.Errorf("recipes and packages as deps: %v", err)
	}
}

// [targets.SYSTEM] names a system a project cross-builds for and the libraries realized for it;
// a system den does not know, a key that is not libraries and a library that is no package
// name are each refused where they are written.
func TestTargets(t *testing.T) {
	m, err := Parse("den.toml", []byte("[targets.aarch64-linux]\nlibraries = [\"zlib\", \"openssl\"]\n\n[targets.aarch64-darwin]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Targets["aarch64-linux"].Libraries; !slices.Equal(got, []string{"zlib", "openssl"}) || len(m.Targets) != 2 {
		t.Errorf("targets = %+v", m.Targets)
	}
	// A package marked target = true joins every target's libraries and leaves [packages].
	m, err = Parse("den.toml", []byte("[packages]\njq = \"*\"\nzlib = { version = \"*\", target = true }\nlibffi = { version = \"latest\", target = true }\n\n[targets.aarch64-linux]\nlibraries = [\"openssl\", \"zlib\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Packages) != 1 || m.Packages[0].Name != "jq" {
		t.Errorf("packages = %+v", m.Packages)
	}
	if got := m.TargetLibraries("aarch64-linux"); !slices.Equal(got, []string{"openssl", "zlib", "libffi"}) {
		t.Errorf("aarch64-linux libraries = %v", got)
	}
	if got := m.TargetLibraries("riscv64-linux"); !slices.Equal(got, []string{"zlib", "libffi"}) {
		t.Errorf("an undeclared target's libraries = %v", got)
	}
	for data, want := range map[string]string{
		"[targets.arm64-linux]\n":                                                               `den.toml:1:10: unknown system "arm64-linux"; did you mean "aarch64-linux"?`,
		"[targets.aarch64-linux]\nlibs = [\"zlib\"]\n":                                          `den.toml:2:1: unknown key "libs"`,
		"[targets.aarch64-linux]\nlibraries = [\"zlib@1\"]\n":                                   `den.toml:2:14: [targets.aarch64-linux]: "zlib@1" is not a package name`,
		"[packages]\nzlib = { version = \"*\", target = \"yes\" }\n":                            `den.toml:2:34: packages.zlib.target must be true or false, not a string`,
		"[packages]\n\"npm:x\" = { version = \"*\", target = true }\n":                          `den.toml:2:37: packages."npm:x": only den's index packages are built for a target`,
		"[packages]\nzlib = { version = \"1.2\", target = true }\n":                             `den.toml:2:20: packages.zlib: a target library takes no version constraint`,
		"[packages]\nzlib = { version = \"*\", target = true, systems = [\"x86_64-linux\"] }\n": `den.toml:2:34: packages.zlib: a target library takes no systems or outputs`,
	} {
		_, err := Parse("den.toml", []byte(data))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: got %v, want %s", data, err, want)
		}
	}
}
