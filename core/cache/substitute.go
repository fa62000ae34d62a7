package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	gohash "hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/progress"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// Substitution is verify-then-publish, as every other way into the store (DESIGN invariants 3
// and 4): a narinfo is used only if it names the asked path, comes from a cache for this store
// dir and carries a valid signature by a trusted key, and whose URL stays on its cache; its NAR
// is downloaded, decompressed, hashed and restored as one stream into a temp directory, never
// read past the sizes the narinfo gives, and the path is registered (with the narinfo's
// references and signatures, and its deriver and CA once checked: see ca.go) only once the
// stream's size and hash are the narinfo's. The restored tree is not hashed a second time: the
// stream was.
//
// Substitute first plans the whole closure (narinfo look-ups in parallel, every cache at once
// for each path), so it knows before downloading anything whether the closure is complete, and
// then restores paths in parallel, each once all its references are valid.

// DefaultNegativeTTL is how long a cache's "not here" is believed, as Nix's
// narinfo-cache-negative-ttl.
const DefaultNegativeTTL = time.Hour

// Substituter makes store paths valid from binary caches.
type Substituter struct {
	Store  *store.Store
	Caches []Cache     // tried in Priority order, lower first (stable for equal)
	Keys   []PublicKey // trusted keys; a narinfo must carry a valid signature by one of them
	// Client reads a NAR that a narinfo puts on its cache's host outside the cache's prefix.
	Client *http.Client
	// StateDir holds negative look-ups of http(s) caches for NegativeTTL; "" = no disk cache.
	StateDir    string
	NegativeTTL time.Duration // 0 = DefaultNegativeTTL
	Jobs        int           // NARs restored at once (default 8)
	Offline     bool          // skip http(s) caches
	// Warn gets one line per rejected cache answer: "cannot substitute <name> from <url>: <why>".
	Warn      func(msg string)
	Progress  *progress.Reporter
	TempRoots *store.TempRoots // substituted paths stay alive until their referrers are valid

	once      sync.Once
	flushOnce sync.Once
	sem       chan struct{}
	lookups   chan struct{}
	mu        sync.Mutex
	infos     map[string]*infoCall
	narinfos  map[string]*NarInfo
	inflight  map[storepath.Path]*pathCall
	// failed holds paths every cache's answer for was rejected in this process: they are not
	// asked for, nor their rejections said, again.
	failed map[storepath.Path]bool
	// down holds the URLs of caches that ran out of time on a look-up: each path's look-up
	// would wait as long again, so they are asked nothing more in this process.
	down map[string]bool
}

type infoCall struct {
	done   chan struct{}
	err    error // why the cache cannot be used for this store, or nil
	warned bool  // err was said
}

type pathCall struct {
	done chan struct{}
	ok   bool
	err  error
}

// answer is one cache's reply for one path: a narinfo that passed the checks, or why not.
type answer struct {
	cache  Cache
	info   *NarInfo
	reject error
}

// node is a path of the closure being substituted.
type node struct {
	path    storepath.Path
	answers []answer // caches that have the path, in priority order
	chosen  int      // the first usable answer; its references are the node's edges
	refs    []*node
}

// rejection is a cache's answer that failed a check; the substituter says why and tries the next
// cache. Anything else (the local store failing, the context ending) stops substitution.
type rejection struct{ err error }

func (r *rejection) Error() string { return r.err.Error() }
func (r *rejection) Unwrap() error { return r.err }

func reject(format string, args ...any) error { return &rejection{fmt.Errorf(format, args...)} }

func (s *Substituter) init() {
	s.once.Do(func() {
		jobs := s.Jobs
		if jobs <= 0 {
			jobs = 8
		}
		s.sem = make(chan struct{}, jobs)
		// Look-ups are small requests that mostly wait on the network.
		s.lookups = make(chan struct{}, 32)
		s.infos = map[string]*infoCall{}
		s.narinfos = map[string]*NarInfo{}
		s.inflight = map[storepath.Path]*pathCall{}
		s.failed = map[storepath.Path]bool{}
		s.down = map[string]bool{}
	})
}

func isRemote(u string) bool {
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "s3://")
}

func (s *Substituter) warn(p storepath.Path, c Cache, err error) {
	if s.Warn != nil {
		s.Warn(fmt.Sprintf("cannot substitute %s from %s: %v", p.Name(), c.URL(), err))
	}
}

// Substitute makes p valid from the caches: its references first (in parallel), then p; every
// narinfo is checked (StorePath == p, cache StoreDir == the store's, signature by a trusted key)
// and every NAR (FileSize when given, NarSize and NarHash) before anything is
// registered. It returns (false, nil) when no cache has a usable copy of the whole closure; the
// reasons went to Warn. An error means the local store failed or ctx ended.
func (s *Substituter) Substitute(ctx context.Context, p storepath.Path) (bool, error) {
	s.init()
	if ok, err := s.Store.IsValid(p); err != nil || ok {
		return ok, err
	}
	if s.hasFailed(p) {
		return false, nil
	}
	caches, err := s.usable(ctx, p)
	if err != nil || len(caches) == 0 {
		return false, err
	}
	root, nodes, rejected, err := s.plan(ctx, caches, p)
	if err != nil {
		return false, err
	}
	if root == nil {
		if rejected {
			s.say("no cache has a usable copy of %s", p.Name())
		}
		return false, nil
	}
	if err := checkAcyclic(root); err != nil {
		s.warn(p, root.answers[root.chosen].cache, err)
		return false, nil
	}
	s.announce(nodes)
	// Each publish syncs the store's filesystem, which also waits for whatever other programs
	// left unwritten there; starting that writeback now overlaps it with the decompressing.
	s.flushOnce.Do(s.Store.StartFlush)
	ok, err := s.ensure(ctx, root)
	if err != nil {
		return false, err
	}
	if !ok {
		s.say("no cache has a usable copy of %s", p.Name())
	}
	return ok, nil
}

func (s *Substituter) say(format string, args ...any) {
	if s.Warn != nil {
		s.Warn(fmt.Sprintf(format, args...))
	}
}

// announce says how much is about to be substituted, when it is more than one path (each path
// also gets its own line).
func (s *Substituter) announce(nodes []*node) {
	if s.Progress == nil || len(nodes) < 2 {
		return
	}
	var narSize, fileSize int64
	for _, n := range nodes {
		i := n.answers[n.chosen].info
		narSize += i.NarSize
		if fileSize >= 0 && i.FileSize > 0 {
			fileSize += i.FileSize
		} else {
			fileSize = -1
		}
	}
	if fileSize > 0 {
		s.Progress.Logf("substituting %d paths (%s download, %s unpacked)", len(nodes), progress.Bytes(fileSize), progress.Bytes(narSize))
	} else {
		s.Progress.Logf("substituting %d paths (%s)", len(nodes), progress.Bytes(narSize))
	}
}

// plan looks up p and, transitively, every reference that is not valid yet. It returns a nil
// root when some path of the closure has no usable answer in any cache, and whether a cache's
// answer was rejected on the way (which Warn has said).
func (s *Substituter) plan(ctx context.Context, caches []Cache, p storepath.Path) (root *node, nodes []*node, rejected bool, err error) {
	var (
		mu     sync.Mutex
		byPath = map[storepath.Path]*node{}
		wg     sync.WaitGroup
		failed error // first fatal error
		broken bool  // some path has no usable answer
	)
	var visit func(n *node)
	visit = func(n *node) {
		defer wg.Done()
		if s.hasFailed(n.path) {
			n.chosen = -1
			mu.Lock()
			broken, rejected = true, true
			mu.Unlock()
			return
		}
		answers, err := s.answers(ctx, caches, n.path)
		if err != nil {
			mu.Lock()
			failed = cmpErr(failed, err)
			mu.Unlock()
			return
		}
		n.answers = answers
		n.chosen = -1
		for i, a := range answers {
			if a.reject == nil {
				n.chosen = i
				break
			}
		}
		if n.chosen < 0 {
			for _, a := range answers {
				s.warn(n.path, a.cache, a.reject)
			}
			if len(answers) > 0 {
				s.markFailed(n.path)
			}
			mu.Lock()
			broken = true
			rejected = rejected || len(answers) > 0
			mu.Unlock()
			return
		}
		if n.chosen > 0 {
			mu.Lock()
			rejected = true
			mu.Unlock()
		}
		// Rejections by better caches are passed over now, so they are said now.
		for _, a := range answers[:n.chosen] {
			s.warn(n.path, a.cache, a.reject)
		}
		chosen := answers[n.chosen]
		for _, r := range chosen.info.References {
			if r == n.path {
				continue
			}
			ok, err := s.Store.IsValid(r)
			if err != nil {
				mu.Lock()
				failed = cmpErr(failed, err)
				mu.Unlock()
				return
			}
			if ok {
				continue
			}
			mu.Lock()
			ref, seen := byPath[r]
			if !seen {
				ref = &node{path: r}
				byPath[r] = ref
				wg.Add(1)
				go visit(ref)
			}
			n.refs = append(n.refs, ref)
			mu.Unlock()
		}
	}
	root = &node{path: p}
	byPath[p] = root
	wg.Add(1)
	visit(root)
	wg.Wait()
	if failed != nil {
		return nil, nil, false, failed
	}
	if broken {
		// Say which referrers could not be substituted for want of which reference.
		for _, n := range byPath {
			if n.chosen < 0 || n.answers == nil {
				continue
			}
			for _, r := range n.refs {
				if r.chosen < 0 {
					rejected = true
					s.warn(n.path, n.answers[n.chosen].cache, fmt.Errorf("its reference %s is in no cache that can provide it", r.path.Name()))
				}
			}
		}
		return nil, nil, rejected, nil
	}
	nodes = make([]*node, 0, len(byPath))
	for _, n := range byPath {
		nodes = append(nodes, n)
	}
	return root, nodes, rejected, nil
}

// cmpErr keeps the first error, preferring one that is not the context's own.
func cmpErr(have, err error) error {
	if have == nil || (errors.Is(have, context.Canceled) && !errors.Is(err, context.Canceled)) {
		return err
	}
	return have
}

// checkAcyclic refuses a closure whose narinfos reference each other in a loop (only a path's
// reference to itself is possible in a real store): restoring it would wait forever.
func checkAcyclic(root *node) error {
	const (
		visiting = 1
		done     = 2
	)
	state := map[*node]int{}
	var visit func(n *node) error
	visit = func(n *node) error {
		switch state[n] {
		case visiting:
			return fmt.Errorf("the narinfos' references form a cycle through %s", n.path.Base())
		case done:
			return nil
		}
		state[n] = visiting
		for _, r := range n.refs {
			if err := visit(r); err != nil {
				return err
			}
		}
		state[n] = done
		return nil
	}
	return visit(root)
}

// answers asks every cache for p at once and returns the caches that have it, in priority
// order, each with its narinfo or the reason it is unusable.
func (s *Substituter) answers(ctx context.Context, caches []Cache, p storepath.Path) ([]answer, error) {
	select {
	case s.lookups <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.lookups }()
	all := make([]answer, len(caches))
	found := make([]bool, len(caches))
	errs := make([]error, len(caches))
	var wg sync.WaitGroup
	for i, c := range caches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info, err := s.lookup(ctx, c, p)
			switch {
			case err == nil && info == nil:
				return
			case err == nil:
				all[i] = answer{cache: c, info: info}
			case isRejection(err):
				all[i] = answer{cache: c, reject: err}
			default:
				errs[i] = err
				return
			}
			found[i] = true
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []answer
	for i := range all {
		if found[i] {
			out = append(out, all[i])
		}
	}
	return out, nil
}

// isTimeout reports a request that ran out of one of its timeouts (core/httpclient's, or a
// transport's own).
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

func isRejection(err error) bool {
	var r *rejection
	return errors.As(err, &r)
}

// lookup returns c's checked narinfo for p, (nil, nil) when c does not have p, or a rejection.
func (s *Substituter) lookup(ctx context.Context, c Cache, p storepath.Path) (*NarInfo, error) {
	info, err := s.narInfo(ctx, c, p)
	if err != nil || info == nil {
		return nil, err
	}
	if info.StorePath != p { // GetNarInfo checks this too; it is what stops a swapped path
		return nil, reject("its narinfo %s.narinfo is for %s", p.HashPart(), info.StorePath)
	}
	if err := info.Verify(s.Keys); err != nil {
		return nil, &rejection{err}
	}
	if info.NarHash.Algo != hash.SHA256 {
		return nil, reject("its NarHash %s is not a sha256 hash", info.NarHash)
	}
	for _, r := range info.References {
		if filepath.Dir(string(r)) != s.Store.Dir {
			return nil, reject("its reference %s is not in the store %s", r, s.Store.Dir)
		}
	}
	if _, _, err := narLocation(c, info.URL); err != nil {
		return nil, &rejection{err}
	}
	ca, _, err := checkCA(info, s.Store.Dir)
	if err != nil {
		return nil, err
	}
	if ca != info.CA {
		// The narinfo is shared with other look-ups: the copy records what was checked.
		checked := *info
		checked.CA = ca
		info = &checked
	}
	return info, nil
}

// usable returns the caches to ask for p, in priority order. Each cache's nix-cache-info is read
// once per process, all at once, before ordering: a cache's priority may come from it. A cache
// that is unusable for this store (another store dir, no nix-cache-info) is said once, naming
// the first path it was asked for, and left out from then on.
func (s *Substituter) usable(ctx context.Context, p storepath.Path) ([]Cache, error) {
	var candidates []Cache
	s.mu.Lock()
	for _, c := range s.Caches {
		if !(s.Offline && isRemote(c.URL())) && !s.down[c.URL()] {
			candidates = append(candidates, c)
		}
	}
	s.mu.Unlock()
	errs := make([]error, len(candidates))
	var wg sync.WaitGroup
	for i, c := range candidates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.checkCache(ctx, c)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var out []Cache
	for i, c := range candidates {
		if errs[i] == nil {
			out = append(out, c)
			continue
		}
		s.mu.Lock()
		call := s.infos[c.URL()]
		say := call != nil && !call.warned
		if say {
			call.warned = true
		}
		s.mu.Unlock()
		if say {
			s.warn(p, c, errs[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Priority() < out[j].Priority() })
	return out, nil
}

// checkCache reads c's nix-cache-info, once per process, and checks it is for this store dir.
func (s *Substituter) checkCache(ctx context.Context, c Cache) error {
	s.mu.Lock()
	call, ok := s.infos[c.URL()]
	if !ok {
		call = &infoCall{done: make(chan struct{})}
		s.infos[c.URL()] = call
	}
	s.mu.Unlock()
	if ok {
		select {
		case <-call.done:
			return call.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ci, err := c.Info(ctx)
	switch {
	case errors.Is(err, ErrNotFound):
		call.err = fmt.Errorf("it has no nix-cache-info, so it is not a binary cache")
	case err != nil && ctx.Err() != nil:
		// A cancelled read says nothing about the cache: let a later caller read it again.
		s.mu.Lock()
		delete(s.infos, c.URL())
		s.mu.Unlock()
		call.err = ctx.Err()
	case err != nil:
		call.err = fmt.Errorf("reading its nix-cache-info: %w", err)
	case ci.StoreDir != "" && filepath.Clean(ci.StoreDir) != s.Store.Dir:
		// As in Nix, a cache that does not say is taken to be for this store dir.
		call.err = fmt.Errorf("it is a cache for the store dir %s, not for this store's %s", ci.StoreDir, s.Store.Dir)
	}
	close(call.done)
	return call.err
}

// narInfo fetches and parses c's narinfo for p; (nil, nil) means c does not have it. Answers
// are kept in memory for the process; "not here" from an http(s) cache is also kept on disk.
func (s *Substituter) narInfo(ctx context.Context, c Cache, p storepath.Path) (*NarInfo, error) {
	key := c.URL() + "\x00" + p.HashPart()
	s.mu.Lock()
	known, ok := s.narinfos[key]
	s.mu.Unlock()
	if ok {
		return known, nil
	}
	neg := s.negativeFile(c, p)
	if neg != "" {
		if fi, err := os.Stat(neg); err == nil && time.Since(fi.ModTime()) < s.negativeTTL() {
			return nil, nil
		}
	}
	info, err := GetNarInfo(ctx, c, p, s.Store.Dir)
	switch {
	case errors.Is(err, ErrNotFound):
		s.remember(key, nil)
		if neg != "" {
			writeNegative(neg)
		}
		return nil, nil
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		if isTimeout(err) {
			s.mu.Lock()
			first := !s.down[c.URL()]
			s.down[c.URL()] = true
			s.mu.Unlock()
			if first {
				s.say("%s ran out of time; den asks it nothing more in this run", c.URL())
			}
		}
		return nil, &rejection{err}
	}
	s.remember(key, info)
	return info, nil
}

func (s *Substituter) remember(key string, info *NarInfo) {
	s.mu.Lock()
	s.narinfos[key] = info
	s.mu.Unlock()
}

func (s *Substituter) negativeTTL() time.Duration {
	if s.NegativeTTL > 0 {
		return s.NegativeTTL
	}
	return DefaultNegativeTTL
}

// negativeFile is where "c does not have p" is recorded, by its mtime. A file:// cache is not
// recorded: asking it again costs one open, less than reading the record.
func (s *Substituter) negativeFile(c Cache, p storepath.Path) string {
	if s.StateDir == "" || !isRemote(c.URL()) {
		return ""
	}
	sum := sha256.Sum256([]byte(c.URL()))
	return filepath.Join(s.StateDir, "narinfo-cache", hex.EncodeToString(sum[:16]), p.HashPart())
}

// writeNegative records a negative answer; failing to is harmless (the next run asks again).
func writeNegative(name string) {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return
	}
	if f, err := os.Create(name); err == nil {
		f.Close()
	}
}

// ensure makes n valid after its references, once per process however many closures share n,
// at most Jobs paths at once.
func (s *Substituter) ensure(ctx context.Context, n *node) (bool, error) {
	s.mu.Lock()
	if c, ok := s.inflight[n.path]; ok {
		s.mu.Unlock()
		select {
		case <-c.done:
			return c.ok, c.err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	c := &pathCall{done: make(chan struct{})}
	s.inflight[n.path] = c
	s.mu.Unlock()
	c.ok, c.err = s.substitute(ctx, n)
	if c.err == nil && !c.ok {
		s.markFailed(n.path)
	}
	if c.err != nil || !c.ok {
		// A later closure may find it elsewhere, or after the context's trouble is over.
		s.mu.Lock()
		delete(s.inflight, n.path)
		s.mu.Unlock()
	}
	close(c.done)
	return c.ok, c.err
}

func (s *Substituter) hasFailed(p storepath.Path) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed[p]
}

func (s *Substituter) markFailed(p storepath.Path) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed[p] = true
}

func (s *Substituter) substitute(ctx context.Context, n *node) (bool, error) {
	if err := s.TempRoots.Add(n.path); err != nil {
		return false, err
	}
	oks := make([]bool, len(n.refs))
	errs := make([]error, len(n.refs))
	var wg sync.WaitGroup
	for i, r := range n.refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			oks[i], errs[i] = s.ensure(ctx, r)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return false, err
	}
	for i, ok := range oks {
		if !ok {
			s.warn(n.path, n.answers[n.chosen].cache, fmt.Errorf("its reference %s could not be substituted", n.refs[i].path.Name()))
			return false, nil
		}
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-s.sem }()
	for _, a := range n.answers[n.chosen:] {
		if a.reject != nil {
			s.warn(n.path, a.cache, a.reject)
			continue
		}
		err := s.fromCache(ctx, a.cache, a.info)
		if err == nil {
			return true, nil
		}
		if !isRejection(err) {
			return false, err
		}
		s.warn(n.path, a.cache, err)
	}
	return false, nil
}

// fromCache restores info's NAR from c into the store under the store's lock for the path.
func (s *Substituter) fromCache(ctx context.Context, c Cache, info *NarInfo) error {
	p := info.StorePath
	// A worse cache's narinfo may list references the chosen one did not.
	for _, r := range info.References {
		if r == p {
			continue
		}
		if ok, err := s.Store.IsValid(r); err != nil {
			return err
		} else if !ok {
			return reject("its reference %s is not valid (the better cache's narinfo did not list it)", r.Name())
		}
	}
	_, err := s.Store.Ensure(p, func(tmp string) (string, store.Publish, error) {
		if err := s.restore(ctx, c, info, tmp); err != nil {
			return tmp, store.Publish{}, err
		}
		return tmp, store.Publish{Substituted: &store.PathInfo{
			Path: p, NarHash: info.NarHash.String(), NarSize: info.NarSize,
			References: info.References, Deriver: info.Deriver, CA: info.CA,
			Signatures: info.Sigs,
		}}, nil
	})
	return err
}

// restore downloads, decompresses and unpacks info's NAR at tmp as one stream, checking the
// download's size and hash (when the narinfo gives them) and the NAR's size and hash on the way.
// It fails with a rejection when anything does not match; tmp is then left for Ensure to remove.
func (s *Substituter) restore(ctx context.Context, c Cache, info *NarInfo, tmp string) error {
	rc, err := s.openNAR(ctx, c, info.URL)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return reject("fetching %s: %v", info.URL, err)
	}
	defer rc.Close()
	task := s.Progress.Start("substituting", info.StorePath.Name(), max(info.FileSize, 0))
	defer task.Done()
	// The download's FileHash is not checked: NarHash, which the signature covers, is, and
	// hashing the compressed bytes as well would cost a third more hashing for no more trust.
	file := &meter{r: rc, progress: task.Set, total: info.FileSize, limit: maxFileSize(info), tooLarge: errFileTooLarge}
	dec, err := Decompressor(info.Compression, file)
	if err != nil {
		return &rejection{err}
	}
	defer dec.Close()
	narStream := &meter{r: dec, h: sha256.New(), limit: info.NarSize}

	// The download and decompression run in one goroutine and the unpacking in this one, with
	// a few buffers between them, so that on two cores neither waits for the other.
	pipe := newChunkPipe(4, 256<<10)
	go func() {
		err := pipe.fill(ctx, narStream)
		if !errors.Is(err, errReaderGone) {
			// Read to the end of the download: its hash and size cover all of it, and a
			// corrupt download explains a broken stream better than the decompressor does.
			if _, derr := io.Copy(io.Discard, file); err == nil {
				err = derr
			}
		}
		pipe.closeWrite(err)
	}()
	restoreErr := store.UnpackNAR(pipe, tmp)
	pipe.closeRead()
	fillErr := pipe.wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	fileSize, fileEnded := file.counts()
	if errors.Is(fillErr, errFileTooLarge) || errors.Is(restoreErr, errFileTooLarge) {
		return reject("%s is larger than the %d bytes its narinfo allows", info.URL, file.limit)
	}
	if fileEnded {
		if info.FileSize > 0 && fileSize != info.FileSize {
			return reject("%s is %d bytes, its narinfo says FileSize %d", info.URL, fileSize, info.FileSize)
		}
	}
	if errors.Is(fillErr, errTooLarge) || errors.Is(restoreErr, errTooLarge) {
		return reject("the NAR is larger than the %d bytes of its NarSize", info.NarSize)
	}
	if fillErr != nil && !errors.Is(fillErr, errReaderGone) {
		return reject("reading %s: %v", info.URL, fillErr)
	}
	if restoreErr != nil {
		var fe *nar.FormatError
		if errors.As(restoreErr, &fe) {
			return reject("the NAR is invalid: %v", restoreErr)
		}
		// Anything else is the local disk failing.
		return fmt.Errorf("unpacking %s: %w", info.StorePath.Name(), restoreErr)
	}
	if n, _ := narStream.counts(); n != info.NarSize {
		return reject("the NAR is %d bytes, its narinfo says NarSize %d", n, info.NarSize)
	}
	if got := hash.FromHasher(hash.SHA256, narStream.h); !got.Equal(info.NarHash) {
		return reject("hash mismatch in the NAR: got %s, its narinfo says NarHash %s", got, info.NarHash)
	}
	// lookup checked the CA against the path; a flat or text file's is also its content's.
	if _, file, err := checkCA(info, s.Store.Dir); err != nil {
		return err
	} else if file != nil {
		return checkFileCA(tmp, file)
	}
	return nil
}

// openNAR opens a narinfo's URL, which narLocation has checked stays on c.
func (s *Substituter) openNAR(ctx context.Context, c Cache, u string) (io.ReadCloser, error) {
	name, elsewhere, err := narLocation(c, u)
	if err != nil {
		return nil, err
	}
	if elsewhere == "" {
		return c.Get(ctx, name) // which refuses a name that leaves the cache
	}
	other, err := Open(elsewhere, s.Client)
	if err != nil {
		return nil, err
	}
	return other.Get(ctx, name)
}

// narLocation says where a narinfo's URL leads: a name relative to c (as Nix writes them), or,
// for an absolute URL on c's own host outside its prefix, the directory to open and the name in
// it. The URL is not covered by the signature, so a cache could otherwise point den at any
// host it can reach — a service inside the user's network — or, with file://, at the user's
// own files and devices (a FIFO that never ends, /dev/tty). A file:// cache's URLs stay in its
// directory; an http(s) cache's on its scheme and host.
func narLocation(c Cache, u string) (name, elsewhere string, err error) {
	if !strings.Contains(u, "://") {
		return u, "", checkName(u)
	}
	target, err := url.Parse(u)
	if err != nil {
		return "", "", fmt.Errorf("its URL %q is not a URL", u)
	}
	home, err := url.Parse(c.URL())
	if err != nil {
		return "", "", err
	}
	if !strings.EqualFold(target.Scheme, home.Scheme) || hostPort(target) != hostPort(home) || target.User != nil {
		return "", "", fmt.Errorf("its URL %s is not on this cache (a narinfo's URL must be relative, or have the cache's own scheme and host)", target.Redacted())
	}
	base := strings.TrimSuffix(home.Path, "/") + "/"
	if rel, ok := strings.CutPrefix(target.Path, base); ok && target.RawQuery == "" {
		return rel, "", checkName(rel)
	}
	if home.Scheme == "file" {
		return "", "", fmt.Errorf("its URL %s is outside the cache directory %s", u, home.Path)
	}
	if home.Scheme == "s3" {
		// Another prefix of the bucket would need the endpoint and credentials, which the URL
		// does not carry; Nix writes relative URLs.
		return "", "", fmt.Errorf("its URL %s is outside the cache's prefix %s", u, c.URL())
	}
	dir, file := path.Split(target.Path)
	if path.Clean(target.Path) != target.Path || file == "" {
		return "", "", fmt.Errorf("its URL %s is not a clean path to a file", target.Redacted())
	}
	target.Path, target.RawPath, target.RawQuery, target.Fragment = dir, "", "", ""
	return file, target.String(), nil
}

// hostPort is a URL's host in one spelling: lower case, with the scheme's default port.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

var errTooLarge = errors.New("the stream is larger than announced")

// errFileTooLarge is the download, before decompression, going past maxFileSize.
var errFileTooLarge = errors.New("the download is larger than announced")

// maxFileSize bounds what is read of a NAR's download: its FileSize when the narinfo gives one,
// else what compressing NarSize bytes can come to at worst (incompressible data grows by well
// under 1% in zstd, xz and bzip2, plus their headers). A body that never ends is thus cut off
// and rejected, also after the NAR inside it has ended, when the rest is read to be counted.
func maxFileSize(info *NarInfo) int64 {
	if info.FileSize > 0 {
		return info.FileSize
	}
	if info.Compression == "none" {
		return info.NarSize
	}
	return info.NarSize + info.NarSize/32 + 1<<20
}

// meter counts and hashes what is read through it, and refuses to read past limit (when set):
// a hostile cache cannot fill the disk beyond the NarSize its signer vouched for. Reads are
// serialized: a decompressor may read ahead from its own goroutine while the download is being
// drained, and the hash must see the bytes in order.
type meter struct {
	mu       sync.Mutex
	r        io.Reader
	h        gohash.Hash
	n        int64
	limit    int64
	tooLarge error // what Read says past limit: errTooLarge when nil
	total    int64
	progress func(done, total int64)
	eof      bool // the underlying reader ended
}

func (m *meter) Read(b []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.limit > 0 && m.n > m.limit {
		// Already past: reading on (a caller draining the rest) must not go on for ever.
		return 0, m.tooLargeErr()
	}
	if m.limit > 0 && int64(len(b)) > m.limit-m.n+1 {
		b = b[:m.limit-m.n+1]
	}
	n, err := m.r.Read(b)
	if err == io.EOF {
		m.eof = true
	}
	if n > 0 {
		if m.h != nil {
			m.h.Write(b[:n])
		}
		m.n += int64(n)
		if m.limit > 0 && m.n > m.limit {
			return n, m.tooLargeErr()
		}
		if m.progress != nil {
			m.progress(m.n, m.total)
		}
	}
	return n, err
}

func (m *meter) tooLargeErr() error {
	if m.tooLarge != nil {
		return m.tooLarge
	}
	return errTooLarge
}

// counts returns what was read so far, once no goroutine reads any more.
func (m *meter) counts() (n int64, eof bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n, m.eof
}

var errReaderGone = errors.New("the unpacking stopped")

// chunkPipe is an io.Pipe with a few buffers, so the writer can fill the next chunk while the
// reader consumes the last: io.Pipe hands over one write at a time and leaves both sides
// waiting for each other.
type chunkPipe struct {
	full       chan []byte
	free       chan []byte
	cur, buf   []byte
	readerDone chan struct{}
	closeOnce  sync.Once
	finished   chan struct{}
	err        error // the writer's; set before full is closed
}

func newChunkPipe(chunks, size int) *chunkPipe {
	p := &chunkPipe{
		full:       make(chan []byte, chunks),
		free:       make(chan []byte, chunks+1),
		readerDone: make(chan struct{}),
		finished:   make(chan struct{}),
	}
	for range chunks + 1 {
		p.free <- make([]byte, size)
	}
	return p
}

// fill copies r into the pipe until r ends (nil) or fails, the reader stops (errReaderGone) or
// ctx ends: a local file is read without regard to ctx.
func (p *chunkPipe) fill(ctx context.Context, r io.Reader) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var buf []byte
		select {
		case buf = <-p.free:
		case <-p.readerDone:
			return errReaderGone
		}
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var m int
			m, err = r.Read(buf[n:])
			n += m
		}
		if n > 0 {
			select {
			case p.full <- buf[:n]:
			case <-p.readerDone:
				return errReaderGone
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// closeWrite ends the stream; the reader sees err, or io.EOF when err is nil.
func (p *chunkPipe) closeWrite(err error) {
	p.err = err
	close(p.full)
	close(p.finished)
}

func (p *chunkPipe) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.buf != nil {
			p.free <- p.buf[:cap(p.buf)]
			p.buf = nil
		}
		chunk, ok := <-p.full
		if !ok {
			if p.err != nil {
				return 0, p.err
			}
			return 0, io.EOF
		}
		p.cur, p.buf = chunk, chunk
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// closeRead tells the writer nothing more will be read.
func (p *chunkPipe) closeRead() { p.closeOnce.Do(func() { close(p.readerDone) }) }

// wait returns the writer's error once it has stopped.
func (p *chunkPipe) wait() error {
	<-p.finished
	return p.err
}
