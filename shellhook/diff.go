package shellhook

// The prompt hook (`den export SHELL`, run before every prompt) keeps two variables in the
// user's shell. DEN_DIFF holds a Diff: what entering the project changed, variable by variable,
// so that leaving undoes exactly that and keeps what the user changed meanwhile. DEN_SESSION
// holds a HookSession: the project's root and a fingerprint of the files its environment was
// made from, so that the common case — a prompt in an unchanged project — is decided by a few
// stats and readlinks, with no TOML parsed and no database opened (core/project holds that step,
// for the launcher cmd/den/front to link alone). Both are a small binary encoding (see wire),
// base64url-encoded, DEN_DIFF compressed with DEFLATE first: short, and made only of characters
// that need no care in any shell or environment.

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/den-sh/den/core/project"
	"github.com/den-sh/den/envs"
)

// Variables the prompt hook keeps in the user's shell.
const (
	// EnvDiff holds the encoded Diff of the active project (Diff.Encode).
	EnvDiff = "DEN_DIFF"
	// EnvSession holds the encoded HookSession of the active project (HookSession.Encode).
	EnvSession = project.EnvSession
)

// Diff is what entering an environment changed, so that Leave can undo it.
type Diff struct {
	Vars []VarDiff
}

// VarDiff is what entering changed in one variable.
type VarDiff struct {
	Name string
	// Before is the value before entering; nil when the variable was unset.
	Before *string
	// After is the value den set.
	After string
	// List is true for a colon-separated list that den only prepended to (PATH and the like),
	// which Leave undoes entry by entry when the user changed it meanwhile.
	List bool
	// Added are the entries of a list that den added, each once for each time den added it.
	// Entries den only moved to the front are not among them.
	Added []string
}

// Enter applies vars to outer as envs.Apply does (Set replaces; Prepend puts entries in front
// of a colon-separated list, moving those already there rather than repeating them) and returns
// the new environment with the Diff that undoes it. outer is not modified.
func Enter(outer map[string]string, vars []envs.Var) (after map[string]string, d Diff) {
	after = make(map[string]string, len(outer)+len(vars))
	for k, v := range outer {
		after[k] = v
	}
	pos := map[string]int{} // name → position in d.Vars
	for _, v := range vars {
		i, seen := pos[v.Name]
		if !seen {
			vd := VarDiff{Name: v.Name, List: true}
			if cur, ok := outer[v.Name]; ok {
				vd.Before = &cur
			}
			i = len(d.Vars)
			pos[v.Name] = i
			d.Vars = append(d.Vars, vd)
		}
		if v.Op != envs.Prepend {
			d.Vars[i].List = false
		}
		var env []string
		if cur, ok := after[v.Name]; ok {
			env = []string{v.Name + "=" + cur}
		}
		out := envs.Apply(env, []envs.Var{v})
		after[v.Name] = strings.TrimPrefix(out[len(out)-1], v.Name+"=")
	}
	for i := range d.Vars {
		vd := &d.Vars[i]
		vd.After = after[vd.Name]
		if vd.List {
			var before []string
			if vd.Before != nil {
				before = strings.Split(*vd.Before, ":")
			}
			vd.Added = without(strings.Split(vd.After, ":"), before)
		}
	}
	return after, d
}

// Leave returns current (the environment now, which the user may have changed since entering)
// with the changes of d undone; current is not modified.
//
// A variable still exactly as den set it gets its value from before entering back, or is unset
// again. A variable the user changed meanwhile keeps the user's value — except a list (PATH and
// the like), for which the user's changes are kept and den's undone:
//   - entries the user added in front of or behind den's list: they stay, around the list from
//     before entering;
//   - any other change: exactly the entries den added are removed (the first occurrence of each,
//     wherever it is now), keeping every entry the user added or moved. When what remains is
//     the list den's value had apart from its additions, the user changed only den's own
//     entries, and the list from before entering comes back exactly.
func (d Diff) Leave(current map[string]string) map[string]string {
	out := make(map[string]string, len(current))
	for k, v := range current {
		out[k] = v
	}
	restore := func(vd VarDiff) {
		if vd.Before == nil {
			delete(out, vd.Name)
		} else {
			out[vd.Name] = *vd.Before
		}
	}
	for _, vd := range d.Vars {
		cur, ok := current[vd.Name]
		if !ok || !vd.List {
			if ok && cur == vd.After {
				restore(vd)
			}
			// Otherwise the user's own value, or the user unset it: theirs to keep.
			continue
		}
		list := strings.Split(cur, ":")
		den := entries(vd.Name, vd.After)
		if slices.Equal(entries(vd.Name, cur), den) {
			restore(vd)
			continue
		}
		if i := index(entries(vd.Name, cur), den); i >= 0 && vd.Before != nil {
			// The user added entries before or after den's list, as PATH=/x:$PATH or
			// PATH=$PATH:/x do: keep them around the list from before entering, which also
			// puts back the entries den moved to the front.
			var before []string
			if *vd.Before != "" {
				before = strings.Split(*vd.Before, ":")
			}
			out[vd.Name] = strings.Join(slices.Concat(list[:i], before, list[i+len(den):]), ":")
			continue
		}
		rest := removeEach(list, vd.Added)
		if slices.Equal(entries(vd.Name, strings.Join(rest, ":")), removeEach(den, vd.Added)) {
			restore(vd)
		} else {
			out[vd.Name] = strings.Join(rest, ":")
		}
	}
	return out
}

// entries splits the list value of the variable name at colons. In PATH and CDPATH an empty
// entry means the current directory, as "." does, and fish exports it as "."; so there it is
// taken as "." when comparing, for a list den set to be recognised when it comes back from fish.
func entries(name, value string) []string {
	list := strings.Split(value, ":")
	if name == "PATH" || name == "CDPATH" {
		for i, e := range list {
			if e == "" {
				list[i] = "."
			}
		}
	}
	return list
}

// index returns where the entries of inner start in list, or -1 when they are not there one
// after the other.
func index(list, inner []string) int {
	for i := 0; i+len(inner) <= len(list); i++ {
		if slices.Equal(list[i:i+len(inner)], inner) {
			return i
		}
	}
	return -1
}

// without returns the non-empty entries of list that are not in base, counting repeats: an entry
// twice in list and once in base is returned once. Empty entries are never den's: in MANPATH
// they stand for the system's defaults, which envs.Apply keeps behind den's entries.
func without(list, base []string) []string {
	left := map[string]int{}
	for _, e := range base {
		left[e]++
	}
	var out []string
	for _, e := range list {
		if left[e] > 0 {
			left[e]--
		} else if e != "" {
			out = append(out, e)
		}
	}
	return out
}

// removeEach returns list without the first occurrence of each entry of remove; an entry that is
// no longer there is skipped.
func removeEach(list, remove []string) []string {
	out := slices.Clone(list)
	for _, e := range remove {
		if i := slices.Index(out, e); i >= 0 {
			out = slices.Delete(out, i, i+1)
		}
	}
	return out
}

// Encode returns d in a form to keep in the environment variable DEN_DIFF.
func (d Diff) Encode() string { return encode(d.marshal()) }

// DecodeDiff reverses Diff.Encode.
func DecodeDiff(s string) (Diff, error) {
	var d Diff
	if err := decode(s, &d); err != nil {
		return Diff{}, fmt.Errorf("%s: %w", EnvDiff, err)
	}
	return d, nil
}

// HookSession is what the prompt hook remembers about the active project between prompts. Its
// code is in core/project, which the launcher cmd/den/front links without the rest of den.
type HookSession = project.Session

// DecodeHookSession reverses HookSession.Encode. It also reads the compressed form that den
// wrote before, which a shell opened then may still hold.
func DecodeHookSession(str string) (HookSession, error) {
	s, err := project.DecodeSession(str)
	if !errors.Is(err, project.ErrOldEncoding) {
		return s, err
	}
	data, err := inflate(str)
	if err != nil {
		return HookSession{}, fmt.Errorf("%s: %w", EnvSession, err)
	}
	if err := s.UnmarshalBinary(data); err != nil {
		return HookSession{}, err
	}
	return s, nil
}

// The encoding of DEN_DIFF, before DEFLATE and base64url: the byte 'D', then strings as their
// length (a uvarint) and bytes, numbers as varints; DEN_SESSION's (core/project) follows the same
// scheme with 'S'. It is written by hand, not as JSON, because environment values are bytes, not
// always UTF-8, which JSON would change.
const diffFormat = 'D'

// maxDecoded bounds what a variable's value may inflate to: it comes from the environment,
// which anything may have set.
const maxDecoded = 16 << 20

func (d Diff) marshal() []byte {
	w := &wire{b: []byte{diffFormat}}
	w.uint(uint64(len(d.Vars)))
	for _, vd := range d.Vars {
		var flags uint64
		if vd.Before != nil {
			flags |= 1
		}
		if vd.List {
			flags |= 2
		}
		w.uint(flags)
		w.str(vd.Name)
		if vd.Before != nil {
			w.str(*vd.Before)
		}
		w.str(vd.After)
		w.uint(uint64(len(vd.Added)))
		for _, e := range vd.Added {
			w.str(e)
		}
	}
	return w.b
}

func (d *Diff) unmarshal(r *wire) {
	if r.byte() != diffFormat {
		r.fail()
	}
	n := r.count()
	for i := 0; i < n && r.err == nil; i++ {
		flags := r.readUint()
		vd := VarDiff{Name: r.readStr(), List: flags&2 != 0}
		if flags&1 != 0 {
			before := r.readStr()
			vd.Before = &before
		}
		vd.After = r.readStr()
		for j, m := 0, r.count(); j < m && r.err == nil; j++ {
			vd.Added = append(vd.Added, r.readStr())
		}
		d.Vars = append(d.Vars, vd)
	}
}

// wire writes (b) or reads (b, err) the encoding; reading stops at the first error.
type wire struct {
	b   []byte
	err error
}

func (w *wire) str(s string)  { w.uint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *wire) uint(n uint64) { w.b = binary.AppendUvarint(w.b, n) }
func (w *wire) fail()         { w.err = errNotDen }

// done is the outcome of reading: all of it, and no error.
func (r *wire) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.fail()
	}
	return r.err
}

func (r *wire) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wire) readUint() uint64 {
	n, k := binary.Uvarint(r.b)
	if r.err != nil || k <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[k:]
	return n
}

// count reads a number of items to follow; each takes at least a byte, which bounds it.
func (r *wire) count() int {
	n := r.readUint()
	if n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *wire) readStr() string {
	n := r.readUint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

var errNotDen = errors.New("not den's encoding")

func encode(data []byte) string {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write(data)
	w.Close()
	return base64.RawURLEncoding.EncodeToString(b.Bytes())
}

func decode(s string, v interface{ unmarshal(*wire) }) error {
	data, err := inflate(s)
	if err != nil {
		return err
	}
	w := &wire{b: data}
	v.unmarshal(w)
	return w.done()
}

// inflate reverses encode.
func inflate(s string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotDen, err)
	}
	r := flate.NewReader(bytes.NewReader(raw))
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxDecoded+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotDen, err)
	}
	if len(data) > maxDecoded {
		return nil, fmt.Errorf("longer than %d bytes decoded", maxDecoded)
	}
	return data, nil
}
