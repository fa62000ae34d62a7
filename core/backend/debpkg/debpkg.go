// Package debpkg is the backend for packages made of Debian's binaries: an index entry (or
// deb:NAME) names Debian packages, Lock resolves their dependency closure in the archive's signed
// indexes for each system and records every .deb by name, version and SHA256, and Plan turns
// that record into store paths without the archive's indexes.
//
// The .debs are grouped into units, one store path each: the debs of the closure that come from
// one Debian source package (libc6 and libc6-dev are unit glibc), because Debian's relative
// links cross the binary packages of a source (libz.so in zlib1g-dev names libz.so.1 in
// zlib1g). A unit is built from its .deb files and the units it depends on, its ELF files
// pointed at the store's glibc loader and at its dependencies' library directories (core/debunit).
// Units in a dependency cycle share one store path; glibc's own dependencies are dropped, since
// libc only ever dlopens libgcc_s. Relocating needs patchelf, which comes from the archive too: a
// bootstrap unit holds patchelf and the libraries it runs with, unpatched, run through its own
// loader.
package debpkg

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/deb"
	"github.com/den-sh/den/core/debunit"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/stdenv"
	"github.com/den-sh/den/core/version"
)

// Backend implements backend.Backend.
type Backend struct{}

// Name of the backend in den.lock.
const Name = index.Deb

// Bootstrap is the Debian package that relocates the others.
const Bootstrap = "patchelf"

// Arch is how Debian names a system's architecture and its multiarch directories.
type Arch struct {
	Deb     string // amd64
	Triplet string // x86_64-linux-gnu
	Loader  string // ld-linux-x86-64.so.2
}

// debArch is Debian's name of each system's architecture; the multiarch triplet and loader are
// the stdenv's (core/stdenv), which builds for the same systems.
var debArch = map[string]string{"x86_64-linux": "amd64", "aarch64-linux": "arm64", "armv7l-linux": "armhf", "i686-linux": "i386"}

// ArchOf returns Debian's architecture for sys.
func ArchOf(sys platform.System) (Arch, error) {
	deb, ok := debArch[sys.String()]
	if !ok {
		return Arch{}, &NoArchError{System: sys.String()}
	}
	triplet, err := stdenv.Triplet(sys.String())
	if err != nil {
		return Arch{}, err
	}
	loader, err := stdenv.Loader(triplet)
	if err != nil {
		return Arch{}, err
	}
	return Arch{Deb: deb, Triplet: triplet, Loader: loader}, nil
}

// NoArchError says Debian's archive has nothing for a system.
type NoArchError struct{ System string }

func (e *NoArchError) Error() string {
	return fmt.Sprintf("Debian's archive has no packages for %s (den uses its amd64, arm64, armhf and i386 packages: x86_64-linux, aarch64-linux, armv7l-linux, i686-linux)", e.System)
}

var debName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

func (Backend) archive(env *backend.Env) (*deb.Archive, error) {
	if env.Debian == nil {
		return nil, errors.New("no Debian archive is configured")
	}
	return env.Debian()
}

func checkEntry(e *index.Entry) error {
	for _, n := range append(slices.Clone(e.Debs), e.Exclude...) {
		if !debName.MatchString(n) {
			return fmt.Errorf("%s: %q is not a Debian package name", e.Name, n)
		}
	}
	for _, l := range e.Links {
		if err := CheckLink(l); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	for _, d := range e.CommandDirs {
		if err := CheckCommandDir(d); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	return nil
}

// Attrs are the attributes den.lock records of a package of entry e: its root packages, the
// bootstrap, and what the entry adds to the output. They are all the lock says of how the
// package is made, so Verify compares them with the index's.
func Attrs(e *index.Entry) map[string]string {
	a := map[string]string{"roots": strings.Join(e.Debs, " "), "bootstrap": Bootstrap}
	if len(e.Exclude) > 0 {
		a["exclude"] = strings.Join(e.Exclude, " ")
	}
	if e.CCWrapper {
		a["cc-wrapper"] = "true"
	}
	if len(e.Links) > 0 {
		a["links"] = strings.Join(e.Links, " ")
	}
	if len(e.CommandDirs) > 0 {
		a["command-dirs"] = strings.Join(e.CommandDirs, " ")
	}
	return a
}

// AttrsFor are the attributes a lock of e for target ("" for none) has: a cross toolchain
// (the entry names its target) has the build machine's roots and the target's; a package locked
// for a target (a library a cross build links against) has only the target's.
func AttrsFor(e *index.Entry, target string) map[string]string {
	a := Attrs(e)
	buildRoots, targetRoots := e.Debs, e.TargetDebs
	if e.Target == "" && target != "" {
		buildRoots, targetRoots = nil, e.Debs
	}
	if e.Target != "" || target != "" {
		delete(a, "roots")
		if len(buildRoots) > 0 {
			a["roots"] = strings.Join(buildRoots, " ")
		}
		a["target-roots"] = strings.Join(targetRoots, " ")
	}
	return a
}

// CheckLink checks a link of an output, "bin/python3=python3.11": a relative path inside the
// output, to a file beside it.
func CheckLink(l string) error {
	name, target, ok := strings.Cut(l, "=")
	if !ok || !safeRel(name) || target == "" || strings.Contains(target, "/") || target == "." || target == ".." {
		return fmt.Errorf("link %q is not PATH=FILE, a path inside the package and a file beside it", l)
	}
	return nil
}

// CheckCommandDir checks a directory of commands: a relative path inside the output, not bin
// itself.
func CheckCommandDir(d string) error {
	if !safeRel(d) || d == "bin" {
		return fmt.Errorf("command directory %q is not a directory inside the package other than bin", d)
	}
	return nil
}

// safeRel is a clean relative path of plain names.
func safeRel(p string) bool {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == "." {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." || strings.ContainsAny(part, " =\x00") {
			return false
		}
	}
	return true
}

// Versions is the version the archive has of the entry's first package, on this system.
func (b Backend) Versions(ctx context.Context, env *backend.Env, e *index.Entry) ([]string, error) {
	if err := checkEntry(e); err != nil {
		return nil, err
	}
	a, err := ArchOf(env.Current)
	if err != nil {
		return nil, err
	}
	arc, err := b.archive(env)
	if err != nil {
		return nil, err
	}
	ix, err := arc.Index(ctx, a.Deb)
	if err != nil {
		return nil, err
	}
	p := ix.Get(e.Debs[0])
	if p == nil {
		return nil, &MissingError{Package: e.Debs[0], Arch: a.Deb}
	}
	return []string{p.Version}, nil
}

// MissingError says the archive has no such package.
type MissingError struct{ Package, Arch string }

func (e *MissingError) Error() string {
	return fmt.Sprintf("Debian's archive has no package %q for %s", e.Package, e.Arch)
}

// Hints says where to look.
func (e *MissingError) Hints() []string {
	return []string{"the name is a Debian binary package's, as apt-cache search lists them; the suites read are your apt sources'"}
}

// Matches reports whether Debian version v satisfies c (index.DebianMatches).
func Matches(c version.Constraint, v string) bool { return index.DebianMatches(c, v) }

// Lock resolves the entry's packages and their closure on every system.
func (b Backend) Lock(ctx context.Context, env *backend.Env, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
	if err := checkEntry(e); err != nil {
		return nil, err
	}
	arc, err := b.archive(env)
	if err != nil {
		return nil, err
	}
	p := &lock.Package{Name: e.Name, Constraint: c.String(), Backend: Name, Systems: map[string]*lock.System{}}
	order := slices.Clone(systems)
	// The current system's version is the package's; another system's differs only where its
	// archive lags (a binNMU), and is then recorded for that system.
	slices.SortStableFunc(order, func(a, b platform.System) int {
		switch {
		case a == env.Current && b != env.Current:
			return -1
		case b == env.Current && a != env.Current:
			return 1
		}
		return 0
	})
	if err := b.noBuild(ctx, arc, env, e, c, systems); err != nil {
		return nil, err
	}
	// A cross toolchain (the entry names its target) has tools of the build machine and the
	// target's C library; a package locked for a target (a library a cross build links
	// against) has only the target's packages. Either way patchelf is the build machine's.
	buildRoots, targetRoots := e.Debs, e.TargetDebs
	target := e.Target
	if target == "" && env.Target != (platform.System{}) {
		buildRoots, targetRoots, target = nil, e.Debs, env.Target.String()
	}
	if target != "" {
		if _, err := platform.Parse(target); err != nil {
			return nil, fmt.Errorf("%s: its target: %w", e.Name, err)
		}
		p.Target = target
	}
	p.Attrs = AttrsFor(e, target)
	for _, sys := range order {
		ls, version, err := b.lockSystem(ctx, arc, e, c, sys, target, buildRoots, targetRoots)
		if err != nil {
			return nil, err
		}
		if p.Version == "" {
			p.Version = version
		} else if version != p.Version {
			ls.Attrs = map[string]string{"version": version}
		}
		p.Systems[sys.String()] = ls
	}
	p.Factor()
	return p, nil
}

// lockSystem resolves the closures of one build system: of buildRoots and the bootstrap in its
// own architecture's index, and of targetRoots in the target's, their names qualified with the
// target's architecture (libc6:arm64) as Debian's multiarch spells them, so that the target's
// libc6 and the build machine's are two packages of one lock. It returns the version of the
// package's first root.
func (Backend) lockSystem(ctx context.Context, arc *deb.Archive, e *index.Entry, c version.Constraint, sys platform.System,
	target string, buildRoots, targetRoots []string) (*lock.System, string, error) {
	a, err := ArchOf(sys)
	if err != nil {
		return nil, "", err
	}
	ix, err := arc.Index(ctx, a.Deb)
	if err != nil {
		return nil, "", err
	}
	ta := a
	tix := ix
	if target != "" && target != sys.String() {
		tsys, err := platform.Parse(target)
		if err != nil {
			return nil, "", err
		}
		if ta, err = ArchOf(tsys); err != nil {
			return nil, "", err
		}
		if tix, err = arc.Index(ctx, ta.Deb); err != nil {
			return nil, "", err
		}
	}
	rootIx, rootArch, rootName := ix, a, ""
	if len(buildRoots) > 0 {
		rootName = buildRoots[0]
	} else {
		rootIx, rootArch, rootName = tix, ta, targetRoots[0]
	}
	root := rootIx.Get(rootName)
	if root == nil {
		return nil, "", &MissingError{Package: rootName, Arch: rootArch.Deb}
	}
	if !Matches(c, root.Version) {
		return nil, "", fmt.Errorf("%s: Debian's archive has %s %s for %s, which is not %q; Debian packages come in the version the archive's suites carry", e.Name, rootName, root.Version, rootArch.Deb, c.String())
	}
	ls := &lock.System{}
	add := func(closure []*deb.Resolved, qualify string) {
		for _, r := range closure {
			needs := slices.Clone(r.Deps)
			for i := range needs {
				needs[i] += qualify
			}
			ls.Sources = append(ls.Sources, lock.Source{
				Kind: "deb", Name: r.Name + qualify, Version: r.Version, Group: r.Source,
				URL:   "mirror://" + r.Mirror + "/" + r.Filename,
				Hash:  r.SRI(),
				Needs: strings.Join(needs, " "),
			})
		}
	}
	cross := target != "" && target != sys.String()
	if !cross {
		closure, err := ix.Closure(append(slices.Concat(buildRoots, targetRoots), Bootstrap), e.Exclude)
		if err != nil {
			return nil, "", fmt.Errorf("%s on %s: %w", e.Name, sys, err)
		}
		add(closure, "")
		return ls, root.Version, nil
	}
	closure, err := ix.Closure(append(slices.Clone(buildRoots), Bootstrap), e.Exclude)
	if err != nil {
		return nil, "", fmt.Errorf("%s on %s: %w", e.Name, sys, err)
	}
	add(closure, "")
	tclosure, err := tix.Closure(targetRoots, e.Exclude)
	if err != nil {
		return nil, "", fmt.Errorf("%s for %s on %s: %w", e.Name, target, sys, err)
	}
	add(tclosure, ":"+ta.Deb)
	return ls, root.Version, nil
}

// noBuild is a *backend.NoBuildError naming the systems Debian has no architecture for (a
// project's default systems include macOS), so that den says how to lock only the others.
func (Backend) noBuild(ctx context.Context, arc *deb.Archive, env *backend.Env, e *index.Entry, c version.Constraint, systems []platform.System) error {
	nb := &backend.NoBuildError{Package: e.Name, Version: c.String(), Constraint: c.String(),
		Detail: "Debian's archive has packages for x86_64-linux, aarch64-linux, armv7l-linux and i686-linux only"}
	for _, sys := range systems {
		nb.Asked = append(nb.Asked, sys.String())
		if _, err := ArchOf(sys); err != nil || e.Target == sys.String() {
			nb.Missing = append(nb.Missing, sys.String())
		}
	}
	if e.Target != "" && slices.Contains(nb.Missing, e.Target) {
		nb.Detail = fmt.Sprintf("a cross toolchain for %[1]s runs on other systems; on %[1]s itself, the stdenv and gcc build its programs", e.Target)
	}
	if len(nb.Missing) == 0 {
		return nil
	}
	// The version is the one this system would lock, where it is one of Debian's.
	if a, err := ArchOf(env.Current); err == nil {
		ix, err := arc.Index(ctx, a.Deb)
		if err != nil {
			return err
		}
		if p := ix.Get(e.Debs[0]); p != nil {
			nb.Version = p.Version
		}
	}
	return nb
}

// Plan turns the locked closure on sys into units, and the package's output: its root units,
// merged (with the compiler wrapper first, where it has one) when there are several.
func (b Backend) Plan(ctx context.Context, env *backend.Env, p *lock.Package, sys platform.System) (*derivation.Derivation, error) {
	if !p.HasSystem(sys.String()) {
		return nil, &backend.NotLockedForError{Package: p.Name, System: sys.String()}
	}
	g, err := NewGraph(p, sys)
	if err != nil {
		return nil, err
	}
	return g.Output(env.Store.Dir)
}

// Graph is a locked closure on one system, planned into units.
type Graph struct {
	Pkg  *lock.Package
	Sys  platform.System
	Arch Arch
	// Target is the architecture of the target's packages of a cross-built package (see
	// lock.Package.Target), whose names carry Qualifier (":arm64"); zero for a native one.
	Target    Arch
	TargetSys platform.System
	Qualifier string

	debs  map[string]lock.Source
	roots []string
}

// NewGraph reads the lock's record of p on sys.
func NewGraph(p *lock.Package, sys platform.System) (*Graph, error) {
	a, err := ArchOf(sys)
	if err != nil {
		return nil, err
	}
	g := &Graph{Pkg: p, Sys: sys, Arch: a, debs: map[string]lock.Source{}}
	if p.Target != "" && p.Target != sys.String() {
		ts, err := platform.Parse(p.Target)
		if err != nil {
			return nil, fmt.Errorf("den.lock: %s: its target: %w", p.Name, err)
		}
		if g.Target, err = ArchOf(ts); err != nil {
			return nil, fmt.Errorf("den.lock: %s: its target: %w", p.Name, err)
		}
		g.TargetSys, g.Qualifier = ts, ":"+g.Target.Deb
	}
	for _, s := range p.SourcesFor(sys.String()) {
		if s.Kind != "deb" {
			return nil, fmt.Errorf("den.lock: %s: a %s source in a Debian package", p.Name, s.Kind)
		}
		if _, dup := g.debs[s.Name]; dup {
			return nil, fmt.Errorf("den.lock: %s: %s is locked twice for %s", p.Name, s.Name, sys)
		}
		g.debs[s.Name] = s
	}
	g.roots = strings.Fields(p.Attr(sys.String(), "roots"))
	for _, n := range strings.Fields(p.Attr(sys.String(), "target-roots")) {
		g.roots = append(g.roots, n+g.Qualifier)
	}
	if len(g.roots) == 0 {
		return nil, fmt.Errorf("den.lock: %s names no Debian packages", p.Name)
	}
	for _, n := range append(slices.Clone(g.roots), Bootstrap) {
		if _, ok := g.debs[n]; !ok {
			return nil, fmt.Errorf("den.lock: %s: %s is not locked for %s; run den lock", p.Name, n, sys)
		}
	}
	for _, s := range g.debs {
		for _, n := range strings.Fields(s.Needs) {
			if _, ok := g.debs[n]; !ok {
				return nil, fmt.Errorf("den.lock: %s: %s needs %s, which is not locked for %s; run den lock", p.Name, s.Name, n, sys)
			}
		}
	}
	return g, nil
}

// reach is the closure of names through Needs, sorted.
func (g *Graph) reach(names []string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, m := range strings.Fields(g.debs[n].Needs) {
			walk(m)
		}
	}
	for _, n := range names {
		walk(n)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// storeName makes a store path name of a Debian file or version: Debian allows ~ and : where
// store names do not.
func storeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("+-._?=", r):
			return r
		}
		return '_'
	}, s)
}

// isTarget reports whether the locked deb name is one of the target's packages.
func (g *Graph) isTarget(name string) bool {
	return g.Qualifier != "" && strings.HasSuffix(name, g.Qualifier)
}

// side is the architecture and system a unit of the named debs is for.
func (g *Graph) side(debs []string) (Arch, platform.System) {
	if len(debs) > 0 && g.isTarget(debs[0]) {
		return g.Target, g.TargetSys
	}
	return g.Arch, g.Sys
}

func (g *Graph) fetch(name string, storeDir string) (*derivation.Derivation, error) {
	s := g.debs[name]
	d := &derivation.Derivation{
		Name:    storeName(path.Base(s.URL)),
		Builder: derivation.BuilderFetch, URLs: []string{s.URL}, OutputHash: s.Hash,
		System: g.Sys.String(), Host: g.Sys.String(),
	}
	if err := d.Seal(storeDir); err != nil {
		return nil, fmt.Errorf("den.lock: %s: %s: %w", g.Pkg.Name, name, err)
	}
	return d, nil
}

// Unit is one store path of Debian packages.
type Unit struct {
	Debs []string // sorted
	Deps []*Unit  // the units its packages depend on, directly
	Drv  *derivation.Derivation
}

// Has reports whether the unit holds the Debian package name.
func (u *Unit) Has(name string) bool { return slices.Contains(u.Debs, name) }

// Units plans the units of the closure of the root packages, dependencies first, and the
// bootstrap unit that relocates them.
func (g *Graph) Units(storeDir string) (units []*Unit, boot *Unit, err error) {
	fetches := map[string]*derivation.Derivation{}
	fetchOf := func(n string) (*derivation.Derivation, error) {
		if d, ok := fetches[n]; ok {
			return d, nil
		}
		d, err := g.fetch(n, storeDir)
		fetches[n] = d
		return d, err
	}
	loader := "lib/" + g.Arch.Triplet + "/" + g.Arch.Loader

	boot = &Unit{Debs: g.reach([]string{Bootstrap})}
	bd, err := g.unitDrv("deb-bootstrap", boot.Debs, nil, "", nil, g.Arch, g.Sys, fetchOf, storeDir)
	if err != nil {
		return nil, nil, err
	}
	boot.Drv = bd
	patchelf := []string{
		string(bd.Out) + "/" + loader, "--library-path", string(bd.Out) + "/lib/" + g.Arch.Triplet,
		string(bd.Out) + "/bin/patchelf",
	}

	groups := g.groups(g.reach(g.roots))
	// A cross-built package has two C libraries: the build machine's, which its tools run
	// with, and the target's, which the target's units are pointed at.
	glibcOf := map[bool]*Unit{}
	for _, u := range groups {
		for _, n := range u.Debs {
			if strings.TrimSuffix(n, g.Qualifier) == "libc6" && (n == "libc6" || g.isTarget(n)) {
				glibcOf[g.isTarget(n)] = u
			}
		}
	}
	for _, u := range groups {
		arch, sys := g.side(u.Debs)
		glibc := glibcOf[g.isTarget(u.Debs[0])]
		loader := "lib/" + arch.Triplet + "/" + arch.Loader
		deps := transitive(u)
		if glibc != nil && u != glibc && !slices.Contains(deps, glibc) {
			deps = append(deps, glibc)
		}
		interp := ""
		switch {
		case u == glibc:
			interp = "$out/" + loader
		case glibc != nil:
			interp = string(glibc.Drv.Out) + "/" + loader
		}
		name := g.unitName(u)
		d, err := g.unitDrv(name, u.Debs, deps, interp, patchelf, arch, sys, fetchOf, storeDir)
		if err != nil {
			return nil, nil, err
		}
		d.Needs = append(d.Needs, bd)
		d.Inputs = append(d.Inputs, bd.Out)
		if err := d.Seal(storeDir); err != nil {
			return nil, nil, err
		}
		u.Drv = d
	}
	return groups, boot, nil
}

// unitDrv plans a unit of debs for arch, which runs on host: the build system's own, or a
// cross-built package's target (built here, on g.Sys, by the build machine's patchelf).
func (g *Graph) unitDrv(name string, debs []string, deps []*Unit, interp string, patchelf []string, arch Arch, host platform.System,
	fetchOf func(string) (*derivation.Derivation, error), storeDir string) (*derivation.Derivation, error) {
	d := &derivation.Derivation{
		Name: name, System: g.Sys.String(), Host: host.String(), Builder: derivation.BuilderDebUnit,
		Env: map[string]string{"interp": interp, "patchelf": strings.Join(patchelf, " "), "triplet": arch.Triplet, "relocation": debunit.Revision},
		// The bootstrap's patchelf is the system's own binary: another system's units come
		// from a cache or not at all.
		Native: true,
	}
	if len(debs) == 1 || name == "deb-bootstrap" {
		d.Version = g.debs[debs[0]].Version
	}
	var files []string
	for _, n := range debs {
		f, err := fetchOf(n)
		if err != nil {
			return nil, err
		}
		files = append(files, string(f.Out))
		d.Inputs = append(d.Inputs, f.Out)
		d.Needs = append(d.Needs, f)
	}
	var depPaths []string
	for _, u := range deps {
		depPaths = append(depPaths, string(u.Drv.Out))
		d.Inputs = append(d.Inputs, u.Drv.Out)
		d.Needs = append(d.Needs, u.Drv)
	}
	d.Env["debs"] = strings.Join(files, " ")
	d.Env["deps"] = strings.Join(depPaths, " ")
	if err := d.Seal(storeDir); err != nil {
		return nil, fmt.Errorf("den.lock: %s: %w", g.Pkg.Name, err)
	}
	return d, nil
}

// devGroup marks the unit of glibc's packages besides libc6 (groups).
const devGroup = "-dev"

// unitName names a unit after its Debian source package and that package's version.
func (g *Graph) unitName(u *Unit) string {
	var groups []string
	libc := false
	for _, n := range u.Debs {
		libc = libc || n == "libc6"
		if s := g.debs[n].Group; !slices.Contains(groups, s) {
			groups = append(groups, s)
		}
	}
	if !libc && !g.isTarget(u.Debs[0]) && g.debs["libc6"].Group != "" {
		for i, s := range groups {
			if s == g.debs["libc6"].Group {
				groups[i] += devGroup
			}
		}
	}
	sort.Strings(groups)
	// The version of the package named after the source, or of the first.
	v := g.debs[u.Debs[0]].Version
	for _, n := range u.Debs {
		if n == groups[0] {
			v = g.debs[n].Version
		}
	}
	name := strings.Join(groups, "+")
	if len(name) > 100 {
		name = groups[0] + fmt.Sprintf("+%d", len(groups)-1)
	}
	if g.isTarget(u.Debs[0]) {
		// As Nix names a cross-built package: glibc-aarch64-linux-gnu-2.36.
		name += "-" + g.Target.Triplet
	}
	return storeName(name + "-" + index.DebianUpstream(v))
}

// transitive lists the units u depends on, directly or not, nearest first.
func transitive(u *Unit) []*Unit {
	var out []*Unit
	seen := map[*Unit]bool{u: true}
	queue := slices.Clone(u.Deps)
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
		queue = append(queue, d.Deps...)
	}
	return out
}

// groups makes units of the debs by source package, merges units in dependency cycles, and
// orders them so that every unit comes after those it depends on.
func (g *Graph) groups(debs []string) []*Unit {
	bySource := map[string][]string{}
	glibc := ""
	if slices.Contains(debs, "libc6") {
		if glibc = g.debs["libc6"].Group; glibc == "" {
			glibc = "libc6"
		}
	}
	for _, n := range debs {
		s := g.debs[n].Group
		if s == "" {
			s = strings.TrimSuffix(n, g.Qualifier)
		}
		if g.isTarget(n) {
			s += g.Qualifier // the target's glibc is not the build machine's
		}
		// glibc's runtime, libc6, is a unit of its own: every program's closure holds it, and
		// the stdenv's headers, static libraries and tools (libc6-dev, libc-dev-bin) are
		// another unit beside it, so that what the stdenv builds references the same glibc as
		// every Debian library it links, and not the development files.
		if s == glibc && n != "libc6" {
			s += devGroup
		}
		bySource[s] = append(bySource[s], n)
	}
	sources := make([]string, 0, len(bySource))
	for s := range bySource {
		sources = append(sources, s)
	}
	sort.Strings(sources)
	groupOf := map[string]string{}
	for _, s := range sources {
		for _, n := range bySource[s] {
			groupOf[n] = s
		}
	}
	edges := map[string][]string{}
	for _, s := range sources {
		libc := slices.Contains(bySource[s], "libc6") || g.Qualifier != "" && slices.Contains(bySource[s], "libc6"+g.Qualifier)
		for _, n := range bySource[s] {
			if libc {
				continue
			}
			for _, m := range strings.Fields(g.debs[n].Needs) {
				t, ok := groupOf[m]
				if ok && t != s && !slices.Contains(edges[s], t) {
					edges[s] = append(edges[s], t)
				}
			}
		}
		sort.Strings(edges[s])
	}
	comps := scc(sources, edges) // dependencies first
	unitOf := map[string]*Unit{}
	var units []*Unit
	for _, comp := range comps {
		u := &Unit{}
		for _, s := range comp {
			u.Debs = append(u.Debs, bySource[s]...)
			unitOf[s] = u
		}
		sort.Strings(u.Debs)
		units = append(units, u)
	}
	for _, comp := range comps {
		u := unitOf[comp[0]]
		for _, s := range comp {
			for _, t := range edges[s] {
				if d := unitOf[t]; d != u && !slices.Contains(u.Deps, d) {
					u.Deps = append(u.Deps, d)
				}
			}
		}
	}
	return units
}

// scc returns the strongly connected components of the graph (Tarjan's algorithm), each sorted,
// in an order where a component comes after every component it has edges to.
func scc(nodes []string, edges map[string][]string) [][]string {
	index := map[string]int{}
	low := map[string]int{}
	on := map[string]bool{}
	var stack []string
	var out [][]string
	next := 0
	var visit func(string)
	visit = func(v string) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		on[v] = true
		for _, w := range edges[v] {
			if _, seen := index[w]; !seen {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if on[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []string
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				on[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			sort.Strings(comp)
			out = append(out, comp)
		}
	}
	for _, v := range nodes {
		if _, seen := index[v]; !seen {
			visit(v)
		}
	}
	return out
}

// Output plans the package's output.
func (g *Graph) Output(storeDir string) (*derivation.Derivation, error) {
	units, _, err := g.Units(storeDir)
	if err != nil {
		return nil, err
	}
	var parts []*derivation.Derivation
	for _, r := range g.roots {
		if g.Pkg.Attrs["cc-wrapper"] == "true" && g.isTarget(r) {
			continue // a cross toolchain's C library is the wrapper's, not on its PATH
		}
		for _, u := range units {
			if u.Has(r) && !slices.Contains(parts, u.Drv) {
				parts = append(parts, u.Drv)
			}
		}
	}
	if g.Pkg.Attrs["cc-wrapper"] == "true" {
		w, err := g.wrapper(units, storeDir)
		if err != nil {
			return nil, err
		}
		parts = append([]*derivation.Derivation{w}, parts...)
	}
	links := g.alternatives()
	for _, l := range strings.Fields(g.Pkg.Attrs["links"]) {
		if err := CheckLink(l); err != nil {
			return nil, fmt.Errorf("den.lock: %s: %w", g.Pkg.Name, err)
		}
		name, _, _ := strings.Cut(l, "=")
		// The index's links come first: they are what the package asks for.
		links = slices.DeleteFunc(links, func(a string) bool { return strings.HasPrefix(a, name+"=") })
		links = append(links, l)
	}
	dirs := strings.Fields(g.Pkg.Attrs["command-dirs"])
	for _, d := range dirs {
		if err := CheckCommandDir(d); err != nil {
			return nil, fmt.Errorf("den.lock: %s: %w", g.Pkg.Name, err)
		}
	}
	if len(parts) == 1 && len(links) == 0 && len(dirs) == 0 {
		return parts[0], nil
	}
	version := g.Pkg.Attr(g.Sys.String(), "version")
	if version == "" {
		version = g.Pkg.Version
	}
	name := storeName(strings.TrimPrefix(g.Pkg.Name, "deb:"))
	host := g.Sys
	if !slices.ContainsFunc(g.roots, func(r string) bool { return !g.isTarget(r) }) {
		// Libraries for the target, and nothing of the build machine's.
		name += "-" + g.Target.Triplet
		host = g.TargetSys
	}
	name += "-" + storeName(index.DebianUpstream(version))
	return Union(name, index.DebianUpstream(version), g.Sys, host, parts, links, dirs, storeDir)
}

// alternatives are the commands Debian's maintainer scripts would make with update-alternatives
// (awk for gawk), which unpacking alone does not: "bin/awk=gawk", in bin of the root packages.
func (g *Graph) alternatives() []string {
	var out []string
	for _, a := range []struct{ link, deb, target string }{
		{"bin/awk", "gawk", "gawk"}, {"bin/nawk", "gawk", "gawk"},
		{"bin/awk", "mawk", "mawk"}, {"bin/nawk", "mawk", "mawk"},
		{"bin/pager", "less", "less"},
		{"bin/sh", "bash", "bash"},
	} {
		if !slices.Contains(g.roots, a.deb) {
			continue
		}
		if !slices.ContainsFunc(out, func(l string) bool { return strings.HasPrefix(l, a.link+"=") }) {
			out = append(out, a.link+"="+a.target)
		}
	}
	return out
}

// Union is a derivation merging the trees of parts into one, the first having a file winning,
// with links ("bin/awk=gawk": a link to a file beside it) where no part has that file, and in
// bin/ a link to every executable of the command directories (lib/postgresql/15/bin) that bin/
// does not have. Its output runs on host: sys itself, or the target of packages cross-built on
// sys.
func Union(name, version string, sys, host platform.System, parts []*derivation.Derivation, links, commandDirs []string, storeDir string) (*derivation.Derivation, error) {
	d := &derivation.Derivation{
		Name: name, Version: version, System: sys.String(), Host: host.String(), Builder: derivation.BuilderUnion,
		Env: map[string]string{},
	}
	var paths []string
	for _, p := range parts {
		paths = append(paths, string(p.Out))
		d.Inputs = append(d.Inputs, p.Out)
		d.Needs = append(d.Needs, p)
	}
	d.Env["paths"] = strings.Join(paths, " ")
	if len(links) > 0 {
		d.Env["links"] = strings.Join(links, " ")
	}
	if len(commandDirs) > 0 {
		d.Env["command-dirs"] = strings.Join(commandDirs, " ")
	}
	if err := d.Seal(storeDir); err != nil {
		return nil, err
	}
	return d, nil
}

var gccDeb = regexp.MustCompile(`^gcc-(\d+)$`)

// crossGCCDeb is Debian's cross compiler package for a triplet: gcc-12-aarch64-linux-gnu,
// gcc-12-i686-linux-gnu for i386-linux-gnu (stdenv.ToolPrefix).
func crossGCCDeb(triplet string) *regexp.Regexp {
	return regexp.MustCompile(`^gcc-(\d+)-` + regexp.QuoteMeta(strings.ReplaceAll(stdenv.ToolPrefix(triplet), "_", "-")) + `$`)
}

// wrapper plans den's compiler wrapper over the closure's gcc: for a cross toolchain, over
// Debian's cross gcc for the target, with the target's C library.
func (g *Graph) wrapper(units []*Unit, storeDir string) (*derivation.Derivation, error) {
	gccPattern, triplet, q := gccDeb, g.Arch.Triplet, ""
	cross := g.Qualifier != ""
	if cross {
		gccPattern, triplet, q = crossGCCDeb(g.Target.Triplet), g.Target.Triplet, g.Qualifier
	}
	find := func(pred func(string) bool) *Unit {
		for _, u := range units {
			for _, n := range u.Debs {
				if pred(n) {
					return u
				}
			}
		}
		return nil
	}
	var gccVersion string
	gcc := find(func(n string) bool {
		if m := gccPattern.FindStringSubmatch(n); m != nil {
			gccVersion = m[1]
			return true
		}
		return false
	})
	parts := map[string]*Unit{
		"gcc":          gcc,
		"binutils":     find(func(n string) bool { return n == "binutils-"+strings.ReplaceAll(stdenv.ToolPrefix(triplet), "_", "-") }),
		"libc":         find(func(n string) bool { return n == "libc6"+q }),
		"libcDev":      find(func(n string) bool { return n == "libc6-dev"+q }),
		"linuxHeaders": find(func(n string) bool { return n == "linux-libc-dev"+q }),
		"shell":        find(func(n string) bool { return n == "bash" }),
	}
	env := map[string]string{"triplet": triplet, "gccVersion": gccVersion, "revision": stdenv.Revision()}
	name := "cc-wrapper-gcc-" + gccVersion
	if cross {
		// The wrapper runs on the build machine and compiles for the target: Nix's
		// targetPlatform, which the triplet names.
		env["cross"] = "true"
		env["revision"] = stdenv.CrossRevision()
		name = "cc-wrapper-" + triplet + "-gcc-" + gccVersion
	}
	d := &derivation.Derivation{
		Name: name, Version: gccVersion, System: g.Sys.String(), Host: g.Sys.String(),
		Builder: derivation.BuilderCCWrapper, Env: env,
	}
	for _, k := range []string{"gcc", "binutils", "libc", "libcDev", "linuxHeaders", "shell"} {
		u := parts[k]
		if u == nil {
			return nil, fmt.Errorf("den.lock: %s: the compiler wrapper needs %s, which the closure does not hold", g.Pkg.Name, k)
		}
		if k == "libcDev" {
			// glibc's runtime is the wrapper's libc: the loader and the RUNPATH every output
			// gets. Its development unit (crt files, libc.so, headers) comes as the first
			// extra unit, searched by -B and for headers after it.
			if u != parts["libc"] {
				env["extra"] = string(u.Drv.Out)
			}
		} else {
			env[k] = string(u.Drv.Out)
		}
		if !slices.Contains(d.Inputs, u.Drv.Out) {
			d.Inputs = append(d.Inputs, u.Drv.Out)
			d.Needs = append(d.Needs, u.Drv)
		}
	}
	env["shell"] += "/bin/bash"
	if cross {
		// C++ outputs load the target's libstdc++ and libgcc_s, relocated for it, when the
		// toolchain has them (target-debs libstdc++6).
		if u := find(func(n string) bool { return n == "libstdc++6"+q }); u != nil {
			env["runtime"] = string(u.Drv.Out)
			if !slices.Contains(d.Inputs, u.Drv.Out) {
				d.Inputs = append(d.Inputs, u.Drv.Out)
				d.Needs = append(d.Needs, u.Drv)
			}
		}
	}
	if err := d.Seal(storeDir); err != nil {
		return nil, err
	}
	return d, nil
}
