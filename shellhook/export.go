package shellhook

import (
	"path/filepath"
	"slices"
	"strings"
)

// Exporter is a shell that can print code setting and unsetting environment variables, for
// `den export SHELL`, whose output the prompt hook evaluates in the user's shell.
type Exporter interface {
	// Export returns code that sets each variable of changes with a non-nil value and unsets
	// each with a nil one, in order of name. Names that are not identifiers (letters, digits
	// and _, not starting with a digit) are left out: no shell can assign them, and writing
	// them out would let a name inject code.
	Export(changes map[string]*string) string
}

// Export returns the code of Exporter.Export for shell ("bash", "zsh" or "fish", or a path to
// one, as For takes). Any other shell gets POSIX sh code, which every sh-like shell evaluates.
func Export(shell string, changes map[string]*string) string {
	switch filepath.Base(shell) {
	case "bash":
		return Bash{}.Export(changes)
	case "zsh":
		return Zsh{}.Export(changes)
	case "fish":
		return Fish{}.Export(changes)
	}
	return exportSh(changes, quoteSh)
}

// Changes returns what turns the environment before into after: each variable whose value is new
// or different, with its value, and each variable gone, with nil.
func Changes(before, after map[string]string) map[string]*string {
	out := map[string]*string{}
	for name, v := range after {
		if old, ok := before[name]; !ok || old != v {
			out[name] = &v
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			out[name] = nil
		}
	}
	return out
}

// exportNames returns the names of changes that a shell can assign, sorted.
func exportNames(changes map[string]*string) []string {
	names := make([]string, 0, len(changes))
	for name := range changes {
		if isIdentifier(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func isIdentifier(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '_' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// exportSh is export and unset lines for bash, zsh and POSIX sh, each value quoted by quote.
func exportSh(changes map[string]*string, quote func(string) string) string {
	var b strings.Builder
	for _, name := range exportNames(changes) {
		if v := changes[name]; v != nil {
			b.WriteString("export " + name + "=" + quote(*v) + "\n")
		} else {
			b.WriteString("unset " + name + "\n")
		}
	}
	return b.String()
}

// quoteANSIC quotes s as one word for bash and zsh in ANSI-C quoting, $'…', in which every
// control character can be written as an escape: the code stays one line per variable and never
// sends a raw control character to a terminal it may be shown on. Other bytes, UTF-8 included,
// stay as they are.
func quoteANSIC(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 3)
	b.WriteString("$'")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if c < 0x20 || c == 0x7f {
				// Always two hex digits, so that a following hex digit is not taken in.
				b.WriteString(`\x` + string(hex[c>>4]) + string(hex[c&0xf]))
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('\'')
	return b.String()
}
