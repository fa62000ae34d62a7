package manifest

import (
	"fmt"
	"slices"

	"github.com/pelletier/go-toml/v2/unstable"
)

// layout is every key and value of den.toml and where it is, from go-toml's parser. den decodes
// the document from it (decode.go) rather than with go-toml's decoder: errors and edits by den add
// need the places, and the decoder's duplicate-key tracker searches every key seen so far for each
// new one, which made a den.toml with 100,000 [env] entries take 20 s to load. scan therefore
// enforces TOML's rules on defining keys and tables itself, the same rules as that tracker.
type layout struct {
	root           *entry
	packagesHeader Span
}

// defKind says how an entry was defined, which decides what may extend it later.
type defKind uint8

const (
	defTable  defKind = iota // a table of a [header], or on the way to one: more headers extend it
	defDotted                // a table made by dotted keys (a.b = 1): only more dotted keys extend it
	defValue                 // a value, inline tables and arrays included: nothing extends it
)

// entry is one key of the document, or one element of an array.
type entry struct {
	name   string   // the last key; empty for array elements
	path   []string // keys from the root; for an array element, the array's path
	elem   bool
	index  int // of an array element
	key    int // offset of the key that names the entry; -1 for the root and array elements
	val    int // offset of the value; -1 for tables made by headers or dotted keys
	header int // offset of the "[" of the entry's own [table] header; -1 when it has none
	kind   unstable.Kind
	def    defKind
	raw    string // the source text of a scalar value, to quote it back in hints
	str    string // the value of a string, escapes decoded

	children []*entry // in order of first appearance
	byName   map[string]*entry
	elems    []*entry
	line     Span // the `key = value` line(s) of a package directly under [packages]
}

func newEntry(path []string, key int) *entry {
	e := &entry{path: path, key: key, val: -1, header: -1, kind: unstable.Table}
	if len(path) > 0 {
		e.name = path[len(path)-1]
	}
	return e
}

// touch returns the child called name, creating it for a key at offset key if it is new.
func (e *entry) touch(name string, key int) *entry {
	if c := e.byName[name]; c != nil {
		return c
	}
	c := newEntry(slices.Concat(e.path, []string{name}), key)
	if e.byName == nil {
		e.byName = map[string]*entry{}
	}
	e.byName[name] = c
	e.children = append(e.children, c)
	return c
}

func (l *layout) get(path []string) *entry {
	e := l.root
	for _, p := range path {
		if e = e.byName[p]; e == nil {
			return nil
		}
	}
	return e
}

// at is the offset an error about the entry points to: its value, else its key.
func (e *entry) at() int {
	switch {
	case e.val >= 0:
		return e.val
	case e.key >= 0:
		return e.key
	case e.header >= 0:
		return e.header
	}
	return 0
}

// defined is where the entry first appeared, for "already defined on line N".
func (e *entry) defined() int {
	if e.key >= 0 {
		return e.key
	}
	return e.at()
}

func (e *entry) display() string {
	if e.elem {
		return fmt.Sprintf("%s[%d]", displayPath(e.path), e.index)
	}
	return displayPath(e.path)
}

// want is the schema's expectation for the entry; nil where the schema says nothing.
func (e *entry) want() *spec {
	s := schema().at(e.path)
	if e.elem {
		if s == nil || s.shape != isStrings {
			return nil
		}
		return &spec{shape: isString}
	}
	return s
}

// scan runs go-toml's parser over the file and records the layout. It also reports what the
// parser sees better than the decoder: syntax errors, keys defined twice, and arrays of tables,
// which den.toml never has.
func (f *file) scan() (*layout, error) {
	lay := &layout{root: newEntry(nil, -1)}
	var p unstable.Parser
	p.Reset(f.data)
	table := lay.root
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			names, offs, _ := keyParts(e)
			open := f.headerStart(offs[0])
			if e.Kind == unstable.ArrayTable {
				return nil, f.errorAt(open, "den.toml has no arrays of tables",
					"[[%s]] is an array of tables; write [%s]", displayPath(names), displayPath(names))
			}
			t := lay.root
			for i, name := range names {
				if prev := t.byName[name]; prev != nil {
					switch {
					case i == len(names)-1 && (prev.header >= 0 || prev.def != defTable):
						return nil, f.errorAt(offs[i], "merge the two into one table",
							"[%s] is already defined on line %d", displayPath(names), f.position(prev.defined()).Line)
					case prev.def == defValue:
						return nil, f.errorAt(offs[i], "a value cannot also be a table; merge the two",
							"%s is already defined on line %d", displayPath(prev.path), f.position(prev.defined()).Line)
					}
				}
				t = t.touch(name, offs[i])
			}
			t.header = open
			if len(names) == 1 && names[0] == "packages" {
				lay.packagesHeader = f.lineSpan(open, open)
			}
			table = t
		case unstable.KeyValue:
			packages := table.header >= 0 && len(table.path) == 1 && table.path[0] == "packages"
			if err := f.keyValue(lay, &p, table, e, packages); err != nil {
				return nil, err
			}
		}
	}
	if err := p.Error(); err != nil {
		if pe, ok := err.(*unstable.ParserError); ok {
			return nil, f.syntaxError(pe)
		}
		return nil, err
	}
	return lay, nil
}

// keyValue records `key = value` inside table. packageLine says the line sits directly under
// the [packages] header, where den add and den rm splice.
func (f *file) keyValue(lay *layout, p *unstable.Parser, table *entry, kv *unstable.Node, packageLine bool) error {
	names, offs, end := keyParts(kv)
	t := table
	for i := range len(names) - 1 {
		// Dotted keys extend only tables that dotted keys made: not a value, and not a table
		// that has (or will have) a [header] of its own.
		if prev := t.byName[names[i]]; prev != nil && prev.def != defDotted {
			return f.errorAt(offs[i], "set each key only once",
				"%s is already defined on line %d", displayPath(prev.path), f.position(prev.defined()).Line)
		}
		t = t.touch(names[i], offs[i])
		t.def = defDotted
	}
	last := names[len(names)-1]
	if prev := t.byName[last]; prev != nil {
		return f.errorAt(offs[len(offs)-1], "set each key only once",
			"%s is already defined on line %d", displayPath(slices.Concat(t.path, []string{last})), f.position(prev.defined()).Line)
	}
	ent := t.touch(last, offs[len(offs)-1])
	if err := f.value(lay, p, ent, kv.Value(), f.valueStart(end)); err != nil {
		return err
	}
	if packageLine && len(names) == 1 {
		ent.line = f.lineSpan(int(kv.Raw.Offset), int(kv.Raw.Offset+kv.Raw.Length))
	}
	return nil
}

// value records the value v of ent. start is where the value begins when the parser does not
// say (it gives no range for arrays).
func (f *file) value(lay *layout, p *unstable.Parser, ent *entry, v *unstable.Node, start int) error {
	ent.kind = v.Kind
	ent.def = defValue
	ent.val = start
	if v.Raw.Length > 0 {
		ent.val = int(v.Raw.Offset)
	}
	switch v.Kind {
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				if err := f.keyValue(lay, p, ent, c, false); err != nil {
					return err
				}
			}
		}
	case unstable.Array:
		for it := v.Children(); it.Next(); {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			el := newEntry(ent.path, -1)
			el.name, el.elem, el.index = "", true, len(ent.elems)
			ent.elems = append(ent.elems, el)
			if err := f.value(lay, p, el, c, ent.val); err != nil {
				return err
			}
		}
	case unstable.String:
		ent.raw = string(p.Raw(v.Raw))
		ent.str = string(v.Data)
	default:
		ent.raw = string(p.Raw(v.Raw))
	}
	return nil
}

// keyParts returns the parts of a (dotted) key, the offset of each, and where the key ends.
func keyParts(n *unstable.Node) (names []string, offs []int, end int) {
	for it := n.Key(); it.Next(); {
		k := it.Node()
		names = append(names, string(k.Data))
		offs = append(offs, int(k.Raw.Offset))
		end = int(k.Raw.Offset + k.Raw.Length)
	}
	return names, offs, end
}

// headerStart finds the "[" (or "[[") before a table header's first key.
func (f *file) headerStart(key int) int {
	i := key - 1
	for i >= 0 && (f.data[i] == ' ' || f.data[i] == '\t') {
		i--
	}
	if i < 0 || f.data[i] != '[' {
		return key
	}
	if i > 0 && f.data[i-1] == '[' {
		return i - 1 // an array table's "[["
	}
	return i
}

// valueStart finds the value after "key =", whose end is keyEnd.
func (f *file) valueStart(keyEnd int) int {
	i := keyEnd
	for i < len(f.data) && (f.data[i] == ' ' || f.data[i] == '\t') {
		i++
	}
	if i < len(f.data) && f.data[i] == '=' {
		i++
	}
	for i < len(f.data) && (f.data[i] == ' ' || f.data[i] == '\t') {
		i++
	}
	return i
}
