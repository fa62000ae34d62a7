package manifest

import (
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/den-sh/den/core/config"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/hosttools"
	"github.com/den-sh/den/core/storepath"
)

// checker fills a Manifest from the decoded document, checking what types cannot: allowed
// values, required keys, references between recipes. Every error points at its key or value.
type checker struct {
	f   *file
	lay *layout
	m   *Manifest
}

func (c *checker) fill(doc *document) error {
	m := c.m
	top := schema()

	if ent := c.lay.get([]string{"systems"}); ent != nil {
		for i, s := range doc.Systems {
			if err := c.system(s, elemAt(ent, i)); err != nil {
				return err
			}
		}
	}
	m.Systems = doc.Systems

	if ent := c.lay.get([]string{"packages"}); ent != nil {
		for _, p := range ent.children {
			pkg, err := c.pkg(p, doc.Packages[p.name], top.key("packages").elem)
			if err != nil {
				return err
			}
			if pkg.Target {
				m.TargetPackages = append(m.TargetPackages, pkg.Name)
				continue
			}
			m.Packages = append(m.Packages, pkg)
		}
	}

	if ent := c.lay.get([]string{"env"}); ent != nil {
		for _, v := range ent.children {
			if err := c.envName(v); err != nil {
				return err
			}
			m.Env = append(m.Env, EnvVar{Name: v.name, Value: doc.Env[v.name], Pos: c.f.position(v.key)})
		}
	}

	m.Scripts = doc.Scripts
	m.Shell = Shell{Init: doc.Shell.Init}
	if ent := c.lay.get([]string{"options", "sandbox"}); ent != nil {
		mode := SandboxMode(doc.Options.Sandbox)
		modes := []string{string(SandboxAuto), string(SandboxRequired), string(SandboxOff)}
		if !slices.Contains(modes, string(mode)) {
			return c.f.errorAt(ent.at(), `sandbox is "auto", "required" or "off"`,
				"%s", withSuggestion(fmt.Sprintf("invalid sandbox mode %q", mode), suggest(string(mode), modes)))
		}
		m.Options.Sandbox = mode
	}
	if err := c.caches(doc); err != nil {
		return err
	}
	m.Caches = Caches{Substituters: doc.Caches.Substituters, TrustedPublicKeys: doc.Caches.TrustedPublicKeys, Push: doc.Caches.Push}
	if ent := c.lay.get([]string{"targets"}); ent != nil {
		m.Targets = map[string]Target{}
		for _, t := range ent.children {
			if err := c.system(t.name, t); err != nil {
				return err
			}
			libs := doc.Targets[t.name].Libraries
			for i, l := range libs {
				if l == "" || strings.ContainsAny(l, " @") {
					return c.f.errorAt(elemAt(t.byName["libraries"], i).at(), `a library is a package of den's index, by name: libraries = ["zlib"]`, "[targets.%s]: %q is not a package name", t.name, l)
				}
			}
			m.Targets[t.name] = Target{Libraries: libs}
		}
	}

	if ent := c.lay.get([]string{"recipes"}); ent != nil {
		m.Recipes = map[string]*Recipe{}
		for _, r := range ent.children {
			rec, err := c.recipe(r, doc.Recipes[r.name], top.key("recipes").elem)
			if err != nil {
				return err
			}
			m.Recipes[rec.Name] = rec
		}
		if err := c.deps(ent, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// caches checks [caches] entries where they are written, with the same rules as the user config.
func (c *checker) caches(doc *document) error {
	if ent := c.lay.get([]string{"caches", "substituters"}); ent != nil {
		for i, s := range doc.Caches.Substituters {
			if err := config.CheckSubstituter(s); err != nil {
				return c.f.errorAt(elemAt(ent, i).at(), "a cache is file:///DIR, http(s)://HOST/PREFIX or s3://BUCKET/PREFIX?endpoint=…, optionally with ?priority=N", "%v", err)
			}
		}
	}
	if ent := c.lay.get([]string{"caches", "push"}); ent != nil {
		for i, s := range doc.Caches.Push {
			if err := config.CheckSubstituter(s); err != nil {
				return c.f.errorAt(elemAt(ent, i).at(), "a cache is file:///DIR, http(s)://HOST/PREFIX or s3://BUCKET/PREFIX?endpoint=…", "%v", err)
			}
		}
	}
	if ent := c.lay.get([]string{"caches", "trusted-public-keys"}); ent != nil {
		for i, k := range doc.Caches.TrustedPublicKeys {
			if err := config.CheckPublicKey(k); err != nil {
				return c.f.errorAt(elemAt(ent, i).at(), "the cache's owner publishes its public key, the NAME.pub file den cache keygen wrote", "%v", err)
			}
		}
	}
	return nil
}

// elemAt is the entry of an array element, or the array itself should the two disagree.
func elemAt(array *entry, i int) *entry {
	if array != nil && i < len(array.elems) {
		return array.elems[i]
	}
	return array
}

func withSuggestion(msg, s string) string {
	if s == "" {
		return msg
	}
	return fmt.Sprintf("%s; did you mean %q?", msg, s)
}

// shape checks a value against its spec, keys and the shapes of what is below included, and
// returns the first mistake in the file, if any.
func (f *file) shape(ent *entry, s *spec) *Error {
	var first *Error
	keep := func(e *Error) {
		if first == nil || e.Line < first.Line || e.Line == first.Line && e.Col < first.Col {
			first = e
		}
	}
	var walk func(ent *entry, s *spec)
	walk = func(ent *entry, s *spec) {
		if !s.accepts(ent.kind) {
			keep(f.typeError(ent, s))
			return
		}
		switch {
		case s.shape == isStrings:
			for _, el := range ent.elems {
				if el.kind != unstable.String {
					keep(f.typeError(el, &spec{shape: isString}))
				}
			}
		case isTableKind(ent.kind):
			for _, ch := range ent.children {
				if cs := s.key(ch.name); cs == nil {
					keep(f.unknownKey(ch.key, ch.path, s))
				} else {
					walk(ch, cs)
				}
			}
		}
	}
	walk(ent, s)
	return first
}

func (c *checker) pkg(ent *entry, v any, s *spec) (Package, error) {
	p := Package{Name: ent.name, Pos: c.f.position(ent.key), Line: ent.line}
	if err := c.f.shape(ent, s); err != nil {
		return p, err
	}
	if p.Name == "" {
		return p, c.f.errorAt(ent.key, `write the package's name, like go = "1.22" or "npm:prettier" = "3"`, "package name is empty")
	}
	emptyVersion := func(at *entry) error {
		return c.f.errorAt(at.at(), `write "latest" for the newest version`, "%s has an empty version constraint", ent.display())
	}
	if constraint, ok := v.(string); ok {
		if constraint == "" {
			return p, emptyVersion(ent)
		}
		p.Version = constraint
		return p, nil
	}
	t, _ := v.(map[string]any) // a table, as shape has checked
	ver := ent.byName["version"]
	if ver == nil {
		return p, c.f.errorAt(ent.key, `add version = "latest", or a constraint like "1.22"`, "%s has no version", ent.display())
	}
	if p.Version, _ = t["version"].(string); p.Version == "" {
		return p, emptyVersion(ver)
	}
	p.Systems = stringList(t["systems"])
	for i, sys := range p.Systems {
		if err := c.system(sys, elemAt(ent.byName["systems"], i)); err != nil {
			return p, err
		}
	}
	p.Outputs = stringList(t["outputs"])
	if err := c.nonEmpty(ent.byName["outputs"], p.Outputs, "an output name, like out, bin or dev"); err != nil {
		return p, err
	}
	p.Target, _ = t["target"].(bool)
	if p.Target {
		// A target's libraries come from den's index at the version its Debian archive has.
		at := ent.byName["target"].at()
		switch {
		case strings.ContainsAny(p.Name, ":@ "):
			return p, c.f.errorAt(at, `a target library is a package of den's index, by name: zlib = { version = "*", target = true }`, "%s: only den's index packages are built for a target", ent.display())
		case p.Version != "*" && p.Version != "latest":
			return p, c.f.errorAt(ent.byName["version"].at(), `write version = "*": a target's libraries are the versions its Debian archive has, recorded in den.lock`, "%s: a target library takes no version constraint", ent.display())
		case len(p.Systems) > 0 || len(p.Outputs) > 0:
			return p, c.f.errorAt(at, `list the target in [targets.SYSTEM] libraries = [...] to build a library for one target only`, "%s: a target library takes no systems or outputs", ent.display())
		}
	}
	return p, nil
}

// stringList converts what the loose decoder made of an array of strings, once shape has
// checked it.
func stringList(v any) []string {
	a, _ := v.([]any)
	var out []string
	for _, x := range a {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// nonEmpty rejects empty strings in an array; what says what belongs there.
func (c *checker) nonEmpty(array *entry, items []string, what string) error {
	for i, s := range items {
		if s == "" {
			el := elemAt(array, i)
			return c.f.errorAt(el.at(), "write "+what, "%s is empty", el.display())
		}
	}
	return nil
}

// den builds for these; a system is "<arch>-<os>".
func archs() []string { return []string{"x86_64", "aarch64", "i686", "armv7l", "riscv64"} }
func oses() []string  { return []string{"linux", "darwin"} }

func (c *checker) system(s string, at *entry) error {
	arch, osName, ok := strings.Cut(s, "-")
	if ok && slices.Contains(archs(), arch) && slices.Contains(oses(), osName) {
		return nil
	}
	hint := "a system is <arch>-<os>, with arch " + list(archs(), "or") + " and os " + list(oses(), "or")
	return c.f.errorAt(at.at(), hint, "%s", withSuggestion(fmt.Sprintf("unknown system %q", s), suggestSystem(s)))
}

// suggestSystem knows the other names people use for den's systems: Go's and Debian's
// architecture names, macOS for darwin, and the os written first.
func suggestSystem(s string) string {
	alias := func(w string) string {
		w = strings.ToLower(w)
		switch w {
		case "amd64", "x64", "x86-64":
			return "x86_64"
		case "arm64":
			return "aarch64"
		case "386", "i386", "i586", "x86":
			return "i686"
		case "arm", "armv7", "armhf":
			return "armv7l"
		case "riscv":
			return "riscv64"
		case "macos", "osx", "macosx", "apple":
			return "darwin"
		}
		return w
	}
	valid := func(arch, osName string) bool {
		return slices.Contains(archs(), arch) && slices.Contains(oses(), osName)
	}
	for i := range len(s) {
		if s[i] != '-' && s[i] != '_' {
			continue
		}
		a, o := alias(s[:i]), alias(s[i+1:])
		if valid(a, o) {
			return a + "-" + o
		}
		if valid(o, a) {
			return o + "-" + a
		}
	}
	var all []string
	for _, a := range archs() {
		for _, o := range oses() {
			all = append(all, a+"-"+o)
		}
	}
	return suggest(s, all)
}

// envName rejects names a shell cannot export, which would break activation later.
func (c *checker) envName(ent *entry) error {
	if isEnvName(ent.name) {
		return nil
	}
	return c.f.errorAt(ent.key, "use letters, digits and _, not starting with a digit",
		"%q is not a valid environment variable name", ent.name)
}

func isEnvName(s string) bool {
	for i, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

func (c *checker) recipe(ent *entry, d recipeDoc, s *spec) (*Recipe, error) {
	r := &Recipe{
		Name:        ent.name,
		Description: d.Description,
		Version:     d.Version,
		Build:       d.Build,
		Deps:        d.Deps,
		HostTools:   d.HostTools,
		Env:         d.Env,
		Pos:         c.f.position(ent.key),
	}
	// A recipe's name and version become its store path's name. Store names may start with a dot
	// (".gitignore"); a package name that does is refused all the same, as a hidden file would be.
	if strings.HasPrefix(r.Name, ".") || storepath.CheckName(r.Name) != nil {
		return nil, c.f.errorAt(ent.key, `a recipe's name goes into store path names: use letters, digits and + - . _ ? =, not starting with "."`,
			"invalid recipe name %q", r.Name)
	}
	if err := c.required(ent, "version", "version", r.Version, `add a version, like version = "1.0"`); err != nil {
		return nil, err
	}
	if storepath.CheckName(r.Name+"-"+r.Version) != nil {
		return nil, c.f.errorAt(ent.byName["version"].at(), "a version goes into store path names: use letters, digits and + - . _ ? =",
			"version %q cannot be part of a store path name", r.Version)
	}
	if err := c.required(ent, "build", "build script", r.Build, `add a build script, like build = "make install PREFIX=$out"`); err != nil {
		return nil, err
	}
	if src := ent.byName["src"]; src != nil {
		var err error
		if r.Src, err = c.source(src, d.Src, s.key("src")); err != nil {
			return nil, err
		}
	}
	if err := c.nonEmpty(ent.byName["deps"], r.Deps, "the name of another recipe"); err != nil {
		return nil, err
	}
	if err := c.nonEmpty(ent.byName["host-tools"], r.HostTools, "the name of a host program, like cc"); err != nil {
		return nil, err
	}
	for i, name := range r.HostTools {
		if !hosttools.IsName(name) {
			el := elemAt(ent.byName["host-tools"], i)
			return nil, c.f.errorAt(el.at(), "name a program on your PATH, like cc or make: den looks it up there",
				"host tool %q is not a program name", name)
		}
	}
	if env := ent.byName["env"]; env != nil {
		for _, v := range env.children {
			if err := c.envName(v); err != nil {
				return nil, err
			}
		}
	}
	var err error
	if r.Vendor, r.VendorHash, err = c.fixedHash(ent, r, "vendor-hash", d.VendorHash, "a vendor-hash but no source to vendor", "its Go module"); err != nil {
		return nil, err
	}
	if r.NPMDeps, r.NPMDepsHash, err = c.fixedHash(ent, r, "npm-deps-hash", d.NPMDepsHash, "an npm-deps-hash but no package-lock.json to fetch from", "the directory of its package-lock.json"); err != nil {
		return nil, err
	}
	return r, nil
}

// fixedHash checks a recipe's key that names the hash of a fixed-output input made from its
// source (vendor-hash, npm-deps-hash): present or not, and its sha256 hash when not empty.
// has says what the recipe has without a source ("a vendor-hash but no source to vendor"), src
// what to give it.
func (c *checker) fixedHash(ent *entry, r *Recipe, key string, v *string, has, src string) (bool, hash.Hash, error) {
	if v == nil {
		return false, hash.Hash{}, nil
	}
	var h hash.Hash
	if *v != "" {
		var err error
		h, err = hash.Parse(*v, "")
		if err == nil && h.Algo != hash.SHA256 {
			err = fmt.Errorf("%s %q is not a sha256 hash", key, *v)
		}
		if err != nil {
			return false, h, c.f.errorAt(ent.byName[key].at(), fmt.Sprintf(`write the hash den printed ("got: sha256-…"), or %s = "" to have den compute it`, key), "%v", err)
		}
	}
	if r.Src.IsZero() {
		return false, h, c.f.errorAt(ent.byName[key].at(), fmt.Sprintf(`give the recipe %s as src, like src = "./"`, src),
			"recipe %s has %s", r.Name, has)
	}
	return true, h, nil
}

// required reports a missing or empty key of a recipe.
func (c *checker) required(recipe *entry, key, what, value, hint string) error {
	if value != "" {
		return nil
	}
	if ent := recipe.byName[key]; ent != nil {
		return c.f.errorAt(ent.at(), hint, "%s is empty", ent.display())
	}
	return c.f.errorAt(recipe.key, hint, "recipe %q has no %s", recipe.name, what)
}

func (c *checker) source(ent *entry, v any, s *spec) (Source, error) {
	const hint = `src is { url = "…", hash = "…" }, { urls = ["…", "…"], hash = "…" }, or a path like "./src"`
	if err := c.f.shape(ent, s); err != nil {
		return Source{}, err
	}
	if p, ok := v.(string); ok {
		if p == "" {
			return Source{}, c.f.errorAt(ent.at(), hint, "%s is empty", ent.display())
		}
		return c.pathSource(ent, p)
	}
	t, _ := v.(map[string]any)
	var kinds []*entry // url, urls and path, in file order: exactly one may be there
	for _, ch := range ent.children {
		if ch.name == "url" || ch.name == "urls" || ch.name == "path" {
			kinds = append(kinds, ch)
		}
	}
	switch len(kinds) {
	case 0:
		return Source{}, c.f.errorAt(ent.key, hint, "%s needs url, urls or path", ent.display())
	case 1:
	default:
		return Source{}, c.f.errorAt(kinds[1].key, hint, "%s has both %s and %s; use one", ent.display(), kinds[0].name, kinds[1].name)
	}
	hashEnt := ent.byName["hash"]
	kind := kinds[0]
	if kind.name == "path" {
		if hashEnt != nil {
			return Source{}, c.f.errorAt(hashEnt.key, "remove hash: den hashes a local path itself when it reads it",
				"hash goes with url or urls, not with path")
		}
		p, _ := t["path"].(string)
		if p == "" {
			return Source{}, c.f.errorAt(kind.at(), hint, "%s is empty", kind.display())
		}
		return c.pathSource(kind, p)
	}

	var src Source
	if kind.name == "url" {
		u, _ := t["url"].(string)
		src.URLs = []string{u}
		if err := c.url(kind, u); err != nil {
			return src, err
		}
	} else {
		src.URLs = stringList(t["urls"])
		if len(src.URLs) == 0 {
			return src, c.f.errorAt(kind.at(), "list one URL or more; den tries them in order", "%s is empty", kind.display())
		}
		for i, u := range src.URLs {
			if err := c.url(elemAt(kind, i), u); err != nil {
				return src, err
			}
		}
	}
	if hashEnt == nil {
		what := "a url"
		if kind.name == "urls" {
			what = "urls"
		}
		return src, c.f.errorAt(kind.key, `add hash = "sha256-…": den checks every download against it before it enters the store`,
			"%s has %s but no hash", ent.display(), what)
	}
	hs, _ := t["hash"].(string)
	h, err := hash.Parse(hs, "")
	if err == nil && !h.Algo.Strong() {
		err = fmt.Errorf("hash %q is %s, too weak to prove a download is the file meant", hs, h.Algo)
	}
	if err != nil {
		return src, c.f.errorAt(hashEnt.at(), "write it as sha256-<base64> (SRI) or sha256:<hex or nix32>", "%v", err)
	}
	src.Hash = h
	return src, nil
}

func (c *checker) url(at *entry, s string) error {
	u, err := url.Parse(s)
	if err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "" || u.Path != "") {
		return nil
	}
	return c.f.errorAt(at.at(), "write the whole URL, scheme included, or use path for a local directory or file",
		"%q is not a URL", s)
}

// pathSource is a recipe's local source: a path inside the project. A den.toml comes from
// whoever wrote the repository, and a source outside it (~/.ssh, /etc) would be copied into the
// store, readable by everyone, as soon as den plans the recipe. Links are checked when the path
// is read (recipe.Planner), since they may change after den.toml was read.
func (c *checker) pathSource(at *entry, p string) (Source, error) {
	abs := c.resolve(p)
	if !Inside(c.m.Root, abs) {
		return Source{}, c.f.errorAt(at.at(), "a recipe's source is a directory or file of the project, like \"./src\"",
			"source %q is outside the project", p)
	}
	return Source{Path: abs}, nil
}

// Inside reports whether path is root or below it, by their names.
func Inside(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// resolve makes a path in den.toml absolute, relative to the directory holding it, so that den
// behaves the same from any subdirectory.
func (c *checker) resolve(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(c.m.Root, p)
}

// CheckDeps checks that every dep of every recipe names a recipe of den.toml or a package
// isPackage knows (den's index): den.toml alone cannot tell a package from a typo, so Parse
// leaves that to whoever has the index. packages are the index's names, for the suggestion.
func (m *Manifest) CheckDeps(isPackage func(name string) bool, packages []string) error {
	f := newFile(m.Path, m.data)
	lay, err := f.scan()
	if err != nil {
		return err
	}
	ent := lay.get([]string{"recipes"})
	if ent == nil {
		return nil
	}
	return (&checker{f: f, lay: lay, m: m}).deps(ent, isPackage, packages)
}

// PackageDeps are the deps of recipes that name no recipe: packages of den's index, or typos
// that CheckDeps reports.
func (m *Manifest) PackageDeps() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(m.Recipes)) {
		if len(m.Recipes[name].HostTools) == 0 && m.Recipes["stdenv"] == nil && !slices.Contains(out, "stdenv") {
			out = append(out, "stdenv") // what a recipe without host tools builds with
		}
		for _, d := range m.Recipes[name].Deps {
			if m.Recipes[d] == nil && !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// deps checks that no recipe depends on itself, directly or not (such a recipe could never be
// built), and, given isPackage, that every dep names a recipe or a package.
func (c *checker) deps(recipes *entry, isPackage func(string) bool, packages []string) error {
	m := c.m
	for _, ent := range recipes.children {
		r := m.Recipes[ent.name]
		for i, d := range r.Deps {
			if m.Recipes[d] != nil || isPackage == nil || isPackage(d) {
				continue
			}
			var others []string
			for _, o := range recipes.children {
				if o.name != r.Name {
					others = append(others, o.name)
				}
			}
			hint := "deps name other recipes in this file or packages of den's index (den search); there are no other recipes, so add [recipes." + displayKey(d) + "]"
			if len(others) > 0 {
				hint = "deps name other recipes in this file (" + list(others, "and") + ") or packages of den's index (den search)"
			}
			return c.f.errorAt(elemAt(ent.byName["deps"], i).at(), hint, "%s",
				withSuggestion(fmt.Sprintf("unknown dep %q: no recipe or package has that name", d), suggest(d, append(others, packages...))))
		}
	}

	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(name string) error
	visit = func(name string) error {
		state[name] = visiting
		stack = append(stack, name)
		ent := recipes.byName[name]
		for i, d := range m.Recipes[name].Deps {
			if m.Recipes[d] == nil {
				continue // a package of den's index, which depends on no recipe
			}
			switch state[d] {
			case visiting:
				cycle := append(slices.Clone(stack[slices.Index(stack, d):]), d)
				return c.f.errorAt(elemAt(ent.byName["deps"], i).at(),
					"a recipe cannot depend on itself, directly or through other recipes; remove one of these deps",
					"dependency cycle: %s", strings.Join(cycle, " -> "))
			case unseen:
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		return nil
	}
	// File order makes the reported cycle, and where it is reported, the same on every run.
	for _, ent := range recipes.children {
		if state[ent.name] == unseen {
			if err := visit(ent.name); err != nil {
				return err
			}
		}
	}
	return nil
}
