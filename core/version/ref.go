package version

import "strings"

// SplitRef splits a package reference as typed on the command line into the package name and
// its version constraint: "node@20" gives ("node", "20"), "npm:prettier@3" gives
// ("npm:prettier", "3"), "go:golang.org/x/tools/gopls@v0.16.0" gives
// ("go:golang.org/x/tools/gopls", "v0.16.0"). An @ that starts a name is npm's scope, not a
// separator: "@types/node@20" gives ("@types/node", "20"). Without a version the constraint is
// "latest"; a trailing @ ("node@") gives an empty constraint, which ParseConstraint rejects.
func SplitRef(s string) (name, constraint string) {
	s = strings.TrimSpace(s)
	i := strings.LastIndexByte(s, '@')
	if i <= 0 || s[i-1] == ':' {
		return s, "latest"
	}
	return s[:i], s[i+1:]
}
