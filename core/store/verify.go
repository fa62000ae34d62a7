package store

import (
	"fmt"
	"os"

	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/storepath"
)

// Problem is one path that does not match its registration.
type Problem struct {
	Path   storepath.Path
	Reason string
}

// Verify checks that registered paths exist and, with checkContents, that their NAR hash still
// matches. With no paths it checks the whole store.
func (s *Store) Verify(checkContents bool, paths []storepath.Path) ([]Problem, error) {
	var infos []PathInfo
	if len(paths) == 0 {
		all, err := s.All()
		if err != nil {
			return nil, err
		}
		infos = all
	} else {
		for _, p := range paths {
			info, err := s.Info(p)
			if err != nil {
				return nil, err
			}
			if info == nil {
				return nil, &NotValidError{Path: p}
			}
			infos = append(infos, *info)
		}
	}
	var probs []Problem
	for _, info := range infos {
		if _, err := os.Lstat(string(info.Path)); err != nil {
			probs = append(probs, Problem{info.Path, "registered but missing from disk"})
			continue
		}
		if !checkContents {
			continue
		}
		h, size, err := nar.Hash(string(info.Path))
		if err != nil {
			probs = append(probs, Problem{info.Path, err.Error()})
			continue
		}
		if h.String() != info.NarHash {
			probs = append(probs, Problem{info.Path, fmt.Sprintf("contents changed: hash was %s, now %s", info.NarHash, h)})
		} else if size != info.NarSize {
			probs = append(probs, Problem{info.Path, fmt.Sprintf("contents changed: size was %d, now %d", info.NarSize, size)})
		}
	}
	return probs, nil
}
