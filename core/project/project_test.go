package project_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/project"
	"github.com/den-sh/den/envs"
)

// The names this package knows must be the ones the rest of den writes.
func TestNamesAgree(t *testing.T) {
	if project.LockName != lock.FileName {
		t.Errorf("LockName = %q, core/lock writes %q", project.LockName, lock.FileName)
	}
	if project.StateDir != envs.StateDir {
		t.Errorf("StateDir = %q, envs keeps state in %q", project.StateDir, envs.StateDir)
	}
}

func TestFind(t *testing.T) {
	top := t.TempDir()
	proj := filepath.Join(top, "proj")
	deep := filepath.Join(proj, "a", "b")
	os.MkdirAll(deep, 0o755)
	os.WriteFile(filepath.Join(proj, "den.toml"), nil, 0o644)
	os.MkdirAll(filepath.Join(proj, "a", "den.toml"), 0o755) // a directory named so is no manifest
	for _, dir := range []string{proj, deep, filepath.Join(proj, "a")} {
		if root, err := project.Find(dir); err != nil || root != proj {
			t.Errorf("Find(%s) = %q, %v; want %q", dir, root, err, proj)
		}
	}
	wd, _ := os.Getwd()
	t.Chdir(deep)
	if root, err := project.Find("."); err != nil || root != proj {
		t.Errorf("Find(.) = %q, %v; want %q", root, err, proj)
	}
	t.Chdir(wd)
	if root, err := project.Find(top); !errors.Is(err, project.ErrNotFound) {
		t.Errorf("Find(%s) = %q, %v; want ErrNotFound", top, root, err)
	}
}

func TestFileIDOf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if id := project.FileIDOf(p); !id.Missing {
		t.Errorf("missing file: %+v", id)
	}
	os.WriteFile(p, []byte("one"), 0o644)
	a := project.FileIDOf(p)
	if a.Missing || a.Size != 3 || a.Ino == 0 || a.MtimeNs == 0 {
		t.Errorf("FileIDOf = %+v", a)
	}
	// The same size and time, a new inode: an editor's save by rename.
	fi, _ := os.Stat(p)
	os.WriteFile(p+".new", []byte("two"), 0o644)
	os.Chtimes(p+".new", fi.ModTime(), fi.ModTime())
	os.Rename(p+".new", p)
	if b := project.FileIDOf(p); b == a {
		t.Errorf("a file replaced by rename has the same id %+v", b)
	}
}

// world is a project with two generations in a fake store, its current one the first.
type world struct{ root, state, store string }

func newWorld(t *testing.T) world {
	w := world{root: t.TempDir(), store: t.TempDir()}
	w.state = filepath.Join(w.root, project.StateDir)
	w.write(t, "den.toml", "[packages]\n")
	w.write(t, "den.lock", "")
	for _, p := range []string{"p1-profile", "p2-profile"} {
		os.Mkdir(filepath.Join(w.store, p), 0o755)
	}
	os.MkdirAll(filepath.Join(w.state, "generations"), 0o755)
	os.Symlink(filepath.Join(w.store, "p1-profile"), filepath.Join(w.state, "generations", "1"))
	os.Symlink(filepath.Join(w.store, "p2-profile"), filepath.Join(w.state, "generations", "2"))
	w.use(1)
	return w
}

func (w world) write(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(w.root, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (w world) use(gen int) {
	os.Remove(filepath.Join(w.state, "current"))
	os.Symlink(filepath.Join("generations", string(rune('0'+gen))), filepath.Join(w.state, "current"))
}

func TestSession(t *testing.T) {
	w := newWorld(t)
	s := project.NewSession(w.root)
	if s.Profile != filepath.Join(w.store, "p1-profile") {
		t.Fatalf("Profile = %q", s.Profile)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(s.Files)), []string{"den.lock", "den.toml"}) {
		t.Fatalf("Files = %v", s.Files)
	}
	decoded, err := project.DecodeSession(s.Encode())
	if err != nil || !reflect.DeepEqual(decoded, s) {
		t.Fatalf("DecodeSession(Encode) = %+v, %v; want %+v", decoded, err, s)
	}
	if !decoded.Unchanged(w.root) {
		t.Fatalf("a fresh session is changed: %+v", decoded)
	}
	if decoded.Unchanged(filepath.Join(w.root, "sub")) {
		t.Errorf("another root is unchanged")
	}
	if (project.Session{}).Unchanged(w.root) {
		t.Errorf("the zero session is unchanged")
	}
	changes := []struct {
		name   string
		change func()
	}{
		{"den.toml edited", func() {
			fi, _ := os.Stat(filepath.Join(w.root, "den.toml"))
			w.write(t, "den.toml", "[packages]\ngo = \"1\"\n")
			os.Chtimes(filepath.Join(w.root, "den.toml"), fi.ModTime(), fi.ModTime().Add(time.Nanosecond))
		}},
		{"den.lock removed", func() { os.Remove(filepath.Join(w.root, "den.lock")) }},
		{"rollback", func() { w.use(2) }},
		{"profile collected", func() { os.Remove(filepath.Join(w.store, "p2-profile")) }},
		{"generation made", func() { w.use(1) }},
		{"an added file appears", func() { w.write(t, "extra", "") }},
	}
	for _, c := range changes {
		s := project.NewSession(w.root)
		s.Files["extra"] = project.FileIDOf(filepath.Join(w.root, "extra"))
		c.change()
		if s.Unchanged(w.root) {
			t.Errorf("%s: still unchanged", c.name)
		}
		if !project.NewSession(w.root).Unchanged(w.root) {
			t.Errorf("%s: a new session is changed", c.name)
		}
	}
}

// reference is the session encoding as shellhook wrote it with encoding/binary before it moved
// here; shells opened then hold it, so the hand-written encoder must give the same bytes.
func reference(s project.Session) []byte {
	str := func(b []byte, v string) []byte { return append(binary.AppendUvarint(b, uint64(len(v))), v...) }
	b := []byte{'S'}
	b = str(b, s.Root)
	b = str(b, s.Profile)
	b = binary.AppendUvarint(b, uint64(len(s.Files)))
	names := make([]string, 0, len(s.Files))
	for name := range s.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		id := s.Files[name]
		b = str(b, name)
		b = binary.AppendVarint(b, id.Size)
		b = binary.AppendVarint(b, id.MtimeNs)
		b = binary.AppendUvarint(b, id.Ino)
		if id.Missing {
			b = binary.AppendUvarint(b, 1)
		} else {
			b = binary.AppendUvarint(b, 0)
		}
	}
	return b
}

func TestSessionEncoding(t *testing.T) {
	sessions := []project.Session{
		{Files: map[string]project.FileID{}},
		{Root: "/home/u/pröj\x00\xff", Profile: "/s/abc-profile", Files: map[string]project.FileID{
			"den.toml":         {Size: 1 << 40, MtimeNs: math.MaxInt64, Ino: math.MaxUint64},
			"den.lock":         {Missing: true},
			".den/sync.status": {Size: -1, MtimeNs: math.MinInt64, Ino: 127},
			"x":                {Size: 128, MtimeNs: -64, Ino: 16384},
		}},
	}
	for _, s := range sessions {
		data, _ := s.MarshalBinary()
		if want := reference(s); !slices.Equal(data, want) {
			t.Errorf("MarshalBinary(%+v) = %x, want %x", s, data, want)
		}
		var got project.Session
		if err := got.UnmarshalBinary(data); err != nil || !reflect.DeepEqual(got, s) {
			t.Errorf("UnmarshalBinary = %+v, %v; want %+v", got, err, s)
		}
		for i := range data {
			if err := got.UnmarshalBinary(data[:i]); err == nil {
				t.Errorf("%x, truncated to %d bytes, decoded", data, i)
			}
		}
		if err := got.UnmarshalBinary(append(data, 0)); err == nil {
			t.Errorf("%x with a trailing byte decoded", data)
		}
	}
	overflow := append([]byte{'S', 0, 0, 1, 1, 'x'}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0)
	var s project.Session
	if err := s.UnmarshalBinary(overflow); err == nil {
		t.Errorf("a varint beyond 64 bits decoded: %+v", s)
	}
	for _, bad := range []string{"", ".", ".!!", "." + base64.RawURLEncoding.EncodeToString([]byte("Sx")),
		"." + base64.RawURLEncoding.EncodeToString([]byte("D\x00")), "." + base64.RawURLEncoding.EncodeToString(append(reference(project.Session{}), 0))} {
		if _, err := project.DecodeSession(bad); err == nil {
			t.Errorf("DecodeSession(%q) succeeded", bad)
		}
	}
	// An older den's compressed form is not base64url behind a dot: shellhook reads it.
	if _, err := project.DecodeSession("AAAA"); !errors.Is(err, project.ErrOldEncoding) {
		t.Errorf("DecodeSession(compressed) = %v, want ErrOldEncoding", err)
	}
}

// TestAtPrompt checks the hook's no-change decision in each place a prompt can be.
func TestAtPrompt(t *testing.T) {
	w := newWorld(t)
	other := newWorld(t)
	outside := t.TempDir()
	sub := filepath.Join(w.root, "sub")
	os.Mkdir(sub, 0o755)
	sess := project.NewSession(w.root).Encode()
	cases := []struct {
		name  string
		dir   string
		env   map[string]string
		quiet bool
		root  string
	}{
		{"outside, no session", outside, nil, true, ""},
		{"outside, a hint to take back", outside, map[string]string{project.EnvUntrusted: w.root}, false, ""},
		{"outside, a session to leave", outside, map[string]string{project.EnvSession: sess}, false, ""},
		{"in the project, no session", w.root, nil, false, w.root},
		{"in the project, its session", w.root, map[string]string{project.EnvSession: sess}, true, w.root},
		{"below the project, its session", sub, map[string]string{project.EnvSession: sess}, true, w.root},
		{"in another project, this session", other.root, map[string]string{project.EnvSession: sess}, false, other.root},
		{"in the project, an unreadable session", w.root, map[string]string{project.EnvSession: ".!!"}, false, w.root},
		{"in the project, an older den's session", w.root, map[string]string{project.EnvSession: "AAAA"}, false, w.root},
		{"den shell's project from outside", outside, map[string]string{project.EnvSession: sess, project.EnvShellRoot: w.root}, true, w.root},
		{"den shell's project from another", other.root, map[string]string{project.EnvSession: sess, project.EnvShellRoot: w.root}, true, w.root},
		{"den shell, not yet applied", outside, map[string]string{project.EnvShellRoot: w.root}, false, w.root},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Chdir(c.dir)
			p := project.AtPrompt(func(k string) string { return c.env[k] }, project.DecodeSession)
			if p.Quiet != c.quiet || p.Root != c.root {
				t.Errorf("AtPrompt = %+v; want Quiet %v, Root %q", p, c.quiet, c.root)
			}
		})
	}
	// Any change to the project makes the next prompt look again.
	w.write(t, "den.lock", "# changed\n")
	t.Chdir(w.root)
	if p := project.AtPrompt(func(k string) string { return map[string]string{project.EnvSession: sess}[k] }, project.DecodeSession); p.Quiet {
		t.Errorf("after den.lock changed: %+v", p)
	}
}
