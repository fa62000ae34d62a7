package npm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/httpclient"
)

// maxPackumentSize bounds a packument download. The largest public packuments run to tens of
// megabytes even abbreviated; a body past this is a broken or hostile server.
const maxPackumentSize = 256 << 20

// acceptPackument asks for the abbreviated ("corgi") document, which carries everything
// installing needs and is a fraction of the full one, and takes the full one otherwise.
const acceptPackument = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"

// Client reads packuments from the registries a Config names. It caches them in memory for its
// lifetime and is safe for concurrent use.
type Client struct {
	cfg  *Config
	http *http.Client

	mu    sync.Mutex
	cache map[string]*fetchEntry
}

type fetchEntry struct {
	done chan struct{}
	p    *Packument
	err  error
	// dropped marks a fetch abandoned because its caller's context ended; waiters with a live
	// context retry instead of inheriting someone else's cancellation.
	dropped bool
}

// NewClient returns a client for cfg. A nil hc means one with den's default timeouts.
func NewClient(cfg *Config, hc *http.Client) *Client {
	if hc == nil {
		hc = httpclient.New(httpclient.Timeouts{})
	}
	return &Client{cfg: cfg, http: hc, cache: map[string]*fetchEntry{}}
}

// Config is the configuration the client reads registries and credentials from.
func (c *Client) Config() *Config { return c.cfg }

// Packument is a package's registry document: its dist-tags and every published version.
type Packument struct {
	Name     string
	DistTags map[string]string
	Versions map[string]*Manifest
	// Registry is the registry base URL it came from, with a trailing slash.
	Registry string
}

// Manifest is one published version, reduced to what installing needs.
type Manifest struct {
	Name                 string
	Version              string
	Dependencies         map[string]string
	OptionalDependencies map[string]string
	PeerDependencies     map[string]string
	PeerDependenciesMeta map[string]PeerMeta
	// BundleDependencies are shipped inside the tarball and so are not resolved.
	BundleDependencies []string
	// Bin maps command names to paths inside the package, cleaned: a string "bin" becomes
	// {name-without-scope: path}, names are reduced to a base name and paths are cleaned to
	// stay inside the package.
	Bin              map[string]string
	OS, CPU, Libc    []string
	Engines          map[string]string
	Dist             Dist
	Deprecated       string
	HasInstallScript bool

	// keys keeps each dependency object's key order as published: npm's tree builder walks a
	// package's edges in that order, and so must den's.
	keys map[string][]string
}

// depNames lists a dependency field's names in published order, or sorted when the manifest
// was not parsed from JSON.
func (m *Manifest) depNames(field string, deps map[string]string) []string {
	if k, ok := m.keys[field]; ok {
		return k
	}
	names := make([]string, 0, len(deps))
	for n := range deps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PeerMeta is a peerDependenciesMeta entry.
type PeerMeta struct {
	Optional bool `json:"optional"`
}

// Dist is where a version's tarball is and what it hashes to.
type Dist struct {
	Tarball   string
	Integrity string // SRI as the registry gave it, possibly several space-separated hashes
	Shasum    string // sha1 hex, from before the registry recorded integrity
}

// IntegrityError says a version has no sha256 or sha512 integrity. den verifies every download
// against a strong hash before it enters the store, and sha1 is not one.
type IntegrityError struct {
	Package, Version string
	Integrity        string
}

func (e *IntegrityError) Error() string {
	what := "no integrity"
	if e.Integrity != "" {
		what = fmt.Sprintf("integrity %q", e.Integrity)
	}
	return fmt.Sprintf("%s@%s: the registry gives %s and no sha512 or sha256 hash, which den requires to verify the tarball; pick another version", e.Package, e.Version, what)
}

// Hash is the strongest hash in the integrity string: sha512, else sha256.
func (d Dist) Hash() (hash.Hash, bool) {
	var best hash.Hash
	for _, f := range strings.Fields(d.Integrity) {
		f, _, _ = strings.Cut(f, "?")
		h, err := hash.Parse(f, "")
		if err != nil || (h.Algo != hash.SHA512 && h.Algo != hash.SHA256) {
			continue
		}
		if best.IsZero() || (h.Algo == hash.SHA512 && best.Algo != hash.SHA512) {
			best = h
		}
	}
	return best, !best.IsZero()
}

// NotFoundError says a registry has no such package.
type NotFoundError struct {
	Package, Registry string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("package %q not found in the registry %s", e.Package, e.Registry)
}

// AuthError says a registry refused a request for want of (valid) credentials.
type AuthError struct {
	Package  string
	URL      string
	Status   int    // 401 or 403, or 0 when den refused before asking (always-auth)
	Key      string // the //host/path/ credentials were looked up under
	Source   string // where the credentials came from, empty when none were sent
	UnsetEnv []string
}

func (e *AuthError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: always-auth is set but no credentials are configured for %s", e.URL, e.Key)
	}
	if e.Source == "" {
		return fmt.Sprintf("%s: the registry requires authentication (HTTP %d) and no credentials are configured for %s", e.URL, e.Status, e.Key)
	}
	return fmt.Sprintf("%s: the registry refused the credentials from %s (HTTP %d)", e.URL, e.Source, e.Status)
}

// Hints says how to configure credentials.
func (e *AuthError) Hints() []string {
	var h []string
	for _, v := range e.UnsetEnv {
		h = append(h, fmt.Sprintf("the credentials refer to ${%s}, which is not set", v))
	}
	return append(h, fmt.Sprintf("add %s:_authToken=${NPM_TOKEN} to ~/.npmrc and export NPM_TOKEN", e.Key))
}

// Packument fetches a package's document from its registry, once per client.
func (c *Client) Packument(ctx context.Context, name string) (*Packument, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	for {
		c.mu.Lock()
		e, ok := c.cache[name]
		if !ok {
			e = &fetchEntry{done: make(chan struct{})}
			c.cache[name] = e
		}
		c.mu.Unlock()
		if !ok {
			e.p, e.err = c.fetch(ctx, name)
			if e.err != nil && ctx.Err() != nil {
				c.mu.Lock()
				delete(c.cache, name)
				e.dropped = true
				c.mu.Unlock()
			}
			close(e.done)
		}
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.dropped && ctx.Err() == nil {
			continue
		}
		return e.p, e.err
	}
}

// Versions lists a package's valid semver versions, lowest first.
func (c *Client) Versions(ctx context.Context, name string) ([]string, error) {
	p, err := c.Packument(ctx, name)
	if err != nil {
		return nil, err
	}
	return p.sortedVersions(), nil
}

type parsedVersion struct {
	s string
	v Version
}

func (p *Packument) sortedVersions() []string {
	vs := p.parsedVersions()
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.s
	}
	return out
}

func (p *Packument) parsedVersions() []parsedVersion {
	var vs []parsedVersion
	for s := range p.Versions {
		if v, err := parseFull(s); err == nil {
			vs = append(vs, parsedVersion{s, v})
		}
	}
	sort.Slice(vs, func(i, j int) bool {
		if d := vs[i].v.Compare(vs[j].v); d != 0 {
			return d < 0
		}
		return vs[i].s < vs[j].s
	})
	return vs
}

func (c *Client) fetch(ctx context.Context, name string) (*Packument, error) {
	reg, err := c.cfg.Registry(name)
	if err != nil {
		return nil, err
	}
	u := strings.TrimRight(reg, "/") + "/" + escapedName(name)
	auth := c.cfg.AuthFor(u)
	if auth == "" && c.cfg.alwaysAuth(reg) {
		return nil, &AuthError{Package: name, URL: u, Key: nerfDart(reg)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch packument %s: %w", name, err)
	}
	req.Header.Set("Accept", acceptPackument)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("fetch packument %s from %s: %w", name, redact(u), err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, &NotFoundError{Package: name, Registry: redact(reg)}
	case http.StatusUnauthorized, http.StatusForbidden:
		key, src, unset := c.cfg.credentialSource(u)
		if key == "" {
			key = nerfDart(reg)
		}
		if auth == "" {
			src = ""
		}
		return nil, &AuthError{Package: name, URL: redact(u), Status: resp.StatusCode, Key: key, Source: src, UnsetEnv: unset}
	default:
		return nil, fmt.Errorf("fetch packument %s from %s: server said %s", name, redact(u), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPackumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch packument %s from %s: %w", name, redact(u), err)
	}
	if len(body) > maxPackumentSize {
		return nil, fmt.Errorf("fetch packument %s from %s: larger than %d bytes", name, redact(u), maxPackumentSize)
	}
	p, err := ParsePackument(body)
	if err != nil {
		return nil, fmt.Errorf("packument %s from %s: %w", name, redact(u), err)
	}
	if p.Name != "" && p.Name != name {
		return nil, fmt.Errorf("packument %s from %s: the registry answered with package %q", name, redact(u), p.Name)
	}
	p.Name, p.Registry = name, reg
	return p, nil
}

func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}

// rawPackument and rawManifest take the JSON as registries really serve it: decades of
// publishing left fields that are sometimes a string, an array, a bool or junk, so the quirky
// ones are decoded by hand and a malformed field never hides the rest of a version.
type rawPackument struct {
	Name     string                     `json:"name"`
	DistTags map[string]json.RawMessage `json:"dist-tags"`
	Versions map[string]json.RawMessage `json:"versions"`
}

type rawManifest struct {
	Name                 string          `json:"name"`
	Version              string          `json:"version"`
	Dependencies         json.RawMessage `json:"dependencies"`
	OptionalDependencies json.RawMessage `json:"optionalDependencies"`
	PeerDependencies     json.RawMessage `json:"peerDependencies"`
	PeerDependenciesMeta json.RawMessage `json:"peerDependenciesMeta"`
	BundleDependencies   json.RawMessage `json:"bundleDependencies"`
	BundledDependencies  json.RawMessage `json:"bundledDependencies"`
	Bin                  json.RawMessage `json:"bin"`
	OS                   json.RawMessage `json:"os"`
	CPU                  json.RawMessage `json:"cpu"`
	Libc                 json.RawMessage `json:"libc"`
	Engines              json.RawMessage `json:"engines"`
	Dist                 struct {
		Tarball   json.RawMessage `json:"tarball"`
		Integrity json.RawMessage `json:"integrity"`
		Shasum    json.RawMessage `json:"shasum"`
	} `json:"dist"`
	Deprecated       json.RawMessage `json:"deprecated"`
	HasInstallScript json.RawMessage `json:"hasInstallScript"`
	Scripts          json.RawMessage `json:"scripts"`
}

// ParsePackument decodes a packument, abbreviated or full.
func ParsePackument(data []byte) (*Packument, error) {
	var raw rawPackument
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("invalid packument: %v", err)
	}
	p := &Packument{Name: raw.Name, DistTags: map[string]string{}, Versions: map[string]*Manifest{}}
	for tag, v := range raw.DistTags {
		if s := jsonString(v); s != "" {
			p.DistTags[tag] = s
		}
	}
	for v, rm := range raw.Versions {
		var r rawManifest
		if json.Unmarshal(rm, &r) != nil {
			continue // a version whose document is not an object cannot be installed anyway
		}
		m := &Manifest{
			Name:                 raw.Name,
			Version:              v,
			Dependencies:         stringMap(r.Dependencies),
			OptionalDependencies: stringMap(r.OptionalDependencies),
			PeerDependencies:     stringMap(r.PeerDependencies),
			OS:                   stringList(r.OS),
			CPU:                  stringList(r.CPU),
			Libc:                 stringList(r.Libc),
			Engines:              stringMap(r.Engines),
			Dist: Dist{
				Tarball:   jsonString(r.Dist.Tarball),
				Integrity: jsonString(r.Dist.Integrity),
				Shasum:    jsonString(r.Dist.Shasum),
			},
			Deprecated:       deprecation(r.Deprecated),
			HasInstallScript: jsonBool(r.HasInstallScript) || hasInstallScripts(r.Scripts),
		}
		if m.Name == "" {
			m.Name = r.Name
		}
		m.keys = map[string][]string{
			"dependencies":         objectKeys(r.Dependencies, m.Dependencies),
			"optionalDependencies": objectKeys(r.OptionalDependencies, m.OptionalDependencies),
			"peerDependencies":     objectKeys(r.PeerDependencies, m.PeerDependencies),
		}
		m.Bin = normalizeBin(r.Bin, m.Name)
		m.PeerDependenciesMeta = peerMeta(r.PeerDependenciesMeta)
		bundled := r.BundleDependencies
		if len(bundled) == 0 {
			bundled = r.BundledDependencies
		}
		m.BundleDependencies = bundleList(bundled, m.Dependencies, m.OptionalDependencies)
		p.Versions[v] = m
	}
	return p, nil
}

func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func jsonBool(raw json.RawMessage) bool {
	var b bool
	return json.Unmarshal(raw, &b) == nil && b
}

func stringMap(raw json.RawMessage) map[string]string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		var s string
		if json.Unmarshal(v, &s) == nil {
			out[k] = s
		}
	}
	return out
}

// objectKeys lists the keys of a JSON object in document order, keeping those in kept; a key
// given twice counts at its first place, as in JavaScript.
func objectKeys(raw json.RawMessage, kept map[string]string) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys
		}
		k, _ := t.(string)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
		if _, ok := kept[k]; ok && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	// JavaScript puts keys that are array indices first, in numeric order.
	sort.SliceStable(keys, func(i, j int) bool {
		ai, aok := arrayIndex(keys[i])
		bi, bok := arrayIndex(keys[j])
		return aok && (!bok || ai < bi)
	})
	return keys
}

func arrayIndex(s string) (uint64, bool) {
	if !isNumeric(s) || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return n, err == nil && n < 1<<32-1
}

// stringList takes ["a", "b"] or a lone "a".
func stringList(raw json.RawMessage) []string {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		if s := jsonString(raw); s != "" {
			return []string{s}
		}
		return nil
	}
	var out []string
	for _, v := range list {
		if s := jsonString(v); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func deprecation(raw json.RawMessage) string {
	if s := jsonString(raw); s != "" {
		return s
	}
	if jsonBool(raw) {
		return "deprecated"
	}
	return ""
}

func hasInstallScripts(raw json.RawMessage) bool {
	s := stringMap(raw)
	return s["preinstall"] != "" || s["install"] != "" || s["postinstall"] != ""
}

func peerMeta(raw json.RawMessage) map[string]PeerMeta {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return nil
	}
	out := map[string]PeerMeta{}
	for k, v := range m {
		var pm PeerMeta
		if json.Unmarshal(v, &pm) == nil {
			out[k] = pm
		}
	}
	return out
}

// bundleList takes a list of names, or true meaning every dependency.
func bundleList(raw json.RawMessage, deps ...map[string]string) []string {
	var names []string
	if jsonBool(raw) {
		for _, d := range deps {
			for n := range d {
				names = append(names, n)
			}
		}
	} else {
		names = stringList(raw)
	}
	sort.Strings(names)
	return names
}

// normalizeBin is npm-normalize-package-bin: a string bin is named after the unscoped package,
// names are reduced to their base name and paths are cleaned to stay inside the package, since
// den links them into a profile.
func normalizeBin(raw json.RawMessage, pkgName string) map[string]string {
	m := stringMap(raw)
	if s := jsonString(raw); s != "" {
		m = map[string]string{unscoped(pkgName): s}
	}
	if len(m) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		name := path.Base(strings.NewReplacer(`\`, "/", ":", "/").Replace(k))
		target := strings.TrimPrefix(path.Join("/", strings.ReplaceAll(v, `\`, "/")), "/")
		if name == "." || name == ".." || name == "/" || name == "" || target == "" {
			continue
		}
		out[name] = target
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
