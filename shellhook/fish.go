package shellhook

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Fish starts fish with --init-command, which fish runs after the user's config.fish, so the user's
// configuration needs no help to be read.
type Fish struct{}

func (Fish) Name() string { return "fish" }

// Hook runs den export fish before each prompt and when PWD changes; defining a function again
// replaces it, so evaluating the hook twice installs it once.
func (Fish) Hook(den string) string {
	q := quoteFish(den)
	return `function __den_hook --on-event fish_prompt
  ` + q + ` export fish | source
end
function __den_cd_hook --on-variable PWD
  if status --is-command-substitution; return; end
  ` + q + ` export fish | source
end
`
}

func (Fish) Command(bin string, env []string, s Session) (*exec.Cmd, error) {
	rc := filepath.Join(s.TempDir, "den.fish")
	files := map[string]string{}
	var b strings.Builder
	// DEN_PATH ends in PATH, so fish imports it as a list split at colons, like PATH.
	b.WriteString(`# den shell: after the user's config.fish, den's PATH, prompt marker and init.
if set -q DEN_PATH[1]
    set -l __den_path $DEN_PATH
    for p in $PATH
        if test -n "$p"; and not contains -- $p $__den_path
            set -a __den_path $p
        end
    end
    set -gx PATH $__den_path
end
`)
	if s.Marker != "" && s.Run == "" {
		// The original prompt gets the status of the user's last command, not of printf.
		b.WriteString("set -g __den_marker " + quoteFish(s.Marker) + "\n")
		b.WriteString(`if not functions -q __den_orig_prompt
    if functions -q fish_prompt
        functions --copy fish_prompt __den_orig_prompt
    else
        function __den_orig_prompt
        end
    end
    function __den_status
        return $argv[1]
    end
    function fish_prompt
        set -l s $status
        printf '%s' $__den_marker
        __den_status $s
        __den_orig_prompt
    end
end
`)
	}
	if s.Den != "" && s.Run == "" {
		b.WriteString(Fish{}.Hook(s.Den))
		// den shell's notices (notice.go). fish repaints a prompt of several lines from as
		// many lines up, so as many lines follow the notice.
		b.WriteString("set -g __den_notice " + quoteFish(filepath.Join(s.TempDir, noticeFile)) + "\n")
		b.WriteString(`function __den_notice_handler --on-signal SIGUSR1
    test -s $__den_notice; or return
    set -l lines 1
    if functions -q fish_prompt
        set lines (count (fish_prompt))
    end
    echo
    while read -l line
        echo $line
    end < $__den_notice
    while test $lines -gt 1
        echo
        set lines (math $lines - 1)
    end
    echo -n > $__den_notice
    commandline -f repaint
end
echo $fish_pid > $__den_notice.pid
`)
	}
	if s.Init != "" {
		init := filepath.Join(s.TempDir, "init.fish")
		files[filepath.Base(init)] = s.Init + "\n"
		b.WriteString("source " + quoteFish(init) + "\n")
	}
	files[filepath.Base(rc)] = b.String()
	if err := writeFiles(s.TempDir, files); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-i", "--init-command", "source "+quoteFish(rc))
	if s.Run != "" {
		cmd = exec.Command(bin, "--init-command", "source "+quoteFish(rc), "-c", s.Run)
	}
	cmd.Env = sessionEnv(env)
	return cmd, nil
}

// Notify has den shell's SIGUSR1 handler print line and repaint the prompt and the command line
// below it.
func (Fish) Notify(tty *os.File, pid int, s Session, line string) error {
	if signalNotice(s, pid, "fish", line) {
		return nil
	}
	return plainNotice(tty, line)
}
