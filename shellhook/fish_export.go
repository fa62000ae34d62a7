package shellhook

import "strings"

// Export sets variables with set -gx and erases them with set -e. fish keeps a variable whose
// name ends in PATH as a list, joined with colons when exported; den sets it as that list, one
// word per entry, so that it is a list in fish too (for PATH, MANPATH, INFOPATH, CDPATH and the
// rest).
func (Fish) Export(changes map[string]*string) string {
	var b strings.Builder
	for _, name := range exportNames(changes) {
		v := changes[name]
		if v == nil {
			b.WriteString("set -e " + name + ";\n")
			continue
		}
		b.WriteString("set -gx -- " + name)
		words := []string{*v}
		if strings.HasSuffix(name, "PATH") {
			words = strings.Split(*v, ":")
		}
		for _, w := range words {
			b.WriteString(" " + quoteFish(w))
		}
		b.WriteString(";\n")
	}
	return b.String()
}
