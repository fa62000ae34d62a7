package manifest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Error is a mistake in den.toml, reported at the key or value that is wrong.
type Error struct {
	File      string
	Line, Col int
	Msg       string
	Excerpt   string // the offending line, and a caret under Col
	Hint      string // what to do about it; may be empty
}

// Error reads like a compiler's: "den.toml:7:3: msg", the excerpt, then "hint: ...".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	if e.Excerpt != "" {
		b.WriteString("\n")
		b.WriteString(e.Excerpt)
	}
	if e.Hint != "" {
		b.WriteString("\nhint: ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// file is den.toml's bytes, with what errors need to point into them.
type file struct {
	name  string
	data  []byte
	lines []int // offset of the start of each line
}

func newFile(name string, data []byte) *file {
	f := &file{name: name, data: data, lines: []int{0}}
	for i, c := range data {
		if c == '\n' {
			f.lines = append(f.lines, i+1)
		}
	}
	return f
}

func (f *file) position(off int) Position {
	off = max(0, min(off, len(f.data)))
	i := sort.Search(len(f.lines), func(i int) bool { return f.lines[i] > off }) - 1
	return Position{Line: i + 1, Col: off - f.lines[i] + 1, Offset: off}
}

// offset turns the decoder's line and column back into a byte offset.
func (f *file) offset(line, col int) int {
	if line < 1 || line > len(f.lines) {
		return len(f.data)
	}
	return min(f.lines[line-1]+max(col, 1)-1, len(f.data))
}

// lineText is line n without its line ending.
func (f *file) lineText(n int) string {
	start := f.lines[n-1]
	end := len(f.data)
	if n < len(f.lines) {
		end = f.lines[n] - 1
	}
	return strings.TrimSuffix(string(f.data[start:end]), "\r")
}

// lineSpan widens [start, end) to whole lines, through the last line's newline.
func (f *file) lineSpan(start, end int) Span {
	p := f.position(start)
	s := f.lines[p.Line-1]
	q := f.position(end)
	e := len(f.data)
	if q.Line < len(f.lines) {
		e = f.lines[q.Line]
	}
	return Span{Start: s, End: e}
}

func (f *file) errorAt(off int, hint, format string, args ...any) *Error {
	p := f.position(off)
	return &Error{
		File:    f.name,
		Line:    p.Line,
		Col:     p.Col,
		Msg:     fmt.Sprintf(format, args...),
		Excerpt: f.excerpt(p.Line, p.Col),
		Hint:    hint,
	}
}

// excerpt quotes a line with a caret under col. The caret's indent copies the line's tabs so
// that it lines up in any terminal, and counts runes, not bytes.
func (f *file) excerpt(line, col int) string {
	text := f.lineText(line)
	gutter := strconv.Itoa(line)
	width := max(4, len(gutter))
	var b strings.Builder
	fmt.Fprintf(&b, "%*s |", width, gutter)
	if text != "" {
		b.WriteString(" ")
		b.WriteString(text)
	}
	b.WriteString("\n")
	b.WriteString(strings.Repeat(" ", width+1))
	b.WriteString("| ")
	before := text[:min(col-1, len(text))]
	for _, r := range before {
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	// A position past the end of the line (a missing closing quote, say) still gets its caret.
	b.WriteString(strings.Repeat(" ", max(0, col-1-len(text))))
	b.WriteString("^")
	return b.String()
}

// unknownKey reports the last key of path, which the table spec does not have.
func (f *file) unknownKey(off int, path []string, table *spec) *Error {
	name := path[len(path)-1]
	msg := fmt.Sprintf("unknown key %q", name)
	if s := suggest(name, table.keyNames()); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return f.errorAt(off, keysHint(path[:len(path)-1], table), "%s", msg)
}

func (f *file) syntaxError(pe *unstable.ParserError) *Error {
	off := len(f.data)
	// The highlight is a subslice of the document, so capacities tell where it starts.
	if o := cap(f.data) - cap(pe.Highlight); pe.Highlight != nil && o >= 0 && o <= len(f.data) {
		off = o
	}
	hint := ""
	if strings.Contains(pe.Message, "new lines") || strings.Contains(pe.Message, "unterminated") {
		hint = `close the string on the same line, or use """ for text over several lines`
	}
	return f.errorAt(off, hint, "%s", pe.Message)
}

// typeError says what shape a value should have had, and how to write it.
func (f *file) typeError(ent *entry, want *spec) *Error {
	msg := fmt.Sprintf("%s must be %s, not %s", ent.display(), want.describe(), kindName(ent.kind))
	return f.errorAt(ent.at(), typeHint(ent, want), "%s", msg)
}

func typeHint(ent *entry, want *spec) string {
	scalar := ent.kind != unstable.Array && !isTableKind(ent.kind) && ent.raw != ""
	lhs := ""
	if !ent.elem {
		lhs = displayKey(ent.name) + " = "
	}
	switch {
	case (want.shape == isString || want.shape == isStringOrTable) && scalar && ent.kind != unstable.String:
		// go = 3 meant "3": the commonest type error in a manifest.
		return "put it in quotes: " + lhs + quote(ent.raw)
	case want.shape == isStrings && ent.kind == unstable.String:
		return "make it an array: " + lhs + "[" + ent.raw + "]"
	case want.example != "":
		return "for example: " + want.example
	}
	return ""
}

// suggest picks the known word the user most likely meant: one edit away (a swap of two letters
// counts as one), else one that starts with it or that it starts with ("desc" for
// "description"), else two edits away; "" when nothing is close.
func suggest(word string, known []string) string {
	w := strings.ToLower(word)
	nearest := func(maxDist int) string {
		best, bestDist := "", maxDist+1
		for _, k := range known {
			if abs(len(w)-len(k)) > maxDist {
				continue // too far apart to be a slip, and long junk keys stay cheap
			}
			if d := distance(w, strings.ToLower(k)); d < bestDist && d < len(w) {
				best, bestDist = k, d
			}
		}
		return best
	}
	if s := nearest(1); s != "" {
		return s
	}
	for _, k := range known {
		short, long := w, strings.ToLower(k)
		if len(short) > len(long) {
			short, long = long, short
		}
		if len(short) >= 3 && strings.HasPrefix(long, short) {
			return k
		}
	}
	return nearest(2)
}

func abs(n int) int { return max(n, -n) }

// distance is the optimal string alignment distance: insertions, deletions, substitutions and
// swaps of adjacent bytes, which covers most typing slips.
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
