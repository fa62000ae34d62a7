package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// PushQueue is the directory of store paths waiting to be pushed to caches (push after build):
// one subdirectory per target, named by a hash of it, holding "target" (its URL and key file, as
// JSON; no secret: the key stays in its file) and one empty file per queued path, named by the
// path's base name. A path is queued as soon as it is valid and its entry removed only once its
// narinfo is in the cache, so a den that exits early (a den run that execs, Ctrl-C, a crash)
// leaves the rest for the next den, or den cache push --pending, to push.
type PushQueue struct{ Dir string }

// PushTarget is one cache paths are pushed to and the secret key file that signs them.
type PushTarget struct {
	URL     string `json:"url"` // with its query (endpoint=, profile=, …)
	KeyFile string `json:"key"`
}

// PendingPush is a target and the paths queued for it.
type PendingPush struct {
	Target PushTarget
	Paths  []storepath.Path
	dir    string
}

// ErrQueueBusy is Drain finding another process draining the same target.
var ErrQueueBusy = errors.New("another den is pushing to this cache")

func (q PushQueue) targetDir(t PushTarget) string {
	sum := sha256.Sum256([]byte(t.URL + "\x00" + t.KeyFile))
	return filepath.Join(q.Dir, hex.EncodeToString(sum[:12]))
}

// Add queues paths for t. Each entry is made by creating a file, which is atomic; the target
// file is written (temp and rename) before the first entry, so a reader never finds entries it
// cannot place.
func (q PushQueue) Add(t PushTarget, paths ...storepath.Path) error {
	dir := q.targetDir(t)
	if _, err := os.Stat(filepath.Join(dir, "target")); err != nil {
		if err := os.MkdirAll(filepath.Join(dir, "paths"), 0o700); err != nil {
			return fmt.Errorf("push queue: %w", err)
		}
		data, _ := json.Marshal(t)
		tmp := filepath.Join(dir, fmt.Sprintf(".target-%d", os.Getpid()))
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return fmt.Errorf("push queue: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "target")); err != nil {
			return fmt.Errorf("push queue: %w", err)
		}
	}
	for _, p := range paths {
		f, err := os.OpenFile(filepath.Join(dir, "paths", filepath.Base(string(p))), os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("push queue: %w", err)
		}
		f.Close()
	}
	return nil
}

// Pending lists every target with queued paths (of the store dir storeDir), in a stable order.
func (q PushQueue) Pending(storeDir string) ([]PendingPush, error) {
	ents, err := os.ReadDir(q.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("push queue: %w", err)
	}
	var out []PendingPush
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(q.Dir, e.Name())
		data, err := os.ReadFile(filepath.Join(dir, "target"))
		if err != nil {
			continue // being made, or not the queue's
		}
		var t PushTarget
		if json.Unmarshal(data, &t) != nil || t.URL == "" {
			continue
		}
		paths, err := queued(dir, storeDir)
		if err != nil {
			return nil, err
		}
		if len(paths) > 0 {
			out = append(out, PendingPush{Target: t, Paths: paths, dir: dir})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target.URL < out[j].Target.URL })
	return out, nil
}

func queued(dir, storeDir string) ([]storepath.Path, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "paths"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("push queue: %w", err)
	}
	var paths []storepath.Path
	for _, e := range ents {
		if p, err := storepath.Parse(storeDir, filepath.Join(storeDir, e.Name())); err == nil && !strings.HasPrefix(e.Name(), ".") {
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// Drain pushes what is queued for target to c, signed with opt.Key, until the queue is empty
// (paths queued meanwhile are pushed too), removing each entry once its closure is in c. A path
// no longer valid (collected since) is dropped from the queue. Only one process drains a target
// at a time: another's drain in progress returns ErrQueueBusy.
func (q PushQueue) Drain(ctx context.Context, st *store.Store, c Cache, t PushTarget, opt PushOptions) (pushed int, err error) {
	dir := q.targetDir(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("push queue: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("push queue: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return 0, ErrQueueBusy
		}
		return 0, fmt.Errorf("push queue: lock: %w", err)
	}
	for {
		paths, err := queued(dir, st.Dir)
		if err != nil || len(paths) == 0 {
			return pushed, err
		}
		var valid []storepath.Path
		for _, p := range paths {
			ok, err := st.IsValid(p)
			if err != nil {
				return pushed, err
			}
			if ok {
				valid = append(valid, p)
			} else {
				os.Remove(filepath.Join(dir, "paths", filepath.Base(string(p))))
			}
		}
		if len(valid) == 0 {
			continue
		}
		n, _, err := Push(ctx, st, c, valid, opt)
		pushed += n
		if err != nil {
			return pushed, err
		}
		for _, p := range valid {
			os.Remove(filepath.Join(dir, "paths", filepath.Base(string(p))))
		}
	}
}
