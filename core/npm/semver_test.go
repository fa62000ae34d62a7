package npm

import "testing"

// The cases are node-semver's own range-include and range-exclude fixtures (strict ones), so a
// difference from npm shows up as a failing row.
func TestRangeInclude(t *testing.T) {
	for _, c := range []struct {
		rng, ver string
		pre      bool
	}{
		{"1.0.0 - 2.0.0", "1.2.3", false},
		{"^1.2.3+build", "1.2.3", false},
		{"^1.2.3+build", "1.3.0", false},
		{"1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3", false},
		{"1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3-pre.2", false},
		{"1.2.3-pre+asdf - 2.4.3-pre+asdf", "2.4.3-alpha", false},
		{"1.2.3+asdf - 2.4.3+asdf", "1.2.3", false},
		{"1.0.0", "1.0.0", false},
		{">=*", "0.2.4", false},
		{"", "1.0.0", false},
		{"*", "1.2.3", false},
		{">=1.0.0", "1.0.0", false},
		{">=1.0.0", "1.1.0", false},
		{">1.0.0", "1.0.1", false},
		{"<=2.0.0", "2.0.0", false},
		{"<=2.0.0", "0.2.9", false},
		{"<2.0.0", "1.9999.9999", false},
		{">= 1.0.0", "1.0.0", false},
		{">=  1.0.0", "1.0.1", false},
		{">    1.0.0", "1.0.1", false},
		{"<=   2.0.0", "2.0.0", false},
		{"<    2.0.0", "1.9999.9999", false},
		{"0.1.20 || 1.2.4", "1.2.4", false},
		{">=0.2.3 || <0.0.1", "0.0.0", false},
		{">=0.2.3 || <0.0.1", "0.2.4", false},
		{"||", "1.3.4", false},
		{"2.x.x", "2.1.3", false},
		{"1.2.x", "1.2.3", false},
		{"1.2.x || 2.x", "2.1.3", false},
		{"1.2.x || 2.x", "1.2.3", false},
		{"x", "1.2.3", false},
		{"2.*.*", "2.1.3", false},
		{"1.2.*", "1.2.3", false},
		{"2", "2.1.2", false},
		{"2.3", "2.3.1", false},
		{"~0.0.1", "0.0.2", false},
		{"~x", "0.0.9", false},
		{"~2", "2.0.9", false},
		{"~2.4", "2.4.5", false},
		{"~>3.2.1", "3.2.2", false},
		{"~>1", "1.2.3", false},
		{"~> 1", "1.2.3", false},
		{"~ 1.0", "1.0.2", false},
		{"~ 1.0.3", "1.0.12", false},
		{">= 1", "1.0.0", false},
		{"< 1.2", "1.1.1", false},
		{"~v0.5.4-pre", "0.5.5", false},
		{"~v0.5.4-pre", "0.5.4", false},
		{"=0.7.x", "0.7.2", false},
		{"<=0.7.x", "0.7.2", false},
		{">=0.7.x", "0.7.2", false},
		{"<=0.7.x", "0.6.2", false},
		{"~1.2.1 >=1.2.3", "1.2.3", false},
		{"~1.2.1 =1.2.3", "1.2.3", false},
		{"~1.2.1 1.2.3", "1.2.3", false},
		{">=1.2.1 1.2.3", "1.2.3", false},
		{">=1.2", "1.2.8", false},
		{"^1.2.3", "1.8.1", false},
		{"^0.1.2", "0.1.2", false},
		{"^0.1", "0.1.2", false},
		{"^0.0.1", "0.0.1", false},
		{"^1.2", "1.4.2", false},
		{"^1.2 ^1", "1.4.2", false},
		{"^1.2.3-alpha", "1.2.3-pre", false},
		{"^1.2.0-alpha", "1.2.0-pre", false},
		{"^0.0.1-alpha", "0.0.1-beta", false},
		{"^0.0.1-alpha", "0.0.1", false},
		{"^0.1.1-alpha", "0.1.1-beta", false},
		{"^0.0.x", "0.0.9", false},
		{"^0.x", "0.9.9", false},
		{"^x", "1.2.3", false},
		{"x - 1.0.0", "0.9.7", false},
		{"x - 1.x", "0.9.7", false},
		{"1.0.0 - x", "1.9.7", false},
		{"1.x - x", "1.9.7", false},
		{"1.2 - 2.3", "2.3.9", false},
		{"<=7.x", "7.9.9", false},
		{"2.x", "2.0.0-pre.0", true},
		{"2.x", "2.1.0-pre.0", true},
		{"1.1.x", "1.1.0-a", true},
		{"*", "1.0.0-rc1", true},
		{"^1.0.0-0", "1.0.1-rc1", true},
		{"^1.0.0-rc2", "1.0.1-rc1", true},
		{"^1.0.0", "1.0.1-rc1", true},
		{"^1.0.0", "1.1.0-rc1", true},
		{"1 - 2", "2.0.0-pre", true},
		{"1 - 2", "1.0.0-pre", true},
		{"1.0 - 2", "1.0.0-pre", true},
		{"=0.7.x", "0.7.0-asdf", true},
		{">=0.7.x", "0.7.0-asdf", true},
		{"<=0.7.x", "0.7.0-asdf", true},
		{">=1.0.0 <=1.1.0", "1.1.0-pre", true},
	} {
		r, err := ParseRange(c.rng, c.pre)
		if err != nil {
			t.Errorf("ParseRange(%q): %v", c.rng, err)
			continue
		}
		v, err := ParseVersion(c.ver)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Satisfies(v) {
			t.Errorf("%q (includePrerelease %v) should include %s", c.rng, c.pre, c.ver)
		}
	}
}

func TestRangeExclude(t *testing.T) {
	for _, c := range []struct {
		rng, ver string
		pre      bool
	}{
		{"1.0.0 - 2.0.0", "2.2.3", false},
		{"1.2.3+asdf - 2.4.3+asdf", "1.2.3-pre.2", false},
		{"1.2.3+asdf - 2.4.3+asdf", "2.4.3-alpha", false},
		{"^1.2.3+build", "2.0.0", false},
		{"^1.2.3+build", "1.2.0", false},
		{"^1.2.3", "1.2.3-pre", false},
		{"^1.2", "1.2.0-pre", false},
		{">1.2", "1.3.0-beta", false},
		{"<=1.2.3", "1.2.3-beta", false},
		{"^1.2.3", "1.2.3-beta", false},
		{"=0.7.x", "0.7.0-asdf", false},
		{">=0.7.x", "0.7.0-asdf", false},
		{"<=0.7.x", "0.7.0-asdf", false},
		{"1.0.0", "1.0.1", false},
		{">=1.0.0", "0.0.0", false},
		{">=1.0.0", "0.1.0", false},
		{">1.0.0", "0.0.1", false},
		{"<=2.0.0", "3.0.0", false},
		{"<=2.0.0", "2.9999.9999", false},
		{"<2.0.0", "2.2.9", false},
		{">=0.1.97", "0.1.93", false},
		{"0.1.20 || 1.2.4", "1.2.3", false},
		{">=0.2.3 || <0.0.1", "0.0.3", false},
		{">=0.2.3 || <0.0.1", "0.2.2", false},
		{"2.x.x", "1.1.3", false},
		{"2.x.x", "3.1.3", false},
		{"1.2.x", "1.3.3", false},
		{"1.2.x || 2.x", "3.1.3", false},
		{"1.2.x || 2.x", "1.1.3", false},
		{"2.*.*", "3.1.3", false},
		{"1.2.*", "1.3.3", false},
		{"2", "1.1.2", false},
		{"2.3", "2.4.1", false},
		{"~0.0.1", "0.1.0-alpha", false},
		{"~0.0.1", "0.1.0", false},
		{"~2.4", "2.5.0", false},
		{"~2.4", "2.3.9", false},
		{"~>3.2.1", "3.3.2", false},
		{"~>3.2.1", "3.2.0", false},
		{"~1", "0.2.3", false},
		{"~>1", "2.2.3", false},
		{"~1.0", "1.1.0", false},
		{"<1", "1.0.0", false},
		{">=1.2", "1.1.1", false},
		{"~v0.5.4-beta", "0.5.4-alpha", false},
		{"=0.7.x", "0.8.2", false},
		{">=0.7.x", "0.6.2", false},
		{"<0.7.x", "0.7.2", false},
		{"<1.2.3", "1.2.3-beta", false},
		{"=1.2.3", "1.2.3-beta", false},
		{">1.2", "1.2.8", false},
		{"^0.0.1", "0.0.2", false},
		{"^1.2.3", "2.0.0-alpha", false},
		{"^1.2.3", "1.2.2", false},
		{"^1.2", "1.1.9", false},
		{"^0.0.x", "0.1.0", false},
		{"*", "v1.2.3-foo", false},
		{"^1.0.0", "2.0.0-rc1", false},
		{"^1.0.0", "2.0.0-rc1", true},
		{"^1.0.0-0", "2.0.0-rc1", true},
		{"^1.0.0-rc2", "2.0.0", true},
		{"^1.2.3-rc2", "2.0.0", false},
		{"1 - 2", "3.0.0-pre", true},
		{"1 - 2", "2.0.0-pre", false},
		{"1 - 2", "1.0.0-pre", false},
		{"1.0 - 2", "1.0.0-pre", false},
		{"1.2 - 2.3", "2.4.0", false},
		{"1.1.x", "1.0.0-a", false},
		{"1.1.x", "1.1.0-a", false},
		{"1.1.x", "1.2.0-a", false},
		{"1.1.x", "1.0.0-a", true},
		{"1.1.x", "1.2.0-a", true},
		{"1.x", "1.1.0-a", false},
		{"1.x", "0.0.0-a", true},
		{"1.x", "2.0.0-a", true},
		{">=1.0.0 <1.1.0", "1.1.0", false},
		{">=1.0.0 <1.1.0", "1.1.0-pre", false},
		// A lone "*" set stands for the whole range, so the prerelease set no longer counts.
		{"* || 1.0.0-rc.1", "1.0.0-rc.1", false},
		{">1 || <1", "1.5.0", false},
	} {
		r, err := ParseRange(c.rng, c.pre)
		if err != nil {
			t.Errorf("ParseRange(%q): %v", c.rng, err)
			continue
		}
		v, err := ParseVersion(c.ver)
		if err != nil {
			t.Fatal(err)
		}
		if r.Satisfies(v) {
			t.Errorf("%q (includePrerelease %v) should exclude %s", c.rng, c.pre, c.ver)
		}
	}
}

func TestRangeInvalid(t *testing.T) {
	for _, s := range []string{"latest", "1.2.3.4", ">=", "!1.2.3", "1.2.3 foo", "git+ssh://x", "1.2-beta", "99999999999999999999"} {
		if _, err := ParseRange(s, false); err == nil {
			t.Errorf("ParseRange(%q) succeeded", s)
		}
	}
}

func TestVersionCompare(t *testing.T) {
	// Each is below the next, by semver precedence.
	order := []string{
		"0.0.0-0", "0.0.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
		"1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "10.0.0",
	}
	for i := range order {
		for j := range order {
			a, _ := ParseVersion(order[i])
			b, _ := ParseVersion(order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	a, _ := ParseVersion("1.0.0+build.1")
	b, _ := ParseVersion("v1.0.0")
	if a.Compare(b) != 0 || a.String() != "1.0.0" {
		t.Errorf("build metadata must not count: %v %v", a, b)
	}
}
