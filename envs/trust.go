package envs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/den-sh/den/core/project"
	"github.com/rogpeppe/go-internal/lockedfile"
)

// Trust says whether den may act on a project: run what it declares, realize it, export its
// environment. A project is allowed for one content of its den.toml and den.lock together: both
// arrive with a git pull, and den.lock decides what runs as much as den.toml does. An edit by
// someone else (a pull, a checkout, an editor) needs a new den allow, while den's own edits (den
// add, den rm, den update, den lock, den rollback) carry the permission over. Content the user
// allowed once stays allowed, as direnv does it, so that checking out an older commit or rolling
// back to an earlier generation needs no new den allow; den deny forgets it all.
type Trust int

const (
	Unknown Trust = iota
	Allowed
	Denied
)

// keptAllowances bounds how many allowed contents a project's record remembers.
const keptAllowances = 64

// TrustFile is the record of the decisions for the project at root.
func TrustFile(stateDir, root string) string {
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(stateDir, "trust", hex.EncodeToString(sum[:16]))
}

// ContentHash is the hash trust is keyed by, of den.toml and den.lock (or its absence) as given.
func ContentHash(manifest, lock []byte, lockExists bool) string {
	h := sha256.New()
	h.Write([]byte("den.toml " + strconv.Itoa(len(manifest)) + "\n"))
	h.Write(manifest)
	if lockExists {
		h.Write([]byte("den.lock " + strconv.Itoa(len(lock)) + "\n"))
		h.Write(lock)
	} else {
		h.Write([]byte("den.lock absent\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ProjectHash is ContentHash of the project's files as they are now.
func ProjectHash(root string) (string, error) {
	m, err := os.ReadFile(filepath.Join(root, "den.toml"))
	if err != nil {
		return "", err
	}
	l, err := os.ReadFile(filepath.Join(root, "den.lock"))
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	return ContentHash(m, l, exists), nil
}

// record is a project's trust file: "deny", or the contents allowed, oldest first.
type record struct {
	deny    bool
	allowed []string
}

func readRecord(stateDir, root string) record {
	data, err := lockedfile.Read(TrustFile(stateDir, root))
	if err != nil {
		return record{}
	}
	return parseRecord(data)
}

func parseRecord(data []byte) record {
	var r record
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 1 && fields[0] == "deny":
			r.deny = true
		case len(fields) >= 2 && fields[0] == "allow":
			r.allowed = append(r.allowed, fields[1])
		}
	}
	return r
}

func (r record) encode(root string) []byte {
	var b bytes.Buffer
	b.WriteString("# den's trust decisions for " + root + "\n")
	if r.deny {
		b.WriteString("deny\n")
	}
	for _, h := range r.allowed {
		b.WriteString("allow " + h + "\n")
	}
	return b.Bytes()
}

// TrustOf reports whether the project at root, as den.toml and den.lock are now, is allowed.
func TrustOf(stateDir, root string) Trust { return CheckTrust(stateDir, root).Trust }

// TrustCheck is what CheckTrust found.
type TrustCheck struct {
	Trust Trust
	// AllowedBefore says some other content of the project was allowed (so den can say
	// "changed" rather than "not allowed yet").
	AllowedBefore bool
	// File is the project's trust record, and ID identified it before it was read: whoever
	// acts on the decision records ID (in a stamp, in the hook's session), so that a later
	// decision is noticed by a stat.
	File string
	ID   project.FileID
}

// CheckTrust reports whether the project at root, as den.toml and den.lock are now, is allowed.
func CheckTrust(stateDir, root string) TrustCheck {
	tc := TrustCheck{File: TrustFile(stateDir, root)}
	tc.ID = project.FileIDOf(tc.File)
	r := readRecord(stateDir, root)
	if r.deny {
		tc.Trust = Denied
		return tc
	}
	tc.AllowedBefore = len(r.allowed) > 0
	if h, err := ProjectHash(root); err == nil && slices.Contains(r.allowed, h) {
		tc.Trust = Allowed
	}
	return tc
}

// SetTrust records the user's decision for the project at root: allowed for its files as they
// are now, or denied whatever they hold.
func SetTrust(stateDir, root string, t Trust) error {
	if t == Allowed {
		h, err := ProjectHash(root)
		if err != nil {
			return err
		}
		return allow(stateDir, root, h, true)
	}
	return editRecord(stateDir, root, func(r *record) { *r = record{deny: true} })
}

// AllowContent records that the project at root is allowed with the content whose
// ContentHash is h: den's own edits of an allowed project call it before they replace its files.
// It does nothing to a denied project.
func AllowContent(stateDir, root, h string) error { return allow(stateDir, root, h, false) }

func allow(stateDir, root, h string, undeny bool) error {
	return editRecord(stateDir, root, func(r *record) {
		if r.deny && !undeny {
			return
		}
		r.deny = false
		if slices.Contains(r.allowed, h) && !undeny {
			return // already allowed: the record stays as it is, and so does its identity
		}
		r.allowed = append(slices.DeleteFunc(r.allowed, func(x string) bool { return x == h }), h)
		if len(r.allowed) > keptAllowances {
			r.allowed = r.allowed[len(r.allowed)-keptAllowances:]
		}
	})
}

func editRecord(stateDir, root string, edit func(*record)) error {
	f := TrustFile(stateDir, root)
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return err
	}
	err := lockedfile.Transform(f, func(data []byte) ([]byte, error) {
		r := parseRecord(data)
		edit(&r)
		out := r.encode(root)
		if bytes.Equal(out, data) {
			// Not rewritten: its identity is in stamps and hook sessions, which a rewrite
			// saying nothing new would make stale.
			return nil, errUnchanged
		}
		return out, nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

var errUnchanged = errors.New("trust record unchanged")
