package envs

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
)

// Trust says whether the prompt hook may activate a project. A project is allowed for one content
// of its den.toml: an edit by someone else (a git pull, say) needs a new den allow, while den's
// own edits (den add, den rm) carry the permission over.
type Trust int

const (
	Unknown Trust = iota
	Allowed
	Denied
)

func trustFile(stateDir, root string) string {
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(stateDir, "trust", hex.EncodeToString(sum[:16]))
}

// ManifestHash is the content hash trust is keyed by.
func ManifestHash(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "den.toml"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// TrustOf reports whether the project at root, as its den.toml is now, is allowed.
func TrustOf(stateDir, root string) Trust {
	data, err := os.ReadFile(trustFile(stateDir, root))
	if err != nil {
		return Unknown
	}
	fields := strings.Fields(string(data))
	if len(fields) >= 1 && fields[0] == "deny" {
		return Denied
	}
	if len(fields) >= 2 && fields[0] == "allow" {
		if h, err := ManifestHash(root); err == nil && h == fields[1] {
			return Allowed
		}
	}
	return Unknown
}

// SetTrust records a decision for the project at root, for its den.toml as it is now.
func SetTrust(stateDir, root string, t Trust) error {
	f := trustFile(stateDir, root)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		return err
	}
	line := "deny " + root + "\n"
	if t == Allowed {
		h, err := ManifestHash(root)
		if err != nil {
			return err
		}
		line = "allow " + h + " " + root + "\n"
	}
	tmp := f + ".tmp"
	if err := os.WriteFile(tmp, []byte(line), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, f)
}
