package version

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// goVersions is a Go toolchain release list as Go spells it, oldest first.
func goVersions() []string {
	vs := []string{"1.20rc1", "1.20"}
	vs = append(vs, patches("1.20", 1, 14)...)
	vs = append(vs, "1.21rc2", "1.21rc3", "1.21rc4")
	vs = append(vs, patches("1.21", 0, 13)...)
	vs = append(vs, "1.22rc1", "1.22rc2")
	vs = append(vs, patches("1.22", 0, 12)...)
	vs = append(vs, "1.23rc1", "1.23rc2")
	vs = append(vs, patches("1.23", 0, 4)...)
	return append(vs, "1.24rc1")
}

func patches(line string, from, to int) []string {
	var vs []string
	for p := from; p <= to; p++ {
		vs = append(vs, fmt.Sprintf("%s.%d", line, p))
	}
	return vs
}

// nodeVersions is an npm-style list: three release lines, a few prereleases, and a tag that
// is not semver.
func nodeVersions() []string {
	vs := []string{"18.0.0", "18.19.1", "18.20.4", "20.0.0-rc.1", "20.0.0-rc.2"}
	vs = append(vs, "20.0.0", "20.9.0", "20.17.0", "20.18.0", "20.18.1", "22.0.0-rc.1")
	vs = append(vs, patches("22", 0, 12)...)
	for i, v := range vs {
		if strings.Count(v, ".") == 1 {
			vs[i] = v + ".0"
		}
	}
	return append(vs, "23.0.0-beta.1", "nightly-2024-10-01")
}

// goplsVersions is a Go module's version list.
var goplsVersions = []string{"v0.15.3", "v0.16.0-pre.1", "v0.16.0-pre.2", "v0.16.0", "v0.16.1", "v0.16.2", "v0.17.0-pre.1"}

func TestSelect(t *testing.T) {
	gov := goVersions()
	withPrefix := make([]string, len(gov))
	for i, v := range gov {
		withPrefix[i] = "go" + v
	}
	tests := []struct {
		list       []string
		constraint string
		want       string
	}{
		// Exact versions, in every spelling.
		{gov, "1.22.3", "1.22.3"},
		{gov, "=1.22.3", "1.22.3"},
		{gov, "go1.22.3", "1.22.3"},
		{gov, "v1.22.3", "1.22.3"},
		{withPrefix, "1.22.3", "go1.22.3"},
		{gov, "1.20.0", "1.20"}, // Go named its 1.20.0 release "1.20"
		{gov, "1.21.0", "1.21.0"},
		// Partial versions are ranges.
		{gov, "1.22", "1.22.12"},
		{gov, "go1.22", "1.22.12"},
		{withPrefix, "1.22", "go1.22.12"},
		{gov, "1.20", "1.20.14"},
		{gov, "1", "1.23.4"},
		{gov, "1.x", "1.23.4"},
		{gov, "1.22.x", "1.22.12"},
		{gov, "1.22.*", "1.22.12"},
		{gov, "1.x.x", "1.23.4"},
		// npm operators.
		{gov, "^1.22", "1.23.4"},
		{gov, "^1.22.3", "1.23.4"},
		{gov, "~1.22.3", "1.22.12"},
		{gov, "~1.22", "1.22.12"},
		{gov, ">=1.21 <1.23", "1.22.12"},
		{gov, ">=1.21, <1.23", "1.22.12"},
		{gov, ">= 1.21, < 1.23", "1.22.12"},
		{gov, ">1.21 <=1.22.5", "1.22.5"},
		{gov, "<1.21", "1.20.14"},
		{gov, "<=1.21", "1.21.13"},
		{gov, ">1.22", "1.23.4"},
		{gov, "!=1.23.4 >=1.23", "1.23.3"},
		{gov, "1.2 - 1.21", "1.21.13"},
		{gov, "1.20 || 1.21", "1.21.13"},
		{gov, "1.20.3 || 1.20.5", "1.20.5"},
		{gov, "latest", "1.23.4"},
		{gov, "*", "1.23.4"},
		// Prereleases only when named.
		{gov, "1.21rc2", "1.21rc2"},
		{gov, "go1.21rc2", "1.21rc2"},
		{gov, "1.21.0-rc.2", "1.21rc2"},
		{withPrefix, "1.21rc3", "go1.21rc3"},
		{gov, ">=1.21rc2 <1.21.0", "1.21rc4"},
		{gov, ">=1.21.0-rc.1", "1.23.4"},
		{gov, ">=1.24rc1", "1.24rc1"},
		{gov, "^1.24.0-rc.1", "1.24rc1"},
		{gov, "~1.21.0-rc.1", "1.21.13"},
		{gov, "1.20rc1", "1.20rc1"},
		// npm-style lists.
		{nodeVersions(), "^20", "20.18.1"},
		{nodeVersions(), "20", "20.18.1"},
		{nodeVersions(), "18 || 20", "20.18.1"},
		{nodeVersions(), "^18 || ^20", "20.18.1"},
		{nodeVersions(), "latest", "22.12.0"},
		{nodeVersions(), ">=22", "22.12.0"},
		{nodeVersions(), "20.0.0-rc.1", "20.0.0-rc.1"},
		{nodeVersions(), ">=20.0.0-rc.1 <20.0.0", "20.0.0-rc.2"},
		{nodeVersions(), "^23.0.0-beta.1", "23.0.0-beta.1"},
		{nodeVersions(), "nightly-2024-10-01", "nightly-2024-10-01"},
		// Go module versions.
		{goplsVersions, "latest", "v0.16.2"},
		{goplsVersions, "v0.16.0", "v0.16.0"},
		{goplsVersions, "0.16", "v0.16.2"},
		{goplsVersions, "^0.15", "v0.15.3"}, // caret below 1.0 stays within the minor
		{goplsVersions, "v0.17.0-pre.1", "v0.17.0-pre.1"},
		{goplsVersions, ">=v0.16.0-pre.1 <0.16.0", "v0.16.0-pre.2"},
	}
	for _, tt := range tests {
		t.Run(tt.constraint, func(t *testing.T) {
			c, err := ParseConstraint(tt.constraint)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Select(c, tt.list)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Select(%q) = %q, want %q", tt.constraint, got, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		constraint string
		version    string
		want       bool
	}{
		{"1.22", "1.22.0", true},
		{"1.22", "1.22.12", true},
		{"1.22", "1.23.0", false},
		{"1.22", "1.22rc1", false},
		{"1.22", "1.22.0-rc.1", false},
		{"1.20", "1.20", true},
		{"1.20", "go1.20", true},
		{"1.20.0", "1.20", true},
		{"latest", "1.24rc1", false},
		{"latest", "1.23.4", true},
		{"latest", "nightly", false},
		{"*", "1.24.0-rc.1", false},
		{"1.21rc2", "1.21rc2", true},
		{"1.21rc2", "1.21.0-rc.2", true},
		{"1.21rc2", "go1.21rc2", true},
		{"1.21rc2", "1.21rc3", false},
		{"1.21rc2", "1.21.0", false},
		{"1.21beta1", "1.21.0-beta.1", true},
		// npm's rule: a named prerelease admits prereleases of its own major.minor.patch only.
		{">=1.21.0-rc.1", "1.21rc2", true},
		{">=1.21.0-rc.1", "1.22rc1", false},
		{">=1.21.0-rc.1", "1.22.0", true},
		{"^2.0.0-beta.1", "2.0.0-beta.2", true},
		{"^2.0.0-beta.1", "2.0.0-alpha.9", false},
		{"^2.0.0-beta.1", "2.0.0", true},
		{"^2.0.0-beta.1", "2.1.0", true},
		{"^2.0.0-beta.1", "2.1.0-beta.1", false},
		{"^2.0.0-beta.1", "3.0.0-beta.1", false},
		{">=20.0.0-rc.1 <21 || ^22", "20.0.0-rc.2", true},
		{">=20.0.0-rc.1 <21 || ^22", "22.0.0-rc.1", false},
		{">=20.0.0-rc.1 <21 || ^22", "20.1.0-rc.1", false},
		{">=20.0.0-rc.1 <21 || ^22", "22.1.0", true},
		// Build metadata does not count.
		{"1.2.3", "1.2.3+linux", true},
		// npm's desugaring at the edges: ^ and ~ below 1.0, partial hyphen ends, wildcards.
		{"^0.0.3", "0.0.3", true},
		{"^0.0.3", "0.0.4", false},
		{"^0.0", "0.0.9", true},
		{"^0.0", "0.1.0", false},
		{"^0", "0.9.0", true},
		{"^0", "1.0.0", false},
		{"~0.0.0", "0.0.5", true},
		{"~0.0.0", "0.1.0", false},
		{"~1", "1.9.0", true},
		{"~1", "2.0.0", false},
		{"1.2 - 1.4", "1.4.9", true},
		{"1.2 - 1.4", "1.5.0", false},
		{"1.2 - 1.4.2", "1.4.3", false},
		{"1.2 - *", "3.0.0", true},
		{"1.x.3", "1.9.0", true},
		{">*", "1.0.0", false},
		{"<=*", "1.0.0", true},
		{"!=1.2", "1.2.5", false},
		{"!=1.2", "1.3.0", true},
		{"!=1.2.3", "1.2.3+linux", false},
		// Upper bounds carry no "-0": a Go user's "before 1.21" includes its release candidates.
		{">=1.21rc2 <1.21", "1.21rc3", true},
		// Leading zeros are numbers, for date versions.
		{"2024.1", "2024.01.15", true},
		{">=2024.01.10", "2024.1.15", true},
		// Versions that are not semver match only exactly.
		{"nightly", "nightly", true},
		{"nightly", " nightly ", true},
		{"nightly", "nightly-2", false},
		{"1.2.3.4", "1.2.3.4", true},
		{"1.2.3.4", "1.2.3", false},
		{"1.2.3", "1.2.3.4", false},
		{"*", "", false},
	}
	for _, tt := range tests {
		c, err := ParseConstraint(tt.constraint)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Check(tt.version); got != tt.want {
			t.Errorf("ParseConstraint(%q).Check(%q) = %v, want %v", tt.constraint, tt.version, got, tt.want)
		}
	}
}

func TestZeroConstraintMatchesNothing(t *testing.T) {
	var c Constraint
	if c.Check("1.2.3") {
		t.Error("zero Constraint matched 1.2.3")
	}
	if v, err := Select(c, goVersions()); err == nil {
		t.Errorf("Select with the zero Constraint = %q, want an error", v)
	}
}

func TestIsExactAndString(t *testing.T) {
	tests := []struct {
		constraint string
		exact      bool
	}{
		{"1.22.3", true},
		{"=1.22.3", true},
		{"v1.22.3", true},
		{"go1.22.3", true},
		{"1.21rc2", true},
		{"2.0.0-beta.1", true},
		{"nightly", true},
		{"1.22", false},
		{"1.22.x", false},
		{"^1.22.3", false},
		{"~1.22.3", false},
		{">=1.22.3", false},
		{">=1.22.3 <=1.22.3", false},
		{"1.22.3 || 1.22.4", false},
		{"latest", false},
		{"*", false},
	}
	for _, tt := range tests {
		c, err := ParseConstraint(tt.constraint)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.IsExact(); got != tt.exact {
			t.Errorf("ParseConstraint(%q).IsExact() = %v, want %v", tt.constraint, got, tt.exact)
		}
		if got := c.String(); got != tt.constraint {
			t.Errorf("ParseConstraint(%q).String() = %q", tt.constraint, got)
		}
	}
	// The text is kept as written, not in the semver spelling used to match.
	c, err := ParseConstraint(" >=go1.21rc2 ")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.String(); got != ">=go1.21rc2" {
		t.Errorf("String() = %q, want %q", got, ">=go1.21rc2")
	}
}

func TestParseConstraintErrors(t *testing.T) {
	tests := []struct {
		constraint string
		reason     string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{">=1.2 <", `"<" needs a version after it`},
		{">=1.2 <=", `"<=" needs a version after it`},
		{"^", `"^" needs a version after it`},
		{"~>", `"~>" needs a version after it`},
		{"1.22 ||", "nothing on one side of ||"},
		{"|| 1.22", "nothing on one side of ||"},
		{"1 || || 2", "nothing on one side of ||"},
		{"1.22 foo", `unexpected "foo"`},
		{"1.2.3 @ 4", `unexpected "@"`},
		{"latest || 1", `unexpected "latest"`},
		{"^1.2.x.4", `unexpected ".4"`},
		{"1.2.3 - ", `unexpected "-"`},
		{"a b", `unexpected "a"`},
		{">=1.2<2", `unexpected "<2"`},
		{">= <2", `">=" needs a version after it`},
		{"^1.2.3-", `unexpected "-"`},
		{"1.2.3-rc.01 <2", `bad version "1.2.3-rc.01"`},
		// A number that goes on with letters is a typo (the letter O for a zero), not the
		// exact name of a version the registry might have.
		{"2O", `unexpected "O"; did you mean "20"?`},
		{"^2O", `unexpected "O"; did you mean "^20"?`},
		{"20x", `unexpected "x"`},
	}
	for _, tt := range tests {
		_, err := ParseConstraint(tt.constraint)
		if err == nil {
			t.Errorf("ParseConstraint(%q) succeeded, want an error", tt.constraint)
			continue
		}
		want := fmt.Sprintf("bad version constraint %q: %s", tt.constraint, tt.reason)
		if err.Error() != want {
			t.Errorf("ParseConstraint(%q) error:\n got %s\nwant %s", tt.constraint, err, want)
		}
	}
}

func TestNoMatch(t *testing.T) {
	onlyPre := []string{"3.0.0-alpha.1", "3.0.0-alpha.2"}
	tests := []struct {
		list       []string
		constraint string
		nearest    []string
	}{
		// Above everything: the newest.
		{goVersions(), "1.99", []string{"1.23.4", "1.23.3", "1.23.2", "1.23.1", "1.23.0"}},
		// 1.24rc1 is nearer, but not offered when no prerelease was asked for.
		{goVersions(), "1.24", []string{"1.23.4", "1.23.3", "1.23.2", "1.23.1", "1.23.0"}},
		{goVersions(), "1.25rc1", []string{"1.24rc1", "1.23.4", "1.23.3", "1.23.2", "1.23.1"}},
		// Between two lines: neighbours on both sides.
		{goVersions(), "1.22.99", []string{"1.23.2", "1.23.1", "1.23.0", "1.22.12", "1.22.11"}},
		{goVersions(), ">=1.22.13 <1.23", []string{"1.23.2", "1.23.1", "1.23.0", "1.22.12", "1.22.11"}},
		{nodeVersions(), "21", []string{"22.2.0", "22.1.0", "22.0.0", "20.18.1", "20.18.0"}},
		// Below everything: the oldest.
		{goVersions(), "<1.0", []string{"1.20.4", "1.20.3", "1.20.2", "1.20.1", "1.20"}},
		// Versions of the very major.minor.patch asked for come first.
		{goVersions(), "1.21.0-rc.5", []string{"1.21.1", "1.21.0", "1.21rc4", "1.21rc3", "1.21rc2"}},
		// Each alternative contributes its neighbours.
		{goVersions(), "0.9 || 1.99", []string{"1.23.4", "1.23.3", "1.23.2", "1.20.1", "1.20"}},
		// Nothing to measure from: the newest.
		{nodeVersions(), "nightly-2024-10-02", []string{"22.12.0", "22.11.0", "22.10.0", "22.9.0", "22.8.0"}},
		// Only prereleases available: offer them rather than nothing.
		{onlyPre, "latest", []string{"3.0.0-alpha.2", "3.0.0-alpha.1"}},
		{goplsVersions, "0.18", []string{"v0.16.2", "v0.16.1", "v0.16.0", "v0.15.3"}},
		{nil, "1.22", nil},
	}
	for _, tt := range tests {
		t.Run(tt.constraint, func(t *testing.T) {
			c, err := ParseConstraint(tt.constraint)
			if err != nil {
				t.Fatal(err)
			}
			v, err := Select(c, tt.list)
			var nm *NoMatchError
			if !errors.As(err, &nm) {
				t.Fatalf("Select(%q) = %q, %v; want a *NoMatchError", tt.constraint, v, err)
			}
			if !slices.Equal(nm.Nearest, tt.nearest) {
				t.Errorf("Nearest = %q, want %q", nm.Nearest, tt.nearest)
			}
			if nm.Constraint.String() != tt.constraint {
				t.Errorf("Constraint = %q, want %q", nm.Constraint, tt.constraint)
			}
		})
	}
}

func TestNoMatchErrorMessage(t *testing.T) {
	c, err := ParseConstraint("1.99")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Select(c, []string{"1.22.11", "1.22.12", "1.23.3", "1.23.4"})
	want := `no version matches "1.99" (nearest: 1.23.4, 1.23.3, 1.22.12, 1.22.11)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	_, err = Select(c, nil)
	want = `no version matches "1.99" (no versions available)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.2.3", "1.2.3", 0},
		{"1.20", "1.20.0", 0},
		{"go1.20", "1.20.0", 0},
		{"v1.2.3", "1.2.3", 0},
		{"1.2.3", "1.2.3+build.5", 0},
		{"1.9.0", "1.10.0", -1},
		{"1.22.12", "1.22.2", 1},
		{"1.21rc2", "1.21.0", -1},
		{"1.21rc2", "1.21rc10", -1},
		{"1.21beta1", "1.21rc1", -1},
		{"1.21rc1", "1.20.14", 1},
		{"1.21", "1.21rc1", 1}, // "1.21" is read as 1.21.0, as for Go 1.20 and earlier
		{"2.0.0-alpha.1", "2.0.0-alpha.beta", -1},
		{"nightly", "0.0.1", -1},
		{"0.0.1", "nightly", 1},
		{"nightly-a", "nightly-b", -1},
	}
	for _, tt := range tests {
		if got := Compare(tt.a, tt.b); got != tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Compare(tt.b, tt.a); got != -tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestSort(t *testing.T) {
	got := []string{"1.21.0", "nightly", "1.9.2", "1.21rc2", "go1.20", "1.20.0", "1.20", "1.10", "zzz", "1.22rc1", "1.21.10", "1.21.9", "v1.21.1"}
	Sort(got)
	want := []string{"1.22rc1", "1.21.10", "1.21.9", "v1.21.1", "1.21.0", "1.21rc2", "1.20", "1.20.0", "go1.20", "1.10", "1.9.2", "zzz", "nightly"}
	if !slices.Equal(got, want) {
		t.Errorf("Sort:\n got %q\nwant %q", got, want)
	}

	gov := goVersions()
	sorted := slices.Clone(gov)
	Sort(sorted)
	slices.Reverse(sorted)
	if !slices.Equal(sorted, gov) {
		t.Errorf("Sort of the Go release list, reversed:\n got %q\nwant %q", sorted, gov)
	}
}

func TestGoSpelling(t *testing.T) {
	from := []struct{ in, want string }{
		{"1.21rc2", "1.21.0-rc.2"},
		{"go1.21rc2", "1.21.0-rc.2"},
		{"1.21beta1", "1.21.0-beta.1"},
		{"1.9beta2", "1.9.0-beta.2"},
		{"1.20", "1.20.0"},
		{"go1.20", "1.20.0"},
		{"1", "1.0.0"},
		{"go1", "1.0.0"},
		{"1.22.3", "1.22.3"},
		{"go1.22.3", "1.22.3"},
		{"1.21.0-rc.2", "1.21.0-rc.2"},
		{"v1.2.3", "v1.2.3"},
		{"nightly", "nightly"},
		{"", ""},
	}
	for _, tt := range from {
		if got := FromGo(tt.in); got != tt.want {
			t.Errorf("FromGo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	to := []struct{ in, want string }{
		{"1.21.0-rc.2", "1.21rc2"},
		{"1.21.0-beta.1", "1.21beta1"},
		{"1.9.0-beta.2", "1.9beta2"},
		{"1.20.0-rc.1", "1.20rc1"},
		{"1.21.0", "1.21.0"}, // Go 1.21 and later keep the ".0"
		{"1.22.0", "1.22.0"},
		{"2.0.0", "2.0.0"},
		{"1.20.0", "1.20"}, // Go 1.20 and earlier drop it
		{"1.9.0", "1.9"},
		{"1.0.0", "1"},
		{"1.20.1", "1.20.1"},
		{"1.22.3", "1.22.3"},
		{"v1.20.0", "1.20"},
		{"1.21rc2", "1.21rc2"},
		{"go1.20", "1.20"},
		// Go cannot spell these.
		{"1.22.1-rc.1", "1.22.1-rc.1"},
		{"1.21.0-pre.1", "1.21.0-pre.1"},
		{"1.21.0+meta", "1.21.0+meta"},
		{"nightly", "nightly"},
	}
	for _, tt := range to {
		if got := ToGo(tt.in); got != tt.want {
			t.Errorf("ToGo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, v := range goVersions() {
		sv := FromGo(v)
		if got := ToGo(sv); got != v {
			t.Errorf("ToGo(FromGo(%q)) = ToGo(%q) = %q", v, sv, got)
		}
		if got := FromGo(ToGo(sv)); got != sv {
			t.Errorf("FromGo(ToGo(%q)) = %q", sv, got)
		}
		if Compare(v, sv) != 0 {
			t.Errorf("Compare(%q, %q) != 0", v, sv)
		}
	}
}

func TestSplitRef(t *testing.T) {
	tests := []struct{ ref, name, constraint string }{
		{"node@20", "node", "20"},
		{"go@1.22.3", "go", "1.22.3"},
		{"node", "node", "latest"},
		{"@types/node@20", "@types/node", "20"},
		{"@types/node", "@types/node", "latest"},
		{"npm:prettier@3", "npm:prettier", "3"},
		{"npm:prettier", "npm:prettier", "latest"},
		{"npm:@types/node@^20", "npm:@types/node", "^20"},
		{"npm:@types/node", "npm:@types/node", "latest"},
		{"go:golang.org/x/tools/gopls@v0.16.0", "go:golang.org/x/tools/gopls", "v0.16.0"},
		{"go:golang.org/x/tools/gopls", "go:golang.org/x/tools/gopls", "latest"},
		{"node@>=18 <21", "node", ">=18 <21"},
		{" node@20 ", "node", "20"},
		{"node@", "node", ""},
	}
	for _, tt := range tests {
		name, constraint := SplitRef(tt.ref)
		if name != tt.name || constraint != tt.constraint {
			t.Errorf("SplitRef(%q) = %q, %q; want %q, %q", tt.ref, name, constraint, tt.name, tt.constraint)
		}
	}
}

// FuzzConstraint checks that any text either parses or is refused with an error, and that what
// Select picks satisfies the constraint and is no older than any other version that does.
func FuzzConstraint(f *testing.F) {
	for _, s := range []string{"1.22", "^1.2.3-beta.1 || ~2", ">=1.21rc2 <1.21", "1.2 - 1.4", "nightly", ">= <2", "1.x.3", "^1.2.x.4"} {
		f.Add(s, "1.2.3")
	}
	f.Fuzz(func(t *testing.T, constraint, extra string) {
		c, err := ParseConstraint(constraint)
		if err != nil {
			return
		}
		versions := append(goVersions(), nodeVersions()...)
		versions = append(versions, extra)
		got, err := Select(c, versions)
		if err != nil {
			return
		}
		if !c.Check(got) {
			t.Fatalf("Select(%q) = %q, which Check refuses", constraint, got)
		}
		for _, v := range versions {
			if c.Check(v) && Compare(v, got) > 0 {
				t.Fatalf("Select(%q) = %q, but %q also matches and is newer", constraint, got, v)
			}
		}
	})
}
