// Package index owns den's built-in package index: one small TOML entry per package, embedded in
// the binary (the default that works with no configuration, like a pinned nixpkgs), plus the
// generic forms go:MODULE/PATH, npm:PACKAGE and deb:PACKAGE for anything on those registries.
package index

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/version"
	"github.com/pelletier/go-toml/v2"
)

//go:embed packages/*.toml
var files embed.FS

// Backends.
const (
	GoToolchain = "go-toolchain" // golang.org/toolchain from the Go module proxy
	GoSource    = "go-source"    // a Go program built from source, go install semantics
	NPM         = "npm"          // an npm package and its dependency tree, run with node
	NPMPlatform = "npm-platform" // an npm package that carries a native binary for one platform
	Recipe      = "recipe"       // built from a source tarball by a script
	Deb         = "deb"          // Debian packages and their closure, relocated into the store
)

// Entry is one package of the index.
type Entry struct {
	Name        string            `toml:"-"`
	Description string            `toml:"description"`
	Backend     string            `toml:"backend"`
	Tags        []string          `toml:"tags"`
	Package     string            `toml:"package"` // npm name; {os} and {cpu} are npm's platform names
	PackageOS   map[string]string `toml:"-"`       // per-os overrides of Package (package-linux, …)
	Bin         map[string]string `toml:"bin"`     // npm-platform: command name → file in the package
	Module      string            `toml:"module"`  // go-source: module path
	Path        string            `toml:"path"`    // go-source: package to install (default: the module)
	Recipe      *RecipeEntry      `toml:"recipe"`
	// Debs are the Debian packages a deb-backed package installs, with their dependency
	// closure; Exclude are packages of that closure left out (maintainer-script tools such as
	// dpkg or debconf, which nothing in the store runs).
	Debs    []string `toml:"debs"`
	Exclude []string `toml:"exclude"`
	// Links are links a deb-backed package adds to its output, as Debian's maintainer scripts
	// or a companion package would ("bin/python3=python3.11": a link to a file beside it).
	Links []string `toml:"links"`
	// CommandDirs are directories of a deb-backed package whose executables are its commands,
	// linked into bin/: Debian's postgresql keeps them in lib/postgresql/15/bin.
	CommandDirs []string `toml:"command-dirs"`
	// CCWrapper adds den's compiler wrapper over the Debian gcc the package holds: cc, gcc, c++
	// and g++ that link against the store's glibc and find their inputs' headers and libraries.
	CCWrapper bool `toml:"cc-wrapper"`
	// Target makes a deb-backed package a cross toolchain for that system ("aarch64-linux"):
	// Debs are tools of the build machine, from its own architecture's index, and TargetDebs
	// are the target's libraries (its C library) from the target architecture's index, and
	// CCWrapper wraps the cross GCC (<triplet>-gcc) to link against them.
	Target     string   `toml:"target"`
	TargetDebs []string `toml:"target-debs"`
	// BuildSystems are, for a cross toolchain, the systems it runs on (those whose Debian
	// architecture has its cross GCC); none means every Linux system but the target.
	BuildSystems []string `toml:"build-systems"`
	// CPU names processors where the package's names differ from npm's: bun publishes
	// @oven/bun-linux-aarch64, not -arm64. Keys are den's (x86_64, aarch64).
	CPU map[string]string `toml:"cpu"`

	// Vars are variables the package brings into an environment; "$out" is its store path.
	Vars map[string]string `toml:"vars"`
	// Bundle holds npm packages that come with a runtime, as npm comes with node: npm package →
	// its commands (name → file in the package), each run by the runtime's one command. The
	// version locked is the newest whose engines accept the runtime's.
	Bundle map[string]map[string]string `toml:"bundle"`
	// LTS names a runtime's long-term support lines the way nvm does (lts/iron): codename, in
	// lower case, to the first release of its major line with long-term support.
	LTS map[string]string `toml:"lts"`
	// Legacy is the form the package was published in before its present one, for the versions
	// it names: pnpm before 12 is the JavaScript package pnpm, run with node.
	Legacy *Legacy `toml:"legacy"`
	// Defaults are variables it brings only where the user has not set them: in the environment,
	// or for Go's own settings with go env -w (envs/activate). They keep a toolchain or package
	// manager from switching itself to another version (GOTOOLCHAIN=local).
	Defaults map[string]string `toml:"defaults"`

	// form, when set, says which versions this form of the package publishes (Forms).
	form func(string) bool
}

// Legacy is another form of a package: its versions (a constraint), and the backend and
// package that carry them. pnpm before 12 is the npm package pnpm; python before 3.12 is
// Debian's own build (debs, exclude and links as an entry's), next to the source build of the
// newer versions.
type Legacy struct {
	Versions    string   `toml:"versions"`
	Backend     string   `toml:"backend"`
	Description string   `toml:"description"`
	Package     string   `toml:"package"`
	Debs        []string `toml:"debs"`
	Exclude     []string `toml:"exclude"`
	Links       []string `toml:"links"`
	CommandDirs []string `toml:"command-dirs"`

	versions version.Constraint
}

// RecipeEntry is the source recipe of a recipe-backed package.
type RecipeEntry struct {
	Version   string   `toml:"version"`
	Src       Src      `toml:"src"`
	Build     string   `toml:"build"`
	HostTools []string `toml:"host-tools"`
	// Deps are index packages the build needs (zlib's headers and library, say), locked with
	// the recipe; a recipe without host tools also gets the stdenv.
	Deps []string `toml:"deps"`
}

// Src is a recipe's source.
type Src struct {
	URL  string   `toml:"url"`
	URLs []string `toml:"urls"`
	Hash string   `toml:"hash"`
}

// Index is the set of known packages.
type Index struct{ entries map[string]*Entry }

// rawEntry adds the per-os package keys TOML cannot map onto a Go map directly.
type rawEntry struct {
	Entry
	PackageLinux  string `toml:"package-linux"`
	PackageDarwin string `toml:"package-darwin"`
}

// Load reads the embedded index. An error here is a bug in den, caught by the tests.
func Load() (*Index, error) {
	ix := &Index{entries: map[string]*Entry{}}
	err := fs.WalkDir(files, "packages", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		var raw rawEntry
		dec := toml.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("index entry %s: %v", p, err)
		}
		e := raw.Entry
		e.Name = strings.TrimSuffix(path.Base(p), ".toml")
		e.PackageOS = map[string]string{}
		if raw.PackageLinux != "" {
			e.PackageOS["linux"] = raw.PackageLinux
		}
		if raw.PackageDarwin != "" {
			e.PackageOS["darwin"] = raw.PackageDarwin
		}
		if err := e.check(); err != nil {
			return fmt.Errorf("index entry %s: %v", p, err)
		}
		if l := e.Legacy; l != nil {
			if l.versions, err = version.ParseConstraint(l.Versions); err != nil {
				return fmt.Errorf("index entry %s: legacy: %v", p, err)
			}
			if err := e.legacy().check(); err != nil {
				return fmt.Errorf("index entry %s: legacy: %v", p, err)
			}
		}
		for name, first := range e.LTS {
			if name != strings.ToLower(name) || version.FromGo(first) != first || !strings.Contains(first, ".") {
				return fmt.Errorf("index entry %s: lts: %s = %q is not a lower-case codename and a version", p, name, first)
			}
		}
		ix.entries[e.Name] = &e
		return nil
	})
	return ix, err
}

func (e *Entry) check() error {
	switch e.Backend {
	case GoToolchain:
	case GoSource:
		if e.Module == "" {
			return fmt.Errorf("go-source needs module")
		}
	case NPM:
		if e.Package == "" {
			return fmt.Errorf("npm needs package")
		}
	case NPMPlatform:
		if e.Package == "" || len(e.Bin) == 0 {
			return fmt.Errorf("npm-platform needs package and bin")
		}
		if len(e.Bundle) > 0 && len(e.Bin) != 1 {
			return fmt.Errorf("a bundle is run by the package's one command, and it has %d", len(e.Bin))
		}
	case Deb:
		if len(e.Debs) == 0 {
			return fmt.Errorf("deb needs debs")
		}
		if (e.Target == "") != (len(e.TargetDebs) == 0) {
			return fmt.Errorf("a cross toolchain needs both target and target-debs")
		}
	case Recipe:
		if e.Recipe == nil || e.Recipe.Version == "" || e.Recipe.Build == "" {
			return fmt.Errorf("recipe needs [recipe] with version and build")
		}
		if _, err := hash.Parse(e.Recipe.Src.Hash, ""); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown backend %q", e.Backend)
	}
	if e.Description == "" {
		return fmt.Errorf("no description")
	}
	return nil
}

// legacy is the entry of the package's legacy form: what the form says of itself replaces
// what the entry says of its present form.
func (e *Entry) legacy() *Entry {
	l := *e
	lg := e.Legacy
	l.Backend, l.Package, l.PackageOS, l.Bin, l.Legacy = lg.Backend, lg.Package, nil, nil, nil
	l.Recipe, l.CCWrapper, l.Bundle = nil, false, nil
	l.Debs, l.Exclude, l.Links, l.CommandDirs = lg.Debs, lg.Exclude, lg.Links, lg.CommandDirs
	if lg.Description != "" {
		l.Description = lg.Description
	}
	l.form = func(v string) bool { return formHas(lg.versions, lg.Backend, v) }
	return &l
}

// formHas reports whether the form of backend whose versions c names has version v. Debian's
// versions are read as the deb backend reads them (DebianMatches): python 3.11.2-6+deb12u9 is a
// 3.11.2, not a prerelease of it.
func formHas(c version.Constraint, backend, v string) bool {
	if backend == Deb {
		return DebianMatches(c, v)
	}
	return c.Check(v)
}

// DebianMatches reports whether Debian version v satisfies c: c is read against the upstream
// part of v (12.2.0 of 12.2.0-14+deb12u1), or names v exactly.
func DebianMatches(c version.Constraint, v string) bool {
	switch {
	case c.String() == "*" || c.IsLatest() || c.String() == v || c.Check(v):
		return true
	}
	up := DebianUpstream(v)
	if c.Check(up) {
		return true
	}
	// Debian's upstream versions carry repack suffixes (1.2.13.dfsg, 4.2.0+ds): the numbers
	// before them.
	return c.Check(leadingNumbers.FindString(up))
}

var leadingNumbers = regexp.MustCompile(`^\d+(\.\d+)*`)

// DebianUpstream is a Debian version without its epoch and Debian revision (3.11.2 of
// 3.11.2-6+deb12u9, 1.2.13.dfsg of 1:1.2.13.dfsg-1).
func DebianUpstream(v string) string {
	if _, rest, ok := strings.Cut(v, ":"); ok {
		v = rest
	}
	if i := strings.LastIndexByte(v, '-'); i > 0 {
		v = v[:i]
	}
	return v
}

// Forms lists the entries that publish the package's versions: the entry itself and, when the
// package had one, its legacy form.
func (e *Entry) Forms() []*Entry {
	if e.Legacy == nil || e.form != nil {
		return []*Entry{e}
	}
	cur := *e
	cur.form = func(v string) bool { return !formHas(e.Legacy.versions, e.Legacy.Backend, v) }
	return []*Entry{&cur, e.legacy()}
}

// At is the form of the package that publishes version v.
func (e *Entry) At(v string) *Entry {
	forms := e.Forms()
	for _, f := range forms {
		if f.Publishes(v) {
			return f
		}
	}
	return forms[0]
}

// Publishes reports whether this form of the package carries version v: every version, unless
// the package has a legacy form, which carries those its constraint names.
func (e *Entry) Publishes(v string) bool { return e.form == nil || e.form(v) }

// Constraint parses a version constraint for this package: ParseConstraint's language and, for a
// runtime with long-term support lines, nvm's names for them. lts/NAME is that line from its
// first LTS release; lts and lts/* are every line, so the highest version among them is the
// newest LTS release there is.
func (e *Entry) Constraint(s string) (version.Constraint, error) {
	text := strings.TrimSpace(s)
	lower := strings.ToLower(text)
	if len(e.LTS) == 0 || (lower != "lts" && !strings.HasPrefix(lower, "lts/")) {
		return version.ParseConstraint(s)
	}
	names := make([]string, 0, len(e.LTS))
	for n := range e.LTS {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return version.Compare(e.LTS[names[i]], e.LTS[names[j]]) < 0 })
	line := func(n string) string {
		first := e.LTS[n]
		major, _, _ := strings.Cut(first, ".")
		next, _ := strconv.Atoi(major)
		return fmt.Sprintf(">=%s <%d", first, next+1)
	}
	switch name := strings.TrimPrefix(lower, "lts/"); {
	case lower == "lts" || name == "*":
		var lines []string
		for _, n := range names {
			lines = append(lines, line(n))
		}
		return version.ParseNamed(text, strings.Join(lines, " || "))
	case e.LTS[name] != "":
		return version.ParseNamed(text, line(name))
	default:
		return version.Constraint{}, fmt.Errorf("%s has no long-term support line %q; den knows lts/%s (and lts, the newest)", e.Name, text, strings.Join(names, ", lts/"))
	}
}

// InstallPath is the Go package a go-source entry installs.
func (e *Entry) InstallPath() string {
	if e.Path != "" {
		return e.Path
	}
	return e.Module
}

// NPMName is the npm package that carries e on sys.
func (e *Entry) NPMName(sys platform.System) string {
	tmpl := e.Package
	if o, ok := e.PackageOS[sys.OS]; ok {
		tmpl = o
	}
	cpu := NPMCPU(sys)
	if c, ok := e.CPU[sys.Arch]; ok {
		cpu = c
	}
	return strings.NewReplacer("{os}", sys.OS, "{cpu}", cpu).Replace(tmpl)
}

// NPMCPU is npm's name for the system's processor.
func NPMCPU(sys platform.System) string {
	switch sys.Arch {
	case "x86_64":
		return "x64"
	case "aarch64":
		return "arm64"
	case "i686":
		return "ia32"
	case "armv7l":
		return "arm"
	}
	return sys.Arch
}

// UnknownError says no package has the name asked for, and which names come close.
type UnknownError struct {
	Name    string
	Similar []string
}

func (e *UnknownError) Error() string {
	msg := fmt.Sprintf("unknown package %q", e.Name)
	if len(e.Similar) > 0 {
		msg += fmt.Sprintf("; did you mean %s?", strings.Join(quoteAll(e.Similar), " or "))
	}
	return msg
}

// Hints says how to find packages.
func (e *UnknownError) Hints() []string {
	return []string{"den search TERM lists packages; npm:PACKAGE, go:MODULE/PATH and deb:PACKAGE reach anything on those registries"}
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// Lookup finds a package by name, accepting the generic forms npm:PACKAGE and go:MODULE/PATH.
func (ix *Index) Lookup(name string) (*Entry, error) {
	if e, ok := ix.entries[name]; ok {
		return e, nil
	}
	if pkg, ok := strings.CutPrefix(name, "npm:"); ok && pkg != "" {
		return &Entry{Name: name, Description: "npm package " + pkg, Backend: NPM, Package: pkg}, nil
	}
	if pkg, ok := strings.CutPrefix(name, "deb:"); ok && pkg != "" {
		return &Entry{Name: name, Description: "Debian package " + pkg, Backend: Deb, Debs: []string{pkg}}, nil
	}
	if p, ok := strings.CutPrefix(name, "go:"); ok && p != "" {
		// The module is found later, through the proxy (the longest prefix of the path that is
		// a module), as go install does.
		return &Entry{Name: name, Description: "Go program " + p, Backend: GoSource, Path: p}, nil
	}
	return nil, &UnknownError{Name: name, Similar: ix.similar(name)}
}

// Names lists every package, sorted.
func (ix *Index) Names() []string {
	out := make([]string, 0, len(ix.entries))
	for n := range ix.entries {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Search finds packages whose name, description or tags contain term (case-insensitive); name
// matches come first.
func (ix *Index) Search(term string) []*Entry {
	term = strings.ToLower(term)
	var byName, byText []*Entry
	for _, n := range ix.Names() {
		e := ix.entries[n]
		switch {
		case strings.Contains(strings.ToLower(n), term):
			byName = append(byName, e)
		case strings.Contains(strings.ToLower(e.Description), term) || containsTag(e.Tags, term):
			byText = append(byText, e)
		}
	}
	return append(byName, byText...)
}

func containsTag(tags []string, term string) bool {
	for _, t := range tags {
		if strings.Contains(strings.ToLower(t), term) {
			return true
		}
	}
	return false
}

// similar returns index names within two edits of name, or sharing a prefix with it.
func (ix *Index) similar(name string) []string {
	var out []string
	for _, n := range ix.Names() {
		if distance(n, name) <= 2 || (len(name) >= 3 && strings.HasPrefix(n, name)) {
			out = append(out, n)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return distance(out[i], name) < distance(out[j], name) })
	if len(out) > 3 {
		out = out[:3]
	}
	return out
}

// distance is the Levenshtein distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
