package memo

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestGetPut(t *testing.T) {
	d := Open(filepath.Join(t.TempDir(), "memos"))
	var v []string
	if _, ok := d.Get("a", &v); ok {
		t.Fatal("a memo before any was written")
	}
	made := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := d.PutAt("a", []string{"x", "y"}, made); err != nil {
		t.Fatal(err)
	}
	got, ok := d.Get("a", &v)
	if !ok || !got.Equal(made) || len(v) != 2 || v[1] != "y" {
		t.Fatalf("Get = %v, %v, %v", got, ok, v)
	}
	if _, ok := d.Get("b", &v); ok {
		t.Error("another key found a memo")
	}
}

// A damaged, truncated or misplaced memo is no memo.
func TestDamaged(t *testing.T) {
	d := Open(t.TempDir())
	if err := d.Put("k", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	file := d.file("k")
	data, _ := os.ReadFile(file)
	var v map[string]int
	for name, bad := range map[string][]byte{
		"truncated": data[:len(data)/2],
		"empty":     {},
		"garbage":   []byte("\x00\x01not json"),
		"other key": []byte(`{"key":"other","made":"2025-01-01T00:00:00Z","value":{"n":2}}`),
		"no time":   []byte(`{"key":"k","value":{"n":2}}`),
		"bad value": []byte(`{"key":"k","made":"2025-01-01T00:00:00Z","value":"n"}`),
	} {
		if err := os.WriteFile(file, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, ok := d.Get("k", &v); ok {
			t.Errorf("%s: Get found %v", name, v)
		}
	}
}

// Dens writing one key at once leave one whole entry and no temporary files.
func TestConcurrentPut(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			big := make([]int, 10000)
			for j := range big {
				big[j] = i
			}
			if err := Open(dir).Put("k", big); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var v []int
	if _, ok := Open(dir).Get("k", &v); !ok || len(v) != 10000 {
		t.Fatalf("after concurrent writes: ok %v, %d values", ok, len(v))
	}
	for _, x := range v {
		if x != v[0] {
			t.Fatal("an entry mixes two writers' values")
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("%d files in the memo directory, want 1", len(ents))
	}
}
