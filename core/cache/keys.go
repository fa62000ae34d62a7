package cache

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/storepath"
)

// SecretKey signs narinfos. Its text form is Nix's "name:base64(64-byte ed25519 private key)",
// the same as nix-store --generate-binary-cache-key writes.
type SecretKey struct {
	Name string
	Key  ed25519.PrivateKey
}

// PublicKey checks narinfo signatures. Its text form is "name:base64(32-byte public key)".
type PublicKey struct {
	Name string
	Key  ed25519.PublicKey
}

// GenerateKey makes a new key pair named name (Nix's convention is "<host>-<n>", e.g. "cache-1").
func GenerateKey(name string) (SecretKey, error) {
	if err := checkKeyName(name); err != nil {
		return SecretKey{}, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SecretKey{}, fmt.Errorf("generate key: %w", err)
	}
	return SecretKey{Name: name, Key: priv}, nil
}

func checkKeyName(name string) error {
	if name == "" {
		return fmt.Errorf("key name is empty; name keys like cache.example-1")
	}
	if strings.ContainsAny(name, ": \t\r\n") {
		return fmt.Errorf("key name %q must not contain ':' or whitespace", name)
	}
	return nil
}

// splitKey parses "name:base64" whose payload must be size bytes.
func splitKey(s, what string, size int) (string, []byte, error) {
	s = strings.TrimSpace(s)
	name, b64, ok := strings.Cut(s, ":")
	if !ok {
		return "", nil, fmt.Errorf("%s %q is not of the form name:base64", what, abbrev(s))
	}
	if err := checkKeyName(name); err != nil {
		return "", nil, fmt.Errorf("%s: %v", what, err)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", nil, fmt.Errorf("%s %s: the part after ':' is not valid base64", what, name)
	}
	if len(b) != size {
		hint := ""
		switch {
		case size == ed25519.PublicKeySize && len(b) == ed25519.PrivateKeySize:
			hint = " (this looks like a secret key)"
		case size == ed25519.PrivateKeySize && len(b) == ed25519.PublicKeySize:
			hint = " (this looks like a public key)"
		}
		return "", nil, fmt.Errorf("%s %s holds %d bytes, want %d%s", what, name, len(b), size, hint)
	}
	return name, b, nil
}

// abbrev keeps secrets and long garbage out of error messages.
func abbrev(s string) string {
	if len(s) > 16 {
		return s[:12] + "…"
	}
	return s
}

// ParseSecretKey reads a secret key in Nix's format, ignoring surrounding whitespace.
func ParseSecretKey(s string) (SecretKey, error) {
	name, b, err := splitKey(s, "secret key", ed25519.PrivateKeySize)
	if err != nil {
		return SecretKey{}, err
	}
	return SecretKey{Name: name, Key: ed25519.PrivateKey(b)}, nil
}

// ParsePublicKey reads a public key in Nix's format, ignoring surrounding whitespace.
func ParsePublicKey(s string) (PublicKey, error) {
	name, b, err := splitKey(s, "public key", ed25519.PublicKeySize)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{Name: name, Key: ed25519.PublicKey(b)}, nil
}

// Public returns the matching public key, with the same name.
func (k SecretKey) Public() PublicKey {
	return PublicKey{Name: k.Name, Key: k.Key.Public().(ed25519.PublicKey)}
}

func (k SecretKey) String() string { return k.Name + ":" + base64.StdEncoding.EncodeToString(k.Key) }

func (k PublicKey) String() string { return k.Name + ":" + base64.StdEncoding.EncodeToString(k.Key) }

// Sign returns Nix's signature line value, "name:base64(ed25519 signature)".
func (k SecretKey) Sign(fingerprint string) string {
	return k.Name + ":" + base64.StdEncoding.EncodeToString(ed25519.Sign(k.Key, []byte(fingerprint)))
}

// Verify reports whether sig ("name:base64") is this key's valid signature of fingerprint.
func (k PublicKey) Verify(fingerprint, sig string) bool {
	name, b64, ok := strings.Cut(sig, ":")
	if !ok || name != k.Name {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(k.Key, []byte(fingerprint), b)
}

// Fingerprint is what Nix signs for a path: "1;<store path>;<narHash sha256:nix32>;<narSize>;<comma-joined
// sorted full reference paths>".
func Fingerprint(path storepath.Path, narHash hash.Hash, narSize int64, refs []storepath.Path) string {
	r := make([]string, len(refs))
	for i, p := range refs {
		r[i] = string(p)
	}
	sort.Strings(r)
	return "1;" + string(path) + ";" + narHash.String() + ";" + strconv.FormatInt(narSize, 10) + ";" + strings.Join(r, ",")
}
