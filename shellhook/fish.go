package shellhook

import (
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
	if s.Marker != "" {
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
	if s.Den != "" {
		b.WriteString(Fish{}.Hook(s.Den))
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
	cmd.Env = sessionEnv(env)
	return cmd, nil
}
