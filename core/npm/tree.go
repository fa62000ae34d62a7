package npm

// This file is the tree model of npm's tree builder (see arborist.go): nodes in node_modules
// folders, dependency edges that resolve the way Node.js does, and the set helpers arborist
// uses to decide what a change carries along.

import "sort"

type edgeType int

const (
	edgeProd edgeType = iota
	edgeOptional
	edgePeer
	edgePeerOptional
)

// edge is a dependency of a node; what it resolves to is looked up every time, as arborist's
// edges are reloaded whenever the tree changes.
type edge struct {
	from           *node
	name           string
	raw            string
	spec           depSpec
	specErr        error
	typ            edgeType
	peerConflicted bool
}

func (e *edge) peer() bool     { return e.typ == edgePeer || e.typ == edgePeerOptional }
func (e *edge) optional() bool { return e.typ == edgeOptional || e.typ == edgePeerOptional }
func (e *edge) to() *node      { return e.from.resolve(e.name) }

func (e *edge) valid() bool {
	to := e.to()
	if to == nil {
		return e.optional()
	}
	if e.peer() && to.parent == e.from && !e.from.isTop() {
		return false // a peer may not live inside its dependent ("PEER LOCAL")
	}
	return e.satisfiedBy(to)
}

func (e *edge) satisfiedBy(n *node) bool {
	return n.name == e.name && e.specErr == nil && depValid(n, e.spec)
}

// depValid is arborist's dep-valid for registry specs: a dist-tag accepts any registry version
// and "*" anything, prereleases included. One difference is deliberate: npm never compares
// package names, so it hands an "npm:other@1" alias whatever sits under the alias's name; den
// requires the package the spec names.
func depValid(n *node, s depSpec) bool {
	if n.man != nil && n.pkg != s.pkg {
		return false
	}
	if s.tag != "" {
		return n.man != nil
	}
	if s.rng.String() == "*" {
		return true
	}
	if n.man == nil {
		return false
	}
	v, ok := n.semver()
	return ok && s.rng.Satisfies(v)
}

// node is a package in a tree: the project (the root of the ideal tree), a virtual root standing
// for a node's dependencies while its peer set is chosen, or a package under one of them.
type node struct {
	name, pkg, version string
	man                *Manifest // nil for roots and for packages that failed to load
	registry           string
	loadErr            error
	project            bool
	source             *node // a virtual root's sourceReference
	link               *node // a link's target: a symlink to a package higher up

	parent   *node
	top      *node // the root of the tree the node is in, itself for a root
	children map[string]*node
	edges    []*edge // arborist's edgesOut, in its insertion order
	edgeMap  map[string]*edge
	idx      *treeIndex // on roots only

	ver      Version
	verState int // 0 unparsed, 1 valid, 2 invalid

	optional, inert bool
}

// treeIndex finds a tree's nodes by name and its edges by the name they depend on, which
// edgesIn and inventory queries need. Lists keep insertion order so that every walk over them
// is the same from run to run.
type treeIndex struct {
	nodes map[string][]*node
	edges map[string][]*edge
}

func newIndex() *treeIndex {
	return &treeIndex{nodes: map[string][]*node{}, edges: map[string][]*edge{}}
}

func (x *treeIndex) add(n *node) {
	x.nodes[n.name] = append(x.nodes[n.name], n)
	for _, e := range n.edges {
		x.edges[e.name] = append(x.edges[e.name], e)
	}
}

func (x *treeIndex) remove(n *node) {
	x.nodes[n.name] = without(x.nodes[n.name], n)
	for _, e := range n.edges {
		x.edges[e.name] = without(x.edges[e.name], e)
	}
}

func without[T comparable](list []T, v T) []T {
	for i, x := range list {
		if x == v {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

func (n *node) semver() (Version, bool) {
	if n.verState == 0 {
		n.verState = 2
		if v, err := parseFull(n.version); err == nil {
			n.ver, n.verState = v, 1
		}
	}
	return n.ver, n.verState == 1
}

func (n *node) isTop() bool  { return n.parent == nil }
func (n *node) isRoot() bool { return n.top == n } // arborist's isProjectRoot: any root

func (n *node) resolve(name string) *node {
	for p := n; p != nil; p = p.parent {
		if c := p.children[name]; c != nil {
			return c
		}
	}
	return nil
}

func (n *node) depth() int {
	d := 0
	for p := n; p.parent != nil; p = p.parent {
		d++
	}
	return d
}

// location is the node's path below its root: "node_modules/a/node_modules/b".
func (n *node) location() string {
	if n.parent == nil {
		return ""
	}
	if l := n.parent.location(); l != "" {
		return l + "/node_modules/" + n.name
	}
	return "node_modules/" + n.name
}

func (n *node) isDescendantOf(a *node) bool {
	for p := n; p != nil; p = p.parent {
		if p == a {
			return true
		}
	}
	return false
}

func (n *node) id() string {
	if n.project {
		return "(project)"
	}
	if n.man == nil {
		return n.name
	}
	return n.name + "@" + n.version
}

// matches is arborist's Node.matches: the same package content.
func (n *node) matches(o *node) bool {
	switch {
	case n == o:
		return true
	case n.name != o.name:
		return false
	case n.link != nil:
		return o.link != nil && n.link.matches(o.link)
	case o.link != nil || n.man == nil || o.man == nil:
		return false
	case n.man.Dist.Integrity != "" && o.man.Dist.Integrity != "":
		return n.man.Dist.Integrity == o.man.Dist.Integrity
	case n.man.Dist.Tarball != "" && o.man.Dist.Tarball != "":
		return n.man.Dist.Tarball == o.man.Dist.Tarball
	}
	return n.pkg == o.pkg && n.version == o.version
}

func (n *node) satisfies(e *edge) bool { return n.name == e.name && e.satisfiedBy(n) }

func (n *node) sortedChildren() []*node {
	kids := make([]*node, 0, len(n.children))
	for _, c := range n.children {
		kids = append(kids, c)
	}
	// Siblings share their path up to the name, so this is location order.
	sort.Slice(kids, func(i, j int) bool { return localeCompare(kids[i].name, kids[j].name) < 0 })
	return kids
}

// edgesIn are the edges in the node's tree that resolve to it.
func (n *node) edgesIn() []*edge {
	if n.top == nil || n.top.idx == nil {
		return nil
	}
	var in []*edge
	for _, e := range n.top.idx.edges[n.name] {
		if e.to() == n {
			in = append(in, e)
		}
	}
	return in
}

// named lists the nodes of a tree with a name, in location order.
func (t *node) named(name string) []*node {
	out := append([]*node(nil), t.idx.nodes[name]...)
	keys := make(map[*node]string, len(out))
	for _, n := range out {
		keys[n] = n.location()
	}
	sort.SliceStable(out, func(i, j int) bool { return localeCompare(keys[out[i]], keys[out[j]]) < 0 })
	return out
}

// newNode makes a package node, not yet in any tree, with its edges in arborist's order:
// peers, optional peers, dependencies, optional dependencies, a later kind overriding an
// earlier one for the same name while keeping its place.
func newNode(name, pkg string, m *Manifest, registry string) *node {
	n := &node{name: name, pkg: pkg, man: m, registry: registry, children: map[string]*node{}, edgeMap: map[string]*edge{}}
	if m != nil {
		n.version = m.Version
		n.loadEdges(m)
	}
	return n
}

// newLink is arborist's Link: a symlink named name to target. It has no dependencies or
// children of its own; Node.js follows it and resolves from the target's real location.
func newLink(name string, target *node) *node {
	return &node{
		name: name, pkg: target.pkg, version: target.version, man: target.man, registry: target.registry,
		link: target, children: map[string]*node{}, edgeMap: map[string]*edge{},
	}
}

func (n *node) loadEdges(m *Manifest) {
	var peers, peerOpt []string
	for _, name := range m.depNames("peerDependencies", m.PeerDependencies) {
		if m.PeerDependenciesMeta[name].Optional {
			peerOpt = append(peerOpt, name)
		} else {
			peers = append(peers, name)
		}
	}
	for _, name := range peers {
		n.addEdge(name, m.PeerDependencies[name], edgePeer)
	}
	for _, name := range peerOpt {
		n.addEdge(name, m.PeerDependencies[name], edgePeerOptional)
	}
	for _, name := range m.depNames("dependencies", m.Dependencies) {
		n.addEdge(name, m.Dependencies[name], edgeProd)
	}
	for _, name := range m.depNames("optionalDependencies", m.OptionalDependencies) {
		n.addEdge(name, m.OptionalDependencies[name], edgeOptional)
	}
}

// addEdge is only called before the node joins a tree, so no index needs updating.
func (n *node) addEdge(name, raw string, typ edgeType) {
	spec, err := parseSpec(name, raw)
	e := &edge{from: n, name: name, raw: raw, spec: spec, specErr: err, typ: typ}
	if old := n.edgeMap[name]; old != nil {
		for i := range n.edges {
			if n.edges[i] == old {
				n.edges[i] = e
			}
		}
	} else {
		n.edges = append(n.edges, e)
	}
	n.edgeMap[name] = e
}

// setParent puts n (with its subtree) in parent's node_modules, replacing whatever has its name
// there, as arborist's parent setter does.
func setParent(n, parent *node) {
	if n.parent == parent && parent.children[n.name] == n {
		return
	}
	if n.parent != nil {
		delete(n.parent.children, n.name)
		n.parent = nil
	}
	if old := parent.children[n.name]; old != nil && old != n {
		detach(old)
	}
	parent.children[n.name] = n
	n.parent = parent
	retop(n, parent.top)
}

// detach removes n and its subtree from their tree (arborist's node.root = null).
func detach(n *node) {
	if n.parent != nil {
		delete(n.parent.children, n.name)
		n.parent = nil
	}
	retop(n, n)
}

func retop(n, top *node) {
	if top == n && n.idx == nil {
		n.idx = newIndex()
	}
	var walk func(m *node)
	walk = func(m *node) {
		if m.top != nil && m.top.idx != nil && m.top != top {
			m.top.idx.remove(m)
		}
		m.top = top
		top.idx.add(m)
		for _, c := range m.children {
			walk(c)
		}
	}
	walk(n)
	if top != n {
		n.idx = nil
	}
}

// replace puts n where old is, adopting old's children (arborist's Node.replace).
func replace(n, old *node) {
	parent := old.parent
	kids := old.sortedChildren()
	detach(old)
	setParent(n, parent)
	for _, kid := range kids {
		setParent(kid, n)
	}
}

// deepestNestingTarget is the deepest node_modules a dependency named name can go in, starting
// from start: not inside anything that has it as a peer.
func deepestNestingTarget(start *node, name string) *node {
	for t := start; t != nil; t = t.parent {
		if t.isRoot() || t.parent == nil {
			return t
		}
		if e := t.edgeMap[name]; e == nil || !e.peer() {
			return t
		}
	}
	return nil
}

// nodeSet is an insertion-ordered set, standing in for JavaScript's Set.
type nodeSet struct {
	list []*node
	has  map[*node]bool
}

func newNodeSet(ns ...*node) *nodeSet {
	s := &nodeSet{has: map[*node]bool{}}
	for _, n := range ns {
		s.add(n)
	}
	return s
}

func (s *nodeSet) add(n *node) {
	if !s.has[n] {
		s.has[n] = true
		s.list = append(s.list, n)
	}
}

func (s *nodeSet) remove(n *node) {
	if s.has[n] {
		delete(s.has, n)
		for i, m := range s.list {
			if m == n {
				s.list = append(s.list[:i], s.list[i+1:]...)
				break
			}
		}
	}
}

// gatherDepSet is the set plus everything it depends on (through edges filter admits) that
// nothing outside it depends on.
func gatherDepSet(set []*node, filter func(*edge) bool) *nodeSet {
	deps := newNodeSet(set...)
	for i := 0; i < len(deps.list); i++ {
		for _, e := range deps.list[i].edges {
			if to := e.to(); to != nil && filter(e) {
				deps.add(to)
			}
		}
	}
	for changed := true; changed && len(deps.list) > 0; {
		changed = false
		for _, dep := range append([]*node(nil), deps.list...) {
			for _, e := range dep.edgesIn() {
				if !deps.has[e.from] && filter(e) {
					changed = true
					deps.remove(dep)
					break
				}
			}
		}
	}
	return deps
}

// canReplaceWith reports whether n can take old's place for everything that depends on old.
func canReplaceWith(old, n *node, ignorePeers map[string]bool) bool {
	if n.name != old.name || n.pkg != old.pkg {
		return false
	}
	depSet := gatherDepSet([]*node{old}, func(e *edge) bool { return e.to() != old && e.valid() })
	for _, e := range old.edgesIn() {
		if !old.isTop() && e.from.parent == old.parent && e.peer() && ignorePeers[e.from.name] {
			continue
		}
		if !depSet.has[e.from] && !e.satisfiedBy(n) {
			return false
		}
	}
	return true
}

// canDedupe reports whether n can go because what its dependents would resolve instead serves
// them as well.
func canDedupe(n *node) bool {
	if n.parent == nil || n.parent.parent == nil {
		return false
	}
	if len(n.edgesIn()) == 0 {
		return true
	}
	other := n.parent.parent.resolve(n.name)
	switch {
	case other == nil:
		return false
	case other.matches(n):
		return true
	case !canReplaceWith(n, other, nil):
		return false
	}
	ov, ok1 := other.semver()
	nv, ok2 := n.semver()
	return ok1 && ok2 && ov.Compare(nv) >= 0
}

type peerEntry struct {
	edge  *edge
	peers *nodeSet
}

// peerEntrySets are the peer sets n belongs to, each keyed by the edge that brought it in.
func peerEntrySets(n *node) []peerEntry {
	union := newNodeSet(n)
	for i := 0; i < len(union.list); i++ {
		m := union.list[i]
		for _, e := range m.edges {
			if e.valid() && e.peer() && e.to() != nil {
				union.add(e.to())
			}
		}
		for _, e := range m.edgesIn() {
			if e.valid() && e.peer() {
				union.add(e.from)
			}
		}
	}
	var out []peerEntry
	seen := map[*edge]int{}
	for _, peer := range union.list {
		for _, e := range peer.edgesIn() {
			if !e.valid() || (e.peer() && !e.from.isTop()) {
				continue
			}
			sub := newNodeSet(peer)
			for i := 0; i < len(sub.list); i++ {
				for _, pe := range sub.list[i].edges {
					if pe.valid() && pe.peer() && pe.to() != nil {
						sub.add(pe.to())
					}
				}
			}
			if !sub.has[n] {
				continue
			}
			if i, ok := seen[e]; ok {
				out[i].peers = sub
			} else {
				seen[e] = len(out)
				out = append(out, peerEntry{e, sub})
			}
		}
	}
	return out
}

// optionalSet is what must go when the optional node n cannot be installed: n, what requires it
// up to the optional edges, and what only those require.
func optionalSet(n *node) *nodeSet {
	if !n.optional {
		return newNodeSet()
	}
	set := newNodeSet(n)
	for i := 0; i < len(set.list); i++ {
		for _, e := range set.list[i].edgesIn() {
			if !e.optional() {
				set.add(e.from)
			}
		}
	}
	boundary := set.has
	return gatherDepSet(set.list, func(e *edge) bool { return !boundary[e.to()] && !e.from.inert })
}

// calcDepFlags marks as optional exactly the nodes that only optional edges lead to.
func calcDepFlags(project *node) {
	for _, list := range project.idx.nodes {
		for _, n := range list {
			n.optional = true
		}
	}
	project.optional = false
	queue := []*node{project}
	for len(queue) > 0 {
		n := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if t := n.link; t != nil {
			if t.optional && !n.optional {
				t.optional = false
				queue = append(queue, t)
			}
			continue
		}
		for _, e := range n.edges {
			to := e.to()
			if to != nil && to.optional && !n.optional && !e.optional() {
				to.optional = false
				queue = append(queue, to)
			}
		}
	}
}
