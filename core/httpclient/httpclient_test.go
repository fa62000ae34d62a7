package httpclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Small timeouts keep the tests fast; the assertions are on what ends and why, never on how
// long it took.
var short = Timeouts{Connect: 300 * time.Millisecond, Response: 300 * time.Millisecond, Stall: 300 * time.Millisecond}

// silent accepts connections and never answers (a hung server), until the test ends.
func silent(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				<-done
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); close(done) })
	return ln.Addr().String()
}

// ends runs f and fails the test if it has not returned within a generous bound: what is
// checked is that it ends at all.
func ends(t *testing.T, f func() error) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the request never ended")
		return nil
	}
}

func wantTimeout(t *testing.T, err error, phase Phase, says string) {
	t.Helper()
	var te *TimeoutError
	if !errors.As(err, &te) || te.Phase != phase {
		t.Fatalf("err = %v, want a %s timeout", err, phase)
	}
	if !strings.Contains(err.Error(), says) {
		t.Errorf("err = %q, want it to say %q", err, says)
	}
	if len(te.Hints()) == 0 || !strings.Contains(te.Hints()[0], "config.toml") {
		t.Errorf("hints = %q", te.Hints())
	}
}

func get(c *http.Client, ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func TestResponseTimeout(t *testing.T) {
	addr := silent(t)
	err := ends(t, func() error { return get(New(short), context.Background(), "http://"+addr+"/x.narinfo") })
	wantTimeout(t, err, Response, addr+" sent no response within 300ms (response-timeout)")
}

func TestHandshakeIsConnect(t *testing.T) {
	// TCP connects, and the TLS handshake never comes: the connect timeout covers both.
	addr := silent(t)
	err := ends(t, func() error { return get(New(short), context.Background(), "https://"+addr+"/") })
	wantTimeout(t, err, Connect, "cannot connect to "+addr+" within 300ms (connect-timeout)")
}

// stallAfter serves sent bytes of a body announced as larger, then nothing until the test ends.
func stallAfter(t *testing.T, sent int) *httptest.Server {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(bytes.Repeat([]byte("n"), sent))
		w.(http.Flusher).Flush()
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv
}

func TestStalledBody(t *testing.T) {
	srv := stallAfter(t, 1000)
	err := ends(t, func() error { return get(New(short), context.Background(), srv.URL+"/nar/x.nar") })
	wantTimeout(t, err, Stall, "stalled: no data for 300ms (stalled-download-timeout)")
}

func TestSlowBodyIsNotStalled(t *testing.T) {
	// Bytes keep coming, more slowly than the whole transfer could take within the stall
	// timeout: the timer is re-armed by each.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 12 {
			w.Write([]byte("slow"))
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	}))
	defer srv.Close()
	if err := ends(t, func() error { return get(New(short), context.Background(), srv.URL) }); err != nil {
		t.Fatal(err)
	}
}

func TestStalledUpload(t *testing.T) {
	// A server that takes the request and stops reading its body: den's side of the
	// connection fills up, and the upload makes no progress.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Read(make([]byte, 4096))
		time.Sleep(30 * time.Second)
	}()
	body := io.LimitReader(zeros{}, 1<<30)
	err = ends(t, func() error {
		req, _ := http.NewRequest(http.MethodPut, "http://"+ln.Addr().String()+"/nar/x", body)
		resp, err := New(short).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	wantTimeout(t, err, Stall, "stalled")
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

func TestCancelIsNotATimeout(t *testing.T) {
	srv := stallAfter(t, 10)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	c := New(Timeouts{Stall: time.Hour})
	err := ends(t, func() error { return get(c, ctx, srv.URL) })
	var te *TimeoutError
	if !errors.Is(err, context.Canceled) || errors.As(err, &te) {
		t.Fatalf("err = %v, want the context's cancellation", err)
	}
}

func TestDefaults(t *testing.T) {
	tr := New(Timeouts{}).Transport.(*transport)
	if tr.t != (Timeouts{DefaultConnect, DefaultResponse, DefaultStall}) || tr.base.ResponseHeaderTimeout != DefaultResponse || tr.base.TLSHandshakeTimeout != DefaultConnect {
		t.Fatalf("defaults: %+v", tr.t)
	}
	if tr.base.Proxy == nil {
		t.Error("the proxy environment is not honoured")
	}
}
