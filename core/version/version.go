// Package version owns version constraints and version selection for den's package backends.
//
// Versions are semver, read leniently the way the registries write them ("v1.2.3", "1.2",
// Go's "go1.21rc2"); golang.org/x/mod/semver decides what a valid semver string is and how two
// compare. The constraint language (npm's ranges plus Go's spellings, "latest" and exact matches
// of versions that are not semver) is parsed here by hand: no library reads both Go's and npm's
// forms, and the package must cost nothing when it is merely linked into a binary whose prompt
// hook starts at every prompt, so it keeps no package-level state (no compiled regexps).
package version

import (
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/semver"
)

// goVersion is a Go toolchain version as Go spells it, split into its parts: "1.21rc2" has
// major "1", minor "21", no patch, kind "rc" and number "2".
type goVersion struct {
	major, minor, patch string
	kind, num           string
}

// parseGo reads a Go toolchain version as Go spells it: "1.22.3", "1.20", "1", "1.21rc2",
// "1.9beta2", with or without the "go" prefix of its release tags.
func parseGo(v string) (g goVersion, ok bool) {
	s := strings.TrimPrefix(v, "go")
	if g.major, s = leadingDigits(s); g.major == "" {
		return g, false
	}
	if rest, found := strings.CutPrefix(s, "."); found {
		if g.minor, s = leadingDigits(rest); g.minor == "" {
			return g, false
		}
		if rest, found := strings.CutPrefix(s, "."); found {
			if g.patch, s = leadingDigits(rest); g.patch == "" {
				return g, false
			}
		}
	}
	if s == "" {
		return g, true
	}
	for _, kind := range [...]string{"alpha", "beta", "rc"} {
		if rest, found := strings.CutPrefix(s, kind); found {
			g.kind = kind
			g.num, s = leadingDigits(rest)
			return g, g.num != "" && s == ""
		}
	}
	return g, false
}

// leadingDigits splits s after its leading ASCII digits.
func leadingDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}

// FromGo turns a Go toolchain version into semver: "go1.21rc2" and "1.21rc2" become
// "1.21.0-rc.2", "1.9beta2" becomes "1.9.0-beta.2", "1.20" becomes "1.20.0", "go1" becomes
// "1.0.0". The prerelease number becomes its own dot-separated field so that rc.10 sorts after
// rc.9 as a number. From Go 1.21 on, "1.21" alone names the language, not a release; no
// toolchain carries it, so it too is read as 1.21.0. Anything else (already semver, or not a
// Go version) is returned unchanged.
func FromGo(v string) string {
	g, ok := parseGo(v)
	if !ok {
		return v
	}
	s := g.major + "." + orZero(g.minor) + "." + orZero(g.patch)
	if g.kind != "" {
		s += "-" + g.kind + "." + g.num
	}
	return s
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// ToGo spells a semver version the way Go names that toolchain release, the inverse of FromGo.
//
// Go changed its naming with Go 1.21: from 1.21 on, the first release of a line is "1.21.0"
// and "1.21" alone is only the language version; up to Go 1.20 the first release is "1.20"
// (and Go 1.0 is "1", tagged go1). So ToGo("1.21.0") is "1.21.0", ToGo("1.20.0") is "1.20",
// ToGo("1.20.1") is "1.20.1". Prereleases always drop the patch and the dot:
// ToGo("1.21.0-rc.2") is "1.21rc2", ToGo("1.9.0-beta.2") is "1.9beta2".
//
// A version Go cannot spell (a prerelease of a patch release, another prerelease kind, build
// metadata, not semver) is returned unchanged.
func ToGo(v string) string {
	major, minor, patch, kind, num, ok := goSpellable(FromGo(v))
	if !ok {
		return v
	}
	if kind != "" {
		if patch != "0" {
			return v
		}
		return major + "." + minor + kind + num
	}
	if patch != "0" || !beforeGo121(major, minor) {
		return major + "." + minor + "." + patch
	}
	if major == "1" && minor == "0" {
		return "1"
	}
	return major + "." + minor
}

// goSpellable splits a semver version of the shape Go can write back in its own form,
// "[v]MAJOR.MINOR.PATCH" with an optional "-alpha.N", "-beta.N" or "-rc.N".
func goSpellable(v string) (major, minor, patch, kind, num string, ok bool) {
	s := strings.TrimPrefix(v, "v")
	parts := [3]string{}
	for i := range parts {
		if i > 0 {
			var found bool
			if s, found = strings.CutPrefix(s, "."); !found {
				return
			}
		}
		if parts[i], s = leadingDigits(s); parts[i] == "" {
			return
		}
	}
	major, minor, patch = parts[0], parts[1], parts[2]
	if s == "" {
		return major, minor, patch, "", "", true
	}
	pre, found := strings.CutPrefix(s, "-")
	if !found {
		return
	}
	kind, numText, found := strings.Cut(pre, ".")
	if !found || kind != "alpha" && kind != "beta" && kind != "rc" {
		return
	}
	if num, s = leadingDigits(numText); num == "" || s != "" {
		return
	}
	return major, minor, patch, kind, num, true
}

// beforeGo121 reports whether major.minor is older than Go 1.21, the first Go that names its
// first release with a ".0".
func beforeGo121(major, minor string) bool {
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return false
	}
	return ma < 1 || ma == 1 && mi < 21
}

// semVersion is a version read as semver: its numeric parts, for ranges and tuples, and its
// canonical "vMAJOR.MINOR.PATCH[-PRERELEASE]" form, which golang.org/x/mod/semver orders.
type semVersion struct {
	parts [3]uint64
	canon string
}

// prerelease returns the version's prerelease with its "-", or "".
func (v semVersion) prerelease() string { return semver.Prerelease(v.canon) }

func (v semVersion) compare(w semVersion) int { return semver.Compare(v.canon, w.canon) }

// newSemVersion builds a version from its parts and a prerelease ("-rc.1" or "").
func newSemVersion(parts [3]uint64, pre string) semVersion {
	b := make([]byte, 0, 16+len(pre))
	b = append(b, 'v')
	for i, p := range parts {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, p, 10)
	}
	return semVersion{parts: parts, canon: string(append(b, pre...))}
}

// parse reads a version in any spelling a backend uses: semver with or without "v", possibly
// short ("1.2" is 1.2.0) as npm and Go modules write it, and Go toolchain versions
// ("go1.21rc2", "1.20"). ok is false for versions that are not semver at all; callers keep
// those, sort them last and match them only exactly.
func parse(v string) (sv semVersion, ok bool) {
	s := strings.TrimPrefix(FromGo(strings.TrimSpace(v)), "v")
	var parts [3]uint64
	for i := range parts {
		if i > 0 {
			rest, found := strings.CutPrefix(s, ".")
			if !found {
				break
			}
			s = rest
		}
		// Leading zeros are read as numbers, not refused: date versions write "2024.01.15".
		var digits string
		digits, s = leadingDigits(s)
		n, err := strconv.ParseUint(digits, 10, 64)
		if err != nil {
			return semVersion{}, false
		}
		parts[i] = n
	}
	sv = newSemVersion(parts, "")
	// What follows the numbers must be a prerelease or build metadata; semver judges both.
	if s != "" && s[0] != '-' && s[0] != '+' || !semver.IsValid(sv.canon+s) {
		return semVersion{}, false
	}
	if pre, _, _ := strings.Cut(s, "+"); pre != "" {
		sv.canon += pre
	}
	return sv, true
}

// Compare orders two versions the way Sort does, oldest to newest: -1 if a is older than b,
// 0 if they are the same version (perhaps spelled differently: "1.20", "go1.20", "v1.20.0"),
// +1 if a is newer. Versions that are not semver are older than every semver version and
// compare among themselves as strings.
func Compare(a, b string) int {
	va, oka := parse(a)
	vb, okb := parse(b)
	return compareParsed(va, oka, a, vb, okb, b)
}

func compareParsed(va semVersion, oka bool, a string, vb semVersion, okb bool, b string) int {
	switch {
	case oka && okb:
		return va.compare(vb)
	case oka:
		return 1
	case okb:
		return -1
	}
	return strings.Compare(a, b)
}

// Sort sorts versions newest first, in semver order, with versions that are not semver last.
// Different spellings of one version keep a fixed order (by their text) so that output is
// deterministic.
func Sort(versions []string) {
	entries := make([]candidate, len(versions))
	for i, v := range versions {
		sv, ok := parse(v)
		entries[i] = candidate{v, sv, ok}
	}
	slices.SortFunc(entries, newestFirst)
	for i, e := range entries {
		versions[i] = e.text
	}
}
