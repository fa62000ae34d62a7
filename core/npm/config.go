package npm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config is npm's configuration as den reads it: the layers npm itself reads, highest first —
// npm_config_* variables, the project's .npmrc, the user's .npmrc, the global npmrc, and what the
// npm command reports. Each key is looked up layer by layer, as npm does, so that a scoped
// registry or a token can come from any layer.
type Config struct {
	getenv func(string) string
	files  []*npmrc
	// npmRegistry is `npm config get registry`, asked only when no layer sets a registry and a
	// registry is actually needed: starting npm costs a tenth of a second, and realizing a lock
	// whose paths are all valid or in a binary cache needs no registry at all.
	npmRegistry func() string
}

type npmrc struct {
	path   string
	values map[string]setting
}

type setting struct {
	value string
	line  int
	// unset lists ${VAR}s the value names that were not set, for the message when a credential
	// built from it is refused.
	unset []string
}

// NotConfiguredError says that no registry is configured for a package.
type NotConfiguredError struct {
	Package string
}

func (e *NotConfiguredError) Error() string {
	if s := scopeOf(e.Package); s != "" {
		return fmt.Sprintf("no npm registry configured for %q: set registry=<URL> (or %s:registry=<URL>) in ~/.npmrc or npm_config_registry", e.Package, s)
	}
	return fmt.Sprintf("no npm registry configured for %q: set registry=<URL> in ~/.npmrc or npm_config_registry", e.Package)
}

// Hints says what to set.
func (e *NotConfiguredError) Hints() []string {
	h := []string{
		"add registry=<URL> to ~/.npmrc or to the project's .npmrc",
		"or export npm_config_registry=<URL>",
	}
	if s := scopeOf(e.Package); s != "" {
		h = append(h, fmt.Sprintf("or, for %s packages only, add %s:registry=<URL>", s, s))
	}
	return append(h, "a registry that needs a token also wants //<host>/<path>/:_authToken=${NPM_TOKEN}")
}

// LoadConfig reads npm's configuration. getenv supplies the environment (so tests pass their
// own); projectDir is where the project's .npmrc would be. Missing files are not an error; a
// registry that is not an http(s) URL is, with the file and line it came from.
func LoadConfig(getenv func(string) string, projectDir string) (*Config, error) {
	c := &Config{getenv: getenv}
	if projectDir != "" {
		if err := c.read(filepath.Join(projectDir, ".npmrc")); err != nil {
			return nil, err
		}
	}
	user := c.env("userconfig")
	if user == "" && getenv("HOME") != "" {
		user = filepath.Join(getenv("HOME"), ".npmrc")
	}
	if user != "" && (len(c.files) == 0 || c.files[0].path != user) {
		if err := c.read(user); err != nil {
			return nil, err
		}
	}
	if global := c.globalConfig(); global != "" {
		if err := c.read(global); err != nil {
			return nil, err
		}
	}
	for _, f := range c.files {
		for k, s := range f.values {
			if k == "registry" || strings.HasSuffix(k, ":registry") {
				if _, err := normalizeRegistry(s.value); err != nil {
					return nil, fmt.Errorf("%s:%d: %s: %v", f.path, s.line, k, err)
				}
			}
		}
	}
	if v := c.env("registry"); v != "" {
		if _, err := normalizeRegistry(v); err != nil {
			return nil, fmt.Errorf("npm_config_registry: %v", err)
		}
	}
	if _, _, ok := c.lookup("registry"); !ok {
		c.npmRegistry = sync.OnceValue(func() string { return askNPM(getenv, projectDir) })
	}
	return c, nil
}

// globalConfig is where npm keeps its global npmrc: npm_config_globalconfig, else
// <prefix>/etc/npmrc with the prefix from the environment, an npmrc, or the node on PATH (npm's
// default prefix is the directory above node's bin). Empty when none of these is known.
func (c *Config) globalConfig() string {
	if g := c.env("globalconfig"); g != "" {
		return g
	}
	prefix := c.env("prefix")
	if prefix == "" {
		prefix = c.getenv("PREFIX")
	}
	if prefix == "" {
		prefix, _, _ = c.lookupFiles("prefix")
	}
	if prefix == "" {
		if node := lookPath("node", c.getenv("PATH")); node != "" {
			if real, err := filepath.EvalSymlinks(node); err == nil {
				prefix = filepath.Dir(filepath.Dir(real))
			}
		}
	}
	if prefix == "" {
		return ""
	}
	return filepath.Join(prefix, "etc", "npmrc")
}

// askNPM runs `npm config get registry`, the last resort: npm may know a registry from its own
// built-in configuration. It is bounded in time and any failure just means "not configured".
func askNPM(getenv func(string) string, dir string) string {
	npm := lookPath("npm", getenv("PATH"))
	if npm == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "config", "get", "registry")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + getenv("PATH")}
	for _, k := range []string{"HOME", "NPM_CONFIG_USERCONFIG", "npm_config_userconfig", "NPM_CONFIG_GLOBALCONFIG", "npm_config_globalconfig", "NPM_CONFIG_PREFIX", "npm_config_prefix"} {
		if v := getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	reg, err := normalizeRegistry(strings.TrimSpace(string(out)))
	if err != nil {
		return ""
	}
	return reg
}

func lookPath(name, path string) string {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func (c *Config) read(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read npm config: %w", err)
	}
	f := &npmrc{path: path, values: map[string]setting{}}
	for _, kv := range parseIni(data) {
		key, _ := c.substitute(kv.key)
		value, unset := c.substitute(kv.value)
		f.values[key] = setting{value: value, line: kv.line, unset: unset}
	}
	c.files = append(c.files, f)
	return nil
}

type iniEntry struct {
	key, value string
	line       int
}

// parseIni reads npmrc syntax the way npm's ini package does: "key = value" lines, ";" and "#"
// comments (also after an unquoted value, unless escaped), quoted values, a bare key meaning
// true. Keys under a [section] are not npm settings and are skipped.
func parseIni(data []byte) []iniEntry {
	var out []iniEntry
	inSection := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		t := strings.TrimSpace(line)
		if t == "" || t[0] == ';' || t[0] == '#' {
			continue
		}
		if t[0] == '[' && strings.HasSuffix(t, "]") {
			inSection = true
			continue
		}
		if inSection {
			continue
		}
		k, v, hasValue := strings.Cut(line, "=")
		key := iniUnsafe(k)
		if key == "" || strings.HasSuffix(key, "[]") {
			continue
		}
		value := "true"
		if hasValue {
			value = iniUnsafe(v)
		}
		out = append(out, iniEntry{key: key, value: value, line: n})
	}
	return out
}

func iniUnsafe(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		if s[0] == '\'' {
			s = s[1 : len(s)-1]
		}
		var dec string
		if json.Unmarshal([]byte(s), &dec) == nil {
			return dec
		}
		return s
	}
	var b strings.Builder
	esc := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			if c != '\\' && c != ';' && c != '#' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
			esc = false
		case c == ';' || c == '#':
			return strings.TrimSpace(b.String())
		case c == '\\':
			esc = true
		default:
			b.WriteByte(c)
		}
	}
	if esc {
		b.WriteByte('\\')
	}
	return strings.TrimSpace(b.String())
}

var envRef = regexp.MustCompile(`(\\*)\$\{([^${}]+)\}`)

// substitute replaces ${VAR} with the variable's value as npm does: an unset variable stays
// as written unless it is spelt ${VAR?}, and an odd number of backslashes escapes the reference.
func (c *Config) substitute(s string) (string, []string) {
	var unset []string
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := envRef.FindStringSubmatch(m)
		esc, name := sub[1], sub[2]
		if len(esc)%2 == 1 {
			return m[(len(esc)+1)/2:]
		}
		optional := strings.HasSuffix(name, "?")
		name = strings.TrimSuffix(name, "?")
		val := c.getenv(name)
		if val == "" && !optional {
			unset = append(unset, name)
			val = "${" + name + "}"
		}
		return esc[len(esc)/2:] + val
	})
	return out, unset
}

// env looks a key up among npm_config_* variables. npm lowercases those names and turns "_"
// into "-", except in //host/path/ keys, which it leaves alone.
func (c *Config) env(key string) string {
	v, _ := c.envUnset(key)
	return v
}

// envUnset is env, also naming the ${VAR}s in the value that were not set.
func (c *Config) envUnset(key string) (string, []string) {
	names := []string{"npm_config_" + key, "NPM_CONFIG_" + key}
	if !strings.HasPrefix(key, "//") {
		k := strings.ReplaceAll(key, "-", "_")
		names = []string{"npm_config_" + k, "NPM_CONFIG_" + strings.ToUpper(k), "NPM_CONFIG_" + k}
	}
	for _, n := range names {
		if v := c.getenv(n); v != "" {
			return c.substitute(v)
		}
	}
	return "", nil
}

// lookup finds a key in the highest layer that sets it, saying where it came from.
func (c *Config) lookup(key string) (value, source string, ok bool) {
	if v := c.env(key); v != "" {
		return v, "npm_config_" + strings.ReplaceAll(key, "-", "_"), true
	}
	return c.lookupFiles(key)
}

func (c *Config) lookupFiles(key string) (value, source string, ok bool) {
	for _, f := range c.files {
		if s, ok := f.values[key]; ok {
			return s.value, fmt.Sprintf("%s:%d", f.path, s.line), true
		}
	}
	return "", "", false
}

func (c *Config) unsetVars(key string) []string {
	if v, unset := c.envUnset(key); v != "" {
		return unset
	}
	for _, f := range c.files {
		if s, ok := f.values[key]; ok {
			return s.unset
		}
	}
	return nil
}

// normalizeRegistry checks a registry URL and gives it the trailing slash npm adds.
func normalizeRegistry(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("registry %q is not an http(s) URL", s)
	}
	return strings.TrimRight(s, "/") + "/", nil
}

// RegistryFor is the registry URL, with a trailing slash, that serves a package: its scope's
// registry if one is set, else the default. Empty when nothing is configured.
func (c *Config) RegistryFor(pkgName string) string {
	if s := scopeOf(pkgName); s != "" {
		if v, _, ok := c.lookup(s + ":registry"); ok {
			if r, err := normalizeRegistry(v); err == nil {
				return r
			}
		}
	}
	if v, _, ok := c.lookup("registry"); ok {
		if r, err := normalizeRegistry(v); err == nil {
			return r
		}
	}
	if c.npmRegistry == nil {
		return ""
	}
	return c.npmRegistry()
}

// Registry is RegistryFor, with a *NotConfiguredError when there is none.
func (c *Config) Registry(pkgName string) (string, error) {
	if r := c.RegistryFor(pkgName); r != "" {
		return r, nil
	}
	return "", &NotConfiguredError{Package: pkgName}
}

// TarballURL joins a Node's TarballPath with the registry configured for the package now, so a
// lock written against one mirror fetches from whichever the user configures. A TarballPath
// that is already an absolute URL is returned as it is; empty when no registry is configured.
func (c *Config) TarballURL(pkgName, tarballPath string) string {
	if u, err := url.Parse(tarballPath); err == nil && u.Scheme != "" {
		return tarballPath
	}
	reg := c.RegistryFor(pkgName)
	if reg == "" {
		return ""
	}
	return reg + strings.TrimLeft(tarballPath, "/")
}

// TarballScheme is the URL scheme of TarballRef.
const TarballScheme = "npm"

// TarballRef is a locked tarball as a download URL that names no registry yet —
// "npm:<package>#<tarball path>" — for a fetch to resolve with ResolveTarball when it needs the
// file. Planning a download thus never looks for a registry (which may mean starting npm), as a
// fixed-output path depends only on its hash. An absolute tarball URL is returned as it is.
func TarballRef(pkgName, tarballPath string) string {
	if u, err := url.Parse(tarballPath); err == nil && u.Scheme != "" {
		return tarballPath
	}
	return (&url.URL{Scheme: TarballScheme, Opaque: url.PathEscape(pkgName), Fragment: tarballPath}).String()
}

// ResolveTarball turns a TarballRef into the URL of the registry configured for its package; an
// error when none is.
func (c *Config) ResolveTarball(u *url.URL) ([]string, error) {
	if u.Scheme != TarballScheme {
		return nil, fmt.Errorf("not an npm tarball reference: %s", u)
	}
	name, err := url.PathUnescape(u.Opaque)
	if err != nil || name == "" || u.Fragment == "" {
		return nil, fmt.Errorf("malformed npm tarball reference %s", u)
	}
	if _, err := c.Registry(name); err != nil {
		return nil, err
	}
	return []string{c.TarballURL(name, u.Fragment)}, nil
}

// nerfDart is npm's key for credentials: "//host[:port]/path/" with scheme, user, query and
// fragment removed and the path cut back to its directory.
func nerfDart(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	p := u.EscapedPath()
	p = p[:strings.LastIndexByte(p, '/')+1]
	if p == "" {
		p = "/"
	}
	return "//" + hostKey(u) + p
}

// hostKey is the URL's host as npm's WHATWG URL spells it: lowercase, default port dropped.
func hostKey(u *url.URL) string {
	host := strings.ToLower(u.Host)
	if u.Scheme == "https" {
		host = strings.TrimSuffix(host, ":443")
	} else if u.Scheme == "http" {
		host = strings.TrimSuffix(host, ":80")
	}
	return host
}

// authKey finds the credentials that apply to a URL as npm-registry-fetch does: from
// "//host/full/path" it walks up, dropping a segment or a slash at a time, to the first prefix
// that has a token, _auth, or username and _password. Credentials therefore go only to the
// registry they were configured for, never to a tarball host elsewhere.
func (c *Config) authKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	key := "//" + hostKey(u) + u.EscapedPath()
	for len(key) > 2 {
		if c.has(key+":_authToken") || c.has(key+":_auth") || (c.has(key+":username") && c.has(key+":_password")) {
			return key
		}
		if strings.HasSuffix(key, "/") {
			key = key[:len(key)-1]
		} else {
			key = key[:strings.LastIndexByte(key, '/')+1]
		}
	}
	return ""
}

func (c *Config) has(key string) bool {
	v, _, ok := c.lookup(key)
	return ok && v != ""
}

// AuthFor is the Authorization header value for a request to url ("Bearer …" or "Basic …"),
// or empty when no credentials are configured for it. A token wins over _auth, which wins over
// username and _password, as in npm.
func (c *Config) AuthFor(rawURL string) string {
	key := c.authKey(rawURL)
	if key == "" {
		return ""
	}
	if tok, _, _ := c.lookup(key + ":_authToken"); tok != "" {
		return "Bearer " + tok
	}
	if auth, _, _ := c.lookup(key + ":_auth"); auth != "" {
		return "Basic " + auth
	}
	user, _, _ := c.lookup(key + ":username")
	pass, _, _ := c.lookup(key + ":_password")
	// _password is stored base64-encoded; npm decodes it leniently, so a value that is not
	// base64 is used as written.
	if dec, err := base64.StdEncoding.DecodeString(pass); err == nil {
		pass = string(dec)
	} else if dec, err := base64.RawStdEncoding.DecodeString(pass); err == nil {
		pass = string(dec)
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// alwaysAuth reports always-auth for a registry URL: set for its //host/path/ or globally. npm
// 7 and later send matching credentials on every request anyway; den keeps the setting's
// promise by refusing to talk to such a registry without credentials.
func (c *Config) alwaysAuth(registry string) bool {
	for _, k := range []string{nerfDart(registry) + ":always-auth", "always-auth"} {
		if v, _, ok := c.lookup(k); ok {
			return v == "true"
		}
	}
	return false
}

// credentialSource says where the credentials for a URL came from and which ${VAR}s in them were
// unset, for messages when a registry refuses them.
func (c *Config) credentialSource(rawURL string) (key, source string, unset []string) {
	key = c.authKey(rawURL)
	if key == "" {
		return "", "", nil
	}
	for _, k := range []string{":_authToken", ":_auth", ":username", ":_password"} {
		if _, src, ok := c.lookup(key + k); ok {
			return key, src, c.unsetVars(key + k)
		}
	}
	return key, "", nil
}

// RegistrySettings spells every setting that chooses a registry ("registry" and
// "@scope:registry", from the environment and each npmrc, in the order npm weighs them), so that
// what was resolved against one configuration is not taken for another's. It never asks npm for
// its built-in default, which costs a tenth of a second; an unset default reads as such.
func (c *Config) RegistrySettings() string {
	var b strings.Builder
	if v := c.env("registry"); v != "" {
		b.WriteString("env registry=" + v + "\n")
	}
	for _, f := range c.files {
		keys := make([]string, 0, len(f.values))
		for k := range f.values {
			if k == "registry" || strings.HasSuffix(k, ":registry") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString(f.path + " " + k + "=" + f.values[k].value + "\n")
		}
	}
	if _, _, ok := c.lookup("registry"); !ok {
		b.WriteString("registry unset: npm's own default\n")
	}
	return b.String()
}
