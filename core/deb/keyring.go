package deb

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// SystemKeyring is the keyring of Debian's archive keys that the debian-archive-keyring
// package installs.
const SystemKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// DefaultKeyrings are the keyrings that verify a source without Signed-By, as apt uses them:
// every *.gpg (binary) and *.asc (armored) file of <aptDir>/trusted.gpg.d, and SystemKeyring.
// den embeds no key: the keys it trusts are the host's, which its administrator installed.
func DefaultKeyrings(aptDir string) []string {
	if aptDir == "" {
		aptDir = "/etc/apt"
	}
	var files []string
	for _, ext := range []string{"*.gpg", "*.asc"} {
		m, _ := filepath.Glob(filepath.Join(aptDir, "trusted.gpg.d", ext))
		files = append(files, m...)
	}
	sort.Strings(files)
	return append(files, SystemKeyring)
}

// KeyringError is a keyring den cannot read, or a source whose keyring holds no key.
type KeyringError struct {
	Source string // the source's Origin
	File   string
	Err    error
}

func (e *KeyringError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("%s: Signed-By: %v", e.Source, e.Err)
	}
	return fmt.Sprintf("%s: keyring %s: %v", e.Source, e.File, e.Err)
}

func (e *KeyringError) Unwrap() error { return e.Err }

// Hints says where keys come from.
func (e *KeyringError) Hints() []string {
	return []string{"the Debian archive keys come from the debian-archive-keyring package (" + SystemKeyring + "); name another keyring with Signed-By in the apt source"}
}

// keyring loads the keys that verify s. Signed-By may hold keyring files (binary or armored),
// fingerprints (which pick keys out of the default keyrings), or an armored key block. A
// missing default keyring file is skipped; a missing Signed-By file is an error.
func keyring(s Source, defaults []string) (openpgp.EntityList, error) {
	kr := strings.TrimSpace(s.Keyring)
	if strings.HasPrefix(kr, "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
		el, err := openpgp.ReadArmoredKeyRing(strings.NewReader(kr))
		if err != nil {
			return nil, &KeyringError{Source: s.Origin, Err: fmt.Errorf("the inline key block: %w", err)}
		}
		return el, nil
	}
	var files, fingerprints []string
	for _, w := range strings.Fields(kr) {
		if isFingerprint(w) {
			fingerprints = append(fingerprints, strings.ToUpper(strings.TrimSuffix(w, "!")))
		} else {
			files = append(files, w)
		}
	}
	var el openpgp.EntityList
	for _, f := range files {
		keys, err := readKeyringFile(f)
		if err != nil {
			return nil, &KeyringError{Source: s.Origin, File: f, Err: err}
		}
		el = append(el, keys...)
	}
	if len(files) == 0 {
		for _, f := range defaults {
			keys, err := readKeyringFile(f)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				return nil, &KeyringError{Source: s.Origin, File: f, Err: err}
			}
			el = append(el, keys...)
		}
	}
	if len(fingerprints) > 0 {
		el = pick(el, fingerprints)
	}
	if len(el) == 0 {
		return nil, &KeyringError{Source: s.Origin, Err: fmt.Errorf("no key to verify the archive with (Signed-By %q)", s.Keyring)}
	}
	return el, nil
}

func isFingerprint(w string) bool {
	w = strings.TrimSuffix(w, "!")
	if len(w) != 40 && len(w) != 64 {
		return false
	}
	_, err := hex.DecodeString(w)
	return err == nil
}

// pick keeps the entities whose primary key or a subkey has one of the fingerprints.
func pick(el openpgp.EntityList, fingerprints []string) openpgp.EntityList {
	want := map[string]bool{}
	for _, f := range fingerprints {
		want[f] = true
	}
	var out openpgp.EntityList
	for _, e := range el {
		ok := want[strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))]
		for _, sk := range e.Subkeys {
			ok = ok || want[strings.ToUpper(hex.EncodeToString(sk.PublicKey.Fingerprint))]
		}
		if ok {
			out = append(out, e)
		}
	}
	return out
}

// readKeyringFile reads a binary keyring (a .gpg file) or an armored one (.asc, or any file
// that starts with an armor header).
func readKeyringFile(file string) (openpgp.EntityList, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		return openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	}
	return openpgp.ReadKeyRing(bytes.NewReader(data))
}
