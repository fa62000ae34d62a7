// Package storepath owns store path names in Nix's form, <storedir>/<nix32 hash part>-<name>: how
// they are computed from a fingerprint that includes the store dir, and which names are valid.
package storepath

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/den-sh/den/core/hash"
)

// HashLen is the length of the nix32 hash part of a store path.
const HashLen = 32

// MaxNameLen is Nix's limit on the name part.
const MaxNameLen = 211

// Path is an absolute store path: <storedir>/<hash part>-<name>.
type Path string

// Base is the last element, "<hash part>-<name>".
func (p Path) Base() string { return filepath.Base(string(p)) }

// HashPart is the 32-character nix32 hash.
func (p Path) HashPart() string { return p.Base()[:HashLen] }

// Name is the part after the hash.
func (p Path) Name() string { return p.Base()[HashLen+1:] }

// Dir is the store dir the path lives in.
func (p Path) Dir() string { return filepath.Dir(string(p)) }

func (p Path) String() string { return string(p) }

// Parse checks that s is a store path directly inside storeDir, spelled canonically (Nix's
// parseStorePathCanonical): "//", "/./" or "x/../" in it is refused, not kept in a Path.
func Parse(storeDir, s string) (Path, error) {
	if filepath.Dir(s) != storeDir {
		return "", fmt.Errorf("%s is not in the store %s", s, storeDir)
	}
	if filepath.Clean(s) != s {
		return "", fmt.Errorf("%s is not a store path as written: spell it %s", s, filepath.Clean(s))
	}
	base := filepath.Base(s)
	if len(base) < HashLen+2 || base[HashLen] != '-' {
		return "", fmt.Errorf("%s is not a store path: want %s/<32-character hash>-<name>", s, storeDir)
	}
	if _, err := hash.DecodeNix32(base[:HashLen], 20); err != nil {
		return "", fmt.Errorf("%s is not a store path: bad hash part: %v", s, err)
	}
	if err := CheckName(base[HashLen+1:]); err != nil {
		return "", err
	}
	return Path(s), nil
}

// CheckName enforces Nix's rules for the name part (libstore's checkName and nameRegexStr): up to
// 211 of the characters a-z A-Z 0-9 + - . _ ? =, where a leading dot is allowed (".gitignore",
// "...") except as the whole first dash-separated component: ".", "..", ".-1" and "..-a" could
// be mistaken for the store dir or its parent. Nix 2.8 still took ".-a"; later Nix refuses it,
// and so does den.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("store path name is empty")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("store path name %q is longer than %d characters", name, MaxNameLen)
	}
	for _, c := range []byte(name) {
		if !nameChar(c) {
			return fmt.Errorf("store path name %q has the character %q; allowed are letters, digits and +-._?=", name, c)
		}
	}
	if first, _, _ := strings.Cut(name, "-"); first == "." || first == ".." {
		return fmt.Errorf("store path name %q must not start with %q followed by a dash or nothing", name, first)
	}
	return nil
}

func nameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+-._?=", c) >= 0
}

// SanitizeName turns an arbitrary file name into a valid store name, replacing disallowed
// characters with '-'. A name nix-store --add takes (".gitignore") is kept as it is; leading dots
// are dropped only where Nix would refuse them ("..", ".-x").
func SanitizeName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !nameChar(c) {
			b[i] = '-'
		}
	}
	if len(b) > MaxNameLen {
		b = b[:MaxNameLen]
	}
	if first, _, _ := strings.Cut(string(b), "-"); first == "." || first == ".." {
		b = b[len(first):]
	}
	if len(b) == 0 {
		return "source"
	}
	return string(b)
}

// Make computes Nix's makeStorePath: the fingerprint "<typ>:sha256:<hex>:<storedir>:<name>" is
// hashed, folded to 20 bytes and spelled in nix32.
func Make(storeDir, typ string, inner hash.Hash, name string) (Path, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	fp := typ + ":" + string(inner.Algo) + ":" + inner.Hex() + ":" + storeDir + ":" + name
	sum := sha256.Sum256([]byte(fp))
	return Path(storeDir + "/" + hash.EncodeNix32(hash.Compress(sum[:], 20)) + "-" + name), nil
}

// typeWithRefs appends the sorted references (and "self") to a path type, as Nix does for text
// and source paths.
func typeWithRefs(typ string, refs []Path, self bool) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = string(r)
	}
	sort.Strings(s)
	for _, r := range s {
		typ += ":" + r
	}
	if self {
		typ += ":self"
	}
	return typ
}

// Source is the path of content added recursively (NAR-hashed), as nix-store --add computes it.
func Source(storeDir string, narHash hash.Hash, name string, refs []Path) (Path, error) {
	return Make(storeDir, typeWithRefs("source", refs, false), narHash, name)
}

// Text is the path of a text file (a derivation, say) with the given references, as Nix's
// makeTextPath computes it; the hash is the sha256 of the file's contents.
func Text(storeDir string, contentHash hash.Hash, name string, refs []Path) (Path, error) {
	return Make(storeDir, typeWithRefs("text", refs, false), contentHash, name)
}

// FixedFlat is the path of a fixed-output file fetched as-is (Nix's fetchurl, flat hashing).
func FixedFlat(storeDir string, fileHash hash.Hash, name string) (Path, error) {
	inner := hash.Sum(hash.SHA256, []byte("fixed:out:"+string(fileHash.Algo)+":"+fileHash.Hex()+":"))
	return Make(storeDir, "output:out", inner, name)
}

// FixedRecursive is the path of a fixed-output directory identified by its NAR hash. For sha256
// it equals Source without references, as in Nix.
func FixedRecursive(storeDir string, narHash hash.Hash, name string) (Path, error) {
	if narHash.Algo == hash.SHA256 {
		return Source(storeDir, narHash, name, nil)
	}
	inner := hash.Sum(hash.SHA256, []byte("fixed:out:r:"+string(narHash.Algo)+":"+narHash.Hex()+":"))
	return Make(storeDir, "output:out", inner, name)
}

// FixedOther is the path of a fixed-output artifact identified by a hash Nix has no spelling for,
// such as a Go module's h1: dirhash. It follows Nix's fixed-output scheme with den's own method
// tag, so it depends on the method, the hash and the name only.
func FixedOther(storeDir, method, contentHash, name string) (Path, error) {
	inner := hash.Sum(hash.SHA256, []byte("fixed:out:"+method+":"+contentHash+":"))
	return Make(storeDir, "output:out", inner, name)
}

// FixedFromCA is the path a fixed-output path with the content address ca (as den records
// it: "fixed:r:<hash>", "fixed:<hash>" or den's "<method>:<hash>") and name has in storeDir;
// ok is false for a text path's or an unreadable address.
func FixedFromCA(storeDir, ca, name string) (p Path, ok bool) {
	var err error
	if rest, isR := strings.CutPrefix(ca, "fixed:r:"); isR {
		var h hash.Hash
		if h, err = hash.Parse(rest, ""); err == nil {
			p, err = FixedRecursive(storeDir, h, name)
		}
	} else if rest, isFlat := strings.CutPrefix(ca, "fixed:"); isFlat {
		var h hash.Hash
		if h, err = hash.Parse(rest, ""); err == nil {
			p, err = FixedFlat(storeDir, h, name)
		}
	} else {
		method, content, found := strings.Cut(ca, ":")
		if !found || method == "text" {
			return "", false
		}
		p, err = FixedOther(storeDir, method, content, name)
	}
	return p, err == nil
}

// Output is the path of an input-addressed derivation output: the inner hash is the hash of the
// derivation's canonical encoding.
func Output(storeDir string, drvHash hash.Hash, output, name string) (Path, error) {
	if output != "out" {
		name += "-" + output
	}
	return Make(storeDir, "output:"+output, drvHash, name)
}
