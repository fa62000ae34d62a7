package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// completionScript writes den's completion script for shell to a file and returns its path.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"completion", shell}, &stdout, &stderr); code != exitOK {
		t.Fatalf("den completion %s: exit %d: %s", shell, code, stderr.String())
	}
	path := filepath.Join(t.TempDir(), "den."+shell)
	if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// requireShell finds shell, skipping the test without it unless DEN_REQUIRE_SHELLS=1.
func requireShell(t *testing.T, shell string) string {
	t.Helper()
	path, err := exec.LookPath(shell)
	if err != nil {
		if os.Getenv("DEN_REQUIRE_SHELLS") == "1" {
			t.Fatalf("DEN_REQUIRE_SHELLS=1 but %s is not on PATH", shell)
		}
		t.Skipf("%s is not installed", shell)
	}
	return path
}

// runShell runs a shell with a home of its own, so that fish and zsh write no history or
// config of the user's.
func runShell(t *testing.T, name string, args ...string) string {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home+"/.config",
		"XDG_DATA_HOME="+home+"/.local/share", "XDG_CACHE_HOME="+home+"/.cache", "ZDOTDIR="+home)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func TestCompletionSyntax(t *testing.T) {
	for shell, check := range map[string][]string{
		"bash": {"--norc", "--noprofile", "-n"},
		"zsh":  {"-f", "-n"},
		"fish": {"--no-config", "--no-execute"},
	} {
		t.Run(shell, func(t *testing.T) {
			sh := requireShell(t, shell)
			script := completionScript(t, shell)
			runShell(t, sh, append(check, script)...)
		})
	}
}

// TestCompletionCoversCLI checks that every visible command appears in every script: they are
// generated from the same model the parser uses.
func TestCompletionCoversCLI(t *testing.T) {
	parser, err := kong.New(&CLI{}, kong.Name("den"), kong.Vars{"version": denVersion})
	if err != nil {
		t.Fatal(err)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		data, err := os.ReadFile(completionScript(t, shell))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range parser.Model.Leaves(true) {
			if !strings.Contains(string(data), n.Name) {
				t.Errorf("%s script lacks command %q", shell, n.Path())
			}
			for _, f := range n.Flags {
				if !f.Hidden && !strings.Contains(string(data), f.Name) {
					t.Errorf("%s script lacks flag --%s of %q", shell, f.Name, n.Path())
				}
			}
		}
	}
}

func TestCompletionBash(t *testing.T) {
	bash := requireShell(t, "bash")
	script := completionScript(t, "bash")
	for _, tc := range []struct {
		words     string // COMP_WORDS, the last being the word at the cursor
		want, not []string
	}{
		{words: "den st", want: []string{"store"}},
		{words: "den store ''", want: []string{"gc", "path-info", "optimise"}, not: []string{"init"}},
		{words: "den build --pr", want: []string{"--print-build-logs"}},
		{words: "den add go", want: []string{"go", "gopls"}, not: []string{"node"}},
		{words: "den x no", want: []string{"node"}},
		{words: "den versions ''", want: []string{"go", "node"}},
		{words: "den completion ''", want: []string{"bash", "zsh", "fish"}},
		{words: "den env --shell ''", want: []string{"bash", "zsh", "fish"}},
		{words: "den shell --shell ''", want: []string{"bash", "zsh", "fish"}},
		{words: "den help st", want: []string{"store"}},
		{words: "den lock --sy", want: []string{"--systems"}},
		{words: "den --ver", want: []string{"--version"}},
		{words: "den store hash --format ''", want: []string{"nix32", "sri", "hex"}},
		{words: "den -q store path-info --", want: []string{"--json", "--closure", "--quiet"}},
		{words: "den store hash --format s", want: []string{"sri"}, not: []string{"hex"}},
		// "den store add" takes files, not packages.
		{words: "den store add go", not: []string{"gopls"}},
	} {
		t.Run(tc.words, func(t *testing.T) {
			out := runShell(t, bash, "--norc", "--noprofile", "-c",
				`source "$1" && COMP_WORDS=(`+tc.words+`) && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && _den && printf '%s\n' "${COMPREPLY[@]}"`,
				"bash", script)
			got := strings.Fields(out)
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("completions %q lack %q", got, w)
				}
			}
			for _, w := range tc.not {
				if slices.Contains(got, w) {
					t.Errorf("completions %q include %q", got, w)
				}
			}
		})
	}
}

func TestCompletionFish(t *testing.T) {
	fish := requireShell(t, "fish")
	script := completionScript(t, "fish")
	for line, want := range map[string]string{
		"den st":                   "store",
		"den store ":               "path-info",
		"den add gop":              "gopls",
		"den build --pr":           "--print-build-logs",
		"den completion ":          "zsh",
		"den store hash --format ": "nix32",
	} {
		out := runShell(t, fish, "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, script, line)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			word, _, _ := strings.Cut(l, "\t")
			got = append(got, word)
		}
		if !slices.Contains(got, want) {
			t.Errorf("complete -C %q = %q, want %q among them", line, got, want)
		}
	}
}

func TestCompletionZshRegisters(t *testing.T) {
	zsh := requireShell(t, "zsh")
	script := completionScript(t, "zsh")
	out := runShell(t, zsh, "-f", "-c", `autoload -U compinit && compinit -u -D && source $1 && print -r -- $_comps[den]`, "zsh", script)
	if strings.TrimSpace(out) != "_den" {
		t.Errorf("after sourcing, zsh completes den with %q, want _den", out)
	}
}
