package project

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Variables of the user's shell that the prompt hook's no-change step reads.
const (
	// EnvSession holds the encoded Session of the active project (Session.Encode).
	EnvSession = "DEN_SESSION"
	// EnvShellRoot is the project a den shell was started for, which the hook serves wherever
	// the user goes inside that shell (shellhook.EnvShellRoot).
	EnvShellRoot = "DEN_SHELL_ROOT"
	// EnvUntrusted names the project whose "not allowed yet" hint this shell has shown.
	EnvUntrusted = "DEN_UNTRUSTED"
)

// Session is what the prompt hook remembers about the active project between prompts, in the
// shell's DEN_SESSION: enough to decide the common case — a prompt in an unchanged project — by
// a few stats and readlinks, with no TOML parsed and no database opened.
type Session struct {
	// Root is the project's directory, as the hook found it.
	Root string
	// Files identifies the version of each file (by name relative to Root, or by absolute path)
	// that the active environment was made from: den.toml and den.lock, as in the project's
	// stamp, and whatever else the caller adds (the project's trust record, whose change — a den
	// deny, say — the next prompt must act on).
	Files map[string]FileID
	// Profile is the store path of the project's current generation; empty when there was none.
	Profile string
}

// sessionFiles are the files of a project whose change means its environment may have changed,
// the same as those of envs.Stamp.
var sessionFiles = []string{FileName, LockName}

// NewSession fingerprints the project at root as it is now. The caller takes it before reading
// the project, so that a change made while it reads shows at the next prompt.
func NewSession(root string) Session {
	s := Session{Root: root, Files: map[string]FileID{}}
	for _, name := range sessionFiles {
		s.Files[name] = FileIDOf(filepath.Join(root, name))
	}
	s.Profile = CurrentProfile(root)
	return s
}

// Unchanged reports whether the active environment still holds for the project at root: it is
// the same project, its files are as recorded and its current generation is the same, still
// present profile. It only stats and reads links, to keep the prompt fast.
func (s Session) Unchanged(root string) bool {
	if root != s.Root || len(s.Files) == 0 {
		return false
	}
	for name, id := range s.Files {
		if FileIDOf(At(root, name)) != id {
			return false
		}
	}
	return CurrentProfile(root) == s.Profile
}

// At is the path of a file a Session or a stamp names: name itself when it is absolute, else
// name relative to root.
func At(root, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(root, name)
}

// Prompt is what the prompt hook finds at a prompt before it reads anything of the project.
type Prompt struct {
	// Root is the project the hook serves: the den shell's, or else the one around the working
	// directory; "" when there is none.
	Root string
	// ShellRoot is the project of the den shell the hook runs in; "" outside den shell.
	ShellRoot string
	// SessionVar is DEN_SESSION's value, and Session its decoding (zero when it is unset or
	// unreadable).
	SessionVar string
	Session    Session
	// Quiet is true when nothing changed: the hook has nothing to print.
	Quiet bool
}

// AtPrompt looks at the working directory and the shell's variables (getenv) the way the prompt
// hook does at every prompt; decode reads DEN_SESSION (DecodeSession, or a reader that also
// knows older encodings). The full hook (cmd/den's exportHook) and the launcher decide Quiet
// here alike, so that the launcher prints nothing exactly when the full hook would.
func AtPrompt(getenv func(string) string, decode func(string) (Session, error)) Prompt {
	var p Prompt
	if wd, err := os.Getwd(); err == nil {
		if r, err := Find(wd); err == nil {
			p.Root = r
		}
	}
	p.SessionVar = getenv(EnvSession)
	p.ShellRoot = getenv(EnvShellRoot)
	if p.SessionVar != "" {
		if s, err := decode(p.SessionVar); err == nil {
			p.Session = s
			if p.Root != "" && s.Unchanged(p.Root) {
				p.Quiet = true
				return p
			}
		}
	}
	// Inside den shell the hook serves the shell's project wherever the user goes.
	if p.ShellRoot != "" && p.ShellRoot != p.Root {
		p.Root = p.ShellRoot
		if p.Session.Unchanged(p.Root) {
			p.Quiet = true
			return p
		}
	}
	// No project and no session: quiet, unless an earlier hint is still to be taken back.
	p.Quiet = p.Root == "" && p.SessionVar == "" && getenv(EnvUntrusted) == ""
	return p
}

// rawSession starts a DEN_SESSION that is base64url without DEFLATE; it is no base64url
// character, so it cannot start the compressed form an older den wrote (which shellhook still
// reads). The hook decodes DEN_SESSION at every prompt, and DEFLATE's reader costs about 40 KB of
// fresh memory (ten page faults at start-up) for a value of a few hundred bytes that compression
// hardly shortens.
const rawSession = "."

// Encode returns s in a form to keep in the environment variable DEN_SESSION.
func (s Session) Encode() string {
	data, _ := s.MarshalBinary()
	return rawSession + base64.RawURLEncoding.EncodeToString(data)
}

// ErrOldEncoding is returned by DecodeSession for a DEN_SESSION in the compressed form of an
// older den, which shellhook.DecodeHookSession reads.
var ErrOldEncoding = errors.New(EnvSession + ": compressed by an older den")

var errNotDen = errors.New(EnvSession + ": not den's encoding")

// maxDecoded bounds what a value may decode to: it comes from the environment, which anything
// may have set.
const maxDecoded = 16 << 20

// DecodeSession reverses Session.Encode.
func DecodeSession(str string) (Session, error) {
	raw, ok := strings.CutPrefix(str, rawSession)
	if !ok {
		return Session{}, ErrOldEncoding
	}
	if base64.RawURLEncoding.DecodedLen(len(raw)) > maxDecoded {
		return Session{}, errors.New(EnvSession + ": longer than 16 MiB decoded")
	}
	data, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return Session{}, errNotDen
	}
	var s Session
	if err := s.UnmarshalBinary(data); err != nil {
		return Session{}, err
	}
	return s, nil
}

// The binary encoding of a Session (before base64url), the same scheme as shellhook's DEN_DIFF:
// the byte 'S', then strings as their length (a uvarint) and bytes, numbers as varints, as
// encoding/binary writes them. It is written by hand, not as JSON, because a path is bytes, not
// always UTF-8, which JSON would change; and by hand rather than with encoding/binary, which
// would link reflection into the launcher.
const sessionFormat = 'S'

// MarshalBinary encodes s; it never fails.
func (s Session) MarshalBinary() ([]byte, error) {
	b := []byte{sessionFormat}
	b = appendStr(b, s.Root)
	b = appendStr(b, s.Profile)
	b = appendUvarint(b, uint64(len(s.Files)))
	names := make([]string, 0, len(s.Files))
	for name := range s.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		id := s.Files[name]
		b = appendStr(b, name)
		b = appendVarint(b, id.Size)
		b = appendVarint(b, id.MtimeNs)
		b = appendUvarint(b, id.Ino)
		missing := uint64(0)
		if id.Missing {
			missing = 1
		}
		b = appendUvarint(b, missing)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary encoded, all of it and nothing more.
func (s *Session) UnmarshalBinary(data []byte) error {
	r := &reader{b: data}
	if r.byte() != sessionFormat {
		return errNotDen
	}
	var out Session
	out.Root, out.Profile = r.str(), r.str()
	out.Files = map[string]FileID{}
	for i, n := 0, r.count(); i < n && !r.failed; i++ {
		name := r.str()
		out.Files[name] = FileID{Size: r.varint(), MtimeNs: r.varint(), Ino: r.uvarint(), Missing: r.uvarint() != 0}
	}
	if r.failed || len(r.b) > 0 {
		return errNotDen
	}
	*s = out
	return nil
}

func appendStr(b []byte, s string) []byte { return append(appendUvarint(b, uint64(len(s))), s...) }

func appendUvarint(b []byte, x uint64) []byte {
	for x >= 0x80 {
		b = append(b, byte(x)|0x80)
		x >>= 7
	}
	return append(b, byte(x))
}

func appendVarint(b []byte, x int64) []byte {
	ux := uint64(x) << 1 // zig-zag, as encoding/binary: small negative numbers stay short
	if x < 0 {
		ux = ^ux
	}
	return appendUvarint(b, ux)
}

// reader reads the encoding; after the first error it reads zeros and failed stays set.
type reader struct {
	b      []byte
	failed bool
}

func (r *reader) byte() byte {
	if r.failed || len(r.b) == 0 {
		r.failed = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// uvarint reads what appendUvarint wrote, rejecting overflow and truncation as
// encoding/binary.Uvarint does.
func (r *reader) uvarint() uint64 {
	if r.failed {
		return 0
	}
	var x uint64
	var shift uint
	for i, c := range r.b {
		if i == 10 {
			break
		}
		if c < 0x80 {
			if i == 9 && c > 1 {
				break // more than 64 bits
			}
			r.b = r.b[i+1:]
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	r.failed = true
	return 0
}

func (r *reader) varint() int64 {
	ux := r.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// count reads a number of items to follow; each takes at least a byte, which bounds it.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.failed = true
		return 0
	}
	return int(n)
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.failed || n > uint64(len(r.b)) {
		r.failed = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
