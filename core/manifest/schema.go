package manifest

import (
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// shape is the kind of value a key takes.
type shape int

const (
	isString shape = iota
	isStrings
	isTable         // fixed keys
	isMap           // free keys, every value shaped like elem
	isStringOrTable // fixed keys when a table
	isBool
)

// spec describes one level of den.toml. The decoder already enforces the same schema through
// the Go types in manifest.go; spec exists for what the decoder cannot say: which keys would
// have been right (for "did you mean"), what shape was expected (for type errors), and the shape
// of packages and sources, which may be a string or a table.
type spec struct {
	shape   shape
	keys    []field // isTable, isStringOrTable; in the order the hints list them
	elem    *spec   // isMap
	example string  // shown as a hint when the value has the wrong shape
}

type field struct {
	name string
	spec *spec
}

// schema is built on each call, so that no caller can change it for another.
func schema() *spec {
	strs := func(example string) *spec { return &spec{shape: isStrings, example: example} }
	str := func() *spec { return &spec{shape: isString} }
	strMap := func(example string) *spec { return &spec{shape: isMap, elem: str(), example: example} }
	systems := strs(`systems = ["x86_64-linux", "aarch64-darwin"]`)
	return &spec{shape: isTable, keys: []field{
		{"systems", systems},
		{"packages", &spec{shape: isMap, example: "[packages] followed by lines like go = \"1.22\"", elem: &spec{
			shape:   isStringOrTable,
			example: `go = "1.22", or gopls = { version = "latest" }`,
			keys: []field{
				{"version", str()},
				{"systems", systems},
				{"outputs", strs(`outputs = ["out"]`)},
				{"target", &spec{shape: isBool, example: `target = true`}},
			},
		}}},
		{"env", strMap(`[env] followed by lines like GOFLAGS = "-mod=mod"`)},
		{"scripts", strMap(`[scripts] followed by lines like test = "go test ./..."`)},
		{"shell", &spec{shape: isTable, example: `[shell] followed by init = "echo ready"`, keys: []field{
			{"init", str()},
		}}},
		{"options", &spec{shape: isTable, example: `[options] followed by sandbox = "auto"`, keys: []field{
			{"sandbox", str()},
		}}},
		{"caches", &spec{shape: isTable, keys: []field{
			{"substituters", strs("")},
			{"trusted-public-keys", strs("")},
			{"push", strs("")},
		}}},
		{"targets", &spec{shape: isMap, example: `[targets.aarch64-linux] followed by libraries = ["zlib"]`, elem: &spec{
			shape:   isTable,
			example: `a [targets.SYSTEM] table with libraries = ["zlib"]`,
			keys: []field{
				{"libraries", strs(`libraries = ["zlib", "openssl"]`)},
			},
		}}},
		{"recipes", &spec{shape: isMap, example: "[recipes.NAME] tables", elem: &spec{
			shape:   isTable,
			example: "a [recipes.NAME] table with version and build",
			keys: []field{
				{"description", str()},
				{"version", str()},
				{"src", &spec{
					shape:   isStringOrTable,
					example: `src = { url = "https://…", hash = "sha256-…" }, or src = "./dir"`,
					keys: []field{
						{"url", str()},
						{"urls", strs(`urls = ["https://…", "https://…"]`)},
						{"hash", str()},
						{"path", str()},
					},
				}},
				{"build", str()},
				{"deps", strs(`deps = ["other-recipe"]`)},
				{"host-tools", strs(`host-tools = ["cc", "make"]`)},
				{"env", strMap(`env = { CFLAGS = "-O2" }`)},
				{"vendor-hash", str()},
				{"npm-deps-hash", str()},
			},
		}}},
	}}
}

// key returns the spec of one key of a table, or nil if the table has no such key.
func (s *spec) key(name string) *spec {
	if s.shape == isMap {
		return s.elem
	}
	for _, f := range s.keys {
		if f.name == name {
			return f.spec
		}
	}
	return nil
}

func (s *spec) keyNames() []string {
	names := make([]string, len(s.keys))
	for i, f := range s.keys {
		names[i] = f.name
	}
	return names
}

// at walks the schema down path; nil when path leaves it.
func (s *spec) at(path []string) *spec {
	for _, p := range path {
		if s == nil || s.shape == isString || s.shape == isStrings {
			return nil
		}
		s = s.key(p)
	}
	return s
}

// describe names the expected shape after "must be".
func (s *spec) describe() string {
	switch s.shape {
	case isString:
		return "a string"
	case isStrings:
		return "an array of strings"
	case isStringOrTable:
		return "a string or a table"
	case isBool:
		return "true or false"
	}
	return "a table"
}

// accepts reports whether a TOML value of kind k has the expected shape at the top level.
func (s *spec) accepts(k unstable.Kind) bool {
	switch s.shape {
	case isString:
		return k == unstable.String
	case isStrings:
		return k == unstable.Array
	case isStringOrTable:
		return k == unstable.String || isTableKind(k)
	case isBool:
		return k == unstable.Bool
	}
	return isTableKind(k)
}

func isTableKind(k unstable.Kind) bool { return k == unstable.Table || k == unstable.InlineTable }

// kindName names what was found instead, after "not".
func kindName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a float"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.Table, unstable.InlineTable, unstable.ArrayTable:
		return "a table"
	case unstable.LocalDate:
		return "a date"
	case unstable.LocalTime:
		return "a time"
	case unstable.LocalDateTime, unstable.DateTime:
		return "a date-time"
	}
	return "a " + strings.ToLower(k.String())
}

// displayPath spells a key path the way it would be written in TOML: packages."npm:prettier".
func displayPath(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = displayKey(p)
	}
	return strings.Join(parts, ".")
}

func displayKey(k string) string {
	if k == "" {
		return `""`
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return quote(k)
		}
	}
	return k
}

// quote writes s as a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// keysHint lists the keys allowed in the table at path.
func keysHint(path []string, s *spec) string {
	names := s.keyNames()
	where := "top-level keys are "
	switch {
	case len(path) > 0 && len(names) == 1:
		where = "the only key in " + displayPath(path) + " is "
	case len(path) > 0:
		where = "keys in " + displayPath(path) + " are "
	}
	return where + list(names, "and")
}

// list joins words as prose: "a, b and c".
func list(words []string, conj string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + conj + " " + words[len(words)-1]
}
