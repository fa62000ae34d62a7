package shellhook

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestChanges(t *testing.T) {
	before := map[string]string{"SAME": "1", "CHANGED": "a", "GONE": "x", "EMPTIED": "e"}
	after := map[string]string{"SAME": "1", "CHANGED": "b", "NEW": "", "EMPTIED": ""}
	got := Changes(before, after)
	want := map[string]string{"CHANGED": "b", "NEW": "", "EMPTIED": ""}
	if len(got) != 4 || got["GONE"] != nil {
		t.Errorf("Changes = %v", got)
	}
	for name, v := range want {
		if got[name] == nil || *got[name] != v {
			t.Errorf("Changes[%s] = %v, want %q", name, got[name], v)
		}
	}
	if len(Changes(before, before)) != 0 {
		t.Errorf("no change gives changes")
	}
}

func TestQuoteANSIC(t *testing.T) {
	for in, want := range map[string]string{
		"":           `$''`,
		"plain":      `$'plain'`,
		"it's":       `$'it\'s'`,
		`a\b`:        `$'a\\b'`,
		"a\nb\tc\rd": `$'a\nb\tc\rd'`,
		"\x01f\x7f":  `$'\x01f\x7f'`,
		"日本 $HOME":   `$'日本 $HOME'`,
	} {
		if got := quoteANSIC(in); got != want {
			t.Errorf("quoteANSIC(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestExportText(t *testing.T) {
	v := "a:b"
	changes := map[string]*string{"PATH": &v, "B": &v, "GONE": nil, "BAD;touch x": &v, "1X": &v}
	for shell, want := range map[string]string{
		"bash":         "export B=$'a:b'\nunset GONE\nexport PATH=$'a:b'\n",
		"/usr/bin/zsh": "export B=$'a:b'\nunset GONE\nexport PATH=$'a:b'\n",
		"fish":         "set -gx -- B 'a:b';\nset -e GONE;\nset -gx -- PATH 'a' 'b';\n",
		"/bin/sh":      "export B='a:b'\nunset GONE\nexport PATH='a:b'\n",
	} {
		if got := Export(shell, changes); got != want {
			t.Errorf("Export(%s) =\n%s\nwant\n%s", shell, got, want)
		}
	}
}

// exportCases are the variables TestExportInShell sets and unsets, with the environment the shell
// starts with.
func exportCases() (start map[string]string, changes map[string]*string) {
	start = map[string]string{"GONE": "x", "GONE_EMPTY": "", "SPACES": "old", "MANPATH": "/old"}
	changes = map[string]*string{"GONE": nil, "GONE_EMPTY": nil, "NEVER_SET": nil}
	for name, v := range nasty {
		changes[name] = &v
	}
	for name, v := range map[string]string{
		"MANPATH":          "/a b/man::/it's/man:/日本:",
		"INFOPATH":         "",
		"CDPATH":           ":/one",
		"DEN_PATHS":        "a:b", // not a list: does not end in PATH
		"LONG":             strings.Repeat("x'\n\\", 5000),
		"BAD;touch pwned3": "x",
	} {
		changes[name] = &v
	}
	return start, changes
}

// shellRun says how to run a script in each shell without reading the user's configuration, and
// prints a variable as "set:VALUE" or "unset", then NUL.
var shellRun = map[string]struct {
	args  []string
	print string // with NAME for the variable's name
}{
	"bash": {[]string{"--norc", "--noprofile", "-c"}, `if [ -n "${NAME+x}" ]; then printf 'set:%s\0' "$NAME"; else printf 'unset\0'; fi` + "\n"},
	"zsh":  {[]string{"-f", "-c"}, `if [ -n "${NAME+x}" ]; then printf 'set:%s\0' "$NAME"; else printf 'unset\0'; fi` + "\n"},
	"sh":   {[]string{"-c"}, `if [ -n "${NAME+x}" ]; then printf 'set:%s\0' "$NAME"; else printf 'unset\0'; fi` + "\n"},
	"fish": {[]string{"--no-config", "-c"}, `if set -q NAME; printf 'set:%s\0' "$NAME"; else; printf 'unset\0'; end` + "\n"},
}

func TestExportInShell(t *testing.T) {
	start, changes := exportCases()
	names := slices.Sorted(maps.Keys(changes))
	envBin, _ := exec.LookPath("env")
	for _, shell := range []string{"bash", "zsh", "fish", "sh"} {
		t.Run(shell, func(t *testing.T) {
			bin := lookShell(t, shell)
			dir := t.TempDir()
			run := shellRun[shell]
			script := Export(shell, changes)
			for _, name := range names {
				if isIdentifier(name) {
					script += strings.ReplaceAll(run.print, "NAME", name)
				}
			}
			if shell == "fish" {
				script += "printf 'count:%s\\0' (count $MANPATH)\n"
			}
			if envBin != "" {
				// What a command started from the shell sees.
				script += "printf 'ENV\\0'\n" + envBin + " -0\n"
			}
			cmd := exec.Command(bin, append(run.args, script)...)
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LANG=C.UTF-8"}
			for k, v := range start {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || stderr.Len() > 0 {
				t.Fatalf("%s: %v\n%s\nscript:\n%s", shell, err, stderr.String(), script)
			}
			fields := strings.Split(string(out), "\x00")
			for _, name := range names {
				if !isIdentifier(name) {
					continue
				}
				want := "unset"
				if v := changes[name]; v != nil {
					want = "set:" + fishValue(shell, name, *v)
				}
				if fields[0] != want {
					t.Errorf("%s: %s = %q, want %q", shell, name, fields[0], want)
				}
				fields = fields[1:]
			}
			if shell == "fish" {
				if want := "count:" + "5"; fields[0] != want {
					t.Errorf("fish: MANPATH is a list of %q, want 5 entries", fields[0])
				}
				fields = fields[1:]
			}
			if envBin != "" {
				if fields[0] != "ENV" {
					t.Fatalf("%s: output out of step at %q", shell, fields[0])
				}
				env := map[string]string{}
				for _, kv := range fields[1:] {
					if k, v, ok := strings.Cut(kv, "="); ok {
						env[k] = v
					}
				}
				for _, name := range names {
					got, ok := env[name]
					switch v := changes[name]; {
					case !isIdentifier(name):
						if ok {
							t.Errorf("%s: the invalid name %q was exported", shell, name)
						}
					case v == nil && ok:
						t.Errorf("%s: %s in a command's environment = %q, want it unset", shell, name, got)
					case v != nil && (!ok || got != fishValue(shell, name, *v)):
						t.Errorf("%s: %s in a command's environment = %q (%v), want %q", shell, name, got, ok, *v)
					}
				}
			}
			if pwned, _ := filepath.Glob(filepath.Join(dir, "pwned*")); len(pwned) > 0 {
				t.Errorf("%s: a value ran code: %s", shell, pwned)
			}
		})
	}
}

// TestExportFishPath checks that PATH itself, set by den in fish, is the list of its entries and
// reaches commands joined with colons as it was.
func TestExportFishPath(t *testing.T) {
	bin := lookShell(t, "fish")
	path := os.Getenv("PATH")
	entries := strings.Split(path, ":")
	newPath := "/den/it's here/bin:" + path
	script := Export("fish", map[string]*string{"PATH": &newPath}) +
		"printf '%s\\0' (count $PATH) $PATH[1] \"$PATH\"\nprintf '%s\\0' (sh -c 'printf %s \"$PATH\"')\n"
	cmd := exec.Command(bin, "--no-config", "-c", script)
	cmd.Env = []string{"PATH=" + path, "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := strings.Split(string(out), "\x00")
	want := []string{strconv.Itoa(len(entries) + 1), "/den/it's here/bin", newPath, newPath, ""}
	if !slices.Equal(got, want) {
		t.Errorf("fish PATH = %q, want %q", got, want)
	}
}

// fishValue is value as fish has it: fish writes the empty entries of PATH and CDPATH, which
// mean the current directory, as ".".
func fishValue(shell, name, value string) string {
	if shell != "fish" {
		return value
	}
	return strings.Join(entries(name, value), ":")
}

// lookShell finds shell, or skips the test when it is missing, unless DEN_REQUIRE_SHELLS=1.
func lookShell(t *testing.T, shell string) string {
	t.Helper()
	bin, err := exec.LookPath(shell)
	if err != nil {
		if os.Getenv("DEN_REQUIRE_SHELLS") == "1" {
			t.Fatalf("%s is required (DEN_REQUIRE_SHELLS=1): %v", shell, err)
		}
		t.Skipf("%s is not installed", shell)
	}
	return bin
}
