package store

import (
	"fmt"
	"io"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/storepath"
)

// FixedPathIn is where the content of info, a fixed-output path (a download: content-addressed
// with fixed:r:, fixed: or one of den's own methods, and no references), goes in the store dir
// dir. ok is false for any other path: a build's output, an environment or a derivation, whose
// content may name its own store dir, so that it cannot move to another one.
func FixedPathIn(dir string, info PathInfo) (p storepath.Path, ok bool) {
	// Only a content address that yields the path it is recorded for is one den made.
	if self, ok := fixedPath(info.Path.Dir(), info); !ok || self != info.Path {
		return "", false
	}
	return fixedPath(dir, info)
}

func fixedPath(dir string, info PathInfo) (storepath.Path, bool) {
	if len(info.References) > 0 || info.CA == "" {
		return "", false
	}
	return storepath.FixedFromCA(dir, info.CA, info.Path.Name())
}

// CopyFixed adds the content of info, a fixed-output path of another store (see FixedPathIn),
// to this one at its path here, checked against the NAR hash the other store recorded. It
// reports the path and whether it had to copy it.
func (s *Store) CopyFixed(info PathInfo) (storepath.Path, bool, error) {
	p, ok := FixedPathIn(s.Dir, info)
	if !ok {
		return "", false, fmt.Errorf("%s is not a download: its content may name its store dir", info.Path)
	}
	want, err := hash.Parse(info.NarHash, "")
	if err != nil {
		return "", false, fmt.Errorf("%s: %v", info.Path, err)
	}
	made, err := s.Ensure(p, func(tmp string) (string, Publish, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(nar.Dump(pw, string(info.Path))) }()
		err := nar.Restore(pr, tmp)
		pr.CloseWithError(err)
		return tmp, Publish{CA: info.CA, WantNarHash: &want}, err
	})
	if err != nil {
		return "", false, fmt.Errorf("copy %s: %w", info.Path, err)
	}
	return p, made, nil
}
