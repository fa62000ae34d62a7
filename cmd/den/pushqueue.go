package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/den-sh/den/core/build"
	"github.com/den-sh/den/core/cache"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/hosttools"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/envs"
)

// Push after build: with push = [...] in config.toml's [caches] (or an allowed den.toml's), every
// path this den builds or fetches from upstream — never one built with declared host tools — is
// queued in $DEN_STATE/push-queue and pushed by a goroutine while the build goes on. At the end
// of the command den waits for what is left (Ctrl-C leaves it queued); a den that ends early (den
// run execs its command) leaves it for the next den that realizes anything, or for den cache push
// --pending.

// pushQueue is this state dir's queue.
func pushQueue(stateDir string) cache.PushQueue {
	return cache.PushQueue{Dir: filepath.Join(stateDir, "push-queue")}
}

// pusher is the background half of push after build.
type pusher struct {
	a       *App
	st      *store.Store
	queue   cache.PushQueue
	targets []cache.PushTarget

	kick   chan struct{}
	ctx    context.Context
	stop   context.CancelFunc
	closed chan struct{} // finish asked for the last pass
	done   chan struct{} // the worker ended

	mu     sync.Mutex
	pushed map[string]int
	errs   map[string]error
}

// wirePush sets b up to queue what it builds or fetches for the configured push caches, and
// starts the worker that pushes the queue (what an earlier den left, too).
func (a *App) wirePush(b *build.Builder) error {
	cfg, err := a.Config()
	if err != nil {
		return err
	}
	urls := append([]string(nil), cfg.User.Caches.Push...)
	var note string
	if m := a.project; m != nil && len(m.Caches.Push) > 0 {
		switch {
		case envs.TrustOf(cfg.StateDir, m.Root) != envs.Allowed:
			note = "den.toml's [caches] push is not used until you allow this project"
		default:
			urls = append(urls, m.Caches.Push...)
		}
	}
	keyFile := cfg.User.Caches.PushKey
	if keyFile == "" {
		keyFile = os.Getenv("DEN_CACHE_KEY")
	}
	if len(urls) > 0 && keyFile == "" {
		// Only den.toml's can get here: config.toml's push without a key is refused when read.
		note, urls = "den.toml's [caches] push needs your push-key in config.toml's [caches] (or DEN_CACHE_KEY); nothing is pushed", nil
	}
	if note != "" && !a.Globals.Quiet {
		var once sync.Once
		prev := b.Realized
		b.Realized = func(d *derivation.Derivation) {
			once.Do(func() { fmt.Fprintf(a.Stderr, "den: warning: %s\n", note) })
			if prev != nil {
				prev(d)
			}
		}
	}
	if len(urls) == 0 {
		return nil
	}
	if keyFile != "" {
		if abs, err := filepath.Abs(keyFile); err == nil {
			keyFile = abs
		}
	}
	p := &pusher{a: a, st: b.Store, queue: pushQueue(cfg.StateDir), kick: make(chan struct{}, 1),
		closed: make(chan struct{}), done: make(chan struct{}), pushed: map[string]int{}, errs: map[string]error{}}
	seen := map[string]bool{}
	for _, u := range urls {
		if !seen[u] {
			seen[u] = true
			p.targets = append(p.targets, cache.PushTarget{URL: u, KeyFile: keyFile})
		}
	}
	b.Realized = func(d *derivation.Derivation) {
		if hosttools.Impure(d) {
			return
		}
		for _, t := range p.targets {
			if err := p.queue.Add(t, d.Out); err != nil {
				p.fail(t.URL, err)
			}
		}
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	p.ctx, p.stop = signalContext()
	a.pusher = p
	go p.run()
	return nil
}

func (p *pusher) fail(url string, err error) {
	p.mu.Lock()
	if p.errs[url] == nil {
		p.errs[url] = err
	}
	p.mu.Unlock()
}

// run drains the queue for every target, then again whenever something is queued, until finish.
func (p *pusher) run() {
	defer close(p.done)
	for {
		p.drainAll()
		select {
		case <-p.kick:
		case <-p.closed:
			p.drainAll() // what was queued since the last pass
			return
		case <-p.ctx.Done():
			return
		}
	}
}

func (p *pusher) drainAll() {
	for _, t := range p.targets {
		p.mu.Lock()
		failed := p.errs[t.URL] != nil
		p.mu.Unlock()
		if failed || p.ctx.Err() != nil {
			continue // said at the end; the paths stay queued
		}
		if p.a.Globals.Offline && !strings.HasPrefix(t.URL, "file:") {
			continue
		}
		n, err := drainTarget(p.ctx, p.a, p.st, p.queue, t, nil)
		p.mu.Lock()
		p.pushed[t.URL] += n
		p.mu.Unlock()
		if err != nil && !errors.Is(err, cache.ErrQueueBusy) && p.ctx.Err() == nil {
			p.fail(t.URL, err)
		}
	}
}

// drainTarget pushes t's queue, signed with key or else t's key file.
func drainTarget(ctx context.Context, a *App, st *store.Store, q cache.PushQueue, t cache.PushTarget, key *cache.SecretKey) (int, error) {
	if key == nil {
		k, err := readSecretKey(t.KeyFile)
		if err != nil {
			return 0, fmt.Errorf("push-key %s: %w", t.KeyFile, err)
		}
		key = k
	}
	c, err := cache.Open(t.URL, a.httpClient())
	if err != nil {
		return 0, err
	}
	return q.Drain(ctx, st, c, t, cache.PushOptions{Key: key})
}

// finishPush waits for the background pushes to end and says what they did; a signal leaves the
// rest queued.
func (a *App) finishPush() {
	p := a.pusher
	if p == nil {
		return
	}
	a.pusher = nil
	close(p.closed)
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
		if !a.Globals.Quiet {
			fmt.Fprintln(a.Stderr, "waiting for the pushes to finish (Ctrl-C leaves them queued for the next den)")
		}
		<-p.done
	}
	p.stop()
	if a.Globals.Quiet {
		return
	}
	for _, t := range p.targets {
		if n := p.pushed[t.URL]; n > 0 {
			fmt.Fprintf(a.Stderr, "pushed %s to %s\n", plural(n, "path", "paths"), t.URL)
		}
	}
	var urls []string
	for u := range p.errs {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	for _, u := range urls {
		fmt.Fprintf(a.Stderr, "den: warning: push to %s failed: %v\n", u, p.errs[u])
	}
	left := 0
	if pending, err := p.queue.Pending(p.st.Dir); err == nil {
		for _, pp := range pending {
			left += len(pp.Paths)
		}
	}
	if left > 0 {
		what := plural(left, "path stays", "paths stay")
		fmt.Fprintf(a.Stderr, "hint: %s queued for pushing; the next den pushes them, or den cache push --pending\n", what)
	}
}

// pushPending is den cache push --pending [CACHE]: drain every target queued (only CACHE's, when
// given), each signed with its recorded key file or key.
func (a *App) pushPending(ctx context.Context, only string, key *cache.SecretKey) error {
	cfg, err := a.Config()
	if err != nil {
		return err
	}
	s, err := a.Store()
	if err != nil {
		return err
	}
	q := pushQueue(cfg.StateDir)
	pending, err := q.Pending(s.Dir)
	if err != nil {
		return err
	}
	if only != "" {
		var kept []cache.PendingPush
		for _, pp := range pending {
			if pp.Target.URL == only || strings.SplitN(pp.Target.URL, "?", 2)[0] == strings.SplitN(only, "?", 2)[0] {
				kept = append(kept, pp)
			}
		}
		pending = kept
	}
	if len(pending) == 0 {
		if !a.Globals.Quiet {
			fmt.Fprintln(a.Stderr, "nothing is queued for pushing")
		}
		return nil
	}
	var errs []error
	for _, pp := range pending {
		if a.Globals.Offline && !strings.HasPrefix(pp.Target.URL, "file:") {
			errs = append(errs, fmt.Errorf("--offline forbids the network, and %s is not a file:// cache", pp.Target.URL))
			continue
		}
		n, err := drainTarget(ctx, a, s, q, pp.Target, key)
		if errors.Is(err, cache.ErrQueueBusy) {
			fmt.Fprintf(a.Stderr, "den: another den is pushing to %s; it pushes the queue\n", pp.Target.URL)
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("push to %s: %w", pp.Target.URL, err))
			continue
		}
		if !a.Globals.Quiet {
			fmt.Fprintf(a.Stderr, "pushed %s to %s (%d queued)\n", plural(n, "path", "paths"), pp.Target.URL, len(pp.Paths))
		}
	}
	return errors.Join(errs...)
}
