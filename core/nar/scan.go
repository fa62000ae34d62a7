package nar

import (
	"slices"

	"github.com/den-sh/den/core/storepath"
)

// nix32Alphabet is the alphabet of hash.EncodeNix32: digits and lowercase letters without e, o,
// u and t. TestNix32Alphabet keeps the two in step.
const nix32Alphabet = "0123456789abcdfghijklmnpqrsvwxyz"

// Scanner is an io.Writer that finds which of a set of store path hash parts (32 nix32
// characters) occur in the bytes written to it, the way Nix's RefScanSink finds a path's
// references: anywhere, including across the boundary between two writes.
//
// Like Nix, it looks for runs of at least 32 nix32 characters and looks up every 32-character
// window of such a run in the set. Most bytes of real files break a run, so most of the input
// is skipped 32 bytes at a time by checking the last byte of a window first.
type Scanner struct {
	want  map[string]struct{}
	found []string
	// tail is the run of nix32 characters (at most 31) that ended the input so far; a match may
	// start in it and end in the next write.
	tail    []byte
	joint   []byte
	isNix32 [256]bool
}

// NewScanner returns a Scanner looking for candidates. A candidate that is not 32 nix32
// characters is never found.
func NewScanner(candidates []string) *Scanner {
	s := &Scanner{
		want:  make(map[string]struct{}, len(candidates)),
		tail:  make([]byte, 0, 2*storepath.HashLen),
		joint: make([]byte, 0, 2*storepath.HashLen),
	}
	for _, c := range candidates {
		s.want[c] = struct{}{}
	}
	for i := range len(nix32Alphabet) {
		s.isNix32[nix32Alphabet[i]] = true
	}
	return s
}

// Write never fails.
func (s *Scanner) Write(p []byte) (int, error) {
	const keep = storepath.HashLen - 1
	if len(s.want) == 0 {
		return len(p), nil
	}
	if len(s.tail) > 0 && len(p) > 0 && s.isNix32[p[0]] {
		s.joint = append(append(s.joint[:0], s.tail...), p[:min(len(p), keep)]...)
		s.search(s.joint)
	}
	s.search(p)

	if len(p) >= keep {
		s.tail = append(s.tail[:0], p[len(p)-keep:]...)
	} else {
		s.tail = append(s.tail, p...)
		if over := len(s.tail) - keep; over > 0 {
			s.tail = s.tail[:copy(s.tail, s.tail[over:])]
		}
	}
	i := len(s.tail)
	for i > 0 && s.isNix32[s.tail[i-1]] {
		i--
	}
	s.tail = s.tail[:copy(s.tail, s.tail[i:])]
	return len(p), nil
}

func (s *Scanner) search(b []byte) {
	const n = storepath.HashLen
	for i := 0; i+n <= len(b); {
		j := n - 1
		for j >= 0 && s.isNix32[b[i+j]] {
			j--
		}
		if j >= 0 {
			i += j + 1
			continue
		}
		// b[i:i+n] is all nix32; slide along the run one byte at a time.
		for {
			if _, ok := s.want[string(b[i:i+n])]; ok {
				ref := string(b[i : i+n])
				delete(s.want, ref)
				s.found = append(s.found, ref)
				if len(s.want) == 0 {
					return
				}
			}
			if i+n >= len(b) || !s.isNix32[b[i+n]] {
				i += n + 1
				break
			}
			i++
		}
	}
}

// Found returns the candidates seen so far, sorted.
func (s *Scanner) Found() []string {
	f := slices.Clone(s.found)
	slices.Sort(f)
	return f
}
