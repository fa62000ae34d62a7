package debunit

import (
	"os"
	"path"
	"sort"
	"strings"
)

type kind int

const (
	kindDir kind = iota
	kindFile
	kindSymlink
)

func (k kind) String() string {
	switch k {
	case kindDir:
		return "directory"
	case kindFile:
		return "file"
	}
	return "symlink"
}

// node is one path of the unit. The tree keeps them all in memory: the usr-merge, the conflict
// checks and every "is it in the unit" question are answered from here, never by following a
// link on disk (an absolute link, before it is rewritten, points into the host).
type node struct {
	kind  kind
	deb   string // the .deb that provided it first
	entry string // its name there
	exec  bool
	size  int64
	// Symlinks: target is the text the .deb gave; to is where it leads in the unit (a clean
	// relative path, "." for the root), the usr-merge applied.
	target string
	to     string
}

func (n *node) describe() string {
	if n.kind == kindSymlink {
		return "symlink to " + n.target
	}
	return n.kind.String()
}

// tree is the unit being assembled at root.
type tree struct {
	dir     string
	deb     string // the one .deb of a tree being unpacked on its own
	root    *os.Root
	nodes   map[string]*node // by clean relative name
	entries int
	total   int64
}

func (t *tree) add(name string, n *node) { t.nodes[name] = n }

// names returns every path of the tree, sorted, so that everything done per path happens in
// the same order on every build.
func (t *tree) names() []string {
	ns := make([]string, 0, len(t.nodes))
	for n := range t.nodes {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// maxHops is Linux's limit on symlinks followed in one lookup.
const maxHops = 40

// resolve follows name through the unit's symlinks, as the kernel would once every link leads
// where the usr-merge says, and returns the node it ends at (nil if there is none, or the chain
// is too long).
func (t *tree) resolve(name string) (string, *node) {
	var done []string
	todo := strings.Split(name, "/")
	for hops := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		done = append(done, c)
		cur := strings.Join(done, "/")
		n := t.nodes[cur]
		if n == nil {
			return cur, nil
		}
		if n.kind != kindSymlink {
			if len(todo) > 0 && n.kind != kindDir {
				return cur, nil
			}
			continue
		}
		if hops++; hops > maxHops {
			return cur, nil
		}
		// Links are kept as the unit-relative place they lead to.
		done = done[:0]
		todo = append(strings.Split(n.to, "/"), todo...)
	}
	final := strings.Join(done, "/")
	if final == "" {
		return ".", &node{kind: kindDir}
	}
	return final, t.nodes[final]
}

// has reports whether name exists in the unit, through its links.
func (t *tree) has(name string) bool {
	_, n := t.resolve(name)
	return n != nil
}

// isDir reports whether name is a directory of the unit, through its links.
func (t *tree) isDir(name string) bool {
	_, n := t.resolve(name)
	return n != nil && n.kind == kindDir
}

// relative spells the link from the directory dir to target, both unit-relative.
func relative(dir, target string) string {
	from := split(dir)
	to := split(target)
	i := 0
	for i < len(from) && i < len(to) && from[i] == to[i] {
		i++
	}
	var parts []string
	for range from[i:] {
		parts = append(parts, "..")
	}
	parts = append(parts, to[i:]...)
	if len(parts) == 0 {
		return "."
	}
	return strings.Join(parts, "/")
}

func split(p string) []string {
	p = path.Clean(p)
	if p == "." || p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
