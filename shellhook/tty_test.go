package shellhook

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

func TestParentOf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("parentOf reads /proc")
	}
	if ppid, ok := parentOf(os.Getpid()); !ok || ppid != os.Getppid() {
		t.Errorf("parentOf(self) = %d, %v; want %d", ppid, ok, os.Getppid())
	}
	// A name with spaces and parentheses does not shift the fields.
	dir := t.TempDir()
	odd := dir + "/a) (b c"
	if err := os.Symlink("/bin/sleep", odd); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(odd, "5")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if ppid, ok := parentOf(cmd.Process.Pid); !ok || ppid != os.Getpid() {
		t.Errorf("parentOf(child named %q) = %d, %v; want %d", odd, ppid, ok, os.Getpid())
	}
	if _, ok := parentOf(-1); ok {
		t.Error("parentOf(-1) succeeded")
	}
}
