package build

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/den-sh/den/core/cache"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/progress"
	"github.com/den-sh/den/core/sandbox"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// substFixture is a script derivation with a fixed-output input fetched from a loopback server,
// built once in store A and pushed to a file cache; A is then removed, so the store dir can be
// reopened empty (a store dir is part of every path's hash).
type substFixture struct {
	root, storeDir string
	cacheURL       string
	key            cache.SecretKey
	fetches        *atomic.Int32 // requests to the upstream server
	marker         string        // the build script touches it
	src, hello     *derivation.Derivation
	srv            *httptest.Server
}

func newSubstFixture(t *testing.T) *substFixture {
	t.Helper()
	root := t.TempDir()
	f := &substFixture{root: root, storeDir: filepath.Join(root, "store"), fetches: &atomic.Int32{}, marker: filepath.Join(root, "built")}
	content := []byte("upstream source\n")
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.fetches.Add(1)
		w.Write(content)
	}))
	t.Cleanup(f.srv.Close)

	f.src = &derivation.Derivation{Name: "src.txt", System: "x86_64-linux", Host: "x86_64-linux", Builder: derivation.BuilderFetch,
		URLs: []string{f.srv.URL + "/src.txt"}, OutputHash: hash.Sum(hash.SHA256, content).SRI()}
	if err := f.src.Seal(f.storeDir); err != nil {
		t.Fatal(err)
	}
	f.hello = &derivation.Derivation{Name: "hello-1.0", Version: "1.0", System: "x86_64-linux", Host: "x86_64-linux",
		Builder: derivation.BuilderScript,
		// Builtins only: the output mentions its input, so the input is in its closure.
		Script:    `echo built > "$MARKER"; printf 'built with %s\n' "$DEN_INPUTS" > "$out/info"`,
		Env:       map[string]string{"MARKER": f.marker},
		Inputs:    []storepath.Path{f.src.Out},
		HostTools: []derivation.HostTool{{Name: "bash", Path: "/bin/bash", Hash: "sha256-test"}},
		Needs:     []*derivation.Derivation{f.src}}
	if err := f.hello.Seal(f.storeDir); err != nil {
		t.Fatal(err)
	}

	a, err := store.Open(f.storeDir, filepath.Join(root, "stateA"))
	if err != nil {
		t.Fatal(err)
	}
	b := &Builder{Store: a, Sandbox: sandbox.ModeOff, Client: f.srv.Client()}
	if err := b.Realize(context.Background(), f.hello); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.marker); err != nil {
		t.Fatalf("the script did not run in store A: %v", err)
	}
	if f.key, err = cache.GenerateKey("build-test-1"); err != nil {
		t.Fatal(err)
	}
	f.cacheURL = "file://" + filepath.Join(root, "cache")
	c, err := cache.Open(f.cacheURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cache.Push(context.Background(), a, c, []storepath.Path{f.hello.Out}, cache.PushOptions{Key: &f.key}); err != nil {
		t.Fatal(err)
	}
	if err := store.RemoveTree(f.storeDir); err != nil {
		t.Fatal(err)
	}
	os.Remove(f.marker)
	f.fetches.Store(0)
	return f
}

// builder opens a fresh store at the fixture's store dir, with a substituter for caches.
func (f *substFixture) builder(t *testing.T, log *bytes.Buffer, caches ...string) *Builder {
	t.Helper()
	state, err := os.MkdirTemp(f.root, "stateB")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(f.storeDir, state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(f.storeDir) })
	rep := progress.Plain(log)
	b := &Builder{Store: st, Sandbox: sandbox.ModeOff, Client: f.srv.Client(), Progress: rep}
	if caches != nil {
		s := &cache.Substituter{Store: st, Keys: []cache.PublicKey{f.key.Public()}, Progress: rep,
			Warn: func(msg string) { rep.Logf("warning: %s", msg) }}
		for _, u := range caches {
			c, err := cache.Open(u, nil)
			if err != nil {
				t.Fatal(err)
			}
			s.Caches = append(s.Caches, c)
		}
		b.Substitute = s.Substitute
	}
	return b
}

func TestRealizeSubstitutes(t *testing.T) {
	f := newSubstFixture(t)
	var log bytes.Buffer
	b := f.builder(t, &log, f.cacheURL)
	if err := b.Realize(context.Background(), f.hello); err != nil {
		t.Fatalf("Realize: %v\n%s", err, &log)
	}
	t.Logf("log:\n%s", &log)
	if _, err := os.Stat(f.marker); err == nil {
		t.Errorf("the build script ran although its output was in the cache")
	}
	if n := f.fetches.Load(); n != 0 {
		t.Errorf("the input was fetched from upstream %d times; the cache has it", n)
	}
	for _, p := range []storepath.Path{f.hello.Out, f.src.Out} {
		if ok, err := b.Store.IsValid(p); !ok || err != nil {
			t.Errorf("%s not valid after substitution: %v", p.Name(), err)
		}
	}
	data, err := os.ReadFile(filepath.Join(string(f.hello.Out), "info"))
	if err != nil || !strings.Contains(string(data), string(f.src.Out)) {
		t.Errorf("substituted output holds %q, %v", data, err)
	}
	if !strings.Contains(log.String(), "substituting 2 paths") || !strings.Contains(log.String(), "substituting hello-1.0") {
		t.Errorf("progress does not say what was substituted:\n%s", &log)
	}
	if strings.Contains(log.String(), "building") || strings.Contains(log.String(), "downloading") {
		t.Errorf("progress says something was built or downloaded:\n%s", &log)
	}
}

func TestRealizeSubstitutesFixedOutput(t *testing.T) {
	f := newSubstFixture(t)
	var log bytes.Buffer
	b := f.builder(t, &log, f.cacheURL)
	if err := b.Realize(context.Background(), f.src); err != nil {
		t.Fatalf("Realize: %v\n%s", err, &log)
	}
	if n := f.fetches.Load(); n != 0 {
		t.Errorf("a fixed-output path in the cache was fetched from upstream %d times", n)
	}
}

func TestRealizeFallsBackToBuilding(t *testing.T) {
	f := newSubstFixture(t)
	// The cache's copy of the output is corrupt: it is said, and the output is built.
	c, err := os.ReadFile(filepath.Join(f.root, "cache", f.hello.Out.HashPart()+".narinfo"))
	if err != nil {
		t.Fatal(err)
	}
	ni, err := cache.ParseNarInfo(c, f.storeDir)
	if err != nil {
		t.Fatal(err)
	}
	nar := filepath.Join(f.root, "cache", ni.URL)
	data, err := os.ReadFile(nar)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(nar, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	b := f.builder(t, &log, f.cacheURL)
	if err := b.Realize(context.Background(), f.hello); err != nil {
		t.Fatalf("Realize: %v\n%s", err, &log)
	}
	t.Logf("log:\n%s", &log)
	if _, err := os.Stat(f.marker); err != nil {
		t.Errorf("the output was not built after its cached copy was rejected")
	}
	for _, want := range []string{"cannot substitute hello-1.0 from " + f.cacheURL, "building hello-1.0"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, &log)
		}
	}
}

func TestRealizeNoBuild(t *testing.T) {
	f := newSubstFixture(t)
	empty := "file://" + filepath.Join(f.root, "empty-cache")
	for name, caches := range map[string][]string{"no cache": nil, "empty cache": {empty}} {
		t.Run(name, func(t *testing.T) {
			var log bytes.Buffer
			b := f.builder(t, &log, caches...)
			b.NoBuild = true
			err := b.Realize(context.Background(), f.hello)
			var nb *NoBuildError
			if !errors.As(err, &nb) || nb.Name != "hello-1.0" {
				t.Fatalf("Realize error = %v, want a NoBuildError for hello-1.0", err)
			}
			want := "hello-1.0 is not in the store, no binary cache is configured, and --no-build forbids building it"
			if caches != nil {
				want = "no binary cache has a usable copy of hello-1.0 (" + string(f.hello.Out) + "), and --no-build forbids building it"
			}
			if err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
			if _, err := os.Stat(f.marker); err == nil {
				t.Errorf("the script ran under NoBuild")
			}
			if n := f.fetches.Load(); n != 0 {
				t.Errorf("fetched from upstream %d times under NoBuild", n)
			}
		})
	}
}

// A native derivation (a recipe) for another system than the builder's is refused unless a
// cache has its output; a fixed-output download for that system is fetched as usual.
func TestRealizeNativeForAnotherSystem(t *testing.T) {
	f := newSubstFixture(t)
	f.hello.Native = true // not part of the encoding: the path the cache holds is the same
	elsewhere := platform.System{Arch: "aarch64", OS: "linux"}

	t.Run("cached", func(t *testing.T) {
		var log bytes.Buffer
		b := f.builder(t, &log, f.cacheURL)
		b.System = elsewhere
		if err := b.Realize(context.Background(), f.hello); err != nil {
			t.Fatalf("Realize: %v\n%s", err, &log)
		}
		if _, err := os.Stat(f.marker); err == nil {
			t.Errorf("the script ran on the wrong system")
		}
	})
	t.Run("not cached", func(t *testing.T) {
		var log bytes.Buffer
		b := f.builder(t, &log, "file://"+filepath.Join(f.root, "empty-cache"))
		b.System = elsewhere
		err := b.Realize(context.Background(), f.hello)
		var ce *CrossError
		if !errors.As(err, &ce) {
			t.Fatalf("Realize error = %v, want a CrossError", err)
		}
		want := "hello is built from source and cannot be built for x86_64-linux on aarch64-linux; cross-compilation is not supported yet"
		if err.Error() != want {
			t.Errorf("error = %q, want %q", err, want)
		}
		if _, err := os.Stat(f.marker); err == nil {
			t.Errorf("the script ran on the wrong system")
		}
		if n := f.fetches.Load(); n != 0 {
			t.Errorf("its input was fetched %d times before the refusal", n)
		}
		if ok, _ := b.Store.IsValid(f.hello.Out); ok {
			t.Errorf("the output is valid after the refusal")
		}
		// The download alone is no build: it is fetched for any system.
		if err := b.Realize(context.Background(), f.src); err != nil {
			t.Errorf("fixed-output download for another system: %v", err)
		}
	})
}
