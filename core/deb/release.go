package deb

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"pault.ag/go/debian/control"
)

// release is the signed part of an InRelease file.
type release struct {
	Suite, Codename string
	Date            time.Time
	ValidUntil      time.Time // zero when the file has none
	AcquireByHash   bool
	Files           map[string]fileSum // by path under dists/<suite>/, from the SHA256 field
}

type fileSum struct {
	Size int64
	Hex  string
}

// SignatureError is an InRelease file whose signature does not verify against the keyring.
type SignatureError struct {
	URL string
	Err error
	// Keyring says what verified it: the source's Signed-By as written, or "" for the
	// default keyrings; Origin is the source ("den config (entry 1)", "file:line").
	Keyring, Origin string
}

func (e *SignatureError) Error() string {
	with := ""
	switch {
	case strings.HasPrefix(e.Keyring, "-----BEGIN"):
		with = " with the key block of its source"
	case e.Keyring != "":
		with = " with " + e.Keyring
	case e.Origin != "":
		with = " with the default keyrings"
	}
	return fmt.Sprintf("%s: the signature does not verify%s: %v", e.URL, with, e.Err)
}

func (e *SignatureError) Unwrap() error { return e.Err }

// Hints says what to check.
func (e *SignatureError) Hints() []string {
	where := "its apt source"
	if e.Origin != "" {
		where = "its source (" + e.Origin + ")"
	}
	return []string{
		"the archive, or something between it and you, sent an index that Debian's keys did not sign",
		"if the archive changed its key, update the keyring " + where + " names (signed-by), as apt would need too",
	}
}

// ExpiredError is an InRelease file past its Valid-Until: an archive that stopped updating,
// or an attacker replaying an old, signed index to hide security updates.
type ExpiredError struct {
	URL        string
	ValidUntil time.Time
	Now        time.Time
	Origin     string // the apt source's file:line
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("%s expired on %s (Valid-Until), %s ago", e.URL, e.ValidUntil.UTC().Format(time.RFC1123), e.Now.Sub(e.ValidUntil).Round(time.Minute))
}

// Hints says how apt itself is told to accept a frozen archive.
func (e *ExpiredError) Hints() []string {
	return []string{fmt.Sprintf("if this archive is a snapshot that is meant to stay frozen, add check-valid-until=no to its apt source (%s) — [check-valid-until=no] in one-line form, \"Check-Valid-Until: no\" in a .sources file", e.Origin)}
}

// HashMismatchError is a downloaded file whose size or SHA256 is not the one InRelease gives.
type HashMismatchError struct {
	URL               string
	WantSize, GotSize int64
	WantHex, GotHex   string
}

func (e *HashMismatchError) Error() string {
	if e.WantSize != e.GotSize {
		return fmt.Sprintf("%s: size %d, but InRelease says %d", e.URL, e.GotSize, e.WantSize)
	}
	return fmt.Sprintf("%s: sha256 %s, but InRelease says %s", e.URL, e.GotHex, e.WantHex)
}

// Hints says what to do.
func (e *HashMismatchError) Hints() []string {
	return []string{"the archive may be updating right now: try again in a few minutes; if it persists, the archive or a proxy is serving corrupt files"}
}

// verifyRelease checks the clear-signature of an InRelease file against keys and parses the
// signed text. Nothing outside the signed text is read.
func verifyRelease(url string, data []byte, keys openpgp.EntityList, now time.Time) (*release, error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, &SignatureError{URL: url, Err: errors.New("the file is not clear-signed (no PGP SIGNED MESSAGE block)")}
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	if _, err := block.VerifySignature(keys, cfg); err != nil {
		return nil, &SignatureError{URL: url, Err: err}
	}
	return parseRelease(url, block.Plaintext)
}

func parseRelease(url string, text []byte) (*release, error) {
	pr, err := control.NewParagraphReader(bytes.NewReader(text), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	p, err := pr.Next()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the release fields: %w", url, err)
	}
	v := p.Values
	r := &release{Suite: v["Suite"], Codename: v["Codename"], AcquireByHash: strings.EqualFold(v["Acquire-By-Hash"], "yes"), Files: map[string]fileSum{}}
	if s := v["Date"]; s != "" {
		if r.Date, err = parseReleaseTime(s); err != nil {
			return nil, fmt.Errorf("%s: Date: %w", url, err)
		}
	}
	if s := v["Valid-Until"]; s != "" {
		if r.ValidUntil, err = parseReleaseTime(s); err != nil {
			return nil, fmt.Errorf("%s: Valid-Until: %w", url, err)
		}
	}
	for _, line := range strings.Split(v["SHA256"], "\n") {
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if len(fs) != 3 {
			return nil, fmt.Errorf("%s: SHA256: %q is not \"<sha256> <size> <path>\"", url, line)
		}
		size, err := strconv.ParseInt(fs[1], 10, 64)
		if b, herr := hex.DecodeString(fs[0]); err != nil || herr != nil || len(b) != 32 || size < 0 {
			return nil, fmt.Errorf("%s: SHA256: %q is not \"<sha256> <size> <path>\"", url, line)
		}
		r.Files[fs[2]] = fileSum{Size: size, Hex: strings.ToLower(fs[0])}
	}
	if len(r.Files) == 0 {
		return nil, fmt.Errorf("%s: no SHA256 field: den verifies index files by SHA256 only", url)
	}
	return r, nil
}

// parseReleaseTime parses the RFC 2822 dates of Release files ("Sat, 11 Jul 2026 10:16:37 UTC").
func parseReleaseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 2822 date", s)
}
