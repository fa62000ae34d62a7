package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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

	// The launcher's path is den-core's business alone: commands never see DEN_FRONT.
	if err := os.Rename(real, core); err != nil {
		t.Fatal(err)
	}
	r := mustRun("run", "--", "env")
	if !strings.Contains(r.stdout, "\nGREETING=hi\n") || strings.Contains(r.stdout, "DEN_FRONT") {
		t.Errorf("den run -- env: GREETING missing or DEN_FRONT leaked:\n%s", r.stdout)
	}
	r = run([]string{"DEN_FRONT=/elsewhere/den"}, den, "run", "--", "sh", "-c", "echo \"front=${DEN_FRONT-unset}\"")
	if r.stdout != "front=unset\n" {
		t.Errorf("den run with DEN_FRONT in the caller's environment: %+v", r)
	}

	// Without den-core: one error line and a hint; a prompt still succeeds and prints no code.
	os.Remove(core)
	want := "den: cannot find den-core next to " + den + "\nhint: den and den-core are installed together; reinstall both with make install\n"
	if r := run(nil, den, "version"); r.code != 1 || r.stdout != "" || r.stderr != want {
		t.Errorf("den version without den-core: %+v", r)
	}
	if r := run(nil, den, "export", "bash"); r.code != 0 || r.stdout != "" || r.stderr != want {
		t.Errorf("den export bash without den-core: %+v", r)
	}
}
