package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Edits of den.toml splice bytes at the places the syntax pass records, the way
// golang.org/x/mod/modfile edits go.mod: comments, order and formatting outside the edited entry
// stay byte-for-byte as the user wrote them. No TOML library re-encodes a document while keeping
// its comments, which is why this is written by hand. Every result is decoded again strictly
// before it is returned, so an edit never hands back a file den itself would reject.

// AddPackage returns data with the package name constrained to constraint: the value of an
// existing entry is replaced (its key, spacing and trailing comment kept), or a new
// `name = "constraint"` line goes after the last entry of [packages], creating the table at
// the end of the file when there is none. path names the file in errors.
func AddPackage(path string, data []byte, name, constraint string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("package name is empty")
	}
	if !utf8.ValidString(name) || !utf8.ValidString(constraint) {
		return nil, fmt.Errorf("package %q or its constraint %q is not valid UTF-8", name, constraint)
	}
	if constraint == "" {
		return nil, fmt.Errorf("empty version constraint for %s; use \"latest\" for the newest version", name)
	}
	f, m, lay, err := parseForEdit(path, data)
	if err != nil {
		return nil, err
	}
	value := quote(constraint)
	if ent := lay.get([]string{"packages", name}); ent != nil {
		if ent.header >= 0 {
			return nil, f.errorAt(ent.header, fmt.Sprintf("replace the table by one line under [packages], like %s = { version = %s }, or change its version by hand",
				displayKey(name), value), "den cannot edit [%s], a table of its own", displayPath(ent.path))
		}
		v := ent
		if ent.kind != unstable.String {
			v = ent.byName["version"] // an inline table or dotted keys
		}
		start, end, ok := valueSpan(data, v)
		if !ok {
			return nil, f.errorAt(ent.key, "change its version by hand", "den cannot edit the way %s is written", displayPath(ent.path))
		}
		return reparse(path, splice(data, start, end, value))
	}

	nl := newline(data)
	line := displayKey(name) + " = " + value + nl
	if pkgs := lay.get([]string{"packages"}); pkgs != nil && pkgs.header < 0 {
		// Without a [packages] header, packages = { ... } cannot take another key without
		// rewriting it, and packages.go = "…" keys forbid a [packages] header further down.
		if pkgs.val >= 0 {
			return nil, f.errorAt(pkgs.key, "write the packages as lines under a [packages] header",
				"den cannot add to packages written as an inline table")
		}
		for _, c := range pkgs.children {
			if c.header < 0 {
				return nil, f.errorAt(c.key, "write the packages as lines under a [packages] header",
					"den cannot add to packages written as dotted keys")
			}
		}
	}
	if h := m.PackagesHeader; h.End > h.Start {
		at := h.End
		for _, p := range m.Packages {
			if p.Line.End > p.Line.Start && p.Line.End > at {
				at = p.Line.End
			}
		}
		if at > 0 && data[at-1] != '\n' { // the entry or header ends the file without a newline
			line = nl + line
		}
		return reparse(path, splice(data, at, at, line))
	}
	var sep string
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		data = nil
	case bytes.HasSuffix(data, []byte(nl+nl)):
	case bytes.HasSuffix(data, []byte("\n")):
		sep = nl
	default:
		sep = nl + nl
	}
	return reparse(path, slices.Concat(data, []byte(sep+"[packages]"+nl+line)))
}

// RemovePackage returns data without the package name: its whole line goes, trailing comment
// included; comments on the lines above it stay, since they may be about more than it.
func RemovePackage(path string, data []byte, name string) ([]byte, error) {
	f, m, lay, err := parseForEdit(path, data)
	if err != nil {
		return nil, err
	}
	ent := lay.get([]string{"packages", name})
	if ent == nil {
		at, names := 0, make([]string, 0, len(m.Packages))
		for _, p := range m.Packages {
			names = append(names, p.Name)
		}
		if h := m.PackagesHeader; h.End > h.Start {
			at = h.Start
		}
		e := f.errorAt(at, "", "no package %q in den.toml", name)
		if at == 0 && m.PackagesHeader.End == m.PackagesHeader.Start {
			e.Excerpt = "" // nothing in the file to point at
		}
		switch s := suggest(name, names); {
		case len(names) == 0:
			e.Hint = "den.toml has no packages"
		case s != "":
			e.Msg += fmt.Sprintf("; did you mean %q?", s)
			fallthrough
		default:
			e.Hint = "den.toml's packages are " + list(names, "and")
		}
		return nil, e
	}
	if ent.header >= 0 {
		return nil, f.errorAt(ent.header, fmt.Sprintf("delete the [%s] table and its lines by hand", displayPath(ent.path)),
			"den cannot edit [%s], a table of its own", displayPath(ent.path))
	}
	if ent.line.End <= ent.line.Start {
		return nil, f.errorAt(ent.key, fmt.Sprintf("delete %s by hand, or write it as one line under [packages]", displayPath(ent.path)),
			"den cannot remove %s the way it is written", displayPath(ent.path))
	}
	return reparse(path, splice(data, ent.line.Start, ent.line.End, ""))
}

// parseForEdit decodes data strictly, so that den edits only files it accepts, and returns the
// layout the edits splice at.
func parseForEdit(path string, data []byte) (*file, *Manifest, *layout, error) {
	m, err := Parse(path, data)
	if err != nil {
		return nil, nil, nil, err
	}
	f := newFile(path, data)
	lay, err := f.scan()
	if err != nil {
		return nil, nil, nil, err
	}
	return f, m, lay, nil
}

// valueSpan is where the string value of ent is in data.
func valueSpan(data []byte, ent *entry) (start, end int, ok bool) {
	if ent == nil || ent.kind != unstable.String || ent.val < 0 || ent.raw == "" {
		return 0, 0, false
	}
	start, end = ent.val, ent.val+len(ent.raw)
	if end > len(data) || string(data[start:end]) != ent.raw {
		return 0, 0, false
	}
	return start, end, true
}

func splice(data []byte, start, end int, text string) []byte {
	return slices.Concat(data[:start], []byte(text), data[end:])
}

// newline is the file's own line ending, so that an edit does not mix two.
func newline(data []byte) string {
	if i := bytes.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// reparse checks an edit's result with the strict decoder.
func reparse(path string, data []byte) ([]byte, error) {
	if _, err := Parse(path, data); err != nil {
		return nil, fmt.Errorf("den's edit of %s would not decode, so it was not made (please report this): %w", path, err)
	}
	return data, nil
}

// SetSystems returns data with the top-level systems set to systems: the array of an existing
// systems line is replaced (its key, spacing and trailing comment kept), or a new line goes
// before the file's first key or table, below the comments that open the file.
func SetSystems(path string, data []byte, systems []string) ([]byte, error) {
	f, _, lay, err := parseForEdit(path, data)
	if err != nil {
		return nil, err
	}
	quoted := make([]string, len(systems))
	for i, s := range systems {
		quoted[i] = quote(s)
	}
	value := "[" + strings.Join(quoted, ", ") + "]"
	if ent := lay.get([]string{"systems"}); ent != nil {
		end := arrayEnd(data, ent.val)
		if ent.kind != unstable.Array || end < 0 {
			return nil, f.errorAt(ent.key, "change it by hand", "den cannot edit the way systems is written")
		}
		return reparse(path, splice(data, ent.val, end, value))
	}
	// The line goes above the first line that is neither blank nor a comment, and above the
	// comments right over it, which are about it.
	nl := newline(data)
	at, block := len(data), 0
	for off := 0; off < len(data); {
		end := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		line := bytes.TrimSpace(data[off:end])
		if len(line) == 0 {
			block = end
		} else if line[0] != '#' {
			at = block
			break
		}
		off = end
	}
	text := "systems = " + value + nl
	switch {
	case at < len(data):
		text += nl
	case at > 0 && data[at-1] != '\n':
		text = nl + text
	}
	return reparse(path, splice(data, at, at, text))
}

// arrayEnd is the offset just past the array of strings that starts at data[start] ("["), or
// -1: it skips what quotes hold and comments, which may contain brackets.
func arrayEnd(data []byte, start int) int {
	if start < 0 || start >= len(data) || data[start] != '[' {
		return -1
	}
	depth := 0
	for i := start; i < len(data); i++ {
		switch c := data[i]; c {
		case '[':
			depth++
		case ']':
			if depth--; depth == 0 {
				return i + 1
			}
		case '#':
			for i < len(data) && data[i] != '\n' {
				i++
			}
		case '"', '\'':
			for i++; i < len(data) && data[i] != c; i++ {
				if c == '"' && data[i] == '\\' {
					i++
				}
			}
		}
	}
	return -1
}
