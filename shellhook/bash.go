package shellhook

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Bash starts bash with --rcfile, which replaces the rc files bash would read (/etc/bash.bashrc
// and ~/.bashrc); den's rc sources them itself first.
type Bash struct{}

func (Bash) Name() string { return "bash" }

// Hook runs den export bash from PROMPT_COMMAND, in front of what is there (string or array
// form), once however often it is evaluated. It keeps $? for the prompt, ignores Ctrl-C while den
// runs, and refers to no unset variable, for users of set -u.
func (Bash) Hook(den string) string {
	return `_den_hook() {
  local previous_exit_status=$?
  trap -- '' SIGINT
  eval "$(` + quoteSh(den) + ` export bash)"
  trap - SIGINT
  return $previous_exit_status
}
if [[ ";${PROMPT_COMMAND[*]:-};" != *";_den_hook;"* ]]; then
  if [[ "$(declare -p PROMPT_COMMAND 2>&1)" == "declare -a"* ]]; then
    PROMPT_COMMAND=(_den_hook "${PROMPT_COMMAND[@]}")
  else
    PROMPT_COMMAND="_den_hook${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
  fi
fi
`
}

func (Bash) Command(bin string, env []string, s Session) (*exec.Cmd, error) {
	rc := filepath.Join(s.TempDir, "bashrc")
	files := map[string]string{}
	var b strings.Builder
	if s.Run == "" {
		b.WriteString(`# den shell: the user's rc files, then den's PATH, prompt marker and init.
if [ -f /etc/bash.bashrc ]; then . /etc/bash.bashrc; fi
if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
`)
	}
	b.WriteString(`__den_path() {
	local out="${DEN_PATH-}" p IFS=:
	local -a rest
	[ -n "$out" ] || return 0
	read -r -a rest <<<"$PATH"
	for p in "${rest[@]}"; do
		[ -n "$p" ] || continue
		case ":$out:" in *":$p:"*) ;; *) out="$out:$p" ;; esac
	done
	PATH="$out"
}
__den_path
unset -f __den_path
`)
	if s.Marker != "" && s.Run == "" {
		// PS1 refers to the marker instead of containing it, so that no character of the
		// marker is taken for a prompt escape; a PS1 inherited from an outer den shell
		// already starts with the reference.
		b.WriteString("__den_marker=" + quoteSh(s.Marker) + "\n")
		b.WriteString(`case "${PS1-}" in '${__den_marker}'*) ;; *) PS1='${__den_marker}'"$PS1" ;; esac` + "\n")
	}
	if s.Den != "" && s.Run == "" {
		b.WriteString(Bash{}.Hook(s.Den))
	}
	if s.Init != "" {
		init := filepath.Join(s.TempDir, "init.bash")
		files[filepath.Base(init)] = s.Init + "\n"
		b.WriteString(". " + quoteSh(init) + "\n")
	}
	files[filepath.Base(rc)] = b.String()
	if err := writeFiles(s.TempDir, files); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--rcfile", rc, "-i")
	if s.Run != "" {
		cmd = exec.Command(bin, "-c", ". "+quoteSh(rc)+"\n"+s.Run)
	}
	cmd.Env = sessionEnv(env)
	return cmd, nil
}

// Notify inserts line above the line the cursor is on, which holds the prompt: it saves the
// cursor, makes room below (scrolling the screen up when the prompt is on its last line), moves
// up to the prompt's line and inserts lines for the text there, which pushes the prompt down;
// then it restores the cursor and moves it down as many lines, which lands on the prompt, in
// the same column, whether or not the screen scrolled (moving down stops at the last line).
func (Bash) Notify(tty *os.File, pid int, s Session, line string) error {
	if dumbTerminal(os.Getenv) {
		return plainNotice(tty, line)
	}
	cols := 80
	if ws, err := unix.IoctlGetWinsize(int(tty.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
		cols = int(ws.Col)
	}
	n := max(1, (utf8.RuneCountInString(line)+cols-1)/cols)
	_, err := fmt.Fprintf(tty, "\x1b7%s\x1b[%dA\r\x1b[%dL%s\x1b8\x1b[%dB", strings.Repeat("\n", n), n, n, line, n)
	return err
}
