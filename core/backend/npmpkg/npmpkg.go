// Package npmpkg holds den's two npm backends: Platform, for packages that carry a native binary
// for one platform (node itself as node-<os>-<cpu>, bun, deno, esbuild, pnpm…), and Tree, for
// JavaScript tools whose whole dependency tree is resolved at lock time and pinned, each tarball
// by its integrity, and whose commands run with the locked node from the store.
package npmpkg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/hosttools"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/npm"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/storepath"
	"github.com/den-sh/den/core/version"
)

// Platform is the backend for npm packages with a native binary per platform.
type Platform struct{}

// Tree is the backend for npm packages run with node.
type Tree struct{}

func client(env *backend.Env) (*npm.Client, error) {
	if env.NPM == nil {
		return nil, fmt.Errorf("no npm registry client")
	}
	return env.NPM()
}

// versions lists the versions of npm package name that e's form of the package publishes,
// newest first.
func versions(ctx context.Context, env *backend.Env, e *index.Entry, name string) ([]string, error) {
	c, err := client(env)
	if err != nil {
		return nil, err
	}
	vs, err := c.Versions(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range vs {
		if e.Publishes(v) {
			out = append(out, v)
		}
	}
	version.Sort(out)
	return out, nil
}

// Versions lists the versions of the package for the current system.
func (Platform) Versions(ctx context.Context, env *backend.Env, e *index.Entry) ([]string, error) {
	return versions(ctx, env, e, e.NPMName(env.Current))
}

// Versions lists the package's versions.
func (Tree) Versions(ctx context.Context, env *backend.Env, e *index.Entry) ([]string, error) {
	return versions(ctx, env, e, e.Package)
}

// choose picks the version of npm package name that c selects: for "latest", the registry's
// latest dist-tag, as npm install does (yarn's is 1.22.22, though a 2.4.3 was published); for
// any other constraint the highest version it admits.
func choose(ctx context.Context, env *backend.Env, e *index.Entry, name string, c version.Constraint) (string, *npm.Client, error) {
	vs, err := versions(ctx, env, e, name)
	if err != nil {
		return "", nil, err
	}
	cl, err := client(env)
	if err != nil {
		return "", nil, err
	}
	if c.IsLatest() {
		doc, err := cl.Packument(ctx, name)
		if err != nil {
			return "", nil, err
		}
		if tag := doc.DistTags["latest"]; doc.Versions[tag] != nil && e.Publishes(tag) {
			return tag, cl, nil
		}
	}
	v, err := version.Select(c, vs)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	return v, cl, nil
}

// relTarball writes a tarball URL relative to the registry it came from, so the lock carries no
// registry host; a tarball elsewhere keeps its full URL.
func relTarball(registry, tarball string) string {
	if registry != "" && strings.HasPrefix(tarball, registry) {
		return strings.TrimPrefix(tarball, registry)
	}
	return tarball
}

// EncodeBins is the lock's spelling of a package's commands: "name=path", space-separated, sorted.
func EncodeBins(bins map[string]string) string {
	var parts []string
	for name, p := range bins {
		parts = append(parts, name+"="+p)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// DecodeBins reads what EncodeBins wrote.
func DecodeBins(s string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Fields(s) {
		if name, p, ok := strings.Cut(part, "="); ok {
			out[name] = p
		}
	}
	return out
}

// Lock records, for each system, the platform package's tarball and integrity.
func (b Platform) Lock(ctx context.Context, env *backend.Env, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
	v, cl, err := choose(ctx, env, e, e.NPMName(env.Current), c)
	if err != nil {
		return nil, err
	}
	p := &lock.Package{Name: e.Name, Constraint: c.String(), Version: v, Backend: index.NPMPlatform,
		Attrs: map[string]string{"bin": EncodeBins(e.Bin)}, Systems: map[string]*lock.System{}}
	// A system whose platform package, or its version v, the registry does not have has no
	// build: Lock names every such system, and the newest version they all have.
	var missing *backend.NoBuildError
	published := make([][]string, 0, len(systems))
	for _, sys := range systems {
		name := e.NPMName(sys)
		doc, err := cl.Packument(ctx, name)
		var nf *npm.NotFoundError
		if errors.As(err, &nf) {
			missing = noBuild(missing, e, v, c, sys, fmt.Sprintf("npm package %s is not published", name))
			published = append(published, nil)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s for %s: %w", e.Name, sys, err)
		}
		published = append(published, slices.Collect(maps.Keys(doc.Versions)))
		m := doc.Versions[v]
		if m == nil {
			missing = noBuild(missing, e, v, c, sys, fmt.Sprintf("npm package %s@%s is not published", name, v))
			continue
		}
		h, ok := m.Dist.Hash()
		if !ok {
			return nil, &npm.IntegrityError{Package: name, Version: v, Integrity: m.Dist.Integrity}
		}
		p.Systems[sys.String()] = &lock.System{Sources: []lock.Source{{
			Kind: "npm", Name: name, Version: v, URL: relTarball(doc.Registry, m.Dist.Tarball), Hash: h.SRI(),
		}}}
	}
	if missing != nil {
		for _, sys := range systems {
			missing.Asked = append(missing.Asked, sys.String())
		}
		if newest, err := version.Select(c, everywhere(published)); err == nil {
			missing.Newest = newest
		}
		return nil, missing
	}
	for _, name := range slices.Sorted(maps.Keys(e.Bundle)) {
		src, err := bundled(ctx, cl, name, v)
		if err != nil {
			return nil, fmt.Errorf("%s %s comes with %s: %w", e.Name, v, name, err)
		}
		p.Sources = append(p.Sources, src)
	}
	return p, nil
}

// bundled locks the npm package name that comes with the runtime of version runtime (npm with
// node): its latest dist-tag when its engines accept that runtime, else the newest release that
// they do, as npm itself picks a version for a node. The package must bundle its dependencies,
// as npm does, for one tarball to be all of it.
func bundled(ctx context.Context, cl *npm.Client, name, runtime string) (lock.Source, error) {
	doc, err := cl.Packument(ctx, name)
	if err != nil {
		return lock.Source{}, err
	}
	fits := func(m *npm.Manifest, deprecatedToo bool) bool {
		return m != nil && (deprecatedToo || m.Deprecated == "") && npm.EnginesAccept(m.Engines["node"], runtime)
	}
	m := doc.Versions[doc.DistTags["latest"]]
	if !fits(m, false) {
		m = nil
		vs, _ := cl.Versions(ctx, name) // lowest first
		for _, deprecatedToo := range []bool{false, true} {
			for i := len(vs) - 1; i >= 0 && m == nil; i-- {
				if c := doc.Versions[vs[i]]; !strings.Contains(vs[i], "-") && fits(c, deprecatedToo) {
					m = c
				}
			}
		}
	}
	if m == nil {
		return lock.Source{}, fmt.Errorf("no release of %s accepts node %s in its engines", name, runtime)
	}
	for _, deps := range []map[string]string{m.Dependencies, m.OptionalDependencies} {
		for dep := range deps {
			if !slices.Contains(m.BundleDependencies, dep) {
				return lock.Source{}, fmt.Errorf("%s@%s needs %s, which it does not bundle", name, m.Version, dep)
			}
		}
	}
	h, ok := m.Dist.Hash()
	if !ok {
		return lock.Source{}, &npm.IntegrityError{Package: name, Version: m.Version, Integrity: m.Dist.Integrity}
	}
	return lock.Source{Kind: "npm", Name: name, Version: m.Version, Path: BundlePath(name),
		URL: relTarball(doc.Registry, m.Dist.Tarball), Hash: h.SRI()}, nil
}

// BundlePath is where a bundled npm package goes: lib/node_modules/NAME in the runtime's output,
// as in Node's own releases, written as the install path of an npm source.
func BundlePath(name string) string { return "node_modules/" + name }

// noBuild adds sys to the systems err says have no build of e's version v.
func noBuild(err *backend.NoBuildError, e *index.Entry, v string, c version.Constraint, sys platform.System, detail string) *backend.NoBuildError {
	if err == nil {
		err = &backend.NoBuildError{Package: e.Name, Version: v, Constraint: c.String(), Detail: detail}
	}
	err.Missing = append(err.Missing, sys.String())
	return err
}

// everywhere are the versions in every one of lists.
func everywhere(lists [][]string) []string {
	count := map[string]int{}
	for _, l := range lists {
		for _, v := range l {
			count[v]++
		}
	}
	var out []string
	for v, n := range count {
		if n == len(lists) {
			out = append(out, v)
		}
	}
	return out
}

// tarball is the fixed-output download of one locked npm tarball.
func tarball(env *backend.Env, s lock.Source, sys platform.System) (*derivation.Derivation, error) {
	u := npm.TarballRef(s.Name, s.URL) // resolved by the fetch, only if it must download
	if _, err := hash.Parse(s.Hash, ""); err != nil {
		return nil, fmt.Errorf("den.lock: %s@%s: %w", s.Name, s.Version, err)
	}
	d := &derivation.Derivation{
		Name:       storepath.SanitizeName(strings.TrimPrefix(strings.ReplaceAll(s.Name, "/", "-"), "@") + "-" + s.Version + ".tgz"),
		Builder:    derivation.BuilderFetch,
		URLs:       []string{u},
		OutputHash: s.Hash,
		Unpack:     true,
		System:     sys.String(),
		Host:       sys.String(),
	}
	return d, d.Seal(env.Store.Dir)
}

func baseTools(env *backend.Env) ([]derivation.HostTool, error) {
	return env.Tools.Resolve(hosttools.Base, false)
}

// Plan unpacks the platform package into the store and links its commands into bin/. The npm
// packages that come with it (npm with node) go to lib/node_modules, with a bin/ wrapper per
// command that runs it with the package's own command, by absolute path; which commands, den's
// index says.
func (Platform) Plan(ctx context.Context, env *backend.Env, p *lock.Package, sys platform.System) (*derivation.Derivation, error) {
	var platformSrcs, bundles []lock.Source
	for _, s := range p.SourcesFor(sys.String()) {
		if s.Path == "" {
			platformSrcs = append(platformSrcs, s)
		} else {
			bundles = append(bundles, s)
		}
	}
	if !p.HasSystem(sys.String()) || len(platformSrcs) != 1 {
		return nil, &backend.NotLockedForError{Package: p.Name, System: sys.String()}
	}
	src, err := tarball(env, platformSrcs[0], sys)
	if err != nil {
		return nil, err
	}
	d := &derivation.Derivation{
		Name: storepath.SanitizeName(p.Name + "-" + p.Version), Version: p.Version,
		System: sys.String(), Host: sys.String(), Builder: derivation.BuilderScript,
		Src: src.Out, Needs: []*derivation.Derivation{src},
	}
	var script strings.Builder
	script.WriteString("cp -R . \"$out/\"\nmkdir -p \"$out/bin\"\n")
	bins := DecodeBins(p.Attr(sys.String(), "bin"))
	for _, n := range slices.Sorted(maps.Keys(bins)) {
		rel := path.Clean(bins[n])
		fmt.Fprintf(&script, "chmod +x %q\n", "$out/"+rel)
		if rel != "bin/"+n {
			fmt.Fprintf(&script, "ln -s %q %q\n", "../"+rel, "$out/bin/"+n)
		}
	}
	if len(bundles) > 0 {
		e, err := env.Index.Lookup(p.Name)
		if err != nil {
			return nil, err
		}
		runtime := slices.Sorted(maps.Keys(bins))
		if len(runtime) != 1 {
			return nil, fmt.Errorf("den.lock: %s: bundled packages need the package's one command to run them", p.Name)
		}
		for _, s := range bundles {
			cmds := e.Bundle[s.Name]
			if len(cmds) == 0 || s.Path != BundlePath(s.Name) {
				return nil, fmt.Errorf("den.lock: %s: %s does not come with it", p.Name, s.Name)
			}
			b, err := tarball(env, s, sys)
			if err != nil {
				return nil, err
			}
			d.Inputs = append(d.Inputs, b.Out)
			d.Needs = append(d.Needs, b)
			dir := "$out/lib/" + s.Path
			fmt.Fprintf(&script, "mkdir -p %q && tar -xzf %q -C %q --strip-components=1 --no-same-owner\n", dir, string(b.Out), dir)
			for _, n := range slices.Sorted(maps.Keys(cmds)) {
				wrapper := "$out/bin/" + n
				fmt.Fprintf(&script, "printf '#!/bin/sh\\nexec %%s %%s \"$@\"\\n' %q %q > %q\nchmod +x %q\n",
					"$out/bin/"+runtime[0], dir+"/"+path.Clean(cmds[n]), wrapper, wrapper)
			}
		}
	}
	tools, err := baseTools(env)
	if err != nil {
		return nil, err
	}
	d.Script = script.String()
	d.HostTools = tools
	return d, d.Seal(env.Store.Dir)
}

// Lock resolves the package's whole dependency tree for each system, and locks the node that
// runs it.
func (b Tree) Lock(ctx context.Context, env *backend.Env, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
	v, cl, err := choose(ctx, env, e, e.Package, c)
	if err != nil {
		return nil, err
	}
	p := &lock.Package{Name: e.Name, Constraint: c.String(), Version: v, Backend: index.NPM,
		Attrs: map[string]string{"package": e.Package}, Systems: map[string]*lock.System{}}
	for _, sys := range systems {
		nsys, err := npm.SystemFor(sys)
		if err != nil {
			return nil, err
		}
		tree, err := cl.Resolve(ctx, e.Package, v, nsys)
		if err != nil {
			return nil, fmt.Errorf("%s for %s: %w", e.Name, sys, err)
		}
		ls := &lock.System{Attrs: map[string]string{"root": tree.Root}}
		for _, n := range tree.Nodes {
			ls.Sources = append(ls.Sources, lock.Source{Kind: "npm", Name: n.Package, Version: n.Version,
				Path: n.Path, URL: n.TarballPath, Hash: n.Integrity})
			if n.Path == tree.Root {
				ls.Attrs["bin"] = EncodeBins(n.Bin)
			}
		}
		p.Systems[sys.String()] = ls
	}
	// The runtime, locked with the tool so that the tool's closure holds it.
	var engines string
	if doc, err := cl.Packument(ctx, e.Package); err == nil && doc.Versions[v] != nil {
		engines = strings.TrimSpace(doc.Versions[v].Engines["node"])
	}
	if engines != "" {
		p.Attrs[EnginesAttr] = engines
	}
	node, err := runtimeNode(ctx, env, cl, engines, systems)
	if err != nil {
		return nil, fmt.Errorf("%s needs node: %w", e.Name, err)
	}
	p.Deps = []*lock.Package{node}
	// Attributes the same on every system move up, like sources.
	for _, key := range []string{"root", "bin"} {
		same, first := true, ""
		i := 0
		for _, s := range p.Systems {
			if i == 0 {
				first = s.Attrs[key]
			} else if s.Attrs[key] != first {
				same = false
			}
			i++
		}
		if same {
			p.Attrs[key] = first
			for _, s := range p.Systems {
				delete(s.Attrs, key)
			}
		}
	}
	return p, nil
}

// EnginesAttr is the lock attribute of an npm tool that records its engines.node range, so that
// den can tell without the registry whether the project's node may run it.
const EnginesAttr = "engines-node"

// runtimeNode is the node an npm tool runs with: the project's, when it accepts the tool's
// engines range and is locked for every system the tool is (one node in the environment, and no
// second download); else the newest node the range accepts that has a build for every system,
// preferring the registry's latest dist-tag, as npm picks versions.
func runtimeNode(ctx context.Context, env *backend.Env, cl *npm.Client, engines string, systems []platform.System) (*lock.Package, error) {
	if n := env.ProjectNode; n != nil && npm.EnginesAccept(engines, n.Version) && lockedFor(n, systems) {
		return n.For(systemNames(systems)), nil
	}
	nodeEntry, err := env.Index.Lookup("node")
	if err != nil {
		return nil, err
	}
	// The versions published for every system, newest first.
	var common []string
	for i, sys := range systems {
		vs, err := versions(ctx, env, nodeEntry, nodeEntry.NPMName(sys))
		if err != nil {
			return nil, fmt.Errorf("for %s: %w", sys, err)
		}
		if i == 0 {
			common = vs
		} else {
			common = slices.DeleteFunc(common, func(v string) bool { return !slices.Contains(vs, v) })
		}
	}
	accepted := func(v string) bool { return npm.EnginesAccept(engines, v) }
	pick := ""
	if doc, err := cl.Packument(ctx, nodeEntry.NPMName(env.Current)); err == nil {
		if tag := doc.DistTags["latest"]; slices.Contains(common, tag) && accepted(tag) {
			pick = tag
		}
	}
	for _, v := range common {
		if pick == "" && !strings.Contains(v, "-") && accepted(v) {
			pick = v
		}
	}
	if pick == "" {
		what := "a node release"
		if engines != "" {
			what = fmt.Sprintf("a node release that its engines (%s) accept", engines)
		}
		return nil, fmt.Errorf("there is no %s with a build for %s", what, systemList(systems))
	}
	name := engines
	if name == "" {
		name = "*"
	}
	c, err := version.ParseNamed(name, pick)
	if err != nil {
		return nil, err
	}
	return env.Lock(ctx, nodeEntry, c, systems)
}

// lockedFor reports whether p is locked for every one of systems.
func lockedFor(p *lock.Package, systems []platform.System) bool {
	for _, s := range systems {
		if !p.HasSystem(s.String()) {
			return false
		}
	}
	return true
}

func systemNames(systems []platform.System) []string {
	names := make([]string, len(systems))
	for i, s := range systems {
		names[i] = s.String()
	}
	return names
}

func systemList(systems []platform.System) string { return strings.Join(systemNames(systems), ", ") }

// Plan lays the locked tree out under lib/node_modules and writes a bin/ wrapper per command
// that runs it with the locked node, by absolute store path, so node is in the closure.
func (Tree) Plan(ctx context.Context, env *backend.Env, p *lock.Package, sys platform.System) (*derivation.Derivation, error) {
	if !p.HasSystem(sys.String()) || len(p.Deps) != 1 {
		return nil, &backend.NotLockedForError{Package: p.Name, System: sys.String()}
	}
	node, err := env.Plan(ctx, p.Deps[0], sys)
	if err != nil {
		return nil, err
	}
	d := &derivation.Derivation{
		Name: storepath.SanitizeName(strings.TrimPrefix(strings.ReplaceAll(p.Name, "/", "-"), "npm:") + "-" + p.Version), Version: p.Version,
		System: sys.String(), Host: sys.String(), Builder: derivation.BuilderScript,
		Inputs: []storepath.Path{node.Out}, Needs: []*derivation.Derivation{node},
	}
	var script strings.Builder
	script.WriteString("mkdir -p \"$out/bin\" \"$out/lib\"\n")
	for _, s := range p.SourcesFor(sys.String()) {
		src, err := tarball(env, s, sys)
		if err != nil {
			return nil, err
		}
		if clean := path.Clean(s.Path); clean != s.Path || strings.HasPrefix(clean, "..") || !strings.HasPrefix(clean, "node_modules/") {
			return nil, fmt.Errorf("den.lock: %s: bad install path %q", p.Name, s.Path)
		}
		d.Inputs = append(d.Inputs, src.Out)
		d.Needs = append(d.Needs, src)
		dir := "$out/lib/" + s.Path
		fmt.Fprintf(&script, "mkdir -p %q && tar -xzf %q -C %q --strip-components=1 --no-same-owner\n", dir, string(src.Out), dir)
	}
	root := p.Attr(sys.String(), "root")
	bins := DecodeBins(p.Attr(sys.String(), "bin"))
	for _, n := range slices.Sorted(maps.Keys(bins)) {
		target := "$out/lib/" + root + "/" + path.Clean(bins[n])
		wrapper := "$out/bin/" + n
		fmt.Fprintf(&script, "printf '#!/bin/sh\\nexec %%s %%s \"$@\"\\n' %q %q > %q\nchmod +x %q\n",
			string(node.Out)+"/bin/node", target, wrapper, wrapper)
	}
	tools, err := baseTools(env)
	if err != nil {
		return nil, err
	}
	d.Script = script.String()
	d.HostTools = tools
	return d, d.Seal(env.Store.Dir)
}
