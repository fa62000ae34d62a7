package store

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/storepath"
)

// AddTree publishes the tree at dir by content, as Nix's addToStore does for a "source" path with
// references: the path is derived from the NAR hash, the name and those of refs the tree actually
// mentions (found by scanning, so an unused candidate does not keep anything alive). dir is
// consumed: moved into the store when it is on the store's filesystem, copied otherwise, and
// removed in every case.
//
// A tree cannot name its own path (the path depends on the content), so a source path never
// references itself.
func (s *Store) AddTree(dir, name string, refs []storepath.Path) (storepath.Path, error) {
	defer RemoveTree(dir)
	if err := storepath.CheckName(name); err != nil {
		return "", err
	}
	byPart := map[string]storepath.Path{}
	var parts []string
	for _, r := range refs {
		if _, dup := byPart[r.HashPart()]; !dup {
			byPart[r.HashPart()] = r
			parts = append(parts, r.HashPart())
		}
	}
	h, _, found, err := nar.HashAndScan(dir, parts)
	if err != nil {
		return "", err
	}
	used := make([]storepath.Path, 0, len(found))
	for _, f := range found {
		used = append(used, byPart[f])
	}
	sort.Slice(used, func(i, j int) bool { return used[i] < used[j] })
	p, err := storepath.Source(s.Dir, h, name, used)
	if err != nil {
		return "", err
	}
	opt := Publish{Candidates: used, CA: "fixed:r:" + h.String(), WantNarHash: &h}
	return p, s.addVerified(p, opt, func(tmp string) error {
		if os.Rename(dir, tmp) == nil {
			return nil
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(nar.Dump(pw, dir)) }()
		err := nar.Restore(pr, tmp)
		pr.CloseWithError(err)
		if err != nil {
			return fmt.Errorf("copy %s into the store: %w", dir, err)
		}
		return nil
	})
}
