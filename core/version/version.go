// Package version owns version constraints and version selection for den's package backends.
package version

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// goVersionRE matches a Go toolchain version as Go spells it: "1.22.3", "1.20", "1",
// "1.21rc2", "1.9beta2", with or without the "go" prefix of its release tags.
var goVersionRE = regexp.MustCompile(`^(?:go)?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(alpha|beta|rc)(\d+))?$`)

// semverGoRE matches the semver spellings that Go can write back in its own form.
var semverGoRE = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)(?:-(alpha|beta|rc)\.(\d+))?$`)

// FromGo turns a Go toolchain version into semver: "go1.21rc2" and "1.21rc2" become
// "1.21.0-rc.2", "1.9beta2" becomes "1.9.0-beta.2", "1.20" becomes "1.20.0", "go1" becomes
// "1.0.0". The prerelease number becomes its own dot-separated field so that rc.10 sorts after
// rc.9 as a number. From Go 1.21 on, "1.21" alone names the language, not a release; no
// toolchain carries it, so it too is read as 1.21.0. Anything else (already semver, or not a
// Go version) is returned unchanged.
func FromGo(v string) string {
	m := goVersionRE.FindStringSubmatch(v)
	if m == nil {
		return v
	}
	s := m[1] + "." + orZero(m[2]) + "." + orZero(m[3])
	if m[4] != "" {
		s += "-" + m[4] + "." + m[5]
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
	m := semverGoRE.FindStringSubmatch(FromGo(v))
	if m == nil {
		return v
	}
	major, minor, patch := m[1], m[2], m[3]
	if m[4] != "" {
		if patch != "0" {
			return v
		}
		return major + "." + minor + m[4] + m[5]
	}
	if patch != "0" || !beforeGo121(major, minor) {
		return major + "." + minor + "." + patch
	}
	if major == "1" && minor == "0" {
		return "1"
	}
	return major + "." + minor
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

// parse reads a version in any spelling a backend uses: semver with or without "v" (npm, Go
// modules), Go toolchain versions ("go1.21rc2", "1.20"). ok is false for versions that are not
// semver at all; callers keep those, sort them last and match them only exactly.
func parse(v string) (sv *semver.Version, ok bool) {
	sv, err := semver.NewVersion(FromGo(strings.TrimSpace(v)))
	return sv, err == nil
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

func compareParsed(va *semver.Version, oka bool, a string, vb *semver.Version, okb bool, b string) int {
	switch {
	case oka && okb:
		return va.Compare(vb)
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
