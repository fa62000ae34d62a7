package sandbox

import (
	"os"
	"slices"
	"testing"
)

func TestWithResolver(t *testing.T) {
	dir := t.TempDir()
	etc, run := dir+"/etc", dir+"/run/resolve"
	for _, d := range []string{etc, run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(run+"/stub.conf", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../run/resolve/stub.conf", etc+"/resolv.conf"); err != nil {
		t.Fatal(err)
	}
	got := withResolver([]string{"/usr", etc}, etc+"/resolv.conf")
	if want := []string{"/usr", etc, run}; !slices.Equal(got, want) {
		t.Errorf("withResolver = %q, want %q", got, want)
	}
	// The defaults expose resolv.conf alone, not the whole of /etc.
	got = withResolver([]string{"/usr", etc + "/resolv.conf"}, etc+"/resolv.conf")
	if want := []string{"/usr", etc + "/resolv.conf", run}; !slices.Equal(got, want) {
		t.Errorf("withResolver = %q, want %q", got, want)
	}
	for _, paths := range [][]string{{"/usr"}, {etc, dir + "/run"}, {etc + "/resolv.conf", run}} {
		if got := withResolver(paths, etc+"/resolv.conf"); !slices.Equal(got, paths) {
			t.Errorf("withResolver(%q) = %q, want it unchanged", paths, got)
		}
	}
}
