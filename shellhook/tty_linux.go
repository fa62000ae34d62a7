package shellhook

import (
	"os"
	"strconv"
	"strings"
)

// parentOf returns the parent of process pid, from /proc/PID/stat: "pid (comm) state ppid …",
// where comm may hold spaces and parentheses, so the fields are counted after the last ")".
func parentOf(pid int) (int, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// commOf returns the command name of process pid (its executable's base name, cut to 15
// bytes), from /proc/PID/comm.
func commOf(pid int) (string, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "", false
	}
	return strings.TrimSuffix(string(data), "\n"), true
}
