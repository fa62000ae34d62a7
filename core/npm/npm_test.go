package npm

import (
	"testing"

	"github.com/den-sh/den/core/platform"
)

func TestSystemFor(t *testing.T) {
	for in, want := range map[string]System{
		"x86_64-linux":   {OS: "linux", CPU: "x64"},
		"aarch64-darwin": {OS: "darwin", CPU: "arm64"},
		"i686-linux":     {OS: "linux", CPU: "ia32"},
	} {
		s, err := platform.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := SystemFor(s); err != nil || got != want {
			t.Errorf("SystemFor(%s) = %v, %v", in, got, err)
		}
	}
	if _, err := SystemFor(platform.System{Arch: "x86_64", OS: "windows"}); err == nil {
		t.Error("windows has no node platform package in den")
	}
}

func TestCheckList(t *testing.T) {
	for _, c := range []struct {
		value string
		list  []string
		want  bool
	}{
		{"linux", nil, true},
		{"linux", []string{"any"}, true},
		{"linux", []string{"linux", "darwin"}, true},
		{"win32", []string{"linux", "darwin"}, false},
		{"linux", []string{"!win32"}, true},
		{"win32", []string{"!win32"}, false},
		{"linux", []string{"!win32", "darwin"}, false},
	} {
		if got := checkList(c.value, c.list); got != c.want {
			t.Errorf("checkList(%q, %v) = %v", c.value, c.list, got)
		}
	}
}

// The expectations are Intl.Collator("en").compare's, which npm sorts its work with.
func TestLocaleCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"a-b", "a_b", 1},
		{"a-b", "ab", -1},
		{"a.b", "a-b", 1},
		{"A", "a", 1},
		{"a", "B", -1},
		{"ab", "a-c", 1},
		{"node_modules/a-b", "node_modules/a/node_modules/x", -1},
		{"a1", "a-", 1},
		{"@s/a", "a", -1},
		{"a", "a-", -1},
		{"ab", "Ab", -1},
		{"aB", "Ab", -1},
		{"x", "x", 0},
	} {
		if got := localeCompare(c.a, c.b); got != c.want {
			t.Errorf("localeCompare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
