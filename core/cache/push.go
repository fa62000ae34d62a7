package cache

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// PushOptions tune Push.
type PushOptions struct {
	Key         *SecretKey       // signs every narinfo written; nil writes only the store's own signatures
	Compression string           // "zstd" (default), "xz" or "none"
	Jobs        int              // paths uploaded at once (default 4)
	Progress    func(msg string) // one line per path uploaded; calls are serialized
}

// Push uploads the closure of paths: NARs before narinfos, references before referrers, skipping
// paths whose narinfo is already there; writes nix-cache-info (StoreDir, WantMassQuery: 1,
// Priority: 50) if absent. A reader of the cache thus never finds a narinfo whose NAR or whose
// references' narinfos are missing, even while a push is running or after one was interrupted.
func Push(ctx context.Context, st *store.Store, c Cache, paths []storepath.Path, opt PushOptions) (pushed, skipped int, err error) {
	if opt.Compression == "" {
		opt.Compression = "zstd"
	}
	if _, err := Compressor(opt.Compression, io.Discard); err != nil {
		return 0, 0, err
	}
	if opt.Jobs <= 0 {
		opt.Jobs = 4
	}
	infos, err := st.Closure(paths...)
	if err != nil {
		return 0, 0, err
	}
	infos = store.SortTopo(infos)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	switch ci, err := c.Info(ctx); {
	case errors.Is(err, ErrNotFound):
		ci = &CacheInfo{StoreDir: st.Dir, WantMassQuery: true, Priority: DefaultPriority}
		if err := c.Put(ctx, "nix-cache-info", bytes.NewReader(ci.Bytes())); err != nil {
			return 0, 0, fmt.Errorf("write nix-cache-info: %w", err)
		}
	case err != nil:
		return 0, 0, err
	case ci.StoreDir != "" && ci.StoreDir != st.Dir:
		return 0, 0, fmt.Errorf("%s holds paths of the store %s, not %s; push to another cache", c.URL(), ci.StoreDir, st.Dir)
	}

	// Which narinfos are there already: one look-up per path, several at once (each is a round trip
	// for an http cache).
	have := make([]bool, len(infos))
	{
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		sem := make(chan struct{}, max(8, opt.Jobs))
		for i, info := range infos {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				ok, err := c.Has(ctx, info.Path.HashPart()+".narinfo")
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				have[i] = ok
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return 0, 0, firstErr
		}
	}

	var progressMu sync.Mutex
	progress := func(format string, args ...any) {
		if opt.Progress != nil {
			progressMu.Lock()
			defer progressMu.Unlock()
			opt.Progress(fmt.Sprintf(format, args...))
		}
	}

	// Every path to upload gets a channel closed once its narinfo is written; a referrer waits for
	// its references' channels before writing its own narinfo. NAR uploads, the slow part, run
	// without waiting, Jobs at a time; the semaphore is released before the wait, so a path never
	// holds a slot while it waits for another (which could deadlock with Jobs paths waiting).
	done := map[storepath.Path]chan struct{}{}
	for i, info := range infos {
		if have[i] {
			skipped++
		} else {
			done[info.Path] = make(chan struct{})
		}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	sem := make(chan struct{}, opt.Jobs)
	for i, info := range infos {
		if have[i] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			n, err := uploadNar(ctx, c, info, opt.Compression)
			<-sem
			if err != nil {
				fail(fmt.Errorf("push %s: %w", info.Path, err))
				return
			}
			for _, r := range info.References {
				if ch, ok := done[r]; ok && r != info.Path {
					select {
					case <-ch:
					case <-ctx.Done():
						return
					}
				}
			}
			if opt.Key != nil {
				n.Sign(*opt.Key)
			}
			if err := c.Put(ctx, info.Path.HashPart()+".narinfo", bytes.NewReader(n.Bytes())); err != nil {
				fail(fmt.Errorf("push %s: %w", info.Path, err))
				return
			}
			mu.Lock()
			pushed++
			mu.Unlock()
			progress("pushed %s (%s)", info.Path, sizeString(n.FileSize))
			close(done[info.Path])
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return pushed, skipped, firstErr
	}
	return pushed, skipped, ctx.Err()
}

// uploadNar dumps the path's NAR, compresses it into a temporary file while hashing both streams,
// checks the NAR against the store's record, uploads the file under its hash and returns the
// narinfo for it (unsigned but for the store's own signatures). Only the compressed file touches
// the disk; nothing holds a whole NAR in memory.
func uploadNar(ctx context.Context, c Cache, info store.PathInfo, method string) (*NarInfo, error) {
	want, err := hash.Parse(info.NarHash, hash.SHA256)
	if err != nil {
		return nil, fmt.Errorf("the store's record has a bad NAR hash: %v", err)
	}
	// A file cache gets the temporary file beside its NARs and takes it by rename; any other cache
	// gets it uploaded from the system's temp dir.
	fc, local := c.(*fileCache)
	tmpDir := ""
	if local {
		tmpDir = filepath.Join(fc.dir, "nar")
		if err := os.MkdirAll(tmpDir, 0o755); err != nil {
			return nil, fmt.Errorf("create cache directory: %w", err)
		}
	}
	tmp, err := os.CreateTemp(tmpDir, ".tmp-den-push-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)

	fileHash := sha256.New()
	counted := &countWriter{w: io.MultiWriter(bw, fileHash)}
	cw, err := Compressor(method, counted)
	if err != nil {
		return nil, err
	}
	narHash := sha256.New()
	narCount := &countWriter{w: io.MultiWriter(cw, narHash)}
	if err := nar.Dump(ctxWriter{ctx, narCount}, string(info.Path)); err != nil {
		cw.Close()
		return nil, err
	}
	if err := cw.Close(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	got := hash.FromHasher(hash.SHA256, narHash)
	if !got.Equal(want) || narCount.n != info.NarSize {
		return nil, fmt.Errorf("its contents changed since it was registered (NAR hash %s, %d bytes; the store recorded %s, %d bytes); run den store verify",
			got, narCount.n, want, info.NarSize)
	}
	fh := hash.FromHasher(hash.SHA256, fileHash)
	name := "nar/" + fh.Nix32() + ".nar" + Ext(method)

	// A NAR of the same content may already be there (an interrupted earlier push); the name is its
	// hash, so it is the same file.
	if ok, err := c.Has(ctx, name); err != nil {
		return nil, err
	} else if !ok && local {
		if err := fc.adopt(tmp, name); err != nil {
			return nil, err
		}
	} else if !ok {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		if err := c.Put(ctx, name, tmp); err != nil {
			return nil, err
		}
	}
	return &NarInfo{
		StorePath:   info.Path,
		URL:         name,
		Compression: method,
		FileHash:    fh,
		FileSize:    counted.n,
		NarHash:     want,
		NarSize:     info.NarSize,
		References:  info.References,
		Deriver:     info.Deriver,
		Sigs:        append([]string(nil), info.Signatures...),
		CA:          NixCA(info.CA),
	}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// ctxWriter stops a NAR dump when the push is cancelled.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(b)
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
