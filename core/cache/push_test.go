package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// pushFixture is a store holding a small closure: top -> app -> lib, top -> lib, top -> drv text,
// and app referencing itself.
type pushFixture struct {
	st             *store.Store
	lib, app, top  storepath.Path
	text           storepath.Path
	closureMembers []storepath.Path
}

func newPushFixture(t *testing.T) *pushFixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"), filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.RemoveTree(st.Dir) })
	f := &pushFixture{st: st}
	f.lib = f.output(t, "lib", map[string]string{"lib/libx.so": string(sample(2 << 20))})
	f.app = f.output(t, "app", nil, f.lib)
	f.text, err = st.AddText("app.conf", []byte("uses "+string(f.lib)), []storepath.Path{f.lib})
	if err != nil {
		t.Fatal(err)
	}
	f.top = f.output(t, "top", map[string]string{"bin/top": "#!" + string(f.app) + "/bin/app\n" + string(f.text) + string(f.lib)}, f.app, f.text, f.lib)
	f.closureMembers = []storepath.Path{f.lib, f.app, f.text, f.top}
	for p, want := range map[storepath.Path]int{f.top: 3, f.app: 2, f.text: 1} {
		if info, err := st.Info(p); err != nil || len(info.References) != want {
			t.Fatalf("fixture %s has references %v (%v), want %d", p, info.References, err, want)
		}
	}
	return f
}

// output registers an input-addressed path whose files are content; a nil content makes an "app"
// that references itself and each ref.
func (f *pushFixture) output(t *testing.T, name string, content map[string]string, refs ...storepath.Path) storepath.Path {
	t.Helper()
	p, err := storepath.Output(f.st.Dir, hash.Sum(hash.SHA256, []byte("drv of "+name)), "out", name)
	if err != nil {
		t.Fatal(err)
	}
	if content == nil {
		content = map[string]string{"bin/app": "#!/bin/sh\nexec " + string(p) + "/libexec/app " + string(refs[0]) + "\n", "libexec/app": "x"}
	}
	_, err = f.st.Ensure(p, func(tmp string) (string, store.Publish, error) {
		for rel, c := range content {
			os.MkdirAll(filepath.Dir(filepath.Join(tmp, rel)), 0o755)
			if err := os.WriteFile(filepath.Join(tmp, rel), []byte(c), 0o755); err != nil {
				return "", store.Publish{}, err
			}
		}
		return tmp, store.Publish{Candidates: refs}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// recordingCache logs the order of Puts.
type recordingCache struct {
	Cache
	mu   sync.Mutex
	puts []string
}

func (r *recordingCache) Put(ctx context.Context, name string, body io.Reader) error {
	if err := r.Cache.Put(ctx, name, body); err != nil {
		return err
	}
	r.mu.Lock()
	r.puts = append(r.puts, name)
	r.mu.Unlock()
	return nil
}

// checkCacheHolds reads every narinfo of the closure back from c and checks it against the store:
// signature, NarHash and NarSize of the decompressed NAR, FileHash and FileSize of the file.
func checkCacheHolds(t *testing.T, c Cache, st *store.Store, paths []storepath.Path, key PublicKey) {
	t.Helper()
	ctx := context.Background()
	info, err := c.Info(ctx)
	if err != nil || info.StoreDir != st.Dir || !info.WantMassQuery {
		t.Fatalf("nix-cache-info: %+v %v", info, err)
	}
	for _, p := range paths {
		n, err := GetNarInfo(ctx, c, p, st.Dir)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := st.Info(p)
		if err != nil || rec == nil {
			t.Fatalf("store info %s: %v", p, err)
		}
		if n.NarHash.String() != rec.NarHash || n.NarSize != rec.NarSize || len(n.References) != len(rec.References) || n.CA != rec.CA {
			t.Fatalf("narinfo of %s does not match the store:\n%s\nstore: %+v", p, n.Bytes(), rec)
		}
		if err := n.Verify([]PublicKey{key}); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		rc, err := c.Get(ctx, n.URL)
		if err != nil {
			t.Fatal(err)
		}
		fileHash := sha256.New()
		counted := &countWriter{w: fileHash}
		dr, err := Decompressor(n.Compression, io.TeeReader(rc, counted))
		if err != nil {
			t.Fatal(err)
		}
		narHash := sha256.New()
		size, err := io.Copy(narHash, dr)
		dr.Close()
		io.Copy(counted, rc) // the rest, if the decompressor stopped early
		rc.Close()
		if err != nil {
			t.Fatalf("decompress %s: %v", n.URL, err)
		}
		if got := hash.FromHasher(hash.SHA256, narHash); !got.Equal(n.NarHash) || size != n.NarSize {
			t.Fatalf("NAR of %s: %s %d, narinfo says %s %d", p, got, size, n.NarHash, n.NarSize)
		}
		if !n.FileHash.IsZero() {
			if got := hash.FromHasher(hash.SHA256, fileHash); !got.Equal(n.FileHash) || counted.n != n.FileSize {
				t.Fatalf("file of %s: %s %d, narinfo says %s %d", p, got, counted.n, n.FileHash, n.FileSize)
			}
			if n.URL != "nar/"+n.FileHash.Nix32()+".nar"+Ext(n.Compression) {
				t.Fatalf("NAR URL %s is not named by its file hash", n.URL)
			}
		}
	}
}

func TestPush(t *testing.T) {
	f := newPushFixture(t)
	key, _ := GenerateKey("push-1")
	for _, method := range Methods {
		t.Run(method, func(t *testing.T) {
			dir := t.TempDir()
			fc, err := Open("file://"+dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := &recordingCache{Cache: fc}
			var msgs []string
			pushed, skipped, err := Push(context.Background(), f.st, c, []storepath.Path{f.top}, PushOptions{
				Key: &key, Compression: method, Jobs: 3, Progress: func(m string) { msgs = append(msgs, m) }})
			if err != nil {
				t.Fatal(err)
			}
			if pushed != 4 || skipped != 0 || len(msgs) != 4 {
				t.Fatalf("pushed %d skipped %d, progress %q", pushed, skipped, msgs)
			}
			checkCacheHolds(t, c, f.st, f.closureMembers, key.Public())

			// Order: nix-cache-info first; every narinfo after its NAR and its references' narinfos.
			pos := map[string]int{}
			for i, n := range c.puts {
				pos[n] = i
			}
			if c.puts[0] != "nix-cache-info" {
				t.Fatalf("first put %s", c.puts[0])
			}
			for _, p := range f.closureMembers {
				n, _ := GetNarInfo(context.Background(), c, p, f.st.Dir)
				me := pos[p.HashPart()+".narinfo"]
				if pos[n.URL] >= me {
					t.Errorf("%s: narinfo written before its NAR: %v", p, c.puts)
				}
				for _, r := range n.References {
					if r != p && pos[r.HashPart()+".narinfo"] >= me {
						t.Errorf("%s: narinfo written before that of its reference %s: %v", p, r, c.puts)
					}
				}
			}

			// A second push finds everything there.
			c.puts = nil
			pushed, skipped, err = Push(context.Background(), f.st, c, []storepath.Path{f.top, f.lib}, PushOptions{Key: &key, Compression: method})
			if err != nil || pushed != 0 || skipped != 4 || len(c.puts) != 0 {
				t.Fatalf("second push: pushed %d skipped %d err %v puts %v", pushed, skipped, err, c.puts)
			}
		})
	}
}

func TestPushKeepsStoreSignatures(t *testing.T) {
	f := newPushFixture(t)
	other, _ := GenerateKey("other-1")
	rec, _ := f.st.Info(f.lib)
	n := &NarInfo{StorePath: f.lib, NarHash: hash.Hash{}, NarSize: rec.NarSize, References: rec.References}
	n.NarHash, _ = hash.Parse(rec.NarHash, "")
	if err := f.st.AddSignatures(f.lib, other.Sign(n.Fingerprint())); err != nil {
		t.Fatal(err)
	}
	c, _ := Open("file://"+t.TempDir(), nil)
	if _, _, err := Push(context.Background(), f.st, c, []storepath.Path{f.lib}, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	checkCacheHolds(t, c, f.st, []storepath.Path{f.lib}, other.Public())
}

func TestPushPartialThenResume(t *testing.T) {
	f := newPushFixture(t)
	key, _ := GenerateKey("push-1")
	dir := t.TempDir()
	c, _ := Open("file://"+dir, nil)
	if pushed, _, err := Push(context.Background(), f.st, c, []storepath.Path{f.lib}, PushOptions{Key: &key}); err != nil || pushed != 1 {
		t.Fatalf("push lib: %d %v", pushed, err)
	}
	pushed, skipped, err := Push(context.Background(), f.st, c, []storepath.Path{f.top}, PushOptions{Key: &key, Jobs: 1})
	if err != nil || pushed != 3 || skipped != 1 {
		t.Fatalf("push top: %d %d %v", pushed, skipped, err)
	}
	checkCacheHolds(t, c, f.st, f.closureMembers, key.Public())
	ents, _ := os.ReadDir(filepath.Join(dir, "nar"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("push left %s", e.Name())
		}
	}
	if len(ents) != 4 {
		t.Errorf("nar/ holds %d files, want 4", len(ents))
	}
}

func TestPushErrors(t *testing.T) {
	f := newPushFixture(t)
	dir := t.TempDir()
	c, _ := Open("file://"+dir, nil)
	os.WriteFile(filepath.Join(dir, "nix-cache-info"), []byte("StoreDir: /nix/store\n"), 0o644)
	if _, _, err := Push(context.Background(), f.st, c, []storepath.Path{f.lib}, PushOptions{}); err == nil || !strings.Contains(err.Error(), "holds paths of the store /nix/store") {
		t.Fatalf("other store dir: %v", err)
	}
	c, _ = Open("file://"+t.TempDir(), nil)
	if _, _, err := Push(context.Background(), f.st, c, []storepath.Path{f.lib}, PushOptions{Compression: "lz4"}); err == nil {
		t.Fatal("lz4 accepted")
	}
	missing := storepath.Path(f.st.Dir + "/" + strings.Repeat("0", 32) + "-gone")
	var nv *store.NotValidError
	if _, _, err := Push(context.Background(), f.st, c, []storepath.Path{missing}, PushOptions{}); !errors.As(err, &nv) {
		t.Fatalf("invalid path: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Push(ctx, f.st, c, []storepath.Path{f.top}, PushOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// A store path altered after registration is not pushed: the cache would serve a NAR that does
// not match its narinfo.
func TestPushRefusesModifiedPath(t *testing.T) {
	f := newPushFixture(t)
	file := filepath.Join(string(f.lib), "lib", "libx.so")
	os.Chmod(filepath.Dir(file), 0o755)
	os.Chmod(file, 0o644)
	if err := os.WriteFile(file, bytes.Repeat([]byte("z"), 10), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, _ := Open("file://"+dir, nil)
	_, _, err := Push(context.Background(), f.st, c, []storepath.Path{f.lib}, PushOptions{})
	if err == nil || !strings.Contains(err.Error(), "changed since it was registered") {
		t.Fatalf("modified path pushed: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "nar")); len(ents) != 0 {
		t.Fatalf("a refused push left %v", ents)
	}
	if ok, _ := c.Has(context.Background(), f.lib.HashPart()+".narinfo"); ok {
		t.Fatal("narinfo written for a modified path")
	}
}
