package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/envs"
)

// installPair builds den as make build does, the launcher as den and the full program as
// den-core, into a new directory, and returns that directory.
func installPair(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds den twice")
	}
	bin := t.TempDir()
	for out, pkg := range map[string]string{"den": "github.com/den-sh/den/cmd/den/front", "den-core": "github.com/den-sh/den/cmd/den"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(bin, out), pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, msg)
		}
	}
	return bin
}

// result is what one run of den printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

// TestFront runs the launcher against the real den-core and against a stand-in that records
// that it ran: what the launcher answers itself, what it hands over and how, and what happens
// when den-core is missing.
func TestFront(t *testing.T) {
	bin := installPair(t)
	den := filepath.Join(bin, "den")
	dir := t.TempDir()
	proj := filepath.Join(dir, "proj")
	os.MkdirAll(proj, 0o755)
	os.WriteFile(filepath.Join(proj, "den.toml"), []byte("[env]\nGREETING = \"hi\"\n"), 0o644)
	base := []string{"HOME=" + dir + "/home", "XDG_CONFIG_HOME=" + dir + "/config", "XDG_STATE_HOME=" + dir + "/xstate",
		"XDG_DATA_HOME=" + dir + "/data", "XDG_CACHE_HOME=" + dir + "/xcache", "DEN_STORE=" + dir + "/store",
		"DEN_STATE=" + dir + "/state", "DEN_CACHE=" + dir + "/cache", "PATH=" + os.Getenv("PATH")}
	run := func(env []string, path string, args ...string) result {
		t.Helper()
		cmd := exec.Command(path, args...)
		cmd.Dir, cmd.Env = proj, append(base[:len(base):len(base)], env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("den %v: %v", args, err)
		}
		return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
	}
	mustRun := func(args ...string) result {
		t.Helper()
		r := run(nil, den, args...)
		if r.code != 0 {
			t.Fatalf("den %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		return r
	}

	// Commands go through to den-core.
	if r := mustRun("version"); r.stdout != "den dev\n" {
		t.Errorf("den version printed %q", r.stdout)
	}
	if r := mustRun("--help"); !strings.Contains(r.stdout, "Usage: den") || !strings.Contains(r.stdout, "Print den's version") {
		t.Errorf("den --help printed %q", r.stdout)
	}
	// The hook runs den as the shell ran it: by its absolute path, through PATH, by a link.
	if r := mustRun("hook", "bash"); !strings.Contains(r.stdout, "'"+den+"' export bash") {
		t.Errorf("den hook bash does not run %s:\n%s", den, r.stdout)
	}
	if r := mustRun("direnv"); !strings.Contains(r.stdout, "'"+den+"' env --shell bash") {
		t.Errorf("den direnv does not run %s:\n%s", den, r.stdout)
	}
	links := filepath.Join(dir, "links")
	os.Mkdir(links, 0o755)
	os.Symlink(den, filepath.Join(links, "den"))
	// As a shell runs it: argv[0] is the bare name.
	cmd := &exec.Cmd{Path: filepath.Join(links, "den"), Args: []string{"den", "hook", "zsh"},
		Env: []string{"PATH=" + links + ":/usr/bin:/bin", "HOME=" + dir + "/home"}}
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "'"+filepath.Join(links, "den")+"' export zsh") {
		t.Errorf("den hook zsh run through PATH and a link: %v\n%s", err, out)
	}

	// Activate the project with the real den-core, as the shell's first prompt does.
	mustRun("allow")
	mustRun("sync")
	shell := exec.Command("bash", "-c", `eval "$("$DEN" export bash)" && printf '%s\n' "DEN_SESSION=$DEN_SESSION" "DEN_DIFF=$DEN_DIFF"`)
	shell.Dir, shell.Env = proj, append(base[:len(base):len(base)], "DEN="+den)
	out, err := shell.Output()
	if err != nil {
		t.Fatalf("activating in bash: %v\n%s", err, out)
	}
	active := strings.Fields(string(out))
	if len(active) != 2 || len(active[0]) < len("DEN_SESSION=..") {
		t.Fatalf("no session after activating: %q", out)
	}
	if r := run(active, den, "export", "bash"); r != (result{}) {
		t.Fatalf("den export bash with nothing changed: %+v", r)
	}

	// Now den-core only records that it ran: an unchanged prompt must not start it, and anything
	// else starts it with the same arguments and the launcher's path.
	core := filepath.Join(bin, "den-core")
	real := filepath.Join(dir, "den-core.real")
	if err := os.Rename(core, real); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(dir, "ran")
	os.WriteFile(core, []byte("#!/bin/sh\n{ printf '%s|' \"$@\"; printf '%s\\n' \"$DEN_FRONT\"; } >>"+record+"\n"), 0o755)
	ran := func() string {
		data, _ := os.ReadFile(record)
		os.Remove(record)
		return string(data)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if r := run(active, den, "export", sh); r != (result{}) {
			t.Errorf("den export %s with nothing changed: %+v", sh, r)
		}
	}
	if got := ran(); got != "" {
		t.Fatalf("an unchanged prompt started den-core: %q", got)
	}
	os.MkdirAll(filepath.Join(proj, "deeper"), 0o755)
	sub := exec.Command(den, "export", "bash")
	sub.Dir, sub.Env = filepath.Join(proj, "deeper"), append(base[:len(base):len(base)], active...)
	if out, err := sub.CombinedOutput(); err != nil || len(out) != 0 || ran() != "" {
		t.Errorf("below the project, an unchanged prompt printed %q (%v) or started den-core", out, err)
	}
	if r := run(nil, den, "version"); r.code != 0 || ran() != "version|"+den+"\n" {
		t.Errorf("den version did not start den-core with its arguments: %+v", r)
	}
	f, _ := os.OpenFile(filepath.Join(proj, "den.toml"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("# edited\n")
	f.Close()
	if r := run(active, den, "export", "bash"); r != (result{}) || ran() != "export|bash|"+den+"\n" {
		t.Errorf("after den.toml changed, den export bash did not go to den-core: %+v", r)
	}

	// den run in an unchanged project is the launcher's too: it execs the command itself, with
	// the same environment den-core gives it, and den-core (still the recorder) never starts.
	tools, profile := toolProject(t, dir)
	inTools := func(env []string, args ...string) result {
		t.Helper()
		cmd := exec.Command(den, args...)
		// A PATH of its own, without the duplicates a developer's may have, which prepending drops.
		cmd.Dir, cmd.Env = tools, append(append(base[:len(base):len(base)], "PATH=/usr/bin:/bin"), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("den %v: %v", args, err)
		}
		return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
	}
	outer := "FOO=outer"
	wantPath := tools + "/scripts:" + profile + "/bin:/usr/bin:/bin"
	r := inTools([]string{outer}, "run", "--", "sh", "-c", `printf '%s\n' "$GREETING" "$WHERE" "$TOOL_HOME" "$FOO" "$PATH" "${DEN_FRONT-unset}"; tool a "b c"`)
	want := "hi\n" + tools + "/sub\n" + "TOOL_HOME-set\nouter\n" + wantPath + "\nunset\ntool-ran a b c FOO=outer\n"
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Errorf("den run -- sh -c ...: %+v\nwant stdout %q", r, want)
	}
	// --pure ends PATH with the store's shell and tools, which takes the index: den-core (the
	// recorder) runs every --pure command, however unchanged the project.
	if r := inTools([]string{outer}, "run", "--pure", "--frozen", "--", "tool", "x"); r.code != 0 || r.stdout != "" {
		t.Errorf("den run --pure -- tool x: %+v", r)
	} else if got := ran(); got != "run|--pure|--frozen|--|tool|x|"+den+"\n" {
		t.Errorf("den run --pure -- tool x did not go to den-core: %q", got)
	}
	if r := inTools(nil, "run", "greet", "x", "y z"); r.code != 0 || r.stdout != "tool-ran hello x y z FOO=\n" {
		t.Errorf("den run greet x 'y z': %+v", r)
	}
	if r := inTools(nil, "run", "--", "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("den run -- sh -c 'exit 7' exited %d", r.code)
	}
	if got := ran(); got != "" {
		t.Fatalf("den run in an unchanged project started den-core: %q", got)
	}
	// exec keeps the process: the command has den's pid, so signals sent to den reach it.
	sig := exec.Command(den, "run", "--", "sh", "-c", `trap 'echo got-term; exit 3' TERM; echo $$; while :; do sleep 0.05; done`)
	sig.Dir, sig.Env = tools, base
	pipe, _ := sig.StdoutPipe()
	if err := sig.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(pipe).ReadString('\n')
	if line != strconv.Itoa(sig.Process.Pid)+"\n" {
		t.Errorf("den run's command has pid %q, den had %d", line, sig.Process.Pid)
	}
	sig.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(pipe)
	if err := sig.Wait(); sig.ProcessState.ExitCode() != 3 || string(rest) != "got-term\n" {
		t.Errorf("SIGTERM to den run: %v, printed %q", err, rest)
	}
	// Flags it does not know, and a changed den.toml, are den-core's.
	if r := inTools(nil, "run", "--nosuch", "--", "true"); r.code != 0 || ran() != "run|--nosuch|--|true|"+den+"\n" {
		t.Errorf("den run --nosuch did not go to den-core: %+v", r)
	}
	f, _ = os.OpenFile(filepath.Join(tools, "den.toml"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("# edited\n")
	f.Close()
	if r := inTools(nil, "run", "--", "tool"); r.code != 0 || r.stdout != "" || ran() != "run|--|tool|"+den+"\n" {
		t.Errorf("after den.toml changed, den run did not go to den-core: %+v", r)
	}

	// The launcher's path is den-core's business alone: commands never see DEN_FRONT.
	if err := os.Rename(real, core); err != nil {
		t.Fatal(err)
	}
	// den.toml was edited above by someone other than den: den run waits for den allow.
	if r := run(nil, den, "run", "--", "env"); r.code != 1 || !strings.Contains(r.stderr, "den.toml or den.lock changed since you allowed it") {
		t.Errorf("den run after an edit of den.toml by someone else: %+v", r)
	}
	mustRun("allow")
	r = mustRun("run", "--", "env")
	if !strings.Contains(r.stdout, "\nGREETING=hi\n") || strings.Contains(r.stdout, "DEN_FRONT") {
		t.Errorf("den run -- env: GREETING missing or DEN_FRONT leaked:\n%s", r.stdout)
	}
	r = run([]string{"DEN_FRONT=/elsewhere/den"}, den, "run", "--", "sh", "-c", "echo \"front=${DEN_FRONT-unset}\"")
	if r.stdout != "front=unset\n" {
		t.Errorf("den run with DEN_FRONT in the caller's environment: %+v", r)
	}

	// Without den-core: one error line and a hint; a prompt still succeeds and prints no code.
	os.Remove(core)
	want = "den: cannot find den-core next to " + den + "\nhint: den and den-core are installed together; reinstall both with make install\n"
	if r := run(nil, den, "version"); r.code != 1 || r.stdout != "" || r.stderr != want {
		t.Errorf("den version without den-core: %+v", r)
	}
	if r := run(nil, den, "export", "bash"); r.code != 0 || r.stdout != "" || r.stderr != want {
		t.Errorf("den export bash without den-core: %+v", r)
	}
}

// toolProject makes, under dir, a project whose current environment has a package "tool" (a
// script printing its arguments and $FOO) with a variable of its own, [env] values and a script,
// through envs as den sync does, in a store of its own: no registry needed. It returns the
// project's root and its profile.
func toolProject(t *testing.T, dir string) (root, profile string) {
	t.Helper()
	s, err := store.Open(filepath.Join(dir, "tools-store"), filepath.Join(dir, "tools-state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(s.Dir) })
	src := filepath.Join(dir, "tool")
	os.MkdirAll(filepath.Join(src, "bin"), 0o755)
	os.WriteFile(filepath.Join(src, "bin", "tool"), []byte("#!/bin/sh\necho tool-ran \"$@\" FOO=$FOO\n"), 0o755)
	out, err := s.AddPath(src, "tool")
	if err != nil {
		t.Fatal(err)
	}
	prof, err := envs.BuildProfile(s, "tools-env", []envs.Package{{Name: "tool", Out: out, Vars: map[string]string{"TOOL_HOME": "TOOL_HOME-set"}}})
	if err != nil {
		t.Fatal(err)
	}
	root = filepath.Join(dir, "tools")
	os.MkdirAll(root, 0o755)
	toml := "[env]\nGREETING = \"hi\"\nWHERE = \"$DEN_ROOT/sub\"\nPATH = \"$DEN_ROOT/scripts:$PATH\"\n\n[scripts]\ngreet = \"tool hello\"\n"
	os.WriteFile(filepath.Join(root, "den.toml"), []byte(toml), 0o644)
	m, err := manifest.Load(filepath.Join(root, "den.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envs.Switch(s, root, prof.Path); err != nil {
		t.Fatal(err)
	}
	tc := envs.CheckTrust(filepath.Join(dir, "tools-state"), root)
	if err := envs.WriteStamp(root, tc, prof.Path, m); err != nil {
		t.Fatal(err)
	}
	return root, string(prof.Path)
}
