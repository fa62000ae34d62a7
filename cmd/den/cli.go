package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/alecthomas/kong"
	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/backend/gosource"
	"github.com/den-sh/den/core/build"
	"github.com/den-sh/den/core/config"
	"github.com/den-sh/den/core/gomod"
	"github.com/den-sh/den/core/hosttools"
	"github.com/den-sh/den/core/httpclient"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/mirror"
	"github.com/den-sh/den/core/npm"
	"github.com/den-sh/den/core/progress"
	"github.com/den-sh/den/core/resolve"
	"github.com/den-sh/den/core/sandbox"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/version"
	"github.com/den-sh/den/envs"
)

// denVersion is set at link time by release builds (-X main.denVersion=…).
var denVersion = "dev"

// CLI is den's command line.
type CLI struct {
	Globals
	ShowVersion versionFlag `name:"version" help:"Print den's version and exit."`

	Init        InitCmd        `cmd:"" help:"Create den.toml in a directory from a template."`
	Build       BuildCmd       `cmd:"" help:"Realize packages or recipes of the current project and print their store paths."`
	Add         AddCmd         `cmd:"" help:"Add packages to den.toml, lock and realize them."`
	Rm          RmCmd          `cmd:"" help:"Remove packages from den.toml and the environment."`
	Update      UpdateCmd      `cmd:"" help:"Re-resolve packages within their constraints."`
	Sync        SyncCmd        `cmd:"" help:"Realize the locked environment."`
	Run         RunCmd         `cmd:"" help:"Run a script or a command in the environment."`
	Shell       ShellCmd       `cmd:"" help:"Start your shell (bash, zsh or fish) in the environment."`
	Hook        HookCmd        `cmd:"" help:"Print the prompt hook for your shell's rc file: eval \"$(den hook bash)\"."`
	Export      ExportCmd      `cmd:"" help:"The prompt hook's per-prompt step (run by the hook)." hidden:""`
	Allow       AllowCmd       `cmd:"" help:"Let the prompt hook activate this project."`
	Direnv      DirenvCmd      `cmd:"" help:"Print use_den for direnv's direnvrc."`
	Deny        DenyCmd        `cmd:"" help:"Stop the prompt hook from activating this project."`
	X           XCmd           `cmd:"" name:"x" help:"Run a command with packages, outside any project."`
	Env         EnvCmd         `cmd:"" help:"Print the environment."`
	Generations GenerationsCmd `cmd:"" help:"List the project's generations."`
	Rollback    RollbackCmd    `cmd:"" help:"Switch back to an earlier generation."`
	Lock        LockCmd        `cmd:"" help:"Resolve den.toml's packages for every system into den.lock."`
	Versions    VersionsCmd    `cmd:"" help:"List the versions of a package, newest first."`
	Search      SearchCmd      `cmd:"" help:"Search the built-in package index."`
	Store       StoreCmd       `cmd:"" help:"Inspect and maintain the store."`
	Setup       SetupCmd       `cmd:"" help:"Make /den/store, the store dir every user and machine shares (as root, once)."`
	Cache       CacheCmd       `cmd:"" help:"Binary caches: make keys, push closures, serve, list."`
	Version     VersionCmd     `cmd:"" help:"Print den's version."`
	Completion  CompletionCmd  `cmd:"" help:"Print a shell completion script for bash, zsh or fish."`
	Help        HelpCmd        `cmd:"" help:"Show the help of a command: den help store gc."`
}

// Globals are flags every command takes. Offline, NoSubstitute and NoBuild matter to the commands
// that realize (build, sync, run, shell, x, add, update, env, cache push), Offline and Refresh to
// those that resolve (x, build, add, update, lock, sync); they are harmless to the others.
type Globals struct {
	Quiet        bool `short:"q" help:"Print only errors and results."`
	Verbose      bool `short:"v" help:"Print more about what den does."`
	Offline      bool `help:"Use no network: skip http(s) binary caches, and fail, naming it, where a download is needed."`
	NoSubstitute bool `help:"Ask no binary cache: build or fetch everything here."`
	NoBuild      bool `help:"Substitute from binary caches or fail: build nothing from source."`
	Refresh      bool `help:"Ask the registries again rather than reuse what den resolved in the last hour (resolve-ttl)."`
}

// App is what every command's Run receives: the output streams and lazily opened services.
type App struct {
	Stdout, Stderr io.Writer
	Globals        *Globals

	cfg      *config.Config
	project  *manifest.Manifest // the den.toml last loaded, whose [caches] join the user's
	trust    envs.TrustCheck    // the allowance AllowedProject found for it
	st       *store.Store
	roots    *store.TempRoots
	cleanup  func()
	resolver *resolve.Resolver
	builder  *build.Builder
	goOnce   sync.Once
	goClient *gomod.Client
	goErr    error
	client   *http.Client // httpClient's
	pusher   *pusher      // push after build, when caches are configured
}

// Config loads the environment and user config once.
func (a *App) Config() (*config.Config, error) {
	if a.cfg == nil {
		c, err := config.Load(os.Getenv)
		if err != nil {
			return nil, &usageError{err: err}
		}
		a.cfg = c
	}
	return a.cfg, nil
}

// Store opens the store, and this process's temp roots so a concurrent collection keeps what it
// uses.
func (a *App) Store() (*store.Store, error) {
	if a.st != nil {
		return a.st, nil
	}
	c, err := a.Config()
	if err != nil {
		return nil, err
	}
	s, err := store.Open(c.StoreDir, c.StoreState)
	if err != nil {
		return nil, err
	}
	a.notePerUser(c, false)
	roots, err := s.TempRoots()
	if err != nil {
		return nil, err
	}
	a.st, a.roots = s, roots
	prev := a.cleanup
	a.cleanup = func() {
		roots.Close()
		if prev != nil {
			prev()
		}
	}
	return s, nil
}

// Builder is the realizer of this process, wired to its store, config and terminal; one per
// process, so the sandbox is probed once and concurrent realizes share their work.
func (a *App) Builder(printLogs bool) (*build.Builder, error) {
	if a.builder != nil {
		a.builder.PrintLogs = a.builder.PrintLogs || printLogs
		return a.builder, nil
	}
	s, err := a.Store()
	if err != nil {
		return nil, err
	}
	var rep *progress.Reporter
	if !a.Globals.Quiet {
		rep = progress.New(a.Stderr)
		showsProgress(rep)
	}
	a.builder = &build.Builder{
		Client:    a.httpClient(),
		Store:     s,
		Sandbox:   sandbox.Mode(a.cfg.User.Sandbox),
		PrintLogs: printLogs,
		Progress:  rep,
		TempRoots: a.roots,
		Resolve:   a.resolveURL,
		GoModules: a.goModules,
		Auth: func(u string) string {
			c, err := a.npmConfig()
			if err != nil {
				return ""
			}
			return c.AuthFor(u)
		},
		NPM: a.npmConfig,
		// The user's limits, never den.toml's: a project must not lift them.
		Timeout:      a.cfg.User.Timeout(),
		MaxProcesses: a.cfg.User.BuildMaxProcesses,
	}
	if err := a.wireSubstitution(a.builder); err != nil {
		return nil, err
	}
	if err := a.wirePush(a.builder); err != nil {
		return nil, err
	}
	return a.builder, nil
}

// httpClient is the client for every request of this process: one with config.toml's timeouts,
// shared so connections are reused, or with --offline one that refuses every request.
func (a *App) httpClient() *http.Client {
	if a.Globals.Offline {
		return &http.Client{Transport: offlineTransport{}}
	}
	if a.client == nil {
		var t config.NetTimeouts
		if cfg, err := a.Config(); err == nil {
			t = cfg.Net
		}
		a.client = httpclient.New(httpclient.Timeouts{Connect: t.Connect, Response: t.Response, Stall: t.Stall})
	}
	return a.client
}

// offlineTransport fails every request: under --offline, whatever was not in the store or a
// file:// cache would have needed the network.
type offlineTransport struct{}

func (offlineTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return nil, &offlineError{}
}

// offlineError leaves naming the URL to the callers, which all wrap it with the URL they wanted.
type offlineError struct{}

func (e *offlineError) Error() string { return "--offline forbids the network" }

// Offline tells the resolver that the network was refused, not unreachable.
func (e *offlineError) Offline() bool { return true }

func (e *offlineError) Hints() []string {
	return []string{"run without --offline once to fetch it; a file:// binary cache works offline"}
}

// npmConfig is npm's configuration (registries, scopes, tokens), read once a download or a
// lock needs it.
func (a *App) npmConfig() (*npm.Config, error) {
	r, err := a.Resolver()
	if err != nil {
		return nil, err
	}
	c, err := r.Env.NPM()
	if err != nil {
		return nil, err
	}
	return c.Config(), nil
}

// resolveURL expands the URL schemes a lock's downloads may use: mirror:// from apt sources and
// den's config, and npm tarball references from npm's configuration, looked up only now that a
// file must really be downloaded.
func (a *App) resolveURL(u *url.URL) ([]string, error) {
	if u.Scheme == npm.TarballScheme {
		c, err := a.npmConfig()
		if err != nil {
			return nil, err
		}
		return c.ResolveTarball(u)
	}
	return (&mirror.Resolver{Configured: a.cfg.User.Mirrors, Debian: a.cfg.User.DebianSources, ConfigFile: a.cfg.File}).Resolve(u)
}

// applyProjectSandbox lets den.toml's [options] sandbox make isolation stricter, never weaker: a
// cloned repository must not be able to switch off the sandbox on the user's machine.
func (a *App) applyProjectSandbox(m *manifest.Manifest, b *build.Builder) {
	switch m.Options.Sandbox {
	case manifest.SandboxRequired:
		b.Sandbox = sandbox.ModeRequired
	case manifest.SandboxOff:
		if b.Sandbox != sandbox.ModeOff && !a.Globals.Quiet {
			fmt.Fprintf(a.Stderr, "den: warning: den.toml asks for sandbox = \"off\"; builds stay sandboxed\nhint: a project cannot turn the sandbox off; set sandbox = \"off\" in %s to allow it\n", a.cfg.File)
		}
	}
}

// Tools resolves host tools, caching identities in the state dir.
func (a *App) Tools() *hosttools.Resolver {
	return &hosttools.Resolver{Path: os.Getenv("PATH"), CacheFile: filepath.Join(a.cfg.StateDir, "hosttools.json")}
}

func (a *App) projectRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return manifest.Find(wd)
}

// Project finds and loads the den.toml above the working directory, whether or not the user
// allowed it: for commands that only read it.
func (a *App) Project() (*manifest.Manifest, error) {
	root, err := a.projectRoot()
	if err != nil {
		return nil, err
	}
	// A change of den.toml and den.lock that a stopped den left half-done is finished (or
	// dropped) before anything reads them.
	if err := envs.Recover(root); err != nil {
		return nil, err
	}
	return a.loadProject(root)
}

// loadProject loads the den.toml at root.
func (a *App) loadProject(root string) (*manifest.Manifest, error) {
	// Errors name den.toml as the user would reach it from here: "den.toml:7:3" or "../den.toml:7:3".
	path := filepath.Join(root, manifest.FileName)
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, path); err == nil {
			path = rel
		}
	}
	m, err := manifest.Load(path)
	if err == nil {
		a.project = m
	}
	return m, err
}

// isInputError reports errors in files or arguments the user gave, as opposed to failures of an
// operation; they exit with status 2. A package the registry does not have is one, unless a
// dependency in its tree is missing: that is the registry's failure, not the user's.
func isInputError(err error) bool {
	var me *manifest.Error
	var nf *manifest.NotFoundError
	var nv *version.NoMatchError
	var bc *version.BadConstraintError
	var up *index.UnknownError
	var nm *gosource.NoModuleError
	var nb *backend.NoBuildError
	if errors.As(err, &me) || errors.As(err, &nf) || errors.As(err, &nv) || errors.As(err, &bc) || errors.As(err, &up) ||
		errors.As(err, &nm) || errors.As(err, &nb) {
		return true
	}
	var np *npm.NotFoundError
	var inTree *npm.ResolveError
	return errors.As(err, &np) && !errors.As(err, &inTree)
}

// versionFlag is --version, which prints what den version prints, as git and go users expect.
type versionFlag bool

func (versionFlag) BeforeReset(k *kong.Kong) error {
	fmt.Fprintln(k.Stdout, "den "+denVersion)
	k.Exit(exitOK)
	return nil
}

// HelpCmd is den help: den help CMD… is den CMD… --help.
type HelpCmd struct {
	Command []string `arg:"" optional:"" help:"The command, with its subcommands."`
}

func (c *HelpCmd) Run(a *App) error {
	if code := run(append(slices.Clone(c.Command), "--help"), a.Stdout, a.Stderr); code != exitOK {
		return &exitError{code: code}
	}
	return nil
}

// VersionCmd prints den's version.
type VersionCmd struct{}

func (c *VersionCmd) Run(a *App) error {
	_, err := io.WriteString(a.Stdout, "den "+denVersion+"\n")
	return err
}
