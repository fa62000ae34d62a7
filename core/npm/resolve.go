package npm

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Tree is a resolved package laid out as npm lays out node_modules.
type Tree struct {
	// Root is the requested package's path, "node_modules/<name>".
	Root string `json:"root"`
	// Nodes are every installed package, the root included, sorted by Path.
	Nodes []Node `json:"nodes"`
}

// Node is one package at one place in node_modules.
type Node struct {
	Path string `json:"path"` // "node_modules/a", "node_modules/a/node_modules/b"
	// Name is the folder name, which is the dependency's name: an "npm:other@1" alias installs
	// package other under the alias.
	Name    string `json:"name"`
	Package string `json:"package"` // the registry package; Name unless aliased
	Version string `json:"version"`
	// Tarball is the URL as the registry gave it. TarballPath is the same relative to the
	// registry base when it lies under it, so a lock need not carry a registry host: join it
	// back with Config.TarballURL. Otherwise TarballPath is the absolute URL.
	Tarball          string            `json:"tarball"`
	TarballPath      string            `json:"tarballPath"`
	Integrity        string            `json:"integrity"` // SRI, sha512 when the registry has it
	Bin              map[string]string `json:"bin,omitempty"`
	HasInstallScript bool              `json:"hasInstallScript,omitempty"`
	// Link, when set, is the Path of another node this one is a symlink to, and the tarball
	// fields are empty. npm links a package that would otherwise nest inside itself forever
	// (a@1 needs b@1 needs a@2 needs b@2 needs a@1).
	Link string `json:"link,omitempty"`
}

// ResolveError is a failure at some depth of the tree; Chain is how resolution got there, from
// the requested package down to the dependency that failed ("app@1.0.0", "lib@^2").
type ResolveError struct {
	Chain []string
	Err   error
}

func (e *ResolveError) Error() string {
	return fmt.Sprintf("resolve %s: %v", strings.Join(e.Chain, " > "), e.Err)
}

func (e *ResolveError) Unwrap() error { return e.Err }

// NoMatchError says no published version fits a dependency's range or dist-tag.
type NoMatchError struct {
	Package, Spec string
	Tag           bool   // Spec is a dist-tag
	Highest       string // the highest published version, empty when there is none
}

func (e *NoMatchError) Error() string {
	if e.Tag {
		return fmt.Sprintf("%q has no dist-tag %q", e.Package, e.Spec)
	}
	if e.Highest == "" {
		return fmt.Sprintf("%q has no published versions", e.Package)
	}
	return fmt.Sprintf("no version of %q matches %q (the highest is %s)", e.Package, e.Spec, e.Highest)
}

// PlatformError says a required package does not support the target system.
type PlatformError struct {
	Package, Version string
	OS, CPU, Libc    []string
	System           System
}

func (e *PlatformError) Error() string {
	var want []string
	for _, l := range []struct {
		k string
		v []string
	}{{"os", e.OS}, {"cpu", e.CPU}, {"libc", e.Libc}} {
		if len(l.v) > 0 {
			want = append(want, l.k+" "+strings.Join(l.v, ","))
		}
	}
	return fmt.Sprintf("%s@%s supports %s, not %s", e.Package, e.Version, strings.Join(want, "; "), e.System)
}

// PeerConflictError is npm's ERESOLVE: the project's dependencies need peers that cannot all be
// satisfied in one tree.
type PeerConflictError struct {
	Dependent, Peer, Spec string
	Existing              string // the conflicting package, or "nothing that fits"
}

func (e *PeerConflictError) Error() string {
	return fmt.Sprintf("could not resolve peer dependencies: %s needs %s@%s, which conflicts with %s", e.Dependent, e.Peer, e.Spec, e.Existing)
}

// UnsupportedSpecError is a dependency that is not a registry version, range or dist-tag: git,
// URLs, files and workspaces have no registry integrity for den to lock.
type UnsupportedSpecError struct {
	Name, Spec string
}

func (e *UnsupportedSpecError) Error() string {
	return fmt.Sprintf("dependency %s@%s is not a registry version, range or dist-tag, which is all den can lock", e.Name, e.Spec)
}

type noTarballError struct{ pkg, version string }

func (e *noTarballError) Error() string {
	return fmt.Sprintf("%s@%s: the registry gives no tarball URL", e.pkg, e.version)
}

// isLoadFailure is what npm records as a failed node instead of stopping: the package, a
// fitting version or a usable spec is missing. It stops the install only if the node turns out
// not to be optional. Network and credential failures always stop den, so that a flaky registry
// never silently changes a lock.
func isLoadFailure(err error) bool {
	var (
		nf *NotFoundError
		nm *NoMatchError
		us *UnsupportedSpecError
	)
	return errors.As(err, &nf) || errors.As(err, &nm) || errors.As(err, &us)
}

// maxNesting bounds node_modules depth. Real trees stay far below it; only ranges that keep
// demanding alternating versions of each other nest without end.
const maxNesting = 64

// Resolve resolves a package and its whole dependency tree for one system and lays it out as
// npm 7+ lays out node_modules when the package is installed into an empty project.
//
// Versions are chosen as npm-pick-manifest does: a dist-tag names one; for a range the "latest"
// tag wins if it satisfies the range and is not deprecated, else the highest satisfying version,
// non-deprecated ones first. Prereleases are chosen only when the range names one of the same
// major.minor.patch, or a tag points at one.
//
// The layout is npm's (see arborist.go): packages are hoisted to the shallowest node_modules
// where they conflict with nothing, nest under their dependent otherwise, and non-optional peer
// dependencies are placed beside their dependents, as a set. Optional dependencies that do not
// exist, fit no version, or do not support the system are left out with whatever only they
// required; a required one is an error naming the chain that led to it. The same registry
// content always gives the same tree.
func (c *Client) Resolve(ctx context.Context, root, rangeOrTag string, sys System) (*Tree, error) {
	if err := checkName(root); err != nil {
		return nil, err
	}
	if sys.OS == "" || sys.CPU == "" {
		return nil, fmt.Errorf("resolve %s: the target system needs an os and a cpu", root)
	}
	if strings.TrimSpace(rangeOrTag) == "" {
		rangeOrTag = "latest"
	}
	ctx, cancel := context.WithCancel(ctx)
	pf := &prefetcher{c: c, ctx: ctx, started: map[string]bool{}, sem: make(chan struct{}, 16)}
	defer func() {
		cancel()
		pf.wg.Wait()
	}()

	project := &node{project: true, children: map[string]*node{}, edgeMap: map[string]*edge{}}
	project.addEdge(root, rangeOrTag, edgeProd)
	retop(project, project)
	b := &builder{
		c: c, ctx: ctx, sys: sys, pf: pf, project: project,
		seen: map[*node]bool{}, vrs: map[*node]*node{}, peerSetSource: map[*node]*node{}, failures: newNodeSet(),
		placements: map[string]int{},
	}
	if err := b.buildDeps(); err != nil {
		return nil, err
	}
	calcDepFlags(project)
	if err := b.pruneFailedOptional(); err != nil {
		return nil, err
	}
	if err := b.checkInstallable(); err != nil {
		return nil, err
	}
	return b.tree(root), nil
}

// installed lists the project tree's packages by location.
func (b *builder) installed() []*node {
	var out []*node
	var walk func(n *node)
	walk = func(n *node) {
		for _, c := range n.sortedChildren() {
			out = append(out, c)
			walk(c)
		}
	}
	walk(b.project)
	return out
}

// checkInstallable is npm's platform check plus den's own demands (a tarball, a strong hash):
// a required package that fails them is an error, an optional one is left out with what only
// it required.
func (b *builder) checkInstallable() error {
	for _, n := range b.installed() {
		if n.inert || n.man == nil || n.link != nil {
			continue
		}
		err := b.installable(n)
		if err == nil {
			continue
		}
		if !n.optional {
			return b.fail(n, "", err)
		}
		for _, m := range optionalSet(n).list {
			m.inert = true
		}
	}
	return nil
}

func (b *builder) installable(n *node) error {
	m := n.man
	if !b.sys.matches(m) {
		return &PlatformError{Package: n.pkg, Version: n.version, OS: m.OS, CPU: m.CPU, Libc: m.Libc, System: b.sys}
	}
	if m.Dist.Tarball == "" {
		return &noTarballError{n.pkg, n.version}
	}
	if _, ok := m.Dist.Hash(); !ok {
		return &IntegrityError{Package: n.pkg, Version: n.version, Integrity: m.Dist.Integrity}
	}
	return nil
}

// fail wraps err with the chain of packages that led to n; last names what n was resolving, if
// anything. For n itself the chain ends with the edge that brought it in.
func (b *builder) fail(n *node, last string, err error) error {
	var chain []string
	if last == "" {
		chain = b.chainTo(n, true)
	} else {
		chain = append(b.chainTo(n, false), last)
	}
	return &ResolveError{Chain: chain, Err: err}
}

// chainTo is the first path, breadth first in edge order, from the project to n. With
// viaEdge, n appears as the edge that names it ("lib@^2") rather than as itself.
func (b *builder) chainTo(n *node, viaEdge bool) []string {
	if n.top != b.project {
		// A node in a virtual root: the path is its source's, then itself.
		if src := n.top.source; src != nil && src != n {
			chain := b.chainTo(src, false)
			if n != n.top {
				chain = append(chain, n.id())
			}
			return chain
		}
		return []string{n.id()}
	}
	if n == b.project {
		return nil
	}
	type step struct {
		prev *step
		e    *edge
	}
	seen := map[*node]bool{b.project: true}
	queue := []*step{{}}
	nodes := []*node{b.project}
	for len(queue) > 0 {
		s, at := queue[0], nodes[0]
		queue, nodes = queue[1:], nodes[1:]
		for _, e := range at.edges {
			to := e.to()
			if to == nil || seen[to] {
				continue
			}
			next := &step{s, e}
			if to == n {
				var rev []string
				for p := next; p.e != nil; p = p.prev {
					label := p.e.to().id()
					if p == next && viaEdge {
						label = p.e.name + "@" + p.e.raw
					}
					rev = append(rev, label)
				}
				for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
					rev[i], rev[j] = rev[j], rev[i]
				}
				return rev
			}
			seen[to] = true
			queue = append(queue, next)
			nodes = append(nodes, to)
		}
	}
	return []string{n.id()}
}

func (b *builder) tree(root string) *Tree {
	t := &Tree{Root: "node_modules/" + root}
	for _, n := range b.installed() {
		if n.inert || n.man == nil {
			continue
		}
		if n.link != nil {
			t.Nodes = append(t.Nodes, Node{Path: n.location(), Name: n.name, Package: n.pkg, Version: n.version, Link: n.link.location()})
			continue
		}
		h, _ := n.man.Dist.Hash()
		out := Node{
			Path: n.location(), Name: n.name, Package: n.pkg, Version: n.version,
			Tarball: n.man.Dist.Tarball, TarballPath: n.man.Dist.Tarball,
			Integrity: h.SRI(), HasInstallScript: n.man.HasInstallScript,
		}
		if rel, ok := strings.CutPrefix(out.Tarball, n.registry); ok && n.registry != "" && rel != "" {
			out.TarballPath = rel
		}
		if len(n.man.Bin) > 0 {
			out.Bin = make(map[string]string, len(n.man.Bin))
			for k, v := range n.man.Bin {
				out.Bin[k] = v
			}
		}
		t.Nodes = append(t.Nodes, out)
	}
	sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].Path < t.Nodes[j].Path })
	return t
}

func (b *builder) prefetchDeps(m *Manifest) {
	var names []string
	for _, deps := range []map[string]string{m.Dependencies, m.OptionalDependencies, m.PeerDependencies} {
		for n, raw := range deps {
			if s, err := parseSpec(n, raw); err == nil {
				names = append(names, s.pkg)
			}
		}
	}
	sort.Strings(names)
	b.pf.start(names)
}

// depSpec is a parsed dependency: a range or a dist-tag of a registry package.
type depSpec struct {
	name, raw string
	pkg       string // the registry package, which an npm: alias changes
	rng       *Range
	tag       string
}

func parseSpec(name, raw string) (depSpec, error) {
	s := depSpec{name: name, raw: raw, pkg: name}
	spec := strings.TrimSpace(raw)
	if alias, ok := strings.CutPrefix(spec, "npm:"); ok {
		// "@scope/pkg@range": the version part starts at the first "@" after the name's own.
		at := strings.IndexByte(alias[1:], '@') + 1
		if at > 0 {
			s.pkg, spec = alias[:at], alias[at+1:]
		} else {
			s.pkg, spec = alias, ""
		}
		if checkName(s.pkg) != nil {
			return s, &UnsupportedSpecError{Name: name, Spec: raw}
		}
	}
	if spec == "" {
		spec = "*"
	}
	if r, err := ParseRange(spec, false); err == nil {
		s.rng = r
		return s, nil
	}
	if url.PathEscape(spec) == spec && !strings.ContainsAny(spec, ":/@") {
		s.tag = spec
		return s, nil
	}
	return s, &UnsupportedSpecError{Name: name, Spec: raw}
}

// pick chooses a version for a spec as npm-pick-manifest does (see Resolve).
func pick(p *Packument, s depSpec) (*Manifest, error) {
	vs := p.parsedVersions()
	highest := ""
	if len(vs) > 0 {
		highest = vs[len(vs)-1].s
	}
	if s.tag != "" {
		if m := p.Versions[p.DistTags[s.tag]]; m != nil {
			return m, nil
		}
		return nil, &NoMatchError{Package: p.Name, Spec: s.tag, Tag: true, Highest: highest}
	}
	if latest := p.DistTags["latest"]; latest != "" {
		if m := p.Versions[latest]; m != nil && m.Deprecated == "" {
			if s.rng.String() == "*" {
				return m, nil
			}
			if v, err := parseFull(latest); err == nil && s.rng.Satisfies(v) {
				return m, nil
			}
		}
	}
	var deprecated *Manifest
	for i := len(vs) - 1; i >= 0; i-- {
		if !s.rng.Satisfies(vs[i].v) {
			continue
		}
		m := p.Versions[vs[i].s]
		if m.Deprecated == "" {
			return m, nil
		}
		if deprecated == nil {
			deprecated = m
		}
	}
	if deprecated != nil {
		return deprecated, nil
	}
	return nil, &NoMatchError{Package: p.Name, Spec: s.raw, Highest: highest}
}

// prefetcher warms the client's packument cache ahead of the resolver, which then never waits
// for one round trip per package. It only ever fills the cache, so it cannot change the result.
type prefetcher struct {
	c       *Client
	ctx     context.Context
	started map[string]bool
	sem     chan struct{}
	wg      sync.WaitGroup
}

func (pf *prefetcher) start(names []string) {
	for _, n := range names {
		if pf.started[n] || checkName(n) != nil {
			continue
		}
		pf.started[n] = true
		pf.wg.Add(1)
		go func() {
			defer pf.wg.Done()
			select {
			case pf.sem <- struct{}{}:
			case <-pf.ctx.Done():
				return
			}
			defer func() { <-pf.sem }()
			pf.c.Packument(pf.ctx, n)
		}()
	}
}
