package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A link whose text stays inside the output can still leave it through another link in the tree.
func TestPublishRejectsLinkChains(t *testing.T) {
	s := newStore(t)
	for name, build := range map[string]func(out string){
		"chain": func(out string) {
			os.MkdirAll(filepath.Join(out, "sub"), 0o755)
			os.Symlink(".", filepath.Join(out, "sub", "d"))
			os.Symlink("d/d/d/../../../../../../../../../../etc/passwd", filepath.Join(out, "sub", "escape"))
		},
		"via-absolute": func(out string) {
			os.MkdirAll(out, 0o755)
			os.Symlink("/etc", filepath.Join(out, "etc"))
			os.Symlink("etc/passwd", filepath.Join(out, "passwd"))
		},
		"top-level": func(out string) {
			os.Symlink("/etc/passwd", out)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			build(out)
			p := outPath(t, s, name)
			_, err := s.Publish(out, p, Publish{})
			if err == nil || !strings.Contains(err.Error(), "outside") {
				t.Fatalf("published a tree with an escaping link: %v", err)
			}
			if ok, _ := s.IsValid(p); ok {
				t.Fatal("path registered")
			}
		})
	}
}
