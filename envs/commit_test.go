package envs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeProject(t *testing.T, root, toml, lock string) {
	t.Helper()
	os.MkdirAll(root, 0o755)
	os.WriteFile(filepath.Join(root, "den.toml"), []byte(toml), 0o644)
	os.WriteFile(filepath.Join(root, "den.lock"), []byte(lock), 0o644)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestCommitFilesCarriesAllowance(t *testing.T) {
	state, root := t.TempDir(), filepath.Join(t.TempDir(), "p")
	writeProject(t, root, "a", "la")
	if err := SetTrust(state, root, Allowed); err != nil {
		t.Fatal(err)
	}
	if err := CommitFiles(state, root, map[string][]byte{"den.toml": []byte("b"), "den.lock": []byte("lb")}, true); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(root, "den.toml")) != "b" || readFile(t, filepath.Join(root, "den.lock")) != "lb" {
		t.Fatal("files not replaced")
	}
	if TrustOf(state, root) != Allowed {
		t.Error("den's own edit lost the allowance")
	}
	// Without carry (a rollback to copies den did not make), new content waits for den allow,
	// while content allowed before is allowed again.
	CommitFiles(state, root, map[string][]byte{"den.toml": []byte("c")}, false)
	if TrustOf(state, root) != Unknown {
		t.Error("content never allowed is allowed")
	}
	CommitFiles(state, root, map[string][]byte{"den.toml": []byte("a"), "den.lock": []byte("la")}, false)
	if TrustOf(state, root) != Allowed {
		t.Error("content allowed before is not allowed again")
	}
	// A foreign edit of an allowed project is not carried.
	os.WriteFile(filepath.Join(root, "den.lock"), []byte("pulled"), 0o644)
	CommitFiles(state, root, map[string][]byte{"den.toml": []byte("d")}, true)
	if TrustOf(state, root) != Unknown {
		t.Error("an edit on top of a foreign one was allowed")
	}
	// A denied project stays denied.
	SetTrust(state, root, Denied)
	CommitFiles(state, root, map[string][]byte{"den.toml": []byte("e")}, true)
	if TrustOf(state, root) != Denied {
		t.Error("den deny was undone by an edit")
	}
}

// A change stopped after its commit mark is finished by Recover (both files new); one stopped
// before it is dropped (both old). What is left is never half of each.
func TestRecover(t *testing.T) {
	root := filepath.Join(t.TempDir(), "p")
	writeProject(t, root, "old", "lold")
	dir, err := ProjectDir(root)
	if err != nil {
		t.Fatal(err)
	}
	txn := filepath.Join(dir, txnDir)
	journal := func(mark bool) {
		os.RemoveAll(txn)
		os.Mkdir(txn, 0o755)
		os.WriteFile(filepath.Join(txn, "den.toml"), []byte("new"), 0o644)
		os.WriteFile(filepath.Join(txn, "den.lock"), []byte("lnew"), 0o644)
		if mark {
			os.WriteFile(filepath.Join(txn, commitMark), nil, 0o644)
		}
	}
	journal(false)
	if err := Recover(root); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(root, "den.toml")) != "old" || readFile(t, filepath.Join(root, "den.lock")) != "lold" {
		t.Error("a change without its commit mark was applied")
	}
	if _, err := os.Lstat(txn); err == nil {
		t.Error("the journal of a dropped change is left")
	}
	journal(true)
	// Stopped halfway through the renames: den.lock is in place, den.toml is not.
	os.Rename(filepath.Join(txn, "den.lock"), filepath.Join(root, "den.lock"))
	// Another den holds the project's lock: Recover leaves its change alone.
	unlock, err := LockProject(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	Recover(root)
	if readFile(t, filepath.Join(root, "den.toml")) != "old" {
		t.Error("Recover touched a change another den is making")
	}
	unlock()
	if err := Recover(root); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(root, "den.toml")) != "new" || readFile(t, filepath.Join(root, "den.lock")) != "lnew" {
		t.Error("a committed change was not finished")
	}
}

func TestLockProjectWaits(t *testing.T) {
	root := filepath.Join(t.TempDir(), "p")
	writeProject(t, root, "x", "")
	unlock, err := LockProject(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{}, 1)
	got := make(chan error, 1)
	go func() {
		u, err := LockProject(context.Background(), root, func() { waited <- struct{}{} })
		if err == nil {
			u()
		}
		got <- err
	}()
	<-waited
	select {
	case <-got:
		t.Fatal("a second LockProject did not wait")
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// Ctrl-C ends a wait.
	unlock, _ = LockProject(context.Background(), root, nil)
	defer unlock()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := LockProject(ctx, root, nil); err == nil {
		t.Fatal("a cancelled wait took the lock")
	}
}

func TestProjectDirRefuses(t *testing.T) {
	root := t.TempDir()
	os.Symlink(t.TempDir(), filepath.Join(root, StateDir))
	if _, err := ProjectDir(root); err == nil {
		t.Error("a link named .den was used")
	}
	root = t.TempDir()
	os.Mkdir(filepath.Join(root, StateDir), 0o755)
	if _, err := ProjectDir(root); err == nil {
		t.Error("a .den den did not make was used")
	}
	root = t.TempDir()
	os.Mkdir(filepath.Join(root, StateDir), 0o777)
	os.Chmod(filepath.Join(root, StateDir), 0o777)
	os.WriteFile(filepath.Join(root, StateDir, markerName), []byte(markerText), 0o644)
	if _, err := ProjectDir(root); err == nil {
		t.Error("a .den others may write to was used")
	}
	root = t.TempDir()
	if _, err := ProjectDir(root); err != nil {
		t.Fatal(err)
	}
	if _, err := ProjectDir(root); err != nil {
		t.Errorf("den's own .den refused: %v", err)
	}
	// A planted link is replaced, never written through.
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("mine"), 0o644)
	os.Symlink(victim, filepath.Join(root, StateDir, "stamp.json"))
	if err := WriteStateFile(root, "stamp.json", []byte("den"), 0o644); err != nil {
		t.Fatal(err)
	}
	if readFile(t, victim) != "mine" {
		t.Error("WriteStateFile wrote through a link")
	}
}
