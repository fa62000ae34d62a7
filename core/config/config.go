// Package config owns where den keeps things (store, state, cache) and the user's config.toml.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// SandboxMode says how builds are isolated.
type SandboxMode string

const (
	SandboxAuto     SandboxMode = "auto"
	SandboxRequired SandboxMode = "required"
	SandboxOff      SandboxMode = "off"
)

// Config is everything den reads from the environment and the user's config file.
type Config struct {
	StoreDir string // DEN_STORE, else $DEN_ROOT/store once den setup made it, else per-user
	StateDir string // DEN_STATE: this user's state (trust, push queue, stamps)
	// StoreState is the store's own state dir (database, gcroots, locks, build dirs, logs):
	// $DEN_ROOT/var for the shared store, StateDir for any other.
	StoreState string
	// Root is where den setup makes the store dir everyone shares ($DEN_ROOT, else DefaultRoot).
	Root string
	// Shared says StoreDir is Root's shared store; PerUser says den fell back to the per-user
	// store because Root has none (DEN_STORE unset), so caches serve only this user's dir.
	Shared, PerUser bool

	CacheDir string // DEN_CACHE: downloads
	File     string // the user config file, whether or not it exists
	User     UserConfig
	// Net holds config.toml's network timeouts, parsed; a zero field means den's default.
	Net NetTimeouts
}

// NetTimeouts bound every network request den makes (see core/httpclient for the defaults).
type NetTimeouts struct {
	Connect  time.Duration // connect-timeout
	Response time.Duration // response-timeout
	Stall    time.Duration // stalled-download-timeout
}

// UserConfig is $XDG_CONFIG_HOME/den/config.toml.
type UserConfig struct {
	Sandbox SandboxMode `toml:"sandbox"`
	// Substituters are binary cache URLs (file:///DIR, http(s)://HOST/PREFIX, ?priority=N);
	// TrustedPublicKeys are the NAME:BASE64 keys whose signatures den accepts from them.
	Substituters      []string            `toml:"substituters"`
	TrustedPublicKeys []string            `toml:"trusted-public-keys"`
	Mirrors           map[string][]string `toml:"mirrors"`
	// Caches is the [caches] table: where den pushes what it builds.
	Caches UserCaches `toml:"caches"`
	// DebianSources name Debian archives in apt's one-line form without "deb"
	// ("[signed-by=KEYRING] URI SUITE..."); when set, they replace the host's apt sources.
	DebianSources []string          `toml:"debian-sources"`
	Registries    map[string]string `toml:"registries"`
	// Network timeouts, as Go durations ("15s", "2m"), so that no request can hang den: how long
	// a connection may take to open, a server to start answering, and a body (either way) to
	// move no byte. Typed any so that a bare number, as Nix writes its timeouts, gets an error
	// that says what to write instead of a decoder's type error.
	ConnectTimeout         any `toml:"connect-timeout"`
	ResponseTimeout        any `toml:"response-timeout"`
	StalledDownloadTimeout any `toml:"stalled-download-timeout"`

	// BuildTimeout ends a build script that runs longer: a Go duration such as "2h" or "90m";
	// empty or "0" means no limit (see Timeout).
	BuildTimeout string `toml:"build-timeout"`
	// BuildMaxProcesses bounds how many processes a sandboxed build runs at once; 0 means the
	// sandbox's default (4096).
	BuildMaxProcesses int `toml:"build-max-processes"`

	// ResolveTTL is how long den reuses a resolution it made (which version a constraint
	// selects, with its hashes) before asking the registries again: a Go duration such as "1h"
	// or "10m", "0" to ask every time; empty means an hour (see ResolutionTTL).
	ResolveTTL string `toml:"resolve-ttl"`
}

// UserCaches is config.toml's [caches]: every path den builds or fetches from upstream (none
// built with declared host tools) is queued for the caches of Push and pushed in the background,
// its narinfos signed with the secret key in PushKey (NAME.sec of den cache keygen).
type UserCaches struct {
	Push    []string `toml:"push"`
	PushKey string   `toml:"push-key"`
}

// ResolutionTTL is resolve-ttl as a duration, an hour when unset; Load has checked it.
func (u *UserConfig) ResolutionTTL() time.Duration {
	if u.ResolveTTL == "" {
		return time.Hour
	}
	d, _ := time.ParseDuration(u.ResolveTTL)
	if u.ResolveTTL == "0" {
		d = 0
	}
	return d
}

// Timeout is build-timeout as a duration, 0 for none; Load has checked it.
func (u *UserConfig) Timeout() time.Duration {
	d, _ := parseBuildTimeout(u.BuildTimeout)
	return d
}

func parseBuildTimeout(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New(`not a duration; write one such as "2h", "90m" or "0" for no limit`)
	}
	if d < 0 {
		return 0, errors.New(`a timeout cannot be negative; "0" means no limit`)
	}
	return d, nil
}

// DefaultRoot is where den setup makes the store dir that is the same on every machine, as Nix
// uses /nix/store: its store dir, Root/store, is in every path's hash, so a binary cache serves
// only stores with the same dir. DEN_ROOT moves it (for tests, or a machine whose / is
// read-only); a store under another root shares nothing with one under /den.
const DefaultRoot = "/den"

// SharedStore and SharedState are the store dir and the store's state dir under a root.
func SharedStore(root string) string { return filepath.Join(root, "store") }
func SharedState(root string) string { return filepath.Join(root, "var") }

// Getenv is the lookup Load uses, so tests can pass their own environment.
type Getenv func(string) string

// Load resolves directories from the environment (DEN_* first, then XDG_*, then HOME) and reads
// the user config if it exists.
func Load(getenv Getenv) (*Config, error) {
	home := getenv("HOME")
	xdg := func(name, fallback string) (string, error) {
		if v := getenv(name); filepath.IsAbs(v) {
			return v, nil
		}
		if home == "" {
			return "", fmt.Errorf("neither %s nor HOME is set", name)
		}
		return filepath.Join(home, fallback), nil
	}
	pick := func(den, xdgName, xdgFallback string) (string, error) {
		if v := getenv(den); v != "" {
			if !filepath.IsAbs(v) {
				return "", fmt.Errorf("%s=%q must be an absolute path", den, v)
			}
			return filepath.Clean(v), nil
		}
		base, err := xdg(xdgName, xdgFallback)
		if err != nil {
			return "", fmt.Errorf("cannot place %s: %v", den, err)
		}
		return filepath.Join(base, "den"), nil
	}
	c := &Config{Root: DefaultRoot}
	if v := getenv("DEN_ROOT"); v != "" {
		if !filepath.IsAbs(v) {
			return nil, fmt.Errorf("DEN_ROOT=%q must be an absolute path", v)
		}
		c.Root = filepath.Clean(v)
	}
	var err error
	if c.StateDir, err = pick("DEN_STATE", "XDG_STATE_HOME", ".local/state"); err != nil {
		return nil, err
	}
	c.StoreState = c.StateDir
	switch {
	case getenv("DEN_STORE") != "":
		if c.StoreDir, err = pick("DEN_STORE", "", ""); err != nil {
			return nil, err
		}
	case isDir(SharedStore(c.Root)):
		c.StoreDir, c.StoreState, c.Shared = SharedStore(c.Root), SharedState(c.Root), true
	default:
		if c.StoreDir, err = pick("DEN_STORE", "XDG_DATA_HOME", ".local/share"); err != nil {
			return nil, err
		}
		c.StoreDir, c.PerUser = filepath.Join(c.StoreDir, "store"), true
	}
	if c.CacheDir, err = pick("DEN_CACHE", "XDG_CACHE_HOME", ".cache"); err != nil {
		return nil, err
	}
	cfgHome, err := xdg("XDG_CONFIG_HOME", ".config")
	if err != nil {
		return nil, err
	}
	c.File = filepath.Join(cfgHome, "den", "config.toml")
	if err := c.readUser(); err != nil {
		return nil, err
	}
	if err := c.readCaches(getenv); err != nil {
		return nil, err
	}
	return c, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func (c *Config) readUser() error {
	c.User.Sandbox = SandboxAuto
	data, err := os.ReadFile(c.File)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.User); err != nil {
		var strict *toml.StrictMissingError
		var de *toml.DecodeError
		switch {
		case errors.As(err, &strict):
			return fmt.Errorf("%s: %s", c.File, strings.TrimSpace(strict.String()))
		case errors.As(err, &de):
			row, col := de.Position()
			return fmt.Errorf("%s:%d:%d: %s", c.File, row, col, strings.TrimSpace(de.String()))
		}
		return fmt.Errorf("%s: %v", c.File, err)
	}
	switch c.User.Sandbox {
	case "":
		c.User.Sandbox = SandboxAuto
	case SandboxAuto, SandboxRequired, SandboxOff:
	default:
		return fmt.Errorf("%s: sandbox = %q is not a sandbox mode; use \"auto\", \"required\" or \"off\"", c.File, c.User.Sandbox)
	}
	for _, d := range []struct {
		key string
		v   any
		out *time.Duration
	}{
		{"connect-timeout", c.User.ConnectTimeout, &c.Net.Connect},
		{"response-timeout", c.User.ResponseTimeout, &c.Net.Response},
		{"stalled-download-timeout", c.User.StalledDownloadTimeout, &c.Net.Stall},
	} {
		var err error
		if *d.out, err = parseTimeout(d.v); err != nil {
			return fmt.Errorf("%s: %s = %s: %v", c.File, d.key, tomlValue(d.v), err)
		}
	}
	if _, err := parseBuildTimeout(c.User.BuildTimeout); err != nil {
		return fmt.Errorf("%s: build-timeout = %q: %v", c.File, c.User.BuildTimeout, err)
	}
	if t := c.User.ResolveTTL; t != "" && t != "0" {
		if d, err := time.ParseDuration(t); err != nil || d < 0 {
			return fmt.Errorf("%s: resolve-ttl = %q: not a duration; write one such as \"1h\" or \"10m\", or \"0\" to resolve every time", c.File, t)
		}
	}
	if c.User.BuildMaxProcesses < 0 {
		return fmt.Errorf("%s: build-max-processes = %d: the limit must be positive, or 0 for the default", c.File, c.User.BuildMaxProcesses)
	}
	return nil
}

// parseTimeout reads a timeout as config.toml gives it: nil (absent) or a Go duration string.
// Zero and negative spans are refused: every request must end, and a timeout of nothing would
// fail every one.
func parseTimeout(v any) (time.Duration, error) {
	switch v := v.(type) {
	case nil:
		return 0, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("not a duration; write a number with its unit, like \"30s\" or \"2m\"")
		}
		if d <= 0 {
			return 0, fmt.Errorf("a timeout must be longer than zero")
		}
		return d, nil
	case int64, float64:
		return 0, fmt.Errorf("write the unit too, as a string: \"%vs\" for seconds", v)
	}
	return 0, fmt.Errorf("not a duration; write a string like \"30s\" or \"2m\"")
}

// tomlValue spells v as it was written, near enough for an error message.
func tomlValue(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}
