package gomod

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	pathpkg "path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// defaultSumDBKey is the hash and public key of the checksum database the go command trusts by
// default, without its name. The go command keeps the whole verifier key in its source; den keeps
// only this part and joins it to the name that GOSUMDB gives. The key hash commits to the name, so
// note.NewVerifier accepts the joined key for the one name it was made for and no other.
const defaultSumDBKey = "033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"

// Config is where Go modules come from and how they are checked, as the go command would see it.
type Config struct {
	// Proxies are the module proxies from GOPROXY, in order; "direct" and "off" are not among them.
	Proxies []Proxy
	// SumDB is the checksum database from GOSUMDB; nil when GOSUMDB=off.
	SumDB *SumDB
	// NoSumDB lists the module path patterns not checked by the checksum database: GONOSUMDB (or
	// GOPRIVATE when GONOSUMDB is unset) and GONOSUMCHECK, which was that variable's first name.
	NoSumDB string
	// NoProxy lists the module path patterns the go command fetches from version control instead
	// of a proxy: GONOPROXY, or GOPRIVATE when GONOPROXY is unset.
	NoProxy string
	// Insecure is GOINSECURE. Only direct version-control fetches honour it, and den makes none, so
	// it never relaxes anything here; it is kept so that the whole setting is visible.
	Insecure string
	// Values holds each setting that was found, by variable name, and Sources says where each
	// came from: "environment", the path of Go's env file, or "go env".
	Values  map[string]string
	Sources map[string]string
	// Notes are remarks for the user about settings den reads differently from the go command.
	Notes []string
}

// Proxy is one entry of GOPROXY.
type Proxy struct {
	URL string
	// FallBackOnError is true when the entry was followed by "|": the next entry is tried after
	// any error, not only after "not found" (404 or 410).
	FallBackOnError bool
}

// SumDB is a checksum database.
type SumDB struct {
	Name string // the name signed into every tree head, host[/path]
	Key  string // the verifier key, name+hash+key
	// URL is where to reach the database when GOSUMDB names it; when empty, the database is
	// reached through the first proxy that supports it, or else at https://<Name>.
	URL string
}

// GoEnvFunc asks the go command for settings, as `go env -json NAME...` does.
type GoEnvFunc func(names []string) (map[string]string, error)

// NotConfiguredError says that a setting den needs has no usable value, and how to give it one.
type NotConfiguredError struct {
	Missing []string // variable names: GOPROXY, GOSUMDB
	Reason  string   // why the value den found is unusable, or empty when none was found
	EnvFile string   // Go's env file, which was read, or empty when GOENV=off
	NoGo    bool     // no go command was found to ask for its defaults
	GoErr   error    // the go command was found but `go env` failed
}

func (e *NotConfiguredError) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	where := "the environment"
	if e.EnvFile != "" {
		where += " or " + e.EnvFile
	}
	what := strings.Join(e.Missing, " and ")
	verb := "is"
	if len(e.Missing) > 1 {
		verb = "are"
	}
	switch {
	case e.NoGo:
		return fmt.Sprintf("%s %s not set in %s, and no go command was found to ask for its defaults", what, verb, where)
	case e.GoErr != nil:
		return fmt.Sprintf("%s %s not set in %s, and go env failed: %v", what, verb, where, e.GoErr)
	}
	return fmt.Sprintf("%s %s not set in %s, nor by go env", what, verb, where)
}

func (e *NotConfiguredError) Unwrap() error { return e.GoErr }

// Hints says exactly what to set.
func (e *NotConfiguredError) Hints() []string {
	var hints []string
	for _, name := range e.Missing {
		switch name {
		case "GOPROXY":
			hints = append(hints, "set GOPROXY to your Go module proxy's URL (see go help goproxy)")
		case "GOSUMDB":
			hints = append(hints, "set GOSUMDB to your checksum database as name+key or \"name+key URL\" (see go help module-auth), or to off to trust module hashes on first use")
		}
	}
	if e.EnvFile != "" && e.Reason == "" {
		hints = append(hints, fmt.Sprintf("set them in the environment, or persist them with go env -w, which writes %s", e.EnvFile))
	}
	return hints
}

// LoadConfig reads the settings the way the go command does: the process environment first, then
// Go's env file, then `go env` for the go command's built-in defaults (if go is on PATH).
func LoadConfig(getenv func(string) string) (*Config, error) {
	return LoadConfigFrom(getenv, GoEnv)
}

// LoadConfigFrom is LoadConfig with the go command replaced by goEnv; a nil goEnv stands for a
// machine without Go, so tests need not depend on the go command installed.
func LoadConfigFrom(getenv func(string) string, goEnv GoEnvFunc) (*Config, error) {
	// The settings den reads, in the go command's own names. GOFLAGS is deliberately absent: it
	// holds build flags, and none of them changes where modules come from or how they are checked.
	// GONOSUMCHECK is not asked of go env because the go command no longer knows it.
	settingNames := []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOSUMCHECK", "GOPRIVATE", "GOINSECURE", "GONOPROXY"}
	goEnvNames := []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOINSECURE", "GONOPROXY"}

	cfg := &Config{Values: map[string]string{}, Sources: map[string]string{}}
	set := func(name, value, source string) {
		if _, ok := cfg.Values[name]; !ok && value != "" {
			cfg.Values[name] = value
			cfg.Sources[name] = source
		}
	}
	for _, name := range settingNames {
		set(name, getenv(name), "environment")
	}

	envFile := goEnvFile(getenv)
	if envFile != "" {
		fileValues, err := readGoEnvFile(envFile)
		if err != nil {
			return nil, err
		}
		for _, name := range settingNames {
			set(name, fileValues[name], envFile)
		}
	}

	// go env is asked only for what is still missing: its answer adds nothing but the go
	// command's defaults (from $GOROOT/go.env), and starting it costs a process.
	var missing []string
	for _, name := range goEnvNames {
		if _, ok := cfg.Values[name]; !ok {
			missing = append(missing, name)
		}
	}
	noGo := goEnv == nil
	var goErr error
	if len(missing) > 0 && goEnv != nil {
		values, err := goEnv(missing)
		switch {
		case errors.Is(err, exec.ErrNotFound):
			noGo = true
		case err != nil:
			goErr = err
		}
		for _, name := range missing {
			set(name, values[name], "go env")
		}
	}

	var unset []string
	for _, name := range []string{"GOPROXY", "GOSUMDB"} {
		if _, ok := cfg.Values[name]; !ok {
			unset = append(unset, name)
		}
	}
	if len(unset) > 0 {
		return nil, &NotConfiguredError{Missing: unset, EnvFile: envFile, NoGo: noGo && goErr == nil, GoErr: goErr}
	}

	v := cfg.Values
	cfg.NoProxy = firstNonEmpty(v["GONOPROXY"], v["GOPRIVATE"])
	cfg.NoSumDB = joinPatterns(firstNonEmpty(v["GONOSUMDB"], v["GOPRIVATE"]), v["GONOSUMCHECK"])
	cfg.Insecure = v["GOINSECURE"]
	if err := cfg.parseProxies(v["GOPROXY"]); err != nil {
		return nil, err
	}
	sumdb, err := ParseGOSUMDB(v["GOSUMDB"])
	if err != nil {
		return nil, err
	}
	cfg.SumDB = sumdb
	return cfg, nil
}

// parseProxies splits GOPROXY the way the go command does. den never fetches from version
// control, so "direct" is dropped with a note; "off" ends the list, as it does for the go command.
func (cfg *Config) parseProxies(goproxy string) error {
	rest := goproxy
	for rest != "" {
		entry := rest
		fallBack := false
		if i := strings.IndexAny(rest, ",|"); i >= 0 {
			entry, fallBack, rest = rest[:i], rest[i] == '|', rest[i+1:]
		} else {
			rest = ""
		}
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if entry == "off" || entry == "direct" {
			// The go command ignores whatever follows either word, so den does too.
			if entry == "direct" && len(cfg.Proxies) > 0 {
				cfg.Notes = append(cfg.Notes, "GOPROXY: den skips \"direct\": it fetches modules only from module proxies, never from version control")
			}
			if len(cfg.Proxies) == 0 {
				return &NotConfiguredError{Missing: []string{"GOPROXY"}, Reason: fmt.Sprintf(
					"GOPROXY=%s leaves no module proxy: den fetches Go modules only from a module proxy, never from version control", goproxy)}
			}
			return nil
		}
		// As for the go command: single words are reserved, anything with ":/" or an absolute
		// path is a full URL, and a bare host[/path] means https.
		if strings.ContainsAny(entry, ".:/") && !strings.Contains(entry, ":/") && !filepath.IsAbs(entry) && !pathpkg.IsAbs(entry) {
			entry = "https://" + entry
		}
		if err := checkProxyURL(entry); err != nil {
			return err
		}
		cfg.Proxies = append(cfg.Proxies, Proxy{URL: entry, FallBackOnError: fallBack})
	}
	if len(cfg.Proxies) == 0 {
		return &NotConfiguredError{Missing: []string{"GOPROXY"}, Reason: fmt.Sprintf("GOPROXY=%q names no module proxy", goproxy)}
	}
	return nil
}

func checkProxyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid GOPROXY entry %q: %v", raw, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("invalid GOPROXY entry %s: no host", u.Redacted())
		}
	case "file":
		if *u != (url.URL{Scheme: u.Scheme, Path: u.Path, RawPath: u.RawPath}) {
			return fmt.Errorf("invalid GOPROXY entry %s: a file URL may hold only a path", u.Redacted())
		}
	case "":
		return fmt.Errorf("invalid GOPROXY entry %s: missing scheme", u.Redacted())
	default:
		return fmt.Errorf("invalid GOPROXY entry %s: the scheme must be https, http or file", u.Redacted())
	}
	return nil
}

// ParseGOSUMDB reads GOSUMDB: "off", "name", "name+key" or "name+key URL". A bare name is
// accepted only for the database whose key the go command knows.
func ParseGOSUMDB(gosumdb string) (*SumDB, error) {
	if gosumdb == "off" {
		return nil, nil
	}
	fields := strings.Fields(gosumdb)
	switch {
	case len(fields) == 0:
		return nil, &NotConfiguredError{Missing: []string{"GOSUMDB"}, Reason: "GOSUMDB is blank"}
	case len(fields) > 2:
		return nil, fmt.Errorf("invalid GOSUMDB %q: too many fields", gosumdb)
	}
	key := fields[0]
	if !strings.Contains(key, "+") {
		key += "+" + defaultSumDBKey
		if _, err := note.NewVerifier(key); err != nil {
			return nil, &NotConfiguredError{Missing: []string{"GOSUMDB"}, Reason: fmt.Sprintf(
				"GOSUMDB=%s names a checksum database without its key, and it is not the one whose key the go command knows", fields[0])}
		}
	}
	verifier, err := note.NewVerifier(key)
	if err != nil {
		return nil, fmt.Errorf("invalid GOSUMDB %q: %v", gosumdb, err)
	}
	name := verifier.Name()
	// The name becomes a URL and a directory in the cache, so it must be a plain host[/path].
	direct, err := url.Parse("https://" + name)
	if err != nil || strings.HasSuffix(name, "/") || direct.Host == "" || direct.RawPath != "" ||
		*direct != (url.URL{Scheme: "https", Host: direct.Host, Path: direct.Path}) ||
		strings.Contains(name, "..") || strings.Contains(name, "\\") {
		return nil, fmt.Errorf("invalid GOSUMDB %q: the database name must be host[/path]", gosumdb)
	}
	db := &SumDB{Name: name, Key: key}
	if len(fields) == 2 {
		u, err := url.Parse(fields[1])
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("invalid GOSUMDB URL %q: want an http or https URL", fields[1])
		}
		db.URL = strings.TrimSuffix(fields[1], "/")
	}
	return db, nil
}

// goEnvFile is where `go env -w` writes: $GOENV, or go/env in the user config directory as
// os.UserConfigDir places it (computed from getenv so that tests can move it). "" when GOENV=off.
func goEnvFile(getenv func(string) string) string {
	switch file := getenv("GOENV"); file {
	case "off":
		return ""
	case "":
	default:
		return file
	}
	var dir string
	switch runtime.GOOS {
	case "windows":
		dir = getenv("AppData")
	case "darwin", "ios":
		if home := getenv("HOME"); home != "" {
			dir = filepath.Join(home, "Library", "Application Support")
		}
	case "plan9":
		if home := getenv("home"); home != "" {
			dir = filepath.Join(home, "lib")
		}
	default:
		dir = getenv("XDG_CONFIG_HOME")
		if !filepath.IsAbs(dir) {
			dir = ""
			if home := getenv("HOME"); home != "" {
				dir = filepath.Join(home, ".config")
			}
		}
	}
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "go", "env")
}

// readGoEnvFile reads KEY=VALUE lines as the go command does: the value is the rest of the line,
// unquoted, and lines that do not start with an upper-case letter are skipped, so a damaged
// file is ignored line by line rather than rejected.
func readGoEnvFile(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Go's env file: %w", err)
	}
	values := map[string]string{}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		i := bytes.IndexByte(line, '=')
		if i < 0 || line[0] < 'A' || line[0] > 'Z' {
			continue
		}
		values[string(line[:i])] = string(line[i+1:])
	}
	return values, nil
}

// GoEnv runs `go env -json` for names. It fails with an error wrapping exec.ErrNotFound when
// there is no go command on PATH.
func GoEnv(names []string) (map[string]string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, append([]string{"env", "-json"}, names...)...)
	// A go.mod in the working directory could make the go command switch to (and download) another
	// toolchain, and a bad GOFLAGS would make it fail; neither says anything about module sources.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("%s env: %v: %s", goCmd, err, msg)
		}
		return nil, fmt.Errorf("%s env: %v", goCmd, err)
	}
	values := map[string]string{}
	if err := json.Unmarshal(out, &values); err != nil {
		return nil, fmt.Errorf("%s env -json: %v", goCmd, err)
	}
	return values, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func joinPatterns(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "," + b
}

// Config returns the settings the client was made with.
func (c *Client) Config() *Config { return c.cfg }

// Environ is the configuration as go command environment variables (NAME=value), for running
// the go command against the same proxies and checksum database as den. GOPROXY lists only the
// proxies den uses, never "direct", so the go command cannot fall back on version control where
// den would not; unset settings are left out.
func (cfg *Config) Environ() []string {
	var proxies strings.Builder
	for i, p := range cfg.Proxies {
		proxies.WriteString(p.URL)
		if i < len(cfg.Proxies)-1 {
			if p.FallBackOnError {
				proxies.WriteByte('|')
			} else {
				proxies.WriteByte(',')
			}
		}
	}
	gosumdb := "off"
	if cfg.SumDB != nil {
		gosumdb = cfg.SumDB.Key
		if cfg.SumDB.URL != "" {
			gosumdb += " " + cfg.SumDB.URL
		}
	}
	var env []string
	for _, kv := range [][2]string{
		{"GOPROXY", proxies.String()},
		{"GOSUMDB", gosumdb},
		{"GONOSUMDB", cfg.NoSumDB},
		{"GONOPROXY", cfg.NoProxy},
		{"GOPRIVATE", cfg.Values["GOPRIVATE"]},
		{"GOINSECURE", cfg.Insecure},
	} {
		if kv[1] != "" {
			env = append(env, kv[0]+"="+kv[1])
		}
	}
	return env
}
