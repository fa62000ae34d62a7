package build

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/sandbox"
	"github.com/den-sh/den/core/store"
)

func checkBuilder(t *testing.T) *Builder {
	t.Helper()
	root := t.TempDir()
	st, err := store.Open(filepath.Join(root, "store"), filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(st.Dir) })
	return &Builder{Store: st, Sandbox: sandbox.ModeOff}
}

func scriptDrv(t *testing.T, b *Builder, name, script string) *derivation.Derivation {
	t.Helper()
	d := &derivation.Derivation{Name: name + "-1", Version: "1", System: "x86_64-linux", Host: "x86_64-linux",
		Builder: derivation.BuilderScript, Script: script,
		HostTools: hostTools(t, "bash", "mkdir", "ln", "chmod")}
	if err := d.Seal(b.Store.Dir); err != nil {
		t.Fatal(err)
	}
	return d
}

// hostTools are the host's programs of those names, for scripts that need more than builtins.
func hostTools(t *testing.T, names ...string) []derivation.HostTool {
	t.Helper()
	var out []derivation.HostTool
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			t.Skipf("no %s on PATH", n)
		}
		out = append(out, derivation.HostTool{Name: n, Path: p, Hash: "sha256-test"})
	}
	return out
}

func TestCheckScript(t *testing.T) {
	b := checkBuilder(t)
	ctx := context.Background()
	// The output mentions itself, which an unsandboxed rebuild writes under
	// another path first.
	same := scriptDrv(t, b, "same", `mkdir "$out/d"; echo "$out" > "$out/d/self"; printf x > "$out/x"; ln -s d/self "$out/link"`)
	err := b.Check(ctx, same)
	var nb *NotBuiltError
	if !errors.As(err, &nb) || nb.Name != "same" || nb.Path != same.Out {
		t.Fatalf("Check before a build = %v, want a NotBuiltError", err)
	}
	if err := b.Realize(ctx, same); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(ctx, same); err != nil {
		t.Fatalf("Check of a deterministic build: %v", err)
	}
	if _, err := os.Lstat(string(same.Out) + CheckSuffix); err == nil {
		t.Errorf("a reproducible rebuild was kept")
	}
	ents, _ := os.ReadDir(b.Store.Dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), "-same-1") && e.Name() != same.Out.Base() {
			t.Errorf("the rebuild left %s in the store dir", e.Name())
		}
	}

	// $RANDOM differs between runs: the file is named, a mode change too, and the unchanged
	// file is not.
	noisy := scriptDrv(t, b, "noisy", `echo $RANDOM$RANDOM$RANDOM > "$out/random"; echo same > "$out/same"; echo "$out" > "$out/self"
printf '#!/bin/sh\n' > "$out/tool"; [ $((RANDOM % 2)) = 0 ] && chmod +x "$out/tool"; true`)
	if err := b.Realize(ctx, noisy); err != nil {
		t.Fatal(err)
	}
	err = b.Check(ctx, noisy)
	var nr *NotReproducibleError
	if !errors.As(err, &nr) {
		t.Fatalf("Check of a nondeterministic build = %v, want a NotReproducibleError", err)
	}
	info, _ := b.Store.Info(noisy.Out)
	if nr.Want != info.NarHash || nr.Got == nr.Want || nr.Path != noisy.Out {
		t.Errorf("error has hashes %s and %s, the store %s", nr.Got, nr.Want, info.NarHash)
	}
	if len(nr.Differences) == 0 || nr.Differences[0] != (Difference{Path: "random", What: "content"}) {
		t.Errorf("differences = %v, want random's content first", nr.Differences)
	}
	for _, d := range nr.Differences {
		if d.Path == "same" || d.Path == "self" {
			t.Errorf("%s is said to differ", d.Path)
		}
		if d.Path == "tool" && d.What != "mode" {
			t.Errorf("tool differs by %s, want mode", d.What)
		}
	}
	if !strings.Contains(err.Error(), "\n  random (content differs)") {
		t.Errorf("error does not list the file:\n%v", err)
	}
	kept := string(noisy.Out) + CheckSuffix
	if nr.Kept != kept {
		t.Errorf("kept at %s, want %s", nr.Kept, kept)
	}
	self, err := os.ReadFile(filepath.Join(kept, "self"))
	if err != nil || strings.TrimSpace(string(self)) != string(noisy.Out) {
		t.Errorf("the kept rebuild's self reference is %q, %v; want the output's path", self, err)
	}
	if probs, err := b.Store.Verify(true, nil); err != nil || len(probs) > 0 {
		t.Errorf("store after the checks: %v, %v", probs, err)
	}
}

func TestCheckDownload(t *testing.T) {
	b := checkBuilder(t)
	ctx := context.Background()
	content := []byte("upstream\n")
	var served atomic.Value
	served.Store(content)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(served.Load().([]byte))
	}))
	defer srv.Close()
	b.Client = srv.Client()
	d := &derivation.Derivation{Name: "f.txt", System: "x86_64-linux", Host: "x86_64-linux", Builder: derivation.BuilderFetch,
		URLs: []string{srv.URL + "/f.txt"}, OutputHash: hash.Sum(hash.SHA256, content).SRI()}
	if err := d.Seal(b.Store.Dir); err != nil {
		t.Fatal(err)
	}
	if err := b.Realize(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(ctx, d); err != nil {
		t.Fatalf("Check of an unchanged download: %v", err)
	}
	if hits.Load() != 2 {
		t.Errorf("downloaded %d times, want 2 (the check downloads again)", hits.Load())
	}
	served.Store([]byte("changed upstream\n"))
	err := b.Check(ctx, d)
	if err == nil || !strings.Contains(err.Error(), "downloading f.txt again") {
		t.Fatalf("Check of a changed download = %v, want a hash mismatch", err)
	}
	data, err := os.ReadFile(string(d.Out))
	if err != nil || string(data) != string(content) {
		t.Errorf("the valid path holds %q, %v after the failed check", data, err)
	}
}
