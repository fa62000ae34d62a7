package debpkg

import (
	"testing"

	"github.com/den-sh/den/core/version"
)

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		c, v string
		ok   bool
	}{
		{"*", "1:1.2.13.dfsg-1+deb12u1", true},
		{"latest", "1.6-2.1+deb12u3", true},
		{"1.2", "1:1.2.13.dfsg-1+deb12u1", true},
		{"1.3", "1:1.2.13.dfsg-1+deb12u1", false},
		{"12", "12.2.0-14+deb12u1", true},
		{"^3.11", "3.11.2-6+deb12u6", true},
		{"1.6-2.1+deb12u3", "1.6-2.1+deb12u3", true},
		{"1.7", "1.6-2.1+deb12u3", false},
	} {
		c, err := version.ParseConstraint(tc.c)
		if err != nil {
			t.Fatal(err)
		}
		if got := Matches(c, tc.v); got != tc.ok {
			t.Errorf("Matches(%q, %q) = %v, want %v", tc.c, tc.v, got, tc.ok)
		}
	}
}
