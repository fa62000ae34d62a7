// Package memo keeps answers that cost den time or the network to work out again — how a version
// constraint resolved, which modules a Go program's build needs — in small files under den's
// cache dir, so that the next command can skip the work. A memo is never a source of truth: its
// reader checks what it gets as it would check the same answer from elsewhere (a resolution as a
// lock is checked), and a memo that is missing, unreadable, damaged or written for another key
// is simply not there. Each entry is written to a temporary file and renamed into place, so
// dens running side by side see an entry whole or not at all; the last writer wins, and any
// entry they write is as good as another.
package memo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"time"
)

// maxEntry bounds what Get reads: a resolution of a large npm tool for every system is well
// under a megabyte.
const maxEntry = 32 << 20

// Dir is a directory of memos, one file each.
type Dir struct {
	path string
}

// Open returns the memos kept in dir, which is created when the first one is written. A nil *Dir
// keeps nothing: Get finds nothing and Put does nothing.
func Open(dir string) *Dir { return &Dir{path: dir} }

// entry is a memo's file: its key in full, so that a file is only ever read as what it was
// written for, when it was made, and the value.
type entry struct {
	Key   string          `json:"key"`
	Made  time.Time       `json:"made"`
	Value json.RawMessage `json:"value"`
}

func (d *Dir) file(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(d.path, hex.EncodeToString(sum[:20]))
}

// Get decodes the value kept under key into v and returns when it was made. ok is false when
// there is none that decodes, for whatever reason.
func (d *Dir) Get(key string, v any) (made time.Time, ok bool) {
	if d == nil {
		return time.Time{}, false
	}
	f, err := os.Open(d.file(key))
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxEntry+1))
	if err != nil || len(data) > maxEntry {
		return time.Time{}, false
	}
	var e entry
	if json.Unmarshal(data, &e) != nil || e.Key != key || e.Made.IsZero() {
		return time.Time{}, false
	}
	if json.Unmarshal(e.Value, v) != nil {
		return time.Time{}, false
	}
	return e.Made, true
}

// Put keeps v under key, made now.
func (d *Dir) Put(key string, v any) error { return d.PutAt(key, v, time.Now()) }

// PutAt keeps v under key, made at made.
func (d *Dir) PutAt(key string, v any, made time.Time) error {
	if d == nil {
		return nil // a nil Dir keeps nothing
	}
	value, err := json.Marshal(v)
	if err != nil {
		return err
	}
	data, err := json.Marshal(entry{Key: key, Made: made.UTC(), Value: value})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.path, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.path, ".tmp-")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), d.file(key))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
