// Package cache reads, writes, serves and substitutes from Nix binary caches: nix-cache-info,
// narinfo, ed25519 signatures, compressed NARs.
//
// The formats are Nix's own, byte for byte where Nix writes them (DESIGN invariant 5), so a cache
// den writes is a Nix binary cache any static file host can serve, and a cache Nix writes is one den
// can substitute from. Layout of a cache root:
//
//	nix-cache-info            StoreDir, WantMassQuery, Priority
//	<hash part>.narinfo       one per store path, signed over Nix's fingerprint
//	nar/<filehash>.nar.zst    the path's NAR, compressed; filehash is nix32 sha256 of this file
//
// Parsing is lenient as Nix's is (unknown keys ignored, hashes in any spelling); writing is
// canonical (keys in Nix's order, hashes as "sha256:<nix32>").
//
// Nix's protocol has no way to list a cache. den's own servers (DirHandler, StoreHandler) answer
// GET <root>/?den-list with the narinfo names and a "Den-List: 1" header, which is how
// Cache.List works over HTTP; against any other host List says listing is not supported.
//
// A cache is a directory (file://), an HTTP server (http(s)://) or a bucket of an S3-compatible
// object store (s3://, Nix's URL form; see s3.go), each just a backend of the Cache interface, so
// that substitution checks and push ordering are the same for all. The S3 client is minio-go
// rather than aws-sdk-go-v2: one module instead of a dozen, written for every S3-compatible server
// as much as for AWS, with SigV4, path-style addressing, the AWS credential files and parallel
// multipart uploads built in; signing S3 requests by hand would be den's riskiest code for no gain.
package cache

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/storepath"
)

// CacheInfo is a cache's nix-cache-info file.
type CacheInfo struct {
	StoreDir      string // "" when the file does not say
	WantMassQuery bool
	Priority      int // 0 = unset
}

// fields splits "Key: value" lines. Nix writes "\n" line ends; "\r\n" and a missing final newline
// are accepted because hand-edited and re-hosted files have them.
func fields(data []byte, what string, fn func(line int, key, value string) error) error {
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("%s line %d: %q is not a \"Key: value\" line", what, i+1, abbrev(line))
		}
		if err := fn(i+1, strings.TrimSpace(key), strings.TrimSpace(value)); err != nil {
			return fmt.Errorf("%s line %d: %w", what, i+1, err)
		}
	}
	return nil
}

// ParseCacheInfo parses nix-cache-info; unknown keys are ignored.
func ParseCacheInfo(data []byte) (*CacheInfo, error) {
	c := &CacheInfo{}
	err := fields(data, "nix-cache-info", func(_ int, key, value string) error {
		switch key {
		case "StoreDir":
			c.StoreDir = value
		case "WantMassQuery":
			c.WantMassQuery = value == "1"
		case "Priority":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return fmt.Errorf("Priority %q is not a non-negative integer", value)
			}
			c.Priority = n
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Bytes is the file as Nix writes it.
func (c *CacheInfo) Bytes() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "StoreDir: %s\n", c.StoreDir)
	if c.WantMassQuery {
		b.WriteString("WantMassQuery: 1\n")
	}
	if c.Priority != 0 {
		fmt.Fprintf(&b, "Priority: %d\n", c.Priority)
	}
	return b.Bytes()
}

// NarInfo describes one store path in a cache.
type NarInfo struct {
	StorePath   storepath.Path   // full path; parse rejects a path outside storeDir
	URL         string           // relative ("nar/<filehash>.nar.zst") or absolute
	Compression string           // "zstd", "xz", "bzip2", "none" (empty in a file = "bzip2", as Nix)
	FileHash    hash.Hash        // may be zero (unknown)
	FileSize    int64            // 0 = unknown
	NarHash     hash.Hash        //
	NarSize     int64            //
	References  []storepath.Path // full paths (the file holds base names)
	Deriver     storepath.Path   // may be ""; always a <hash>-<name>.drv in storeDir
	Sigs        []string         // "keyname:base64", one Sig line each
	CA          string           // content address ("fixed:r:sha256:…", "text:sha256:…") or ""
}

// ParseNarInfo parses leniently as Nix does: unknown keys ignored; hashes in nix32, hex, base64 or
// SRI, with or without "sha256:". storeDir resolves base names and is checked against StorePath.
// As in Nix, StorePath, URL, NarHash and a non-zero NarSize are required, a repeated scalar key
// (URL, NarSize, …) takes its last value, and a second non-empty References or a second CA is
// refused (Nix's NarInfo constructor: "extra References", "extra CA"). The signature covers the
// values parsed, so which of two lines counts is decided before it is checked.
func ParseNarInfo(data []byte, storeDir string) (*NarInfo, error) {
	n := &NarInfo{}
	seenCA := false
	err := fields(data, "narinfo", func(_ int, key, value string) error {
		switch {
		case key == "References" && len(n.References) > 0, key == "CA" && seenCA:
			return fmt.Errorf("%s appears twice", key)
		case key == "CA":
			seenCA = true
		}
		var err error
		switch key {
		case "StorePath":
			n.StorePath, err = storepath.Parse(storeDir, value)
		case "URL":
			n.URL = value
		case "Compression":
			n.Compression = value
		case "FileHash":
			n.FileHash, err = parseHashField(key, value)
		case "FileSize":
			n.FileSize, err = parseSize(key, value)
		case "NarHash":
			n.NarHash, err = parseHashField(key, value)
		case "NarSize":
			n.NarSize, err = parseSize(key, value)
		case "References":
			for _, base := range strings.Fields(value) {
				p, err := storepath.Parse(storeDir, storeDir+"/"+base)
				if err != nil || strings.Contains(base, "/") {
					return fmt.Errorf("reference %q is not a store path base name", base)
				}
				n.References = append(n.References, p)
			}
		case "Deriver":
			// The signature does not cover the deriver, so a cache can write anything here; a
			// value that is not a derivation's base name in this store is dropped, not stored
			// and not a reason to refuse the rest. (Some old caches write "unknown-deriver",
			// which Nix ignores too.)
			if d, perr := storepath.Parse(storeDir, storeDir+"/"+value); perr == nil && !strings.Contains(value, "/") && strings.HasSuffix(value, ".drv") {
				n.Deriver = d
			}
		case "Sig":
			if value != "" {
				n.Sigs = append(n.Sigs, value)
			}
		case "CA":
			n.CA = value
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch {
	case n.StorePath == "":
		return nil, fmt.Errorf("narinfo has no StorePath")
	case n.URL == "":
		return nil, fmt.Errorf("narinfo for %s has no URL", n.StorePath)
	case n.NarHash.IsZero():
		return nil, fmt.Errorf("narinfo for %s has no NarHash", n.StorePath)
	case n.NarSize == 0:
		return nil, fmt.Errorf("narinfo for %s has no NarSize", n.StorePath)
	}
	if n.Compression == "" {
		n.Compression = "bzip2"
	}
	return n, nil
}

func parseHashField(key, value string) (hash.Hash, error) {
	h, err := hash.Parse(value, hash.SHA256)
	if err != nil {
		return hash.Hash{}, fmt.Errorf("%s: %v", key, err)
	}
	return h, nil
}

func parseSize(key, value string) (int64, error) {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q is not a non-negative integer", key, value)
	}
	return n, nil
}

// Bytes is the canonical text, keys in the order Nix writes them. FileHash and FileSize are left
// out when unknown (a server that compresses while streaming cannot know them; Nix accepts that).
func (n *NarInfo) Bytes() []byte {
	var b bytes.Buffer
	b.WriteString("StorePath: " + string(n.StorePath) + "\n")
	b.WriteString("URL: " + n.URL + "\n")
	c := n.Compression
	if c == "" {
		c = "bzip2"
	}
	b.WriteString("Compression: " + c + "\n")
	if !n.FileHash.IsZero() {
		b.WriteString("FileHash: " + n.FileHash.String() + "\n")
	}
	if n.FileSize != 0 {
		b.WriteString("FileSize: " + strconv.FormatInt(n.FileSize, 10) + "\n")
	}
	b.WriteString("NarHash: " + n.NarHash.String() + "\n")
	b.WriteString("NarSize: " + strconv.FormatInt(n.NarSize, 10) + "\n")
	refs := make([]string, len(n.References))
	for i, r := range n.References {
		refs[i] = r.Base()
	}
	// Nix writes "References: " with the trailing space when there are none.
	b.WriteString("References: " + strings.Join(refs, " ") + "\n")
	if n.Deriver != "" {
		b.WriteString("Deriver: " + n.Deriver.Base() + "\n")
	}
	for _, s := range n.Sigs {
		b.WriteString("Sig: " + s + "\n")
	}
	if n.CA != "" {
		b.WriteString("CA: " + n.CA + "\n")
	}
	return b.Bytes()
}

// Fingerprint is what the signatures sign.
func (n *NarInfo) Fingerprint() string {
	return Fingerprint(n.StorePath, n.NarHash, n.NarSize, n.References)
}

// Sign adds k's signature, replacing an earlier one by a key of the same name.
func (n *NarInfo) Sign(k SecretKey) {
	sig := k.Sign(n.Fingerprint())
	for i, s := range n.Sigs {
		if name, _, _ := strings.Cut(s, ":"); name == k.Name {
			n.Sigs[i] = sig
			return
		}
	}
	n.Sigs = append(n.Sigs, sig)
}

// Verify checks that at least one Sig is a valid signature by one of keys. The error names the
// reason: no signatures at all, signatures only by untrusted keys, or a trusted key's signature
// that does not match (the narinfo or its signature was altered).
func (n *NarInfo) Verify(keys []PublicKey) error {
	if len(n.Sigs) == 0 {
		return fmt.Errorf("the narinfo is not signed")
	}
	if len(keys) == 0 {
		return fmt.Errorf("no trusted public keys are configured to check its signature")
	}
	fp := n.Fingerprint()
	var signers, invalid []string
	for _, sig := range n.Sigs {
		name, _, ok := strings.Cut(sig, ":")
		if !ok || name == "" {
			signers = append(signers, fmt.Sprintf("malformed signature %q", abbrev(sig)))
			continue
		}
		trusted := false
		for _, k := range keys {
			if k.Name != name {
				continue
			}
			trusted = true
			if k.Verify(fp, sig) {
				return nil
			}
		}
		if trusted {
			invalid = append(invalid, name)
		} else {
			signers = append(signers, name)
		}
	}
	if len(invalid) > 0 {
		return fmt.Errorf("signature by %s is invalid", strings.Join(invalid, ", "))
	}
	return fmt.Errorf("no signature by a trusted key (signed by: %s)", strings.Join(signers, ", "))
}

// NixCA is the content address a narinfo may carry for ca, a store record's: Nix's own forms
// ("fixed:[r:]<algo>:<hash>", "text:<algo>:<hash>") with the hash rewritten as Nix writes it, and
// "" for den's own methods (a Go module's "gotoolchain:h1:…"), which Nix refuses to read — a cache
// must stay readable by Nix, and a path without CA is still checked by its signature and NarHash.
func NixCA(ca string) string {
	method, rest, ok := strings.Cut(ca, ":")
	if !ok {
		return ""
	}
	switch method {
	case "text":
	case "fixed":
		if r, ok := strings.CutPrefix(rest, "r:"); ok {
			method, rest = "fixed:r", r
		}
	default:
		return ""
	}
	h, err := hash.Parse(rest, "")
	if err != nil {
		return ""
	}
	return method + ":" + h.String()
}
