package cache

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/storepath"
)

// A narinfo's CA says that its path is content-addressed: that the path's hash is computed
// from the content. The signature does not cover it (Nix's fingerprint is path, NarHash,
// NarSize and references), so a cache could write any CA under a signed narinfo, and den would
// record as content-addressed what is not. The substituter records a CA only when both hold:
//
//   - the path is the one the CA yields (Nix's makeFixedOutputPath or makeTextPath, over the
//     signed name and references). This alone stops a cache that is not the signer: to pass,
//     a made-up CA would need a second preimage of the path's hash.
//   - the downloaded content has the CA's hash. This is what makes the CA true of what was
//     stored, whoever signed the path. For fixed:r:sha256 the CA's hash is the NAR's own,
//     which the download's stream is checked against anyway; for flat and text files the
//     restored file is read once more and hashed, which costs little: they are single files
//     that den fetched or wrote, not toolchains.
//
// A CA den cannot check (den's own methods, which Nix cannot read either; hashes other than
// sha256 and sha512; a recursive hash other than sha256, which would need the NAR hashed
// twice; a self-reference) is not recorded: the path is then an ordinary signed path. A CA
// that can be checked and is wrong is a rejection: the cache altered what it was given.

// contentAddress is a CA den can check.
type contentAddress struct {
	method string // "fixed:r" (the NAR's hash), "fixed" (a flat file's) or "text"
	hash   hash.Hash
}

func (ca contentAddress) String() string { return ca.method + ":" + ca.hash.String() }

// parseCA reads Nix's spellings, "fixed:r:<algo>:<hash>", "fixed:<algo>:<hash>" and
// "text:sha256:<hash>"; ok is false for anything else.
func parseCA(s string) (ca contentAddress, ok bool) {
	method, rest, _ := strings.Cut(s, ":")
	switch method {
	case "fixed":
		if r, isR := strings.CutPrefix(rest, "r:"); isR {
			method, rest = "fixed:r", r
		}
	case "text":
	default:
		return contentAddress{}, false
	}
	algo, _, _ := strings.Cut(rest, ":")
	if algo != string(hash.SHA256) && algo != string(hash.SHA512) {
		return contentAddress{}, false
	}
	h, err := hash.Parse(rest, "")
	if err != nil {
		return contentAddress{}, false
	}
	return contentAddress{method: method, hash: h}, true
}

// checkCA checks info's CA against its path and NarHash. It returns the CA to record ("" when
// there is none den can check) and, for a flat or text CA, the hash the restored file must
// have; a CA that is wrong is a rejection.
func checkCA(info *NarInfo, storeDir string) (record string, file *contentAddress, err error) {
	if info.CA == "" {
		return "", nil, nil
	}
	ca, ok := parseCA(info.CA)
	if !ok {
		return "", nil, nil
	}
	p := info.StorePath
	var refs []storepath.Path
	self := false
	for _, r := range info.References {
		if r == p {
			self = true
		} else {
			refs = append(refs, r)
		}
	}
	var want storepath.Path
	switch ca.method {
	case "fixed:r":
		if ca.hash.Algo != hash.SHA256 || self {
			return "", nil, nil
		}
		if !ca.hash.Equal(info.NarHash) {
			return "", nil, reject("its CA %s does not match its NarHash %s", ca, info.NarHash)
		}
		want, err = storepath.Source(storeDir, ca.hash, p.Name(), refs)
	case "fixed":
		if len(info.References) > 0 {
			return "", nil, reject("its CA %s is for a single file, which has no references, but it lists %d", ca, len(info.References))
		}
		want, err = storepath.FixedFlat(storeDir, ca.hash, p.Name())
		file = &ca
	case "text":
		if ca.hash.Algo != hash.SHA256 || self {
			return "", nil, reject("its CA %s is not a text file's (sha256, no reference to itself)", ca)
		}
		want, err = storepath.Text(storeDir, ca.hash, p.Name(), refs)
		file = &ca
	}
	if err != nil {
		return "", nil, reject("its CA %s: %v", ca, err)
	}
	if want != p {
		return "", nil, reject("its CA %s is not the content address of %s (it gives %s)", ca, p.Base(), want.Base())
	}
	return ca.String(), file, nil
}

// checkFileCA checks that the restored path at tmp is one regular file with ca's hash.
func checkFileCA(tmp string, ca *contentAddress) error {
	fi, err := os.Lstat(tmp)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return reject("its CA %s is a single file's, and the NAR holds a %s", ca, fileKind(fi.Mode()))
	}
	f, err := os.OpenFile(tmp, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	h := ca.hash.Algo.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("hashing %s: %w", tmp, err)
	}
	if got := hash.FromHasher(ca.hash.Algo, h); !got.Equal(ca.hash) {
		return reject("the file in the NAR hashes to %s, not to the %s of its CA", got, ca)
	}
	return nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeSymlink != 0:
		return "symlink"
	}
	return "special file"
}
