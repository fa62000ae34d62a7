// Package hash owns content hashes as Nix spells them: sha256 and sha512 digests, Nix's base-32
// alphabet, and the parsing of every spelling users and caches write (SRI, nix32, hex, base64).
// SHA1 exists only to check the legacy integrity of old npm lockfile entries; Parse never
// returns it.
package hash

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	gohash "hash"
	"strings"
)

// Algo is a hash algorithm den accepts.
type Algo string

const (
	SHA256 Algo = "sha256"
	SHA512 Algo = "sha512"
	SHA1   Algo = "sha1"
)

// Size is the digest length in bytes.
func (a Algo) Size() int {
	switch a {
	case SHA256:
		return sha256.Size
	case SHA512:
		return sha512.Size
	case SHA1:
		return sha1.Size
	}
	return 0
}

// New returns a fresh hasher for the algorithm.
func (a Algo) New() gohash.Hash {
	switch a {
	case SHA512:
		return sha512.New()
	case SHA1:
		return sha1.New()
	}
	return sha256.New()
}

// Hash is a digest with its algorithm.
type Hash struct {
	Algo   Algo
	Digest []byte
}

// Sum hashes data.
func Sum(a Algo, data []byte) Hash {
	h := a.New()
	h.Write(data)
	return Hash{Algo: a, Digest: h.Sum(nil)}
}

// FromHasher finishes a running hasher.
func FromHasher(a Algo, h gohash.Hash) Hash { return Hash{Algo: a, Digest: h.Sum(nil)} }

// IsZero reports whether h holds no digest.
func (h Hash) IsZero() bool { return len(h.Digest) == 0 }

// Equal reports whether two hashes have the same algorithm and digest.
func (h Hash) Equal(o Hash) bool { return h.Algo == o.Algo && string(h.Digest) == string(o.Digest) }

// Hex is the lowercase base-16 digest.
func (h Hash) Hex() string { return hex.EncodeToString(h.Digest) }

// Nix32 is the digest in Nix's base-32.
func (h Hash) Nix32() string { return EncodeNix32(h.Digest) }

// SRI is the Subresource Integrity spelling, "sha256-<base64>".
func (h Hash) SRI() string { return string(h.Algo) + "-" + base64.StdEncoding.EncodeToString(h.Digest) }

// String is Nix's canonical spelling, "sha256:<nix32>".
func (h Hash) String() string { return string(h.Algo) + ":" + h.Nix32() }

// nix32Chars omits e, o, u and t, as Nix does.
const nix32Chars = "0123456789abcdfghijklmnpqrsvwxyz"

// Nix32Len is the length of the nix32 spelling of n bytes.
func Nix32Len(n int) int { return (n*8-1)/5 + 1 }

// EncodeNix32 encodes b in Nix's base-32, which reads the bytes from the end.
func EncodeNix32(b []byte) string {
	n := Nix32Len(len(b))
	out := make([]byte, 0, n)
	for i := n - 1; i >= 0; i-- {
		bit := uint(i * 5)
		j, k := bit/8, bit%8
		c := b[j] >> k
		if int(j) < len(b)-1 {
			c |= b[j+1] << (8 - k)
		}
		out = append(out, nix32Chars[c&0x1f])
	}
	return string(out)
}

// DecodeNix32 decodes s as nix32 into exactly size bytes.
func DecodeNix32(s string, size int) ([]byte, error) {
	if len(s) != Nix32Len(size) {
		return nil, fmt.Errorf("nix32 string %q has length %d, want %d", s, len(s), Nix32Len(size))
	}
	out := make([]byte, size)
	for i := 0; i < len(s); i++ {
		c := s[len(s)-1-i]
		d := strings.IndexByte(nix32Chars, c)
		if d < 0 {
			return nil, fmt.Errorf("invalid character %q in nix32 string %q", c, s)
		}
		bit := uint(i * 5)
		j, k := bit/8, bit%8
		out[j] |= byte(d) << k
		carry := byte(uint(d) >> (8 - k))
		if int(j) < size-1 {
			out[j+1] |= carry
		} else if carry != 0 {
			return nil, fmt.Errorf("nix32 string %q does not fit %d bytes", s, size)
		}
	}
	return out, nil
}

// Parse reads a hash in any spelling Nix accepts: "sha256-<base64>" (SRI), "sha256:<nix32|hex|base64>",
// or, when def is not empty, a bare digest of algorithm def.
func Parse(s string, def Algo) (Hash, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Hash{}, fmt.Errorf("empty hash")
	}
	for _, a := range []Algo{SHA256, SHA512} {
		if rest, ok := strings.CutPrefix(s, string(a)+"-"); ok {
			d, err := base64.StdEncoding.DecodeString(rest)
			if err != nil || len(d) != a.Size() {
				return Hash{}, fmt.Errorf("invalid SRI hash %q: want %d bytes of base64", s, a.Size())
			}
			return Hash{Algo: a, Digest: d}, nil
		}
		if rest, ok := strings.CutPrefix(s, string(a)+":"); ok {
			return parseDigest(a, rest, s)
		}
	}
	if i := strings.IndexAny(s, ":-"); i > 0 && i < 10 {
		return Hash{}, fmt.Errorf("unsupported hash algorithm %q in %q (use sha256 or sha512)", s[:i], s)
	}
	if def == "" {
		return Hash{}, fmt.Errorf("hash %q has no algorithm; write it as sha256-<base64> or sha256:<hex>", s)
	}
	return parseDigest(def, s, s)
}

func parseDigest(a Algo, d, whole string) (Hash, error) {
	size := a.Size()
	switch len(d) {
	case 2 * size:
		b, err := hex.DecodeString(d)
		if err == nil {
			return Hash{Algo: a, Digest: b}, nil
		}
	case Nix32Len(size):
		b, err := DecodeNix32(d, size)
		if err == nil {
			return Hash{Algo: a, Digest: b}, nil
		}
		return Hash{}, fmt.Errorf("invalid hash %q: %v", whole, err)
	case base64.StdEncoding.EncodedLen(size):
		b, err := base64.StdEncoding.DecodeString(d)
		if err == nil && len(b) == size {
			return Hash{Algo: a, Digest: b}, nil
		}
	}
	return Hash{}, fmt.Errorf("invalid %s hash %q: want %d hex digits, %d nix32 characters or %d base64 characters",
		a, whole, 2*size, Nix32Len(size), base64.StdEncoding.EncodedLen(size))
}

// Compress folds a digest to size bytes by XOR, as Nix's compressHash does for store path hashes.
func Compress(d []byte, size int) []byte {
	out := make([]byte, size)
	for i, b := range d {
		out[i%size] ^= b
	}
	return out
}
