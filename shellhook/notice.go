package shellhook

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Notices. While the shell of a den shell sits at its prompt, den shell's watcher says that it
// started updating the environment. The line comes from outside the shell, whose line editor
// alone knows where the cursor is and what it has drawn: a line simply written over it leaves no
// prompt (bash, zsh) or garbles the editor's next redraw (fish). So each shell shows it its own
// way (Shell.Notify), keeping what the user has typed:
//
//   - zsh and fish print it themselves, from a SIGUSR1 handler that den shell's rc installs:
//     zsh after `zle -I`, which moves below the line being edited and redraws prompt and buffer
//     once the trap returns (zshzle(1) documents exactly this use); fish followed by
//     `commandline -f repaint`. den writes the line into a file of the session for the handler,
//     and signals only a shell whose rc installed it, and only while that process still runs it
//     (an exec from the shell would leave SIGUSR1 to kill whatever replaced it).
//   - bash's readline cannot be told to redraw: it does on SIGWINCH only when the size changed,
//     and a trap cannot reach the line being edited. den inserts the line above the prompt's
//     line instead, with the terminal's own editing sequences (VT100's, which every terminal
//     emulator has): readline's line and cursor stay exactly where readline believes they are.
//
// Where none of that can be done (a dumb terminal, a shell without the handler), the line goes
// on lines of its own, and the prompt comes back at the next Enter.

// noticeFile holds the line for the shell's handler, in the session's directory; the rc writes
// its shell's pid beside it, as noticeFile+".pid", once the handler is installed.
const noticeFile = "notice"

// plainNotice writes line on a line of its own.
func plainNotice(tty io.Writer, line string) error {
	_, err := fmt.Fprintf(tty, "\r\n%s\r\n", line)
	return err
}

// signalNotice leaves line in s's session directory and signals the shell pid, whose handler
// prints it. It reports false, having sent nothing, unless the rc of that session installed the
// handler in pid and pid still runs the shell called name.
func signalNotice(s Session, pid int, name, line string) bool {
	if s.TempDir == "" || pid <= 0 {
		return false
	}
	data, err := os.ReadFile(filepath.Join(s.TempDir, noticeFile+".pid"))
	if err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(pid) {
		return false
	}
	if comm, ok := commOf(pid); !ok || comm != name {
		return false
	}
	// A new file renamed into place: the handler never reads half a line.
	tmp := filepath.Join(s.TempDir, noticeFile+".new")
	if os.WriteFile(tmp, []byte(line+"\n"), 0o600) != nil || os.Rename(tmp, filepath.Join(s.TempDir, noticeFile)) != nil {
		return false
	}
	return syscall.Kill(pid, syscall.SIGUSR1) == nil
}

// dumbTerminal reports a terminal that has no cursor motion.
func dumbTerminal(getenv func(string) string) bool {
	term := getenv("TERM")
	return term == "" || term == "dumb"
}
