package shellhook

import (
	"encoding/base64"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/den-sh/den/core/project"
	"github.com/den-sh/den/envs"
)

// projectA and projectB are the variables of two projects, as envs.Variables gives them.
var (
	projectA = []envs.Var{
		{Name: "PATH", Value: "/store/a-profile/bin", Op: envs.Prepend},
		{Name: "MANPATH", Value: "/store/a-profile/share/man", Op: envs.Prepend},
		{Name: "DEN_ROOT", Value: "/home/u/a", Op: envs.Set},
		{Name: "GOFLAGS", Value: "-mod=mod", Op: envs.Set},
		{Name: "PATH", Value: "/home/u/a/bin:/usr/bin", Op: envs.Prepend}, // /usr/bin moves to the front
		{Name: "EDITOR", Value: "vim", Op: envs.Set},
	}
	projectB = []envs.Var{
		{Name: "PATH", Value: "/store/b-profile/bin", Op: envs.Prepend},
		{Name: "DEN_ROOT", Value: "/home/u/b", Op: envs.Set},
		{Name: "NODE_ENV", Value: "development", Op: envs.Set},
	}
)

func outerEnv() map[string]string {
	return map[string]string{
		"PATH":   "/usr/local/bin:/usr/bin:/bin",
		"HOME":   "/home/u",
		"EDITOR": "nano",
		"EMPTY":  "",
	}
}

func TestEnterApplies(t *testing.T) {
	outer := outerEnv()
	after, _ := Enter(outer, projectA)
	want := map[string]string{
		"PATH":     "/home/u/a/bin:/usr/bin:/store/a-profile/bin:/usr/local/bin:/bin",
		"MANPATH":  "/store/a-profile/share/man:", // the empty entry keeps man's defaults
		"HOME":     "/home/u",
		"EDITOR":   "vim",
		"EMPTY":    "",
		"DEN_ROOT": "/home/u/a",
		"GOFLAGS":  "-mod=mod",
	}
	if !maps.Equal(after, want) {
		t.Errorf("Enter =\n%q\nwant\n%q", after, want)
	}
	if !maps.Equal(outer, outerEnv()) {
		t.Errorf("Enter modified outer: %q", outer)
	}
	// The same as den run and den shell compute.
	env := envs.Apply(environ(outer), projectA)
	if got := fromEnviron(env); !maps.Equal(got, after) {
		t.Errorf("Enter = %q, envs.Apply = %q", after, got)
	}
}

func TestLeaveRestoresExactly(t *testing.T) {
	for name, vars := range map[string][]envs.Var{"A": projectA, "B": projectB, "none": nil} {
		outer := outerEnv()
		after, d := Enter(outer, vars)
		if got := d.Leave(after); !maps.Equal(got, outer) {
			t.Errorf("%s: Leave(Enter(outer)) =\n%q\nwant\n%q", name, got, outer)
		}
		// Entering twice (a den inside a den) changes nothing more, and leaving the inner one
		// gives the outer one back.
		again, d2 := Enter(after, vars)
		if !maps.Equal(again, after) {
			t.Errorf("%s: entering twice = %q, want %q", name, again, after)
		}
		if got := d2.Leave(again); !maps.Equal(got, after) {
			t.Errorf("%s: leaving the inner one = %q, want %q", name, got, after)
		}
	}
}

func TestLeaveKeepsUserChanges(t *testing.T) {
	outer := outerEnv()
	after, d := Enter(outer, projectA)

	cur := maps.Clone(after)
	cur["GOFLAGS"] = "-v"                                    // changed a variable den set
	cur["EDITOR"] = "emacs"                                  // changed a variable den replaced
	cur["PATH"] = "/opt/first:" + cur["PATH"] + ":/opt/last" // added entries at both ends
	delete(cur, "DEN_ROOT")                                  // unset a variable den set
	cur["MINE"] = "x"                                        // a variable of the user's own

	got := d.Leave(cur)
	want := map[string]string{
		"PATH":    "/opt/first:/usr/local/bin:/usr/bin:/bin:/opt/last", // /usr/bin back in its place
		"HOME":    "/home/u",
		"EDITOR":  "emacs",
		"EMPTY":   "",
		"GOFLAGS": "-v",
		"MINE":    "x",
	}
	if !maps.Equal(got, want) {
		t.Errorf("Leave =\n%q\nwant\n%q", got, want)
	}
}

func TestLeaveUserEditedInside(t *testing.T) {
	outer := outerEnv()
	after, d := Enter(outer, projectA)
	// An entry inserted between den's and one of the outer ones moved to the front: den's go,
	// the user's edits stay.
	cur := maps.Clone(after)
	cur["PATH"] = "/bin:/home/u/a/bin:/usr/bin:/opt/mid:/store/a-profile/bin:/usr/local/bin"
	if got := d.Leave(cur)["PATH"]; got != "/bin:/usr/bin:/opt/mid:/usr/local/bin" {
		t.Errorf("PATH = %q", got)
	}
}

func TestLeaveUserRemovedDenEntry(t *testing.T) {
	outer := outerEnv()
	after, d := Enter(outer, projectA)

	// Only den's entries touched: the outer PATH comes back as it was.
	cur := maps.Clone(after)
	cur["PATH"] = strings.Replace(cur["PATH"], "/store/a-profile/bin:", "", 1)
	if got := d.Leave(cur); got["PATH"] != outer["PATH"] {
		t.Errorf("PATH after leaving = %q, want %q", got["PATH"], outer["PATH"])
	}

	// den's entries removed and one of the user's added: the user's stays, den's go.
	cur["PATH"] = "/usr/bin:/usr/local/bin:/bin:/opt/mine"
	if got := d.Leave(cur); got["PATH"] != "/usr/bin:/usr/local/bin:/bin:/opt/mine" {
		t.Errorf("PATH after leaving = %q", got["PATH"])
	}

	// The user emptied PATH, or unset it: theirs to keep.
	cur["PATH"] = ""
	if got := d.Leave(cur); got["PATH"] != "" {
		t.Errorf("PATH after leaving = %q, want it empty", got["PATH"])
	}
	delete(cur, "PATH")
	if got, ok := d.Leave(cur)["PATH"]; ok {
		t.Errorf("PATH after leaving = %q, want it unset", got)
	}
}

func TestLeaveUserMovedDenEntry(t *testing.T) {
	outer := outerEnv()
	after, d := Enter(outer, projectB)
	cur := maps.Clone(after)
	// The user added an entry in front, and den's entry is now behind it.
	cur["PATH"] = "/opt/mine:" + after["PATH"]
	if got := d.Leave(cur)["PATH"]; got != "/opt/mine:"+outer["PATH"] {
		t.Errorf("PATH = %q", got)
	}
	// An entry that den added and the user also had added again later: one goes.
	cur["PATH"] = after["PATH"] + ":/store/b-profile/bin:/opt/x"
	if got := d.Leave(cur)["PATH"]; got != outer["PATH"]+":/store/b-profile/bin:/opt/x" {
		t.Errorf("PATH = %q", got)
	}
}

func TestLeaveAfterFish(t *testing.T) {
	// fish exports PATH's empty entries (the current directory) as ".": still den's value.
	outer := map[string]string{"PATH": "/usr/bin::/bin"}
	after, d := Enter(outer, projectB)
	cur := map[string]string{}
	for k, v := range after {
		cur[k] = strings.Join(entries(k, v), ":")
	}
	if got := d.Leave(cur); !maps.Equal(got, outer) {
		t.Errorf("Leave = %q, want %q", got, outer)
	}
	cur["PATH"] += ":/opt/mine"
	if got := d.Leave(cur)["PATH"]; got != "/usr/bin::/bin:/opt/mine" {
		t.Errorf("PATH = %q", got)
	}
}

func TestLeaveUnsetList(t *testing.T) {
	outer := map[string]string{"PATH": "/bin"}
	after, d := Enter(outer, projectA)
	// MANPATH was unset: den's value ends in the empty entry of man's defaults.
	cur := maps.Clone(after)
	cur["MANPATH"] += ":/opt/man"
	if got := d.Leave(cur)["MANPATH"]; got != ":/opt/man" {
		t.Errorf("MANPATH = %q, want %q", got, ":/opt/man")
	}
	cur["MANPATH"] = "" // the user removed den's entry
	if got, ok := d.Leave(cur)["MANPATH"]; ok {
		t.Errorf("MANPATH = %q, want it unset as before", got)
	}
}

func TestSwap(t *testing.T) {
	outer := outerEnv()
	inA, dA := Enter(outer, projectA)
	inB, _ := Enter(dA.Leave(inA), projectB)
	direct, _ := Enter(outer, projectB)
	if !maps.Equal(inB, direct) {
		t.Errorf("A then B =\n%q\nB from outside =\n%q", inB, direct)
	}
	for _, e := range strings.Split(inB["PATH"], ":") {
		if strings.Contains(e, "a-profile") || strings.Contains(e, "/home/u/a") {
			t.Errorf("A's entry %s in B's PATH %s", e, inB["PATH"])
		}
	}

	// With a change of the user's made in A, which B keeps.
	inA["PATH"] += ":/opt/mine"
	inA["MINE"] = "1"
	inB, _ = Enter(dA.Leave(inA), projectB)
	outer["PATH"] += ":/opt/mine"
	outer["MINE"] = "1"
	direct, _ = Enter(outer, projectB)
	if !maps.Equal(inB, direct) {
		t.Errorf("A then B =\n%q\nB from outside =\n%q", inB, direct)
	}
}

// nasty are values that quoting and encoding must keep byte for byte.
var nasty = map[string]string{
	"SPACES":   "  two  spaces  ",
	"QUOTES":   `it's "quoted" ` + "`tick`",
	"NEWLINES": "line one\nline two\n\n",
	"CRLF":     "a\r\nb",
	"TAB":      "a\tb",
	"EQUALS":   "a=b==c=",
	"SUBST":    "$(touch pwned) `touch pwned2` ${HOME} $HOME",
	"BACKSL":   `back\slash\\ and \' and \n and trailing\`,
	"UNICODE":  "ünïcødé 日本語 🐟 \u00a0nbsp",
	"CONTROL":  "\x01\x07\x1b[31mred\x1b[0m\x7f\x1f0f",
	"SHELLY":   `!! !$ ; & | < > * ? [a] ~ # % {a,b} -e --`,
	"EMPTY":    "",
	"DASH":     "-e",
	"BYTES":    "not UTF-8: \xff\xfe\xc3(",
}

func TestEncodeRoundTrip(t *testing.T) {
	outer := outerEnv()
	var vars []envs.Var
	for name, v := range nasty {
		vars = append(vars, envs.Var{Name: name, Value: v, Op: envs.Set})
		outer[name] = "before " + v
	}
	outer["EMPTY"] = ""  // empty before, set to empty
	delete(outer, "TAB") // unset before
	vars = append(vars, projectA...)
	after, d := Enter(outer, vars)

	s := d.Encode()
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		t.Errorf("Encode uses characters outside base64url: %q", s)
	}
	got, err := DecodeDiff(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Encode() != s {
		t.Errorf("Encode(Decode(s)) != s")
	}
	if left := got.Leave(after); !maps.Equal(left, outer) {
		t.Errorf("Leave after a round trip =\n%q\nwant\n%q", left, outer)
	}
	for _, vd := range got.Vars {
		switch vd.Name {
		case "TAB":
			if vd.Before != nil {
				t.Errorf("TAB was unset, decoded Before = %q", *vd.Before)
			}
		case "EMPTY":
			if vd.Before == nil || *vd.Before != "" {
				t.Errorf("EMPTY was empty, decoded Before = %v", vd.Before)
			}
		}
		if want, ok := nasty[vd.Name]; ok && vd.After != want {
			t.Errorf("%s decoded = %q, want %q", vd.Name, vd.After, want)
		}
	}

	truncated := encode(d.marshal()[:len(d.marshal())-1])
	trailing := encode(append(d.marshal(), 0))
	for _, bad := range []string{"", "!!!", "AAAA", s[:len(s)/2], truncated, trailing, project.NewSession(t.TempDir()).Encode()} {
		if _, err := DecodeDiff(bad); err == nil {
			t.Errorf("DecodeDiff(%q) succeeded", bad)
		}
	}
	if d, err := DecodeDiff(Diff{}.Encode()); err != nil || len(d.Vars) != 0 {
		t.Errorf("empty Diff round trip = %v, %v", d, err)
	}
}

// TestDecodeHookSession checks that den reads the session both as it writes it now and in the
// compressed form an older den wrote, which a shell opened then may still hold; core/project
// tests the rest.
func TestDecodeHookSession(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "den.toml"), []byte("[packages]\n"), 0o644)
	s := project.NewSession(root)
	decoded, err := DecodeHookSession(s.Encode())
	if err != nil || !reflect.DeepEqual(decoded, s) {
		t.Fatalf("DecodeHookSession(Encode) = %+v, %v; want %+v", decoded, err, s)
	}
	data, _ := s.MarshalBinary()
	if old, err := DecodeHookSession(encode(data)); err != nil || !reflect.DeepEqual(old, s) {
		t.Errorf("compressed session = %+v, %v; want %+v", old, err, s)
	}
	if !decoded.Unchanged(root) {
		t.Errorf("a fresh session is changed: %+v", decoded)
	}
	for _, bad := range []string{".", ".!!", "." + base64.RawURLEncoding.EncodeToString([]byte("Sx")), encode([]byte("D")), encode(append(data, 0)), "!!!"} {
		if _, err := DecodeHookSession(bad); err == nil {
			t.Errorf("DecodeHookSession(%q) succeeded", bad)
		}
	}
	if EnvShellRoot != project.EnvShellRoot {
		t.Errorf("den shell sets %s but the prompt hook reads %s", EnvShellRoot, project.EnvShellRoot)
	}
}

func environ(m map[string]string) []string {
	var env []string
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	return env
}

func fromEnviron(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
