package cache

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readAll(t *testing.T, c Cache, name string) string {
	t.Helper()
	rc, err := c.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exerciseCache checks the Cache contract on an empty writable cache.
func exerciseCache(t *testing.T, c Cache) {
	ctx := context.Background()
	if _, err := c.Info(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Info of an empty cache: %v", err)
	}
	if _, err := c.Get(ctx, "abc.narinfo"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing file: %v", err)
	}
	if ok, err := c.Has(ctx, "abc.narinfo"); ok || err != nil {
		t.Fatalf("Has of a missing file: %v %v", ok, err)
	}
	for name, body := range map[string]string{
		"nix-cache-info":             "StoreDir: /s\nPriority: 30\n",
		"abc.narinfo":                "one",
		"def.narinfo":                "two",
		"nar/0123.nar.zst":           strings.Repeat("nar", 1000),
		"log/0123-something.drv.txt": "not a narinfo",
	} {
		if err := c.Put(ctx, name, strings.NewReader(body)); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
		if got := readAll(t, c, name); got != body {
			t.Fatalf("get %s: %q", name, got)
		}
		if ok, err := c.Has(ctx, name); !ok || err != nil {
			t.Fatalf("Has %s: %v %v", name, ok, err)
		}
	}
	if err := c.Put(ctx, "abc.narinfo", strings.NewReader("one again")); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, c, "abc.narinfo"); got != "one again" {
		t.Fatalf("overwrite: %q", got)
	}
	info, err := c.Info(ctx)
	if err != nil || info.StoreDir != "/s" || info.Priority != 30 || c.Priority() != 30 {
		t.Fatalf("Info %+v %v, priority %d", info, err, c.Priority())
	}
	for _, bad := range []string{"../x", "/etc/passwd", "a/../../x", "", "nar/../../x"} {
		if _, err := c.Get(ctx, bad); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Get %q: %v", bad, err)
		}
		if err := c.Put(ctx, bad, strings.NewReader("x")); err == nil {
			t.Errorf("Put %q accepted", bad)
		}
	}
}

func TestFileCache(t *testing.T) {
	dir := t.TempDir()
	c, err := Open("file://"+dir+"?priority=10&compression=xz", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.URL() != "file://"+dir || c.Priority() != 10 {
		t.Fatalf("URL %q priority %d", c.URL(), c.Priority())
	}
	c, _ = Open("file://"+dir, nil)
	if c.Priority() != DefaultPriority {
		t.Fatalf("default priority %d", c.Priority())
	}
	exerciseCache(t, c)
	names, err := c.List(context.Background())
	if err != nil || strings.Join(names, " ") != "abc.narinfo def.narinfo" {
		t.Fatalf("List: %v %v", names, err)
	}
	// No temporary files are left behind, and what was written is readable by others.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Errorf("left %s", e.Name())
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "nar", "0123.nar.zst"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("nar file: %v %v", fi, err)
	}
}

func TestFilePutCancelled(t *testing.T) {
	dir := t.TempDir()
	c, _ := Open("file://"+dir, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Put(ctx, "x.narinfo", strings.NewReader("data")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled put: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("cancelled put left %v", ents)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"gs://bucket", "unsupported cache URL"},
		{"/tmp/cache", "unsupported cache URL"},
		{"file://host/dir", "names host"},
		{"file://?x", "no absolute directory"},
		{"http:///x", "no host"},
		{"file:///c?priority=x", "priority"},
	} {
		if _, err := Open(tc.url, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q): %v, want %q", tc.url, err, tc.want)
		}
	}
	c, err := Open("http://127.0.0.1:1/prefix/?priority=5", nil)
	if err != nil || c.URL() != "http://127.0.0.1:1/prefix/" || c.Priority() != 5 {
		t.Fatalf("http: %v %v", c, err)
	}
}
