package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/den-sh/den/core/build"
	"github.com/den-sh/den/core/cache"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/recipe"
	"github.com/den-sh/den/core/storepath"
	"github.com/den-sh/den/envs"
)

// CacheCmd groups the binary cache commands.
type CacheCmd struct {
	Keygen CacheKeygenCmd `cmd:"" help:"Make a signing key pair: NAME.sec (keep it secret) and NAME.pub (give it out)."`
	Push   CachePushCmd   `cmd:"" help:"Copy the runtime closure of packages or store paths into a binary cache."`
	Serve  CacheServeCmd  `cmd:"" help:"Serve a cache directory, or the local store, as a binary cache over HTTP."`
	Ls     CacheLsCmd     `cmd:"" name:"ls" help:"List the store paths a binary cache holds."`
	Info   CacheInfoCmd   `cmd:"" help:"Show a binary cache's store dir, priority and size."`
}

// CacheKeygenCmd is den cache keygen.
type CacheKeygenCmd struct {
	Name string `arg:"" help:"Key name, by convention HOST-N (cache.example.org-1); signatures carry it."`
	Out  string `default:"." placeholder:"DIR" help:"Directory to write NAME.sec and NAME.pub in."`
}

func (c *CacheKeygenCmd) Run(a *App) error {
	if strings.ContainsAny(c.Name, `/\`) || c.Name == "." || c.Name == ".." {
		return &usageError{err: fmt.Errorf("key name %q cannot be a file name; name keys like cache.example-1", c.Name)}
	}
	key, err := cache.GenerateKey(c.Name)
	if err != nil {
		return &usageError{err: err}
	}
	secFile := filepath.Join(c.Out, c.Name+".sec")
	pubFile := filepath.Join(c.Out, c.Name+".pub")
	for _, f := range []string{secFile, pubFile} {
		if _, err := os.Lstat(f); err == nil {
			return &usageError{err: fmt.Errorf("%s already exists; den never overwrites a key", f),
				hints: []string{"choose another name, or remove the old key pair if nothing trusts it any more"}}
		}
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return err
	}
	// As Nix writes them: the bare "name:base64", no newline.
	if err := writeNew(secFile, key.String(), 0o600); err != nil {
		return err
	}
	if err := writeNew(pubFile, key.Public().String(), 0o644); err != nil {
		os.Remove(secFile)
		return err
	}
	fmt.Fprintln(a.Stdout, key.Public().String())
	if !a.Globals.Quiet {
		fmt.Fprintf(a.Stderr, "wrote %s (secret: den cache push --key %s) and %s\n", secFile, secFile, pubFile)
		fmt.Fprintf(a.Stderr, "hint: users of the cache put in config.toml or den.toml [caches]: trusted-public-keys = [%q]\n", key.Public().String())
	}
	return nil
}

// writeNew creates file with data, failing if it exists, and syncs it: a key lost to a crash
// would be a key nobody can sign with again.
func writeNew(file, data string, perm os.FileMode) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		os.Remove(file)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(file)
		return err
	}
	return f.Close()
}

// readSecretKey reads a secret key file written by den cache keygen or nix-store
// --generate-binary-cache-key.
func readSecretKey(file string) (*cache.SecretKey, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &usageError{err: err}
	}
	k, err := cache.ParseSecretKey(string(data))
	if err != nil {
		return nil, &usageError{err: fmt.Errorf("%s: %v", file, err),
			hints: []string{"--key takes the NAME.sec file den cache keygen wrote"}}
	}
	return &k, nil
}

// openCache opens a cache URL the user gave on the command line.
func (a *App) openCache(rawURL string) (cache.Cache, error) {
	if err := checkCacheArg(rawURL); err != nil {
		return nil, err
	}
	if _, err := a.Config(); err != nil { // its timeouts apply
		return nil, err
	}
	if a.Globals.Offline && !strings.HasPrefix(rawURL, "file:") {
		return nil, &usageError{err: fmt.Errorf("--offline forbids the network, and %s is not a file:// cache", rawURL)}
	}
	return cache.Open(rawURL, a.httpClient())
}

// checkCacheArg turns a plain directory, the most common slip, into a hint at file://.
func checkCacheArg(rawURL string) error {
	if !strings.Contains(rawURL, "://") {
		abs, _ := filepath.Abs(rawURL)
		return &usageError{err: fmt.Errorf("%q is not a cache URL", rawURL),
			hints: []string{"a cache is file:///DIR, http(s)://HOST/PREFIX or s3://BUCKET/PREFIX?endpoint=URL, for example file://" + abs}}
	}
	return nil
}

// CachePushCmd is den cache push.
type CachePushCmd struct {
	Key         string   `type:"path" placeholder:"FILE" env:"DEN_CACHE_KEY" help:"Secret key file to sign with (NAME.sec from den cache keygen)."`
	Compression string   `enum:"zstd,xz,none" default:"zstd" help:"How NARs are compressed: zstd, xz or none."`
	Jobs        int      `short:"j" default:"8" help:"Uploads at once."`
	Pending     bool     `help:"Push what push after build ([caches] push) left queued, to the caches it was queued for (only CACHE's, if given)."`
	Cache       string   `arg:"" optional:"" help:"The cache: file:///DIR, http(s)://HOST/PREFIX or s3://BUCKET/PREFIX?endpoint=URL."`
	Targets     []string `arg:"" optional:"" name:"package-or-path" help:"Packages or recipes of the project (realized first) or store paths; default: the whole environment."`
	PrintLogs   bool     `short:"L" name:"print-build-logs" help:"Stream build logs to stderr."`
	AllowImpure bool     `name:"allow-impure" help:"Push outputs built with host tools too."`
}

func (c *CachePushCmd) Run(a *App) error {
	key, err := readSecretKey(c.Key)
	if err != nil {
		return err
	}
	if cfg, err := a.Config(); err == nil {
		a.notePerUser(cfg, true)
	}
	if c.Pending {
		if len(c.Targets) > 0 {
			return &usageError{err: errors.New("den cache push --pending pushes the queue; it takes no packages or paths"),
				hints: []string{"den cache push --pending [CACHE]"}}
		}
		if c.Cache != "" {
			if err := checkCacheArg(c.Cache); err != nil {
				return err
			}
		}
		ctx, stop := signalContext()
		defer stop()
		return a.pushPending(ctx, c.Cache, key)
	}
	if c.Cache == "" {
		return &usageError{err: errors.New("den cache push needs the cache to push to"),
			hints: []string{"den cache push --key NAME.sec CACHE [PACKAGE|PATH...]", "den cache push --pending pushes what push after build left queued"}}
	}
	cc, err := a.openCache(c.Cache)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	paths, err := a.pushTargets(ctx, c.Targets, c.PrintLogs)
	if err != nil {
		return err
	}
	s, err := a.Store()
	if err != nil {
		return err
	}
	if !c.AllowImpure {
		if err := checkPure(s, paths); err != nil {
			return err
		}
	}
	if key == nil && !a.Globals.Quiet {
		fmt.Fprintln(a.Stderr, "den: warning: pushing unsigned narinfos; den and Nix substitute only what a trusted key signed")
		fmt.Fprintln(a.Stderr, "hint: den cache keygen NAME makes a key; pass it with --key NAME.sec or DEN_CACHE_KEY")
	}
	opt := cache.PushOptions{Key: key, Compression: c.Compression, Jobs: c.Jobs}
	if a.Globals.Verbose {
		opt.Progress = func(msg string) { fmt.Fprintln(a.Stderr, msg) }
	}
	pushed, skipped, err := cache.Push(ctx, s, cc, paths, opt)
	if err != nil {
		return err
	}
	if !a.Globals.Quiet {
		fmt.Fprintf(a.Stderr, "%d pushed, %d already there (%s)\n", pushed, skipped, cc.URL())
	}
	return nil
}

// pushTargets realizes what den cache push was asked for and returns the store paths whose
// closures to push: store paths as given, packages and recipes as den build realizes them, and
// with no targets every package of the project's environment for this system.
func (a *App) pushTargets(ctx context.Context, targets []string, printLogs bool) ([]storepath.Path, error) {
	if len(targets) == 0 {
		m, unlock, err := a.changeProject(ctx, true, true)
		if err != nil {
			return nil, err
		}
		defer unlock()
		return a.environmentPaths(ctx, m)
	}
	m, err := a.Project()
	var nf *manifest.NotFoundError
	if err != nil && !errors.As(err, &nf) {
		return nil, err
	}
	s, err := a.Store()
	if err != nil {
		return nil, err
	}
	sys := platform.Current()
	var planner *recipe.Planner
	var paths []storepath.Path
	for _, t := range targets {
		// Package names never start with / or . (npm:@scope/x and go:MODULE/PATH hold slashes).
		if strings.HasPrefix(t, "/") || strings.HasPrefix(t, ".") {
			ps, err := storePaths(s, []string{t})
			if err != nil {
				return nil, err
			}
			paths = append(paths, ps...)
			continue
		}
		var out string
		switch pkg, isPkg := projectPackage(m, t); {
		case m != nil && m.Recipes[t] != nil:
			if err := a.requireAllowed(m, true); err != nil {
				return nil, err
			}
			if planner == nil {
				if planner, err = a.recipePlanner(ctx, m, sys); err != nil {
					return nil, err
				}
			}
			out, err = a.buildRecipe(ctx, m, planner, t, printLogs)
		case isPkg:
			if err := a.requireAllowed(m, true); err != nil {
				return nil, err
			}
			out, err = a.buildLocked(ctx, m, pkg, sys, printLogs)
		default:
			out, err = a.buildPackage(ctx, t, sys, printLogs)
		}
		if err != nil {
			return nil, err
		}
		p, err := s.ParsePath(out)
		if err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// environmentPaths realizes the project's locked environment and returns its packages' paths.
func (a *App) environmentPaths(ctx context.Context, m *manifest.Manifest) ([]storepath.Path, error) {
	names := projectPackages(m)
	if len(names) == 0 {
		return nil, &usageError{err: fmt.Errorf("%s has no packages for this system to push", manifest.FileName),
			hints: []string{"name what to push: den cache push CACHE RECIPE|PACKAGE|STORE-PATH"}}
	}
	f, _, err := a.lockProject(ctx, m, false, false, nil)
	if err != nil {
		return nil, err
	}
	r, err := a.Resolver()
	if err != nil {
		return nil, err
	}
	r.UseProject(m)
	prof, err := a.realizeEnvironment(ctx, f, names, profileName(m))
	if err != nil {
		return nil, err
	}
	var paths []storepath.Path
	for _, p := range prof.Packages {
		paths = append(paths, p.Out)
	}
	return paths, nil
}

// CacheServeCmd is den cache serve.
type CacheServeCmd struct {
	Addr  string `default:"127.0.0.1:5733" placeholder:"HOST:PORT" help:"Address to listen on (port 0 picks a free one)."`
	Key   string `type:"path" placeholder:"FILE" help:"With --store: secret key file to sign narinfos with on the fly."`
	Store bool   `help:"Serve the local store itself rather than a directory."`
	Dir   string `arg:"" optional:"" type:"path" help:"A cache directory (as den cache push file:///DIR writes)."`
}

func (c *CacheServeCmd) Run(a *App) error {
	if (c.Dir == "") == !c.Store {
		return &usageError{err: errors.New("den cache serve needs a cache directory or --store, not both"),
			hints: []string{"den cache serve ./cache", "den cache serve --store --key cache-1.sec"}}
	}
	var h http.Handler
	what := c.Dir
	if c.Store {
		key, err := readSecretKey(c.Key)
		if err != nil {
			return err
		}
		s, err := a.Store()
		if err != nil {
			return err
		}
		if key == nil && !a.Globals.Quiet {
			fmt.Fprintln(a.Stderr, "den: warning: serving unsigned narinfos; clients substitute only what a trusted key signed")
			fmt.Fprintln(a.Stderr, "hint: pass --key NAME.sec to sign on the fly")
		}
		h, what = cache.StoreHandler(s, key), "the store "+s.Dir
	} else {
		if c.Key != "" {
			return &usageError{err: errors.New("--key signs only with --store; a cache directory is served as it was pushed")}
		}
		fi, err := os.Stat(c.Dir)
		if err != nil {
			return &usageError{err: err}
		}
		if !fi.IsDir() {
			return &usageError{err: fmt.Errorf("%s is not a directory", c.Dir)}
		}
		if _, err := os.Stat(filepath.Join(c.Dir, "nix-cache-info")); err != nil && !a.Globals.Quiet {
			fmt.Fprintf(a.Stderr, "den: warning: %s has no nix-cache-info; clients will not use it until something is pushed\n", c.Dir)
		}
		h = cache.DirHandler(c.Dir)
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintln(a.Stdout, url)
	if !a.Globals.Quiet {
		fmt.Fprintf(a.Stderr, "serving %s at %s until interrupted\n", what, url)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signalContext()
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	// Let downloads in progress finish, briefly; a client retries what was cut.
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdown)
	return nil
}

// CacheLsCmd is den cache ls.
type CacheLsCmd struct {
	Long  bool   `short:"l" help:"Also show NAR size, compressed size and signers."`
	Cache string `arg:"" help:"The cache: file:///DIR, http(s)://HOST/PREFIX or s3://BUCKET/PREFIX?endpoint=URL."`
}

func (c *CacheLsCmd) Run(a *App) error {
	ctx, stop := signalContext()
	defer stop()
	cc, info, err := a.openCacheInfo(ctx, c.Cache)
	if err != nil {
		return err
	}
	names, err := cc.List(ctx)
	if err != nil {
		return err
	}
	var infos []*cache.NarInfo
	for _, name := range names {
		ni, err := readNarInfo(ctx, cc, name, info.StoreDir)
		if err != nil {
			return err
		}
		infos = append(infos, ni)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].StorePath < infos[j].StorePath })
	if !c.Long {
		for _, ni := range infos {
			fmt.Fprintln(a.Stdout, ni.StorePath)
		}
		return nil
	}
	tw := tabwriter.NewWriter(a.Stdout, 0, 8, 2, ' ', 0)
	for _, ni := range infos {
		var signers []string
		for _, sig := range ni.Sigs {
			name, _, _ := strings.Cut(sig, ":")
			signers = append(signers, name)
		}
		if len(signers) == 0 {
			signers = []string{"unsigned"}
		}
		fileSize := "?"
		if ni.FileSize > 0 {
			fileSize = humanSize(ni.FileSize)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\n", ni.StorePath, humanSize(ni.NarSize), fileSize, ni.Compression, strings.Join(signers, ","))
	}
	return tw.Flush()
}

// cacheInfo reads nix-cache-info, explaining its absence.
// openCacheInfo opens the cache at rawURL and reads its nix-cache-info, which a binary cache
// must have.
func (a *App) openCacheInfo(ctx context.Context, rawURL string) (cache.Cache, *cache.CacheInfo, error) {
	cc, err := a.openCache(rawURL)
	if err != nil {
		return nil, nil, err
	}
	info, err := cc.Info(ctx)
	if errors.Is(err, cache.ErrNotFound) {
		return nil, nil, fmt.Errorf("%s is not a binary cache: it has no nix-cache-info", cc.URL())
	}
	return cc, info, err
}

func readNarInfo(ctx context.Context, cc cache.Cache, name, storeDir string) (*cache.NarInfo, error) {
	ni, err := cache.ReadNarInfo(ctx, cc, name, storeDir)
	if err != nil && !errors.Is(err, cache.ErrNotFound) && ctx.Err() == nil {
		return nil, fmt.Errorf("%s: %w", cc.URL(), err)
	}
	return ni, err
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// CacheInfoCmd is den cache info.
type CacheInfoCmd struct {
	Cache string `arg:"" help:"The cache: file:///DIR, http(s)://HOST/PREFIX or s3://BUCKET/PREFIX?endpoint=URL."`
}

func (c *CacheInfoCmd) Run(a *App) error {
	ctx, stop := signalContext()
	defer stop()
	cc, info, err := a.openCacheInfo(ctx, c.Cache)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Stdout, "URL: %s\n", cc.URL())
	fmt.Fprintf(a.Stdout, "StoreDir: %s\n", info.StoreDir)
	fmt.Fprintf(a.Stdout, "WantMassQuery: %v\n", info.WantMassQuery)
	fmt.Fprintf(a.Stdout, "Priority: %d\n", cc.Priority())
	if names, err := cc.List(ctx); err == nil {
		fmt.Fprintf(a.Stdout, "Paths: %d\n", len(names))
	}
	if cfg, err := a.Config(); err == nil && info.StoreDir != cfg.StoreDir && !a.Globals.Quiet {
		fmt.Fprintf(a.Stderr, "den: warning: this cache is for store dir %s, and this store is %s; den cannot substitute from it\n", info.StoreDir, cfg.StoreDir)
	}
	return nil
}

// wireSubstitution sets b up to substitute from the configured caches (the user's, then the
// project's [caches], or DEN_SUBSTITUTERS) unless --no-substitute, and to build nothing under
// --no-build.
func (a *App) wireSubstitution(b *build.Builder) error {
	b.NoBuild = a.Globals.NoBuild
	if a.Globals.NoSubstitute {
		return nil
	}
	cfg, err := a.Config()
	if err != nil {
		return err
	}
	urls := append([]string(nil), cfg.User.Substituters...)
	keyTexts := append([]string(nil), cfg.User.TrustedPublicKeys...)
	// den.toml's [caches] join the user's only once the user has allowed that den.toml (den
	// allow, which a later edit of den.toml revokes), as a cloned repository cannot lower the
	// sandbox either. A key that signs anything could fill the shared store with any path, for
	// every project; and a URL alone makes den contact a host the repository chose — from the
	// user's machine, inside the user's network — before anyone looked at it.
	ignored := ""
	if m := a.project; m != nil && (len(m.Caches.Substituters) > 0 || len(m.Caches.TrustedPublicKeys) > 0) {
		if envs.TrustOf(cfg.StateDir, m.Root) == envs.Allowed {
			urls = append(urls, m.Caches.Substituters...)
			keyTexts = append(keyTexts, m.Caches.TrustedPublicKeys...)
		} else {
			ignored = m.Root
		}
	}
	// Said when a path is first looked for, not on every command that finds all it needs.
	var sayIgnored sync.Once
	warnIgnored := func() {
		if ignored != "" && !a.Globals.Quiet {
			sayIgnored.Do(func() {
				fmt.Fprintf(a.Stderr, "den: warning: den.toml's [caches] are not used until you allow this project\nhint: check them, then run den allow in %s\n", ignored)
			})
		}
	}
	var caches []cache.Cache
	seen := map[string]bool{}
	for _, u := range urls {
		if seen[u] {
			continue
		}
		seen[u] = true
		c, err := cache.Open(u, b.Client)
		if err != nil {
			return &usageError{err: fmt.Errorf("substituter %s: %v", u, err)}
		}
		caches = append(caches, c)
	}
	if len(caches) == 0 {
		if ignored != "" {
			b.Substitute = func(context.Context, storepath.Path) (bool, error) {
				warnIgnored()
				return false, nil
			}
		}
		return nil
	}
	var keys []cache.PublicKey
	for _, t := range keyTexts {
		k, err := cache.ParsePublicKey(t)
		if err != nil {
			return &usageError{err: fmt.Errorf("trusted public key: %v", err)}
		}
		keys = append(keys, k)
	}
	sub := &cache.Substituter{
		Store:     b.Store,
		Caches:    caches,
		Keys:      keys,
		Client:    b.Client,
		StateDir:  cfg.StateDir,
		TempRoots: a.roots,
		Offline:   a.Globals.Offline,
		Progress:  b.Progress,
		Warn: func(msg string) {
			if !a.Globals.Quiet {
				fmt.Fprintf(a.Stderr, "den: warning: %s\n", msg)
			}
		},
	}
	b.Substitute = func(ctx context.Context, p storepath.Path) (bool, error) {
		warnIgnored()
		return sub.Substitute(ctx, p)
	}
	return nil
}
