package shellhook

import (
	"os"

	"golang.org/x/sys/unix"
)

// ShellHasTerminal reports whether the terminal tty belongs to the shell this process started,
// sitting at its prompt, rather than to a program the user runs in it (an editor, a pager),
// whose screen a line from den would spoil. An interactive shell puts itself and each job in a
// process group of its own and hands the terminal to the job it runs; so the terminal's
// foreground group is the shell's exactly when its leader is a child of this process. It is
// false when that cannot be told.
func ShellHasTerminal(tty *os.File) bool {
	_, ok := TerminalShell(tty)
	return ok
}

// TerminalShell is ShellHasTerminal that also returns the shell's pid: the leader of the
// terminal's foreground group.
func TerminalShell(tty *os.File) (pid int, ok bool) {
	pgrp, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
	if err != nil || pgrp <= 0 {
		return 0, false
	}
	ppid, ok := parentOf(pgrp)
	return pgrp, ok && ppid == os.Getpid()
}
