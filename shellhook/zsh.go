package shellhook

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Zsh starts zsh with ZDOTDIR pointing at den's own directory, whose .zshenv and .zshrc source
// the user's (from the user's ZDOTDIR, or HOME) and then restore the user's ZDOTDIR.
type Zsh struct{}

func (Zsh) Name() string { return "zsh" }

// Hook runs den export zsh before each prompt and on each cd, installed once however often it
// is evaluated.
func (Zsh) Hook(den string) string {
	return `_den_hook() {
  trap -- '' SIGINT
  eval "$(` + quoteSh(den) + ` export zsh)"
  trap - SIGINT
}
typeset -ag precmd_functions
if (( ! ${precmd_functions[(I)_den_hook]} )); then
  precmd_functions=(_den_hook $precmd_functions)
fi
typeset -ag chpwd_functions
if (( ! ${chpwd_functions[(I)_den_hook]} )); then
  chpwd_functions=(_den_hook $chpwd_functions)
fi
`
}

func (Zsh) Command(bin string, env []string, s Session) (*exec.Cmd, error) {
	dir := filepath.Join(s.TempDir, "zdotdir")
	userDir, userSet := lookupEnv(env, "ZDOTDIR")
	restore := "unset ZDOTDIR"
	if userSet {
		restore = "ZDOTDIR=" + quoteSh(userDir)
	}
	// .zshenv runs before /etc/zsh/zshrc (and decides things such as skip_global_compinit), so
	// the user's .zshenv runs there; the user's .zshenv may itself move ZDOTDIR, which .zshrc
	// then keeps.
	zshenv := `# den shell: the user's .zshenv, then back to den's ZDOTDIR for .zshrc.
__den_zdotdir=$ZDOTDIR
` + restore + `
if [[ -f ${ZDOTDIR:-$HOME}/.zshenv ]]; then source ${ZDOTDIR:-$HOME}/.zshenv; fi
if (( ${+ZDOTDIR} )); then __den_user_zdotdir=$ZDOTDIR; else unset __den_user_zdotdir; fi
ZDOTDIR=$__den_zdotdir
`
	var b strings.Builder
	if s.Run == "" {
		b.WriteString(`# den shell: the user's .zshrc, then den's PATH, prompt marker and init.
if (( ${+__den_user_zdotdir} )); then ZDOTDIR=$__den_user_zdotdir; else unset ZDOTDIR; fi
unset __den_user_zdotdir __den_zdotdir
if [[ -f ${ZDOTDIR:-$HOME}/.zshrc ]]; then source ${ZDOTDIR:-$HOME}/.zshrc; fi
`)
	}
	b.WriteString(`() {
	emulate -L zsh
	local out=$DEN_PATH p
	[[ -n $out ]] || return 0
	for p in ${(s.:.)PATH}; do
		if [[ :$out: != *:"$p":* ]]; then out+=:$p; fi
	done
	PATH=$out
}
`)
	if s.Marker != "" && s.Run == "" {
		// % starts a prompt escape; with prompt_subst the prompt refers to the marker, so
		// that no $ or backquote in it is expanded.
		b.WriteString("__den_marker=" + quoteSh(s.Marker) + "\n")
		b.WriteString(`() {
	local m=${__den_marker//\%/%%}
	if [[ -o prompt_subst ]]; then m='${__den_marker//\%/%%}'; fi
	if [[ $PROMPT != "$m"* ]]; then PROMPT=$m$PROMPT; fi
}
`)
	}
	if s.Den != "" && s.Run == "" {
		b.WriteString(Zsh{}.Hook(s.Den))
		// den shell's notices (notice.go), unless the user's rc traps SIGUSR1 itself. The
		// file is emptied by a redirection rather than removed by rm: a trap at the prompt
		// runs no program, which would take the terminal from the line editor.
		b.WriteString("if (( ! ${+functions[TRAPUSR1]} )); then\n")
		b.WriteString("\t__den_notice=" + quoteSh(filepath.Join(s.TempDir, noticeFile)) + "\n")
		b.WriteString(`	TRAPUSR1() {
		[[ -s $__den_notice ]] || return 0
		zle && zle -I
		print -r -- "$(<$__den_notice)"
		: >| $__den_notice
	}
	print -r -- $$ >| $__den_notice.pid
fi
`)
	}
	files := map[string]string{}
	if s.Init != "" {
		init := filepath.Join(s.TempDir, "init.zsh")
		files[filepath.Base(init)] = s.Init + "\n"
		b.WriteString("source " + quoteSh(init) + "\n")
	}
	files[filepath.Join("zdotdir", ".zshenv")] = zshenv
	files[filepath.Join("zdotdir", ".zshrc")] = b.String()
	if err := writeFiles(s.TempDir, files); err != nil {
		return nil, err
	}
	if s.Run != "" {
		// zsh -c reads the user's .zshenv as it is; den's part comes after it.
		cmd := exec.Command(bin, "-c", "source "+quoteSh(filepath.Join(dir, ".zshrc"))+"\n"+s.Run)
		cmd.Env = sessionEnv(env)
		return cmd, nil
	}
	cmd := exec.Command(bin, "-i")
	cmd.Env = sessionEnv(env, "ZDOTDIR="+dir)
	return cmd, nil
}

// Notify has den shell's TRAPUSR1 print line: zle -I there makes zle redraw the prompt and the
// line being edited below it.
func (Zsh) Notify(tty *os.File, pid int, s Session, line string) error {
	if signalNotice(s, pid, "zsh", line) {
		return nil
	}
	return plainNotice(tty, line)
}
