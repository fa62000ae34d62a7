// Package httpclient makes the HTTP client that every network call of den goes through, so that
// every call ends: a connect timeout (TCP, then the TLS handshake), a response timeout (the
// request is sent and no answer starts) and a stall timeout (a body, either way, stops moving),
// like Nix's connect-timeout and stalled-download-timeout.
//
// net/http has the first two. The stall timeout is written here because http.Client.Timeout
// bounds a whole request, which a large download over a slow line rightly exceeds, while a body
// that sends nothing for a minute is dead however large it is: the stall timer is re-armed by
// every byte that moves.
package httpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

// Timeouts bound the phases of a request; a zero field takes its default. The names in
// parentheses are the config.toml keys that set them.
type Timeouts struct {
	Connect  time.Duration // TCP connect, and then the TLS handshake (connect-timeout)
	Response time.Duration // from the request sent to the response's headers (response-timeout)
	Stall    time.Duration // no byte of a request or response body moves (stalled-download-timeout)
}

// The defaults. A TCP connect takes milliseconds, or seconds on a bad line; 15 s are five SYN
// retries. A binary cache, a registry or a proxy answers a look-up in well under a second, and
// even one that builds its answer first (a narinfo signed on the fly, a module fetched from its
// origin) answers within seconds: 30 s tell a hung server from a slow one, so a cache that
// accepts connections and never answers costs a command half a minute, once (the substituter
// then leaves it out). A download that moves no byte for a minute is dead: TCP would take a
// quarter of an hour to say so; Nix waits 300 s.
const (
	DefaultConnect  = 15 * time.Second
	DefaultResponse = 30 * time.Second
	DefaultStall    = 60 * time.Second
)

func (t Timeouts) withDefaults() Timeouts {
	if t.Connect <= 0 {
		t.Connect = DefaultConnect
	}
	if t.Response <= 0 {
		t.Response = DefaultResponse
	}
	if t.Stall <= 0 {
		t.Stall = DefaultStall
	}
	return t
}

// New returns a client with timeouts t that honours the proxy environment variables
// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY). One client per process shares its connections.
func New(t Timeouts) *http.Client {
	t = t.withDefaults()
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   t.Connect,
		ResponseHeaderTimeout: t.Response,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Look-ups go out in parallel (narinfos, packuments) to one host.
		MaxIdleConnsPerHost: 16,
	}
	return &http.Client{Transport: &transport{base: base, t: t}}
}

// Phase names the timeout a request ran out of.
type Phase string

const (
	Connect  Phase = "connect"
	Response Phase = "response"
	Stall    Phase = "stall"
)

// TimeoutError is a request that ran out of one of its Timeouts.
type TimeoutError struct {
	Host  string
	Phase Phase
	After time.Duration
}

func (e *TimeoutError) Error() string {
	switch e.Phase {
	case Connect:
		return fmt.Sprintf("cannot connect to %s within %s (connect-timeout)", e.Host, e.After)
	case Response:
		return fmt.Sprintf("%s sent no response within %s (response-timeout)", e.Host, e.After)
	}
	return fmt.Sprintf("the transfer with %s stalled: no data for %s (stalled-download-timeout)", e.Host, e.After)
}

// Timeout makes the error a timeout to net.Error's readers.
func (e *TimeoutError) Timeout() bool { return true }

// Hints say what to do when the server is slow rather than dead.
func (e *TimeoutError) Hints() []string {
	key := map[Phase]string{Connect: "connect-timeout", Response: "response-timeout", Stall: "stalled-download-timeout"}[e.Phase]
	return []string{fmt.Sprintf("if %s is only slow, raise %s in config.toml (a duration, like \"2m\")", e.Host, key)}
}

// transport adds the stall timeout to base and names the timeouts in its errors.
type transport struct {
	base *http.Transport
	t    Timeouts
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	parent := req.Context()
	ctx, cancel := context.WithCancelCause(parent)
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	})
	w := newWatch(t.t.Stall, cancel, &TimeoutError{Host: req.URL.Host, Phase: Stall, After: t.t.Stall})
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = &requestBody{rc: req.Body, w: w}
		w.setActive(true)
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		w.stop()
		cancel(nil)
		switch {
		case w.fired():
			return nil, w.err
		case parent.Err() != nil || !isTimeout(err):
			return nil, err
		case wrote.Load():
			return nil, &TimeoutError{Host: req.URL.Host, Phase: Response, After: t.t.Response}
		}
		return nil, &TimeoutError{Host: req.URL.Host, Phase: Connect, After: t.t.Connect}
	}
	w.progress()
	w.setActive(true)
	resp.Body = &responseBody{rc: resp.Body, w: w, cancel: cancel}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the base transport.
func (t *transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// watch cancels a request once no byte has moved for stall while it is active (a body is being
// sent or read). The timer is not reset on every read, which would cost a timer operation per
// buffer of a fast download; each read notes the time, and the timer, when it fires, re-arms
// itself for what is left.
type watch struct {
	stall  time.Duration
	cancel context.CancelCauseFunc
	err    error

	last   atomic.Int64 // time of the last progress, in UnixNano
	active atomic.Bool
	done   atomic.Bool // fired: the request was cancelled with err

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func newWatch(stall time.Duration, cancel context.CancelCauseFunc, err error) *watch {
	w := &watch{stall: stall, cancel: cancel, err: err}
	w.progress()
	w.mu.Lock()
	w.timer = time.AfterFunc(stall, w.check)
	w.mu.Unlock()
	return w
}

func (w *watch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	idle := time.Since(time.Unix(0, w.last.Load()))
	if !w.active.Load() || idle < w.stall {
		// While the response is awaited, the response timeout is in charge.
		w.timer.Reset(max(w.stall-idle, w.stall/10, time.Millisecond))
		return
	}
	w.done.Store(true)
	w.stopped = true
	w.cancel(w.err)
}

func (w *watch) progress() { w.last.Store(time.Now().UnixNano()) }

func (w *watch) setActive(on bool) {
	if on {
		w.progress()
	}
	w.active.Store(on)
}

func (w *watch) fired() bool { return w.done.Load() }

func (w *watch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.timer.Stop()
}

// requestBody notes the progress of an upload: the transport reads it as it writes.
type requestBody struct {
	rc io.ReadCloser
	w  *watch
}

func (b *requestBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.w.progress()
	}
	if err == io.EOF {
		// Sent: now the response timeout waits for the answer.
		b.w.setActive(false)
	}
	return n, err
}

func (b *requestBody) Close() error { return b.rc.Close() }

// responseBody notes the progress of a download and says why it was cut.
type responseBody struct {
	rc     io.ReadCloser
	w      *watch
	cancel context.CancelCauseFunc
	once   sync.Once
}

func (b *responseBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.w.progress()
	}
	if err != nil {
		if b.w.fired() {
			return n, b.w.err
		}
		if err == io.EOF {
			b.w.stop()
		}
	}
	return n, err
}

func (b *responseBody) Close() error {
	err := b.rc.Close()
	b.once.Do(func() {
		b.w.stop()
		b.cancel(nil)
	})
	return err
}
