package cache

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/den-sh/den/core/cache/s3test"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// s3Env gives the test the fake server's credentials through the environment, and a HOME with no
// AWS files, so that nothing of the machine's own AWS setup leaks in.
func s3Env(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	for _, v := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

func startS3(t *testing.T, buckets ...string) *s3test.Server {
	t.Helper()
	s, err := s3test.Start(buckets...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func openS3Cache(t *testing.T, u string) Cache {
	t.Helper()
	c, err := Open(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestS3Cache(t *testing.T) {
	s3Env(t)
	srv := startS3(t, "cache")
	for _, u := range []string{srv.CacheURL("cache"), srv.CacheURL("cache/team/x"),
		// Nix's spelling: a bare host:port and scheme=http.
		"s3://cache/nix?endpoint=" + srv.Endpoint() + "&scheme=http&priority=30"} {
		t.Run(u, func(t *testing.T) {
			c := openS3Cache(t, u)
			exerciseCache(t, c)
			names, err := c.List(context.Background())
			if err != nil || strings.Join(names, " ") != "abc.narinfo def.narinfo" {
				t.Fatalf("List: %v %v", names, err)
			}
		})
	}
	keys, _ := srv.Keys("cache")
	for _, want := range []string{"nix-cache-info", "team/x/abc.narinfo", "nix/nar/0123.nar.zst"} {
		if !contains(keys, want) {
			t.Errorf("the bucket has no %s: %q", want, keys)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// A closure pushed to S3 (a large NAR in a parallel multipart upload) is read back intact and
// substituted into a fresh store of the same store dir.
func TestS3PushAndSubstitute(t *testing.T) {
	s3Env(t)
	srv := startS3(t, "cache")
	f := newPushFixture(t)
	noise := make([]byte, 40<<20)
	rand.Read(noise)
	big := f.output(t, "big", map[string]string{"share/noise": string(noise)})
	key, _ := GenerateKey("s3-1")
	c := openS3Cache(t, srv.CacheURL("cache/p"))
	pushed, skipped, err := Push(context.Background(), f.st, c, []storepath.Path{f.top, big}, PushOptions{Key: &key, Compression: "none"})
	if err != nil || pushed != 5 || skipped != 0 {
		t.Fatalf("push: %d %d %v", pushed, skipped, err)
	}
	checkCacheHolds(t, c, f.st, append(f.closureMembers, big), key.Public())
	names, err := c.List(context.Background())
	if err != nil || len(names) != 5 {
		t.Fatalf("List: %v %v", names, err)
	}
	parts := 0
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r, "PUT /cache/p/nar/") && strings.Contains(r, "partNumber=") {
			parts++
		}
	}
	if parts < 3 {
		t.Errorf("the 40 MiB NAR went up in %d parts, want a multipart upload of %d MiB parts", parts, s3PartSize>>20)
	}
	if pushed, skipped, err := Push(context.Background(), f.st, c, []storepath.Path{f.top}, PushOptions{Key: &key}); err != nil || pushed != 0 || skipped != 4 {
		t.Fatalf("second push: %d %d %v", pushed, skipped, err)
	}

	dir := f.st.Dir
	if err := store.RemoveTree(dir); err != nil {
		t.Fatal(err)
	}
	b, err := store.Open(dir, filepath.Join(t.TempDir(), "stateB"))
	if err != nil {
		t.Fatal(err)
	}
	w := &warnings{}
	sub := &Substituter{Store: b, Caches: []Cache{openS3Cache(t, srv.CacheURL("cache/p"))}, Keys: []PublicKey{key.Public()}, Warn: w.add}
	for _, p := range []storepath.Path{f.top, big} {
		if ok, err := sub.Substitute(context.Background(), p); !ok || err != nil {
			t.Fatalf("Substitute %s: %v %v\n%s", p.Name(), ok, err, w)
		}
	}
	for _, p := range append(f.closureMembers, big) {
		if ok, _ := b.IsValid(p); !ok {
			t.Errorf("%s was not substituted", p)
		}
	}

	// The same signature checks as every cache: an untrusted key substitutes nothing.
	store.RemoveTree(dir)
	b2, _ := store.Open(dir, filepath.Join(t.TempDir(), "stateC"))
	other, _ := GenerateKey("other-1")
	w = &warnings{}
	sub = &Substituter{Store: b2, Caches: []Cache{openS3Cache(t, srv.CacheURL("cache/p"))}, Keys: []PublicKey{other.Public()}, Warn: w.add}
	if ok, err := sub.Substitute(context.Background(), f.top); ok || err != nil {
		t.Fatalf("Substitute with an untrusted key: %v %v", ok, err)
	}
	if !strings.Contains(w.String(), "signature") {
		t.Errorf("no word of the signature: %s", w)
	}
}

// A NAR whose upload dies midway leaves no narinfo; the next push completes it.
func TestS3InterruptedUpload(t *testing.T) {
	s3Env(t)
	srv := startS3(t, "cache")
	f := newPushFixture(t)
	noise := make([]byte, 20<<20)
	rand.Read(noise)
	big := f.output(t, "big", map[string]string{"share/noise": string(noise)})
	key, _ := GenerateKey("s3-1")
	c := openS3Cache(t, srv.CacheURL("cache"))
	srv.Cut(func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/nar/") && strings.Contains(r.URL.RawQuery, "partNumber=2")
	})
	if _, _, err := Push(context.Background(), f.st, c, []storepath.Path{big}, PushOptions{Key: &key, Compression: "none"}); err == nil {
		t.Fatal("a push whose NAR upload was cut succeeded")
	}
	keys, _ := srv.Keys("cache")
	for _, k := range keys {
		if strings.HasSuffix(k, ".narinfo") || strings.HasPrefix(k, "nar/") {
			t.Errorf("an interrupted upload left %s (bucket: %q)", k, keys)
		}
	}
	srv.Cut(nil)
	if pushed, _, err := Push(context.Background(), f.st, c, []storepath.Path{big}, PushOptions{Key: &key, Compression: "none"}); err != nil || pushed != 1 {
		t.Fatalf("push after the cut: %d %v", pushed, err)
	}
	checkCacheHolds(t, c, f.st, []storepath.Path{big}, key.Public())
}

func s3ErrorOf(t *testing.T, err error, kind S3ErrorKind) *S3Error {
	t.Helper()
	var se *S3Error
	if !errors.As(err, &se) || se.Kind != kind {
		t.Fatalf("got %v (%T), want an S3Error of kind %d", err, err, kind)
	}
	msg := err.Error()
	if strings.Contains(msg, s3test.SecretKey) || strings.Contains(msg, "\n") {
		t.Errorf("the error is not one line without the secret: %q", msg)
	}
	if !strings.Contains(msg, "s3://") {
		t.Errorf("the error does not name the cache: %q", msg)
	}
	return se
}

func TestS3Errors(t *testing.T) {
	s3Env(t)
	srv := startS3(t, "cache")
	ctx := context.Background()

	t.Run("wrong credentials", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "WRONGKEY")
		c := openS3Cache(t, srv.CacheURL("cache"))
		_, err := c.Info(ctx)
		s3ErrorOf(t, err, S3Credentials)
		if !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") || !strings.Contains(err.Error(), "InvalidAccessKeyId") {
			t.Errorf("no word of what to set: %v", err)
		}
		err = c.Put(ctx, "x.narinfo", strings.NewReader("x"))
		s3ErrorOf(t, err, S3Credentials)
	})
	t.Run("no credentials", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		os.Unsetenv("AWS_ACCESS_KEY_ID")
		os.Unsetenv("AWS_SECRET_ACCESS_KEY")
		_, err := openS3Cache(t, srv.CacheURL("cache")).Info(ctx)
		se := s3ErrorOf(t, err, S3Credentials)
		if !se.Anonymous || !strings.Contains(err.Error(), "none were found") {
			t.Errorf("anonymous: %v", err)
		}
	})
	t.Run("missing bucket", func(t *testing.T) {
		c := openS3Cache(t, srv.CacheURL("nosuch/prefix"))
		_, err := c.Info(ctx)
		s3ErrorOf(t, err, S3NoBucket)
		if !strings.Contains(err.Error(), "bucket nosuch does not exist") {
			t.Errorf("%v", err)
		}
		s3ErrorOf(t, c.Put(ctx, "nix-cache-info", strings.NewReader("StoreDir: /x\n")), S3NoBucket)
	})
	t.Run("unreachable endpoint", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c := openS3Cache(t, "s3://cache?endpoint=http://"+addr)
		_, err = c.Info(ctx)
		s3ErrorOf(t, err, S3Unreachable)
		if !strings.Contains(err.Error(), "endpoint") {
			t.Errorf("%v", err)
		}
	})
	t.Run("profile", func(t *testing.T) {
		os.Unsetenv("AWS_ACCESS_KEY_ID")
		os.Unsetenv("AWS_SECRET_ACCESS_KEY")
		aws := filepath.Join(os.Getenv("HOME"), ".aws")
		os.MkdirAll(aws, 0o700)
		os.WriteFile(filepath.Join(aws, "credentials"), []byte("[default]\naws_access_key_id = WRONG\naws_secret_access_key = x\n\n[ci]\naws_access_key_id = "+s3test.AccessKey+"\naws_secret_access_key = "+s3test.SecretKey+"\n"), 0o600)
		os.WriteFile(filepath.Join(aws, "config"), []byte("[profile cfg]\naws_access_key_id = "+s3test.AccessKey+"\naws_secret_access_key = "+s3test.SecretKey+"\n"), 0o600)
		if err := openS3Cache(t, srv.CacheURL("cache")+"&profile=ci").Put(ctx, "a.narinfo", strings.NewReader("a")); err != nil {
			t.Errorf("profile=ci of ~/.aws/credentials: %v", err)
		}
		if err := openS3Cache(t, srv.CacheURL("cache")+"&profile=cfg").Put(ctx, "a.narinfo", strings.NewReader("a")); err != nil {
			t.Errorf("profile cfg of ~/.aws/config: %v", err)
		}
		t.Setenv("AWS_PROFILE", "ci")
		if err := openS3Cache(t, srv.CacheURL("cache")).Put(ctx, "a.narinfo", strings.NewReader("a")); err != nil {
			t.Errorf("AWS_PROFILE=ci: %v", err)
		}
		os.Unsetenv("AWS_PROFILE")
		se := s3ErrorOf(t, openS3Cache(t, srv.CacheURL("cache")).Put(ctx, "a.narinfo", strings.NewReader("a")), S3Credentials)
		if se.Code != "InvalidAccessKeyId" {
			t.Errorf("the default profile's wrong key: %v", se)
		}
		err := openS3Cache(t, srv.CacheURL("cache")+"&profile=nosuch").Put(ctx, "a.narinfo", strings.NewReader("a"))
		se = s3ErrorOf(t, err, S3Credentials)
		if !strings.Contains(err.Error(), "profile nosuch") {
			t.Errorf("a missing profile: %v", err)
		}
	})
}

func TestS3OpenErrors(t *testing.T) {
	for _, u := range []string{"s3://", "s3://b?scheme=ftp", "s3://b?endpoint=ftp://x", "s3://b?endpoint=http://h/path", "s3://b/../x"} {
		if _, err := Open(u, nil); err == nil {
			t.Errorf("Open(%q) accepted", u)
		}
	}
}
