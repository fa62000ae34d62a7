package resolve

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/den-sh/den/core/backend/debpkg"
	"github.com/den-sh/den/core/backend/gotoolchain"
	"github.com/den-sh/den/core/backend/npmpkg"
	"github.com/den-sh/den/core/backend/recipes"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/gomod"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/platform"
)

// den.lock is written by den, but it reaches other machines through the repository, where
// anyone may have edited it, and nobody reads a lock file in review. So a locked package is
// only data: which version of the package den.toml names, and the content hashes of its sources.
// What a package runs or exports comes from den's index (a recipe's script and host tools, a
// package's variables and commands), and every source must be the package it claims to be: the
// Go toolchain module of that release and system, the main module of the Go program den.toml
// names, npm tarballs of the npm package named, under that package's own path on the user's
// registry. A lock that says otherwise was not written by this den from this den.toml.

// LockMismatchError says a package in den.lock is not what den's index and den.toml make it.
type LockMismatchError struct {
	Package string
	Why     string
}

func (e *LockMismatchError) Error() string {
	return fmt.Sprintf("den.lock: %s: %s, which den did not write", e.Package, e.Why)
}

// Hints says how to get a lock den wrote.
func (e *LockMismatchError) Hints() []string {
	return []string{fmt.Sprintf("den update %s locks it afresh (check who changed den.lock, and why)", e.Package)}
}

func mismatch(p *lock.Package, format string, args ...any) error {
	return &LockMismatchError{Package: p.Name, Why: fmt.Sprintf(format, args...)}
}

// Verify checks a locked package, and the packages it depends on, against den's index.
func (r *Resolver) Verify(p *lock.Package) error {
	if isProjectRecipe(p) {
		return r.verifyProjectRecipe(p)
	}
	e, err := r.Index.Lookup(p.Name)
	if err != nil {
		return mismatch(p, "%v", err)
	}
	e = e.At(p.Version) // the form that publishes this version: pnpm 9 is JavaScript, 12 native
	if p.Backend != e.Backend {
		return mismatch(p, "it is locked for the %s backend, and den's index builds it with %s", p.Backend, e.Backend)
	}
	for sysName := range p.Systems {
		if _, err := platform.Parse(sysName); err != nil {
			return mismatch(p, "%v", err)
		}
	}
	for _, d := range p.Deps {
		if err := r.Verify(d); err != nil {
			return err
		}
	}
	switch p.Backend {
	case index.Recipe:
		return verifyRecipe(p, e)
	case index.GoToolchain:
		return verifyToolchain(p)
	case index.GoSource:
		return verifyGoSource(p, e)
	case index.NPMPlatform:
		return verifyNPMPlatform(p, e)
	case index.NPM:
		return verifyNPMTree(p, e)
	case index.Deb:
		return verifyDeb(p, e)
	}
	return mismatch(p, "unknown backend %q", p.Backend)
}

// Vars are the variables a locked package brings into an environment, from den's index (with
// "$out" its store path out), never from den.lock.
func (r *Resolver) Vars(p *lock.Package, out string) map[string]string {
	e, err := r.Index.Lookup(p.Name)
	if err != nil || len(e.Vars) == 0 {
		return nil
	}
	vars := map[string]string{}
	for k, v := range e.Vars {
		vars[k] = strings.ReplaceAll(v, "$out", out)
	}
	return vars
}

// Defaults are the variables a locked package brings only where the user has not set them, from
// den's index.
func (r *Resolver) Defaults(p *lock.Package) map[string]string {
	e, err := r.Index.Lookup(p.Name)
	if err != nil || len(e.Defaults) == 0 {
		return nil
	}
	return maps.Clone(e.Defaults)
}

func verifyRecipe(p *lock.Package, e *index.Entry) error {
	rec := e.Recipe
	for k := range p.Attrs {
		if k != recipes.AttrBuild && k != recipes.AttrHostTools {
			return mismatch(p, "it has the attribute %q, which den's index recipes never have", k)
		}
	}
	if p.Version != rec.Version {
		return mismatch(p, "version %s is locked, and den's index builds %s", p.Version, rec.Version)
	}
	if p.Attrs["build"] != rec.Build {
		return mismatch(p, "its build script differs from den's index")
	}
	if p.Attrs["host-tools"] != strings.Join(rec.HostTools, " ") {
		return mismatch(p, "its host tools (%s) differ from den's index (%s)", p.Attrs["host-tools"], strings.Join(rec.HostTools, " "))
	}
	want, err := hash.Parse(rec.Src.Hash, "")
	if err != nil {
		return err
	}
	urls := rec.Src.URLs
	if rec.Src.URL != "" {
		urls = append([]string{rec.Src.URL}, urls...)
	}
	var got []string
	for _, s := range p.Sources {
		h, err := hash.Parse(s.Hash, "")
		if err != nil || !h.Equal(want) {
			return mismatch(p, "its source hash %s is not den's index's", s.Hash)
		}
		got = append(got, s.URL)
	}
	for _, s := range p.Systems {
		if len(s.Sources) > 0 || len(s.Attrs) > 0 {
			return mismatch(p, "it has per-system sources, which a recipe never has")
		}
	}
	slices.Sort(got)
	wantURLs := slices.Sorted(slices.Values(urls))
	if !slices.Equal(got, wantURLs) {
		return mismatch(p, "its source URLs differ from den's index")
	}
	return verifyRecipeDeps(p, rec)
}

// verifyRecipeDeps checks that a recipe depends on exactly the index packages den's index
// names, and on the stdenv when it declares no host tools.
func verifyRecipeDeps(p *lock.Package, rec *index.RecipeEntry) error {
	want := slices.Clone(rec.Deps)
	if len(rec.HostTools) == 0 {
		want = append(want, recipes.Stdenv)
	}
	if p.Target != "" {
		t, err := platform.Parse(p.Target)
		if err != nil {
			return mismatch(p, "its target: %v", err)
		}
		cross := recipes.CrossToolchain(t)
		want = append(want, cross)
		// Its libraries are the target's; its tools, the build machine's.
		for _, d := range p.Deps {
			lib := slices.Contains(rec.Deps, d.Name)
			if lib && d.Target != p.Target || !lib && d.Name != cross && d.Target != "" {
				return mismatch(p, "its dependency %s is locked for the target %q", d.Name, d.Target)
			}
		}
	} else {
		for _, d := range p.Deps {
			if d.Target != "" {
				return mismatch(p, "its dependency %s is locked for the target %q, and it is built for its own system", d.Name, d.Target)
			}
		}
	}
	var got []string
	for _, d := range p.Deps {
		got = append(got, d.Name)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		return mismatch(p, "it depends on %v, and den's index on %v", got, want)
	}
	return nil
}

func verifyToolchain(p *lock.Package) error {
	for sysName := range p.Systems {
		sys, _ := platform.Parse(sysName)
		srcs := p.SourcesFor(sysName)
		if len(srcs) != 1 {
			return mismatch(p, "%d sources for %s, where a toolchain has one", len(srcs), sysName)
		}
		s := srcs[0]
		if s.Kind != derivation.BuilderGoToolchain || s.Name != gomod.ToolchainModule || s.Version != gotoolchain.ModuleVersion(p.Version, sys) {
			return mismatch(p, "its source for %s is %s@%s, not Go %s's toolchain module", sysName, s.Name, s.Version, p.Version)
		}
		if !strings.HasPrefix(s.Hash, "h1:") {
			return mismatch(p, "the hash of its toolchain for %s is not an h1: hash", sysName)
		}
	}
	return nil
}

func verifyGoSource(p *lock.Package, e *index.Entry) error {
	pkgPath := e.InstallPath()
	if pkgPath != p.Attrs["path"] {
		return mismatch(p, "it builds %q, and den.toml's %s is %q", p.Attrs["path"], p.Name, pkgPath)
	}
	mod := p.Attrs["module"]
	if mod == "" || (pkgPath != mod && !strings.HasPrefix(pkgPath, mod+"/")) {
		return mismatch(p, "module %q does not hold the package %s", mod, pkgPath)
	}
	if e.Module != "" && mod != e.Module {
		return mismatch(p, "module %q is locked, and den's index builds %s from %s", mod, p.Name, e.Module)
	}
	if err := module.Check(mod, p.Version); err != nil {
		return mismatch(p, "%v", err)
	}
	if len(p.Deps) != 1 || p.Deps[0].Backend != index.GoToolchain {
		return mismatch(p, "a Go program is locked with the Go toolchain that builds it")
	}
	for sysName := range p.Systems {
		for _, s := range p.SourcesFor(sysName) {
			if s.Kind != derivation.BuilderGoMod && s.Kind != derivation.BuilderGoModule {
				return mismatch(p, "source kind %q is not a Go module", s.Kind)
			}
			if err := module.Check(s.Name, s.Version); err != nil {
				return mismatch(p, "%v", err)
			}
			if !strings.HasPrefix(s.Hash, "h1:") {
				return mismatch(p, "%s@%s has no h1: hash", s.Name, s.Version)
			}
		}
	}
	return nil
}

func verifyNPMPlatform(p *lock.Package, e *index.Entry) error {
	if !semver.IsValid("v" + p.Version) {
		return mismatch(p, "version %q is not an npm version", p.Version)
	}
	if b := p.Attrs["bin"]; b != npmpkg.EncodeBins(e.Bin) {
		return mismatch(p, "its commands (%s) differ from den's index", b)
	}
	for sysName, s := range p.Systems {
		sys, _ := platform.Parse(sysName)
		if len(s.Attrs) > 0 {
			return mismatch(p, "it has attributes for %s, which a platform package never has", sysName)
		}
		var srcs []lock.Source
		bundled := map[string]bool{}
		for _, s := range p.SourcesFor(sysName) {
			if s.Path == "" {
				srcs = append(srcs, s)
				continue
			}
			// npm with node: a bundle den's index names, once, where it goes.
			if e.Bundle[s.Name] == nil || s.Path != npmpkg.BundlePath(s.Name) || bundled[s.Name] {
				return mismatch(p, "it has %s@%s at %q, which does not come with %s", s.Name, s.Version, s.Path, p.Name)
			}
			if !semver.IsValid("v" + s.Version) {
				return mismatch(p, "%s: version %q is not an npm version", s.Name, s.Version)
			}
			if err := verifyTarball(p, s); err != nil {
				return err
			}
			bundled[s.Name] = true
		}
		if len(srcs) != 1 {
			return mismatch(p, "%d sources for %s, where a platform package has one", len(srcs), sysName)
		}
		for name := range e.Bundle {
			if !bundled[name] {
				return mismatch(p, "it lacks %s, which comes with %s", name, p.Name)
			}
		}
		src := srcs[0]
		if want := e.NPMName(sys); src.Name != want || src.Version != p.Version {
			return mismatch(p, "its source for %s is %s@%s, not %s@%s", sysName, src.Name, src.Version, want, p.Version)
		}
		if err := verifyTarball(p, src); err != nil {
			return err
		}
	}
	return nil
}

func verifyNPMTree(p *lock.Package, e *index.Entry) error {
	if p.Attrs["package"] != e.Package {
		return mismatch(p, "it is locked as npm package %q, not %q", p.Attrs["package"], e.Package)
	}
	if len(p.Deps) != 1 || p.Deps[0].Name != "node" {
		return mismatch(p, "an npm tool is locked with the node that runs it")
	}
	for sysName := range p.Systems {
		if root := p.Attr(sysName, "root"); root != "node_modules/"+e.Package {
			return mismatch(p, "its root on %s is %q, not node_modules/%s", sysName, root, e.Package)
		}
		bins := npmpkg.DecodeBins(p.Attr(sysName, "bin"))
		for _, name := range slices.Sorted(maps.Keys(bins)) {
			if !safeWord(name) || !safePath(bins[name]) {
				return mismatch(p, "command %q -> %q is not a command name and a file of the package", name, bins[name])
			}
		}
		rootSeen := false
		for _, s := range p.SourcesFor(sysName) {
			if s.Kind != "npm" {
				return mismatch(p, "source kind %q is not an npm tarball", s.Kind)
			}
			if !installPath(s.Path) {
				return mismatch(p, "install path %q is not a node_modules path", s.Path)
			}
			if s.Path == "node_modules/"+e.Package {
				rootSeen = true
				if s.Name != e.Package || s.Version != p.Version {
					return mismatch(p, "its root is %s@%s, not %s@%s", s.Name, s.Version, e.Package, p.Version)
				}
			}
			if !semver.IsValid("v" + s.Version) {
				return mismatch(p, "%s: version %q is not an npm version", s.Name, s.Version)
			}
			if err := verifyTarball(p, s); err != nil {
				return err
			}
		}
		if !rootSeen {
			return mismatch(p, "its tree on %s lacks the package itself", sysName)
		}
	}
	return nil
}

// verifyTarball checks an npm source: an npm package name, a hash, and a tarball below the
// package's own path on the user's registry (a full URL would fetch from anywhere).
func verifyTarball(p *lock.Package, s lock.Source) error {
	if !npmName(s.Name) {
		return mismatch(p, "%q is not an npm package name", s.Name)
	}
	if _, err := hash.Parse(s.Hash, ""); err != nil {
		return mismatch(p, "%s@%s: %v", s.Name, s.Version, err)
	}
	if strings.Contains(s.URL, "://") || !strings.HasPrefix(s.URL, s.Name+"/-/") || path.Clean(s.URL) != s.URL || strings.Contains(s.URL, "..") {
		return mismatch(p, "the tarball of %s@%s is %q, not one of %s's own on your npm registry", s.Name, s.Version, s.URL, s.Name)
	}
	return nil
}

// npmName reports whether s is a valid npm package name ("x", "@scope/x"): lower case letters,
// digits and - . _ ~, nothing a path or a shell would read.
func npmName(s string) bool {
	scope, name, scoped := strings.Cut(s, "/")
	if !scoped {
		scope, name = "", s
	} else if !strings.HasPrefix(scope, "@") || len(scope) < 2 || !npmWord(scope[1:]) {
		return false
	}
	return npmWord(name)
}

func npmWord(s string) bool {
	if s == "" || len(s) > 214 || s[0] == '.' || s[0] == '_' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// installPath reports whether s is node_modules/NAME, each further level
// NAME/node_modules/NAME, with npm package names, as arborist lays trees out.
func installPath(s string) bool {
	rest, ok := strings.CutPrefix(s, "node_modules/")
	for ok {
		name := rest
		if strings.HasPrefix(rest, "@") {
			scope, after, found := strings.Cut(rest, "/")
			if !found {
				return false
			}
			n, tail, _ := strings.Cut(after, "/")
			name, rest = scope+"/"+n, tail
		} else {
			name, rest, _ = strings.Cut(rest, "/")
		}
		if !npmName(name) {
			return false
		}
		if rest == "" {
			return true
		}
		rest, ok = strings.CutPrefix(rest, "node_modules/")
	}
	return false
}

// safeWord is a command name: nothing a shell or a path would read.
func safeWord(s string) bool {
	if s == "" || s[0] == '-' || s[0] == '.' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._+@:", c)) {
			return false
		}
	}
	return true
}

// safePath is a clean relative path of safe words inside a package.
func safePath(s string) bool {
	if s == "" || path.Clean(s) != strings.TrimPrefix(s, "./") || strings.HasPrefix(path.Clean(s), "../") || path.IsAbs(s) {
		return false
	}
	for _, part := range strings.Split(path.Clean(s), "/") {
		if part == ".." || !safeWord(part) && part != "." {
			return false
		}
	}
	return true
}

// debPool matches where a Debian archive keeps .debs: mirror://debian/pool/…, or the security
// archive's.
// Debian versions may hold capitals (2.0.0~M26-1, 0.9+LibO7.4.7-1).
var debPool = regexp.MustCompile(`^mirror://debian(-security)?/pool/[A-Za-z0-9+./_~-]+\.deb$`)

// debFile is the name Debian's archive gives the .deb of a package's version for arch:
// name_version_arch.deb, the version without its epoch.
func debFile(name, version, arch string) string {
	if _, rest, ok := strings.Cut(version, ":"); ok {
		version = rest
	}
	return name + "_" + version + "_" + arch + ".deb"
}

// verifyDeb checks that a Debian package locks the packages den's index names, with the
// bootstrap den relocates them with, and that every .deb comes from a Debian archive's pool by
// its SHA256: the lock decides which of Debian's files are fetched, never from where, and never
// what runs (nothing in a .deb runs while den unpacks it but the bootstrap's patchelf).
func verifyDeb(p *lock.Package, e *index.Entry) error {
	// A cross toolchain has its target in den's index; a library may be locked for any target
	// Debian has an architecture for.
	qualifier := ""
	if e.Target != "" && p.Target != e.Target {
		return mismatch(p, "it is locked for the target %q, and den's index makes it for %s", p.Target, e.Target)
	}
	if p.Target != "" {
		ts, err := platform.Parse(p.Target)
		if err != nil {
			return mismatch(p, "its target: %v", err)
		}
		ta, err := debpkg.ArchOf(ts)
		if err != nil {
			return mismatch(p, "its target: %v", err)
		}
		qualifier = ":" + ta.Deb
	}
	if want := debpkg.AttrsFor(e, p.Target); !maps.Equal(p.Attrs, want) {
		return mismatch(p, "its attributes differ from den's index (%s, where den's index has %s)", spellAttrs(p.Attrs), spellAttrs(want))
	}
	// Each .deb must be the package and version it is locked as, for its system's architecture
	// (or for all), as Debian's pool names its files: another of the pool's files, though
	// Debian's too, would put another program under the package's name.
	check := func(srcs []lock.Source, archs []string) error {
		for _, s := range srcs {
			if s.Kind != "deb" {
				return mismatch(p, "it has a %s source", s.Kind)
			}
			if !debPool.MatchString(s.URL) || strings.Contains(s.URL, "..") || strings.Contains(s.URL, "//pool") {
				return mismatch(p, "%s is locked at %q, which is not a .deb in a Debian archive's pool", s.Name, s.URL)
			}
			name, archs := s.Name, archs
			if qualifier != "" && strings.HasSuffix(name, qualifier) {
				// One of a cross-built package's target packages (libc6:arm64).
				name, archs = strings.TrimSuffix(name, qualifier), []string{"all", qualifier[1:]}
			} else if strings.Contains(name, ":") {
				return mismatch(p, "%s names an architecture that is not its target's", s.Name)
			}
			if !slices.ContainsFunc(archs, func(a string) bool { return path.Base(s.URL) == debFile(name, s.Version, a) }) {
				return mismatch(p, "%s %s is locked at %q, which is not its .deb (%s)", s.Name, s.Version, s.URL, debFile(name, s.Version, archs[len(archs)-1]))
			}
			h, err := hash.Parse(s.Hash, "")
			if err != nil || h.Algo != hash.SHA256 {
				return mismatch(p, "%s has no SHA256 hash", s.Name)
			}
		}
		return nil
	}
	// Sources every system shares are for all architectures, unless only one system is locked.
	shared := []string{"all"}
	systemArchs := map[string][]string{}
	for name := range p.Systems {
		sys, err := platform.Parse(name)
		if err != nil {
			return mismatch(p, "%v", err)
		}
		a, err := debpkg.ArchOf(sys)
		if err != nil {
			return mismatch(p, "%v", err)
		}
		systemArchs[name] = []string{"all", a.Deb}
		if len(p.Systems) == 1 {
			shared = systemArchs[name]
		}
	}
	if err := check(p.Sources, shared); err != nil {
		return err
	}
	for name, s := range p.Systems {
		for k := range s.Attrs {
			if k != "version" {
				return mismatch(p, "it has a %s attribute for %s", k, name)
			}
		}
		if err := check(s.Sources, systemArchs[name]); err != nil {
			return err
		}
	}
	return nil
}

// spellAttrs spells a lock's attributes for a message: k=v, sorted.
func spellAttrs(a map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		out = append(out, fmt.Sprintf("%s=%q", k, a[k]))
	}
	return strings.Join(out, " ")
}
