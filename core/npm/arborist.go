package npm

// This file is npm's tree builder, ported from @npmcli/arborist: build-ideal-tree.js
// (buildDepStep, nodeFromEdge, loadPeerSet, problemEdges, pruneFailedOptional), place-dep.js,
// can-place-dep.js, and the helpers deepest-nesting-target, peer-entry-sets, gather-dep-set and
// optional-set. den exists to give a project the node_modules npm would give it; hoisting,
// deduplication, peer sets and replacements must agree with npm case for case, and no Go library
// implements them. Functions keep arborist's names so each can be checked against its original.
//
// Left out, because den resolves one registry package into an empty project: lockfiles and
// updates, workspaces and links, overrides, bundled and shrinkwrapped contents, audit, --force,
// --legacy-peer-deps and --strict-peer-deps (npm's defaults are what den does). Deliberately
// different: an alias is satisfied only by the package it names (see depValid), and a tree npm
// would rearrange forever is an error (TreeSettleError).

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// builder is arborist's IdealTreeBuilder state for one resolution.
type builder struct {
	c       *Client
	ctx     context.Context
	sys     System
	pf      *prefetcher
	project *node

	seen          map[*node]bool
	vrs           map[*node]*node // virtual roots by source
	peerSetSource map[*node]*node
	failures      *nodeSet

	// placements counts placements of each package version at each location: a tree that
	// never settles places the same ones over and over.
	placements map[string]int
}

// TreeSettleError says resolution kept replacing the same packages without end. npm's algorithm
// has such trees (npm itself never finishes on them); den stops and names the packages.
type TreeSettleError struct {
	Packages []string
}

func (e *TreeSettleError) Error() string {
	return fmt.Sprintf("the dependency tree does not settle: npm's placement keeps replacing %s", strings.Join(e.Packages, ", "))
}

// maxReplacements is how often one version may be placed at one location; a settling tree
// needs it once or twice.
const maxReplacements = 50

func (b *builder) countPlacement(target, dep *node) error {
	key := target.location() + "\x00" + dep.id()
	b.placements[key]++
	if b.placements[key] <= maxReplacements {
		return nil
	}
	counts := map[string]int{}
	for k, n := range b.placements {
		if n > maxReplacements/2 {
			counts[k[strings.IndexByte(k, 0)+1:]] += n
		}
	}
	var names []string
	for name := range counts {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if counts[names[i]] != counts[names[j]] {
			return counts[names[i]] > counts[names[j]]
		}
		return names[i] < names[j]
	})
	if len(names) > 5 {
		names = names[:5]
	}
	return &TreeSettleError{Packages: names}
}

// depsQueue pops the shallowest node first, then by path, as arborist's does.
type depsQueue struct {
	list   []*node
	in     map[*node]bool
	sorted bool
}

func (q *depsQueue) push(n *node) {
	if !q.in[n] {
		q.in[n] = true
		q.list = append(q.list, n)
		q.sorted = false
	}
}

func (q *depsQueue) pop() *node {
	if !q.sorted {
		type key struct {
			depth int
			loc   string
		}
		keys := make(map[*node]key, len(q.list))
		for _, n := range q.list {
			keys[n] = key{n.depth(), n.location()}
		}
		sort.SliceStable(q.list, func(i, j int) bool {
			ki, kj := keys[q.list[i]], keys[q.list[j]]
			if ki.depth != kj.depth {
				return ki.depth < kj.depth
			}
			return localeCompare(ki.loc, kj.loc) < 0
		})
		q.sorted = true
	}
	n := q.list[0]
	q.list = q.list[1:]
	delete(q.in, n)
	return n
}

func (b *builder) buildDeps() error {
	q := &depsQueue{in: map[*node]bool{}}
	q.push(b.project)
	for len(q.list) > 0 {
		n := q.pop()
		if b.seen[n] || n.top != b.project {
			continue
		}
		b.seen[n] = true
		peerSource := b.peerSetSource[n]
		if peerSource == nil {
			peerSource = n
		}
		type task struct {
			edge *edge
			dep  *node
		}
		var tasks []task
		for _, e := range b.problemEdges(n) {
			if e.peerConflicted {
				continue
			}
			source := n
			if e.peer() {
				source = peerSource
			}
			vr := b.virtualRoot(source, true)
			var vrDep *node
			if vre := vr.edgeMap[e.name]; vre != nil && vre.valid() {
				vrDep = vre.to()
			}
			// Only a peer is loaded into the shared virtual root: siblings' peers that
			// disagree can then still find homes at different depths.
			var parent *node
			if e.peer() {
				parent = vr
			}
			var dep *node
			if vrDep != nil && vrDep.satisfies(e) {
				dep = vrDep
			}
			if dep == nil && e.typ == edgePeerOptional {
				start := e.from.parent
				if start == nil {
					start = e.from
				}
				dep = findHoistableNode(start, e)
			}
			if dep == nil {
				d, err := b.nodeFromEdge(e, parent, nil, newNodeSet(e.from))
				if err != nil {
					return b.fail(e.from, e.name+"@"+e.raw, err)
				}
				dep = d
			}
			tasks = append(tasks, task{e, dep})
		}
		sort.SliceStable(tasks, func(i, j int) bool { return localeCompare(tasks[i].edge.name, tasks[j].edge.name) < 0 })
		for _, t := range tasks {
			pd, err := b.placeDep(t.edge, t.dep, nil)
			if err != nil {
				return b.fail(t.edge.from, t.edge.name+"@"+t.edge.raw, err)
			}
			b.visitPlaced(pd, q)
		}
	}
	return nil
}

// visitPlaced queues what a placement changed: the placed node itself, dependents it left
// unsatisfied, and anything a replacement pushed out.
func (b *builder) visitPlaced(pd *placeDep, q *depsQueue) {
	if placed := pd.placed; placed != nil {
		if placed.loadErr != nil {
			b.failures.add(placed)
		}
		for _, in := range placed.edgesIn() {
			if in == pd.edge || in.peerConflicted || in.valid() {
				continue
			}
			delete(b.seen, in.from)
			q.push(in.from)
		}
		q.push(placed)
		for _, n := range pd.needEvaluation.list {
			delete(b.seen, n)
			q.push(n)
		}
	}
	for _, child := range pd.children {
		b.visitPlaced(child, q)
	}
}

func (b *builder) problemEdges(n *node) []*edge {
	bundled := map[string]bool{}
	if !n.isRoot() && n.man != nil {
		for _, name := range n.man.BundleDependencies {
			bundled[name] = true
		}
	}
	var problems []*edge
	for _, e := range n.edges {
		if bundled[e.name] {
			continue
		}
		to := e.to()
		if to != nil && b.failures.has[to] {
			continue
		}
		if to == nil {
			if e.typ != edgePeerOptional {
				problems = append(problems, e)
			}
			continue
		}
		if !e.valid() {
			problems = append(problems, e)
		}
	}
	return problems
}

func findHoistableNode(root *node, e *edge) *node {
	queue := root.sortedChildren()
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n.name == e.name && n.satisfies(e) {
			return n
		}
		queue = append(queue, n.sortedChildren()...)
	}
	return nil
}

// virtualRoot is a scratch tree standing for source's dependencies, in which a new node's
// peer set is chosen before anything is placed for real.
func (b *builder) virtualRoot(source *node, reuse bool) *node {
	if vr := b.vrs[source]; reuse && vr != nil {
		return vr
	}
	vr := &node{source: source, children: map[string]*node{}, edgeMap: map[string]*edge{}}
	if source.man != nil {
		vr.loadEdges(source.man)
	} else {
		for _, e := range source.edges {
			vr.addEdge(e.name, e.raw, e.typ)
		}
	}
	retop(vr, vr)
	b.vrs[source] = vr
	return vr
}

// nodeFromEdge loads the node an edge wants into parent (a virtual root), with its peer set.
// With a second edge (a peer's own spec, when parent's dependency also names the package), a
// version both accept is preferred.
func (b *builder) nodeFromEdge(e *edge, parent *node, second *edge, required *nodeSet) (*node, error) {
	if parent == nil {
		parent = b.virtualRoot(e.from, false)
	}
	first, err := b.nodeFromSpec(e.name, e.spec, e.specErr, parent)
	if err != nil {
		return nil, err
	}
	var secondNode *node
	if second != nil && !second.valid() {
		if secondNode, err = b.nodeFromSpec(e.name, second.spec, second.specErr, parent); err != nil {
			return nil, err
		}
	}
	n := first
	if secondNode != nil && e.valid() {
		n = secondNode
	}
	setParent(n, parent)
	if required.has[e.from] && e.typ != edgePeerOptional || second != nil && required.has[second.from] && second.typ != edgePeerOptional {
		required.add(n)
	}
	b.peerSetSource[n] = parent.source
	return b.loadPeerSet(n, required)
}

func (b *builder) nodeFromSpec(name string, spec depSpec, specErr error, parent *node) (*node, error) {
	if specErr != nil {
		return b.failureNode(name, spec.pkg, parent, specErr), nil
	}
	p, err := b.c.Packument(b.ctx, spec.pkg)
	if err != nil {
		if isLoadFailure(err) {
			return b.failureNode(name, spec.pkg, parent, err), nil
		}
		return nil, err
	}
	m, err := pick(p, spec)
	if err != nil {
		return b.failureNode(name, spec.pkg, parent, err), nil
	}
	n := newNode(name, spec.pkg, m, p.Registry)
	setParent(n, parent)
	b.prefetchDeps(m)
	return n, nil
}

func (b *builder) failureNode(name, pkg string, parent *node, err error) *node {
	n := newNode(name, pkg, nil, "")
	n.loadErr = err
	setParent(n, parent)
	b.failures.add(n)
	return n
}

// loadPeerSet loads n's peers, and theirs, into n's virtual root, preferring versions that also
// satisfy the source's own dependency on them.
func (b *builder) loadPeerSet(n *node, required *nodeSet) (*node, error) {
	var peerEdges []*edge
	for _, e := range n.edges {
		if e.peer() && !(e.valid() && e.to() != nil) {
			peerEdges = append(peerEdges, e)
		}
	}
	sort.SliceStable(peerEdges, func(i, j int) bool { return localeCompare(peerEdges[i].name, peerEdges[j].name) < 0 })
	for _, e := range peerEdges {
		if n.parent == nil {
			break
		}
		if e.valid() && e.to() != nil {
			continue
		}
		parentEdge := n.parent.edgeMap[e.name]
		src := n.parent.source
		// Conflicts are tolerated (the peer is marked conflicted) unless they are the project's.
		conflictOK := src == nil || !src.isRoot()
		if e.to() == nil {
			if parentEdge == nil {
				if _, err := b.nodeFromEdge(e, n.parent, nil, required); err != nil {
					return nil, err
				}
				continue
			}
			dep, err := b.nodeFromEdge(parentEdge, n.parent, e, required)
			if err != nil {
				return nil, err
			}
			if e.valid() {
				continue
			}
			if conflictOK || !required.has[dep] {
				e.peerConflicted = true
				continue
			}
			if n.parent == nil {
				break
			}
			return nil, b.peerConflict(e)
		}
		current := e.to()
		dep, err := b.nodeFromEdge(e, nil, nil, required)
		if err != nil {
			return nil, err
		}
		if canReplaceWith(current, dep, nil) {
			if _, err := b.nodeFromEdge(e, n.parent, nil, required); err != nil {
				return nil, err
			}
			continue
		}
		if conflictOK || !required.has[e.from] {
			continue
		}
		return nil, b.peerConflict(e)
	}
	return n, nil
}

func (b *builder) peerConflict(e *edge) error {
	existing := "nothing that fits"
	if to := e.to(); to != nil {
		existing = to.id()
	}
	return &PeerConflictError{Dependent: e.from.id(), Peer: e.name, Spec: e.raw, Existing: existing}
}

// placeDep is arborist's PlaceDep: put dep where edge can see it, with its peer set.
type placeDep struct {
	dep            *node
	edge           *edge
	parent         *placeDep
	canPlace       *canPlaceDep
	canPlaceSelf   *canPlaceDep
	children       []*placeDep
	needEvaluation *nodeSet
	placed         *node
}

func (b *builder) placeDep(e *edge, dep *node, parent *placeDep) (*placeDep, error) {
	pd := &placeDep{dep: dep, edge: e, parent: parent, needEvaluation: newNodeSet()}
	if e.to() != nil && e.valid() {
		return pd, nil
	}
	for t := pd.startNode(); t != nil; t = t.parent {
		if te := t.edgeMap[e.name]; !t.isTop() && te != nil && te.peer() {
			continue
		}
		var pcp *canPlaceDep
		if parent != nil {
			pcp = parent.canPlace
		}
		cpd := newCanPlaceDep(dep, e, pcp, t, nil, false)
		if cpd.canPlaceSelf != conflict {
			pd.canPlaceSelf = cpd
		}
		if cpd.canPlace == conflict {
			break
		}
		pd.canPlace = cpd
		if dep.loadErr != nil {
			break
		}
	}
	if pd.canPlace == nil {
		if pd.isMine() {
			return nil, pd.conflictError()
		}
		if pd.canPlaceSelf == nil {
			e.peerConflicted = true
			return pd, nil
		}
		pd.canPlace = pd.canPlaceSelf
	}
	target := pd.canPlace.target
	how := pd.canPlace.canPlace
	if how == conflict {
		how = pd.canPlace.canPlaceSelf
	}
	if how == keep {
		if e.peer() && !e.valid() {
			e.peerConflicted = true
		}
		b.pruneDedupable(target, true)
		return pd, nil
	}
	// A package that would nest inside itself without end is linked to the copy above.
	for p := target; p != nil; p = p.parent {
		if p.matches(dep) && !p.isTop() {
			pd.placed = newLink(dep.name, p)
			setParent(pd.placed, target)
			return pd, nil
		}
	}
	if target.depth()+1 > maxNesting {
		return nil, fmt.Errorf("node_modules nests deeper than %d levels placing %s; its dependencies keep requiring each other's other versions", maxNesting, dep.id())
	}
	if err := b.countPlacement(target, dep); err != nil {
		return nil, err
	}
	vr := dep.parent
	placed := newNode(dep.name, dep.pkg, dep.man, dep.registry)
	placed.loadErr = dep.loadErr
	pd.placed = placed
	if old := target.children[e.name]; old != nil {
		b.replaceOldDep(pd, old)
	} else {
		setParent(placed, target)
	}
	if e.peer() && !placed.satisfies(e) {
		e.peerConflicted = true
	}
	if e.valid() {
		if to := e.to(); to != nil && to != placed {
			b.pruneDedupable(to, false)
		}
	}
	for _, n := range target.top.named(e.name) {
		if n.isDescendantOf(target) && !n.isTop() {
			b.pruneDedupable(n, false)
			if n.top == target.top {
				for _, kid := range n.sortedChildren() {
					b.pruneDedupable(kid, false)
				}
			}
		}
	}
	// Place its unmet peers beside it, from the peer set chosen in its virtual root.
	for _, pe := range placed.edges {
		if pe.valid() || !pe.peer() || pe.peerConflicted || vr == nil {
			continue
		}
		peer := vr.children[pe.name]
		if peer == nil || !peer.satisfies(pe) {
			continue
		}
		child, err := b.placeDep(pe, peer, pd)
		if err != nil {
			return nil, err
		}
		pd.children = append(pd.children, child)
	}
	return pd, nil
}

// startNode is where the search for a place starts: the dependent's own node_modules, or for a
// peer the nearest one above that has no peer dependency on it.
func (pd *placeDep) startNode() *node {
	from := pd.edge.from
	if pd.parent != nil {
		from = pd.parent.startNode()
	}
	return deepestNestingTarget(from, pd.edge.name)
}

func (pd *placeDep) top() *placeDep {
	if pd.parent != nil {
		return pd.parent.top()
	}
	return pd
}

// isMine reports whether a conflict is the project's own, which npm refuses (ERESOLVE) rather
// than warns about.
func (pd *placeDep) isMine() bool {
	e := pd.top().edge
	n := e.from
	if n.isRoot() {
		return true
	}
	if !e.peer() {
		return false
	}
	hasPeer := false
	for _, in := range n.edgesIn() {
		if in.peer() {
			hasPeer = true
			continue
		}
		if in.from.isRoot() {
			return true
		}
	}
	if hasPeer {
		for _, pe := range peerEntrySets(n) {
			if pe.edge.from.isRoot() {
				return true
			}
		}
	}
	return false
}

func (pd *placeDep) conflictError() error {
	if cps := pd.canPlaceSelf; cps != nil && cps.canPlaceSelf != conflict {
		for _, c := range allCanPlaceChildren(cps) {
			if c.canPlace == conflict && c.current != nil {
				return &PeerConflictError{Dependent: c.edge.from.id(), Peer: c.edge.name, Spec: c.edge.raw, Existing: c.current.location() + "@" + c.current.version}
			}
		}
	}
	existing := "nothing that fits"
	if cur := pd.edge.from.resolve(pd.edge.name); cur != nil {
		existing = cur.location() + "@" + cur.version
	}
	return &PeerConflictError{Dependent: pd.edge.from.id(), Peer: pd.edge.name, Spec: pd.edge.raw, Existing: existing}
}

func allCanPlaceChildren(c *canPlaceDep) []*canPlaceDep {
	all := append([]*canPlaceDep(nil), c.children...)
	for i := 0; i < len(all); i++ {
		all = append(all, all[i].children...)
	}
	return all
}

func (b *builder) replaceOldDep(pd *placeDep, old *node) {
	target := old.parent
	placed := pd.placed
	// What only the old node needed goes with it, lest it cause spurious conflicts.
	var oldDeps []*node
	for _, e := range old.edges {
		if placed.edgeMap[e.name] != nil {
			continue
		}
		if to := e.to(); to != nil {
			oldDeps = append(oldDeps, gatherDepSet([]*node{to}, func(f *edge) bool { return f.to() != to }).list...)
		}
	}
	// Peer sets at this level that the new node does not satisfy are removed and placed again.
	var prune []*node
	for _, e := range old.edgesIn() {
		if placed.satisfies(e) || !e.peer() || e.from.parent != target || e.peerConflicted {
			continue
		}
		for _, pe := range peerEntrySets(e.from) {
			entry := pe.edge.to()
			if entry != target && !pe.edge.from.isRoot() {
				prune = append(prune, gatherDepSet([]*node{entry}, func(f *edge) bool { return f.to() != entry && !f.peerConflicted }).list...)
			} else {
				e.peerConflicted = true
			}
		}
	}
	replace(placed, old)
	b.pruneForReplacement(placed, oldDeps)
	for _, n := range prune {
		for _, in := range n.edgesIn() {
			pd.needEvaluation.add(in.from)
		}
		detach(n)
	}
}

func (b *builder) pruneForReplacement(n *node, oldDeps []*node) {
	invalid := newNodeSet()
	for _, e := range n.edges {
		if to := e.to(); to != nil && !e.valid() {
			invalid.add(to)
		}
	}
	for _, d := range oldDeps {
		for _, x := range gatherDepSet([]*node{d}, func(e *edge) bool { return e.to() != d && e.valid() }).list {
			invalid.add(x)
		}
	}
	for _, d := range gatherDepSet(invalid.list, func(e *edge) bool { return e.from != n && e.to() != n && e.valid() }).list {
		detach(d)
	}
}

// pruneDedupable removes nodes that something higher up now serves as well.
func (b *builder) pruneDedupable(n *node, descend bool) {
	if canDedupe(n) {
		for _, d := range gatherDepSet([]*node{n}, func(e *edge) bool { return e.to() != n && e.valid() }).list {
			detach(d)
		}
		return
	}
	if descend {
		for _, c := range n.sortedChildren() {
			b.pruneDedupable(c, true)
		}
	}
}

func (b *builder) pruneFailedOptional() error {
	for _, n := range b.failures.list {
		if n.top != b.project {
			continue // replaced or pruned since
		}
		if !n.optional {
			return b.fail(n, "", n.loadErr)
		}
		for _, m := range optionalSet(n).list {
			m.inert = true
		}
	}
	return nil
}

type placement int

const (
	conflict placement = iota + 1
	ok
	replaceIt
	keep
)

// canPlaceDep answers "can dep go in target's node_modules?" without changing the tree.
type canPlaceDep struct {
	dep, target  *node
	edge         *edge
	parent       *canPlaceDep
	peerPath     []*node
	preferDedupe bool
	current      *node
	targetEdge   *edge
	edgeOverride bool
	children     []*canPlaceDep

	canPlace, canPlaceSelf placement
	peersChecked           bool
	peersResult            placement
}

func newCanPlaceDep(dep *node, e *edge, parent *canPlaceDep, target *node, peerPath []*node, preferDedupe bool) *canPlaceDep {
	c := &canPlaceDep{
		dep: dep, target: target, edge: e, parent: parent, peerPath: peerPath,
		preferDedupe: preferDedupe || e.peer(),
		current:      target.children[e.name],
		targetEdge:   target.edgeMap[e.name],
	}
	c.edgeOverride = !dep.satisfies(e)
	c.canPlace = c.check()
	if c.canPlaceSelf == 0 {
		c.canPlaceSelf = c.canPlace
	}
	return c
}

func (c *canPlaceDep) check() placement {
	if c.dep.loadErr != nil {
		if c.current != nil {
			return replaceIt
		}
		return ok
	}
	if c.targetEdge != nil && c.targetEdge.peer() && !c.target.isTop() {
		return conflict
	}
	if c.current == nil && c.targetEdge != nil && !c.dep.satisfies(c.targetEdge) && c.targetEdge != c.edge {
		return conflict
	}
	if c.current != nil {
		return c.checkCurrent()
	}
	return c.checkNoCurrent()
}

func (c *canPlaceDep) checkCurrent() placement {
	cur, dep := c.current, c.dep
	if dep.matches(cur) && (cur.satisfies(c.edge) || c.edgeOverride) {
		return keep
	}
	cv, ok1 := cur.semver()
	dv, ok2 := dep.semver()
	tryReplace := ok1 && ok2 && dv.Compare(cv) >= 0
	if tryReplace && canReplaceWith(cur, dep, nil) {
		if p := c.canPlacePeers(replaceIt); p != conflict {
			return p
		}
	}
	if cur.satisfies(c.edge) {
		return keep
	}
	if c.preferDedupe && !tryReplace && canReplaceWith(cur, dep, nil) {
		if p := c.canPlacePeers(replaceIt); p != conflict {
			return p
		}
	}
	// If this is the deepest place the dep can go and the one here could go deeper, the one here
	// makes way and is resolved again further down.
	if c.target != c.deepestNestingTarget() {
		return conflict
	}
	if !c.edge.peer() && c.target == c.edge.from {
		return c.canPlacePeers(replaceIt)
	}
	if c.parent == nil && !c.edge.peer() {
		return conflict
	}
	canReplace := true
	for _, pe := range peerEntrySets(cur) {
		if pe.edge == c.edge || pe.edge == c.peerEntryEdge() {
			continue
		}
		entryNode := pe.edge.to()
		var entryRep *node
		if dep.parent != nil {
			entryRep = dep.parent.children[entryNode.name]
		}
		if entryRep != nil {
			ignore := map[string]bool{}
			for name := range dep.parent.children {
				ignore[name] = true
			}
			if canReplaceWith(entryNode, entryRep, ignore) {
				continue
			}
		}
		canClobber := entryRep == nil
		if entryRep == nil {
			walk := newNodeSet(entryNode)
		outer:
			for i := 0; i < len(walk.list); i++ {
				for _, e := range walk.list[i].edges {
					if !e.peer() || !e.valid() {
						continue
					}
					var rep *node
					if dep.parent != nil {
						rep = dep.parent.children[e.name]
					}
					if rep == nil {
						if to := e.to(); to != nil {
							walk.add(to)
						}
						continue
					}
					if !e.satisfiedBy(rep) {
						canClobber = false
						break outer
					}
				}
			}
		}
		if canClobber {
			continue
		}
		for _, peer := range pe.peers.list {
			curDeep := deepestNestingTarget(pe.edge.from, peer.name)
			if curDeep == c.target || c.target.isDescendantOf(curDeep) {
				canReplace = false
				break
			}
		}
	}
	if canReplace {
		return c.canPlacePeers(replaceIt)
	}
	return conflict
}

func (c *canPlaceDep) checkNoCurrent() placement {
	if c.target != c.peerEntryEdge().from {
		if cur := c.target.resolve(c.edge.name); cur != nil {
			for _, e := range cur.edgesIn() {
				if e.from.isDescendantOf(c.target) && e.valid() && !c.dep.satisfies(e) {
					return conflict
				}
			}
		}
	}
	return c.canPlacePeers(ok)
}

func (c *canPlaceDep) deepestNestingTarget() *node {
	start := c.edge.from
	if c.parent != nil {
		start = c.parent.deepestNestingTarget()
	}
	return deepestNestingTarget(start, c.edge.name)
}

func (c *canPlaceDep) top() *canPlaceDep {
	if c.parent != nil {
		return c.parent.top()
	}
	return c
}

func (c *canPlaceDep) peerEntryEdge() *edge { return c.top().edge }

// canPlacePeers checks that the dep's peers can go along with it.
func (c *canPlaceDep) canPlacePeers(state placement) placement {
	c.canPlaceSelf = state
	if c.peersChecked {
		return c.peersResult
	}
	peerPath := append(append([]*node(nil), c.peerPath...), c.dep)
	sawConflict := false
	for _, pe := range c.dep.edges {
		peer := pe.to()
		if !pe.peer() || peer == nil || containsNode(peerPath, peer) {
			continue
		}
		target := deepestNestingTarget(c.target, peer.name)
		cpp := newCanPlaceDep(peer, pe, c, target, peerPath, true)
		c.children = append(c.children, cpp)
		if cpp.canPlace == conflict {
			sawConflict = true
		}
	}
	c.peersChecked = true
	c.peersResult = state
	if sawConflict {
		c.peersResult = conflict
	}
	return c.peersResult
}

func containsNode(list []*node, n *node) bool {
	for _, m := range list {
		if m == n {
			return true
		}
	}
	return false
}
