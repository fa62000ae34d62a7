package shellhook

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatch checks that a burst of writes is reported once after it settles, that a file renamed
// over a watched one (an editor's save) is seen, that other files are not, and that nothing is
// reported after stop.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	toml := filepath.Join(dir, "den.toml")
	os.WriteFile(toml, []byte("a"), 0o644)
	calls := make(chan struct{}, 16)
	stop, err := Watch(dir, []string{"den.toml", "den.lock"}, 150*time.Millisecond, func() { calls <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// want waits for n calls, then a while longer for any call too many.
	want := func(n int, what string) {
		t.Helper()
		got := 0
		deadline := time.After(5 * time.Second)
		for got < n {
			select {
			case <-calls:
				got++
			case <-deadline:
				t.Fatalf("%s: changed was called %d times, want %d", what, got, n)
			}
		}
		select {
		case <-calls:
			t.Fatalf("%s: changed was called more than %d times", what, n)
		case <-time.After(600 * time.Millisecond):
		}
	}

	for i := range 5 {
		os.WriteFile(toml, []byte{'b', byte('0' + i)}, 0o644)
	}
	want(1, "five writes in a row")

	tmp := filepath.Join(dir, ".den.toml.swp")
	os.WriteFile(tmp, []byte("c"), 0o644)
	if err := os.Rename(tmp, toml); err != nil {
		t.Fatal(err)
	}
	want(1, "a file renamed over den.toml")

	os.WriteFile(filepath.Join(dir, "den.lock"), []byte("l"), 0o644)
	want(1, "den.lock created")

	os.WriteFile(filepath.Join(dir, "README"), []byte("r"), 0o644)
	os.Chmod(toml, 0o600)
	os.MkdirAll(filepath.Join(dir, ".den"), 0o755)
	os.WriteFile(filepath.Join(dir, ".den", "den.toml"), []byte("x"), 0o644)
	want(0, "other files, a chmod and a file in a subdirectory")

	os.WriteFile(toml, []byte("d"), 0o644)
	stop()
	stop() // twice is fine
	want(0, "a write just before stop")
}
