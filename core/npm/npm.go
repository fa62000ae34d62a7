// Package npm owns den's npm backend: npm's configuration, registry packuments, npm's semver ranges and npm's node_modules layout.
package npm

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/den-sh/den/core/platform"
)

// System is a target in npm's own vocabulary, which packages' "os", "cpu" and "libc" fields use.
type System struct {
	OS   string // process.platform: "linux", "darwin"
	CPU  string // process.arch: "x64", "arm64"
	Libc string // "glibc" or "musl"; empty means glibc, the libc of the official node builds
}

func (s System) String() string {
	if s.OS == "linux" {
		return s.OS + "-" + s.CPU + "-" + s.libc()
	}
	return s.OS + "-" + s.CPU
}

func (s System) libc() string {
	if s.Libc == "" {
		return "glibc"
	}
	return s.Libc
}

// SystemFor names a den system the way npm does.
func SystemFor(s platform.System) (System, error) {
	var cpu string
	switch s.Arch {
	case "x86_64":
		cpu = "x64"
	case "aarch64":
		cpu = "arm64"
	case "i686":
		cpu = "ia32"
	case "armv7l":
		cpu = "arm"
	case "riscv64":
		cpu = "riscv64"
	}
	if cpu == "" || (s.OS != "linux" && s.OS != "darwin") {
		return System{}, fmt.Errorf("npm has no name for system %s", s)
	}
	return System{OS: s.OS, CPU: cpu}, nil
}

// matches applies npm's checkPlatform: every list the package gives must admit the system.
func (s System) matches(m *Manifest) bool {
	if !checkList(s.OS, m.OS) || !checkList(s.CPU, m.CPU) {
		return false
	}
	// npm only looks at libc on linux; elsewhere the field means nothing.
	return s.OS != "linux" || checkList(s.libc(), m.Libc)
}

// checkList is npm-install-checks' matcher: entries are names or "!name" exclusions, "any"
// admits everything, and a list of only exclusions admits whatever it does not exclude.
func checkList(value string, list []string) bool {
	if len(list) == 0 || (len(list) == 1 && list[0] == "any") {
		return true
	}
	negated, match := 0, false
	for _, e := range list {
		if name, ok := strings.CutPrefix(e, "!"); ok {
			negated++
			if value == name {
				return false
			}
		} else if value == e {
			match = true
		}
	}
	return match || negated == len(list)
}

// packageName is validate-npm-package-name's rule, with the capitals old packages still carry.
// It matters beyond style: names become node_modules paths and URL segments, so nothing with
// "..", a leading dot or a second slash may pass.
var packageName = regexp.MustCompile(`^(@[a-zA-Z0-9\-~][a-zA-Z0-9\-._~]*/)?[a-zA-Z0-9\-~][a-zA-Z0-9\-._~]*$`)

func checkName(name string) error {
	if len(name) > 214 || !packageName.MatchString(name) {
		return fmt.Errorf("invalid package name %q", name)
	}
	return nil
}

// escapedName is how the registry spells a name in a URL: a scope's slash is escaped.
func escapedName(name string) string { return strings.Replace(name, "/", "%2f", 1) }

// scopeOf returns "@scope" for "@scope/name", else "".
func scopeOf(name string) string {
	if strings.HasPrefix(name, "@") {
		if i := strings.IndexByte(name, '/'); i > 0 {
			return name[:i]
		}
	}
	return ""
}

// unscoped drops the scope, as npm does for bin names and tarball file names.
func unscoped(name string) string {
	if s := scopeOf(name); s != "" {
		return name[len(s)+1:]
	}
	return name
}
