package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/den-sh/den/core/cache/s3test"
	"github.com/den-sh/den/core/storepath"
)

func TestPushQueue(t *testing.T) {
	s3Env(t)
	srv := startS3(t, "cache")
	f := newPushFixture(t)
	key, _ := GenerateKey("q-1")
	q := PushQueue{Dir: filepath.Join(t.TempDir(), "push-queue")}
	s3 := PushTarget{URL: srv.CacheURL("cache"), KeyFile: "/keys/q-1.sec"}
	file := PushTarget{URL: "file://" + t.TempDir(), KeyFile: "/keys/q-1.sec"}
	if err := q.Add(s3, f.app, f.top); err != nil {
		t.Fatal(err)
	}
	if err := q.Add(file, f.lib); err != nil {
		t.Fatal(err)
	}
	if err := q.Add(s3, f.app); err != nil { // twice is once
		t.Fatal(err)
	}

	// What another process finds: both targets, with their paths and key files.
	pending, err := q.Pending(f.st.Dir)
	if err != nil || len(pending) != 2 {
		t.Fatalf("Pending: %+v %v", pending, err)
	}
	for _, p := range pending {
		want := map[string]int{s3.URL: 2, file.URL: 1}[p.Target.URL]
		if len(p.Paths) != want || p.Target.KeyFile != "/keys/q-1.sec" {
			t.Errorf("%s: %v (key %s), want %d paths", p.Target.URL, p.Paths, p.Target.KeyFile, want)
		}
	}

	// A drain of the S3 target while another process holds its lock does nothing.
	lock, err := os.OpenFile(filepath.Join(q.targetDir(s3), "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	c := openS3Cache(t, s3.URL)
	if _, err := q.Drain(context.Background(), f.st, c, s3, PushOptions{Key: &key}); !errors.Is(err, ErrQueueBusy) {
		t.Fatalf("Drain under another's lock: %v", err)
	}
	lock.Close()

	// A failing cache leaves the entries; a working one takes the closures and empties the queue.
	t.Setenv("AWS_ACCESS_KEY_ID", "WRONG")
	if _, err := q.Drain(context.Background(), f.st, openS3Cache(t, s3.URL), s3, PushOptions{Key: &key}); err == nil {
		t.Fatal("Drain with refused credentials succeeded")
	}
	if p, _ := q.Pending(f.st.Dir); len(p) != 2 {
		t.Fatalf("a failed drain dropped entries: %+v", p)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	n, err := q.Drain(context.Background(), f.st, c, s3, PushOptions{Key: &key})
	if err != nil || n != 4 {
		t.Fatalf("Drain: %d %v", n, err)
	}
	checkCacheHolds(t, c, f.st, f.closureMembers, key.Public())
	if p, _ := q.Pending(f.st.Dir); len(p) != 1 || p[0].Target != file {
		t.Fatalf("after the drain: %+v", p)
	}

	// A queued path that is gone from the store (collected) is dropped, not pushed.
	gone, _ := storepath.Parse(f.st.Dir, filepath.Join(f.st.Dir, "0000000000000000000000000000000a-gone"))
	q.Add(file, gone)
	fc, _ := Open(file.URL, nil)
	if n, err := q.Drain(context.Background(), f.st, fc, file, PushOptions{Key: &key}); err != nil || n != 1 {
		t.Fatalf("file drain: %d %v", n, err)
	}
	if p, _ := q.Pending(f.st.Dir); len(p) != 0 {
		t.Fatalf("the queue is not empty: %+v", p)
	}
}
