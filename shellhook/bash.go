package shellhook

import (
	"os/exec"
	"path/filepath"
	"strings"
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
	b.WriteString(`# den shell: the user's rc files, then den's PATH, prompt marker and init.
if [ -f /etc/bash.bashrc ]; then . /etc/bash.bashrc; fi
if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
__den_path() {
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
	if s.Marker != "" {
		// PS1 refers to the marker instead of containing it, so that no character of the
		// marker is taken for a prompt escape; a PS1 inherited from an outer den shell
		// already starts with the reference.
		b.WriteString("__den_marker=" + quoteSh(s.Marker) + "\n")
		b.WriteString(`case "${PS1-}" in '${__den_marker}'*) ;; *) PS1='${__den_marker}'"$PS1" ;; esac` + "\n")
	}
	if s.Den != "" {
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
	cmd.Env = sessionEnv(env)
	return cmd, nil
}
