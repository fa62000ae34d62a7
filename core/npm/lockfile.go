package npm

// This file reads a project's package-lock.json (lockfileVersion 2 or 3) into the tarballs of
// its node_modules tree, for a recipe's npm-deps-hash: the lock's "packages" map already is the
// tree npm would reify, keyed by install path, so no resolution happens here. What a lock may
// say is untrusted (it comes with the project): every install path is checked to stay under
// node_modules, every tarball comes from the registry the user configured, never from a host
// the lock names, and every tarball is pinned by its integrity.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/den-sh/den/core/hash"
)

// LockedTarball is one package of a lockfile's tree, to fetch and unpack at Path.
type LockedTarball struct {
	Path      string // install path: "node_modules/a" or "node_modules/a/node_modules/@s/b"
	Name      string // the package's registry name (an alias's target, not its folder)
	Version   string
	URL       string            // on the registry configured for Name
	Integrity hash.Hash         // the strongest hash the lock gives: sha512, sha256, else sha1
	Bin       map[string]string // command name → path inside the package
	// InstallScript says the package has install scripts, which den never runs for it.
	InstallScript bool
}

// LockfileError says an entry of a package-lock.json cannot be laid out, and what to do.
type LockfileError struct {
	File  string // as the message shows it: "package-lock.json"
	Entry string // the "packages" key, "" for the whole file
	Msg   string
	Hint  string
}

func (e *LockfileError) Error() string {
	if e.Entry == "" {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s: %q: %s", e.File, e.Entry, e.Msg)
}

// Hints says what to do.
func (e *LockfileError) Hints() []string {
	if e.Hint == "" {
		return nil
	}
	return []string{e.Hint}
}

// ForeignTarballError refuses an entry whose resolved URL is neither on the configured registry
// nor a registry tarball path den can ask the configured registry for: a lock from elsewhere
// must not make den download from a host of its choosing.
type ForeignTarballError struct {
	File, Entry string
	URL         string
	Registry    string
}

func (e *ForeignTarballError) Error() string {
	return fmt.Sprintf("%s: %q is resolved at %s, which is not on the npm registry configured for it (%s) and not a registry tarball path den could fetch from there",
		e.File, e.Entry, redact(e.URL), e.Registry)
}

// Hints says how to make the lock fetchable.
func (e *ForeignTarballError) Hints() []string {
	return []string{
		"run npm install with the registry you use configured, so that the lock's resolved URLs point at it",
		"or configure the registry that serves this package (registry=<URL>, or @scope:registry=<URL>, in .npmrc)",
	}
}

type rawLockfile struct {
	LockfileVersion *int                       `json:"lockfileVersion"`
	Packages        map[string]json.RawMessage `json:"packages"`
}

type rawLocked struct {
	Name             string          `json:"name"`
	Version          string          `json:"version"`
	Resolved         string          `json:"resolved"`
	Integrity        string          `json:"integrity"`
	Link             bool            `json:"link"`
	InBundle         bool            `json:"inBundle"`
	HasInstallScript bool            `json:"hasInstallScript"`
	Bin              json.RawMessage `json:"bin"`
}

// LockedTarballs reads a package-lock.json (file names it in messages) and returns the
// tarballs of its tree sorted by install path, so that a package comes before those nested in
// it, each with the URL of the registry cfg configures for it. Packages bundled in another's
// tarball need no download of their own and are left out. Lockfile version 1, workspaces and
// links, and git, file: or other non-registry dependencies are refused with a *LockfileError; a
// resolved URL on another host that is not a registry tarball path, with a *ForeignTarballError.
func LockedTarballs(file string, data []byte, cfg *Config) ([]LockedTarball, error) {
	var raw rawLockfile
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &LockfileError{File: file, Msg: fmt.Sprintf("not valid JSON: %v", err), Hint: "run npm install to write it again"}
	}
	switch {
	case raw.LockfileVersion == nil:
		return nil, &LockfileError{File: file, Msg: "has no lockfileVersion", Hint: "run npm install (npm 7 or later) to write it again"}
	case *raw.LockfileVersion == 1:
		return nil, &LockfileError{File: file, Msg: "has lockfileVersion 1 (npm 6), which pins no install paths",
			Hint: "run npm install --lockfile-version 3 with npm 7 or later to upgrade it, and commit it"}
	case *raw.LockfileVersion != 2 && *raw.LockfileVersion != 3:
		return nil, &LockfileError{File: file, Msg: fmt.Sprintf("has lockfileVersion %d; den reads versions 2 and 3", *raw.LockfileVersion),
			Hint: "run npm install --lockfile-version 3 to write a version den reads"}
	case raw.Packages == nil:
		return nil, &LockfileError{File: file, Msg: `has no "packages" map`, Hint: "run npm install (npm 7 or later) to write it again"}
	}
	keys := make([]string, 0, len(raw.Packages))
	for k := range raw.Packages {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []LockedTarball
	for _, key := range keys {
		if key == "" {
			continue // the project itself
		}
		var e rawLocked
		if err := json.Unmarshal(raw.Packages[key], &e); err != nil {
			return nil, &LockfileError{File: file, Entry: key, Msg: fmt.Sprintf("malformed entry: %v", err), Hint: "run npm install to write the lock again"}
		}
		if e.Link {
			return nil, &LockfileError{File: file, Entry: key, Msg: "is a link (a workspace or a file: directory dependency), which den does not lay out",
				Hint: "depend on a published version of the package instead"}
		}
		folder, err := installName(key)
		if err != nil {
			return nil, &LockfileError{File: file, Entry: key, Msg: err.Error(), Hint: "den lays out node_modules trees only; workspaces are not supported"}
		}
		if e.InBundle {
			continue // it comes inside the tarball of the package that bundles it
		}
		t, err := lockedTarball(file, key, folder, e, cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// installName checks that key is a chain of node_modules/<package name> and returns the last
// name: the folder the package is installed as.
func installName(key string) (string, error) {
	rest, name := key, ""
	for rest != "" {
		r, ok := strings.CutPrefix(rest, "node_modules/")
		if !ok {
			return "", fmt.Errorf("is not an install path under node_modules")
		}
		n := r
		if i := strings.Index(r, "/node_modules/"); i >= 0 {
			n, r = r[:i], r[i+1:]
		} else {
			r = ""
		}
		if err := checkName(n); err != nil || path.Clean(n) != n {
			return "", fmt.Errorf("is not an install path: %q is not a package name", n)
		}
		rest, name = r, n
	}
	return name, nil
}

func lockedTarball(file, key, folder string, e rawLocked, cfg *Config) (LockedTarball, error) {
	name := folder
	if e.Name != "" {
		if err := checkName(e.Name); err != nil {
			return LockedTarball{}, &LockfileError{File: file, Entry: key, Msg: err.Error()}
		}
		name = e.Name
	}
	fail := func(msg, hint string) (LockedTarball, error) {
		return LockedTarball{}, &LockfileError{File: file, Entry: key, Msg: msg, Hint: hint}
	}
	if r := e.Resolved; r != "" {
		u, err := url.Parse(r)
		switch {
		case strings.HasPrefix(r, "file:"):
			return fail("is a file: dependency ("+r+"), which den does not lay out", "publish the package to your registry, or vendor it into the project's source")
		case strings.HasPrefix(r, "git") || strings.Contains(r, "git+") || strings.HasPrefix(r, "github:"):
			return fail("is a git dependency, which den does not fetch", "depend on a published version of the package instead")
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			return fail(fmt.Sprintf("has resolved %q, which is not a registry tarball", r), "depend on a published version of the package instead")
		}
	}
	if e.Version == "" {
		return fail("has no version", "run npm install to write the lock again")
	}
	integ, ok := strongestIntegrity(e.Integrity)
	if !ok {
		what := "no integrity"
		if e.Integrity != "" {
			what = fmt.Sprintf("integrity %q, none of it sha512, sha256 or sha1", e.Integrity)
		}
		return fail("has "+what+", and den verifies every tarball", "run npm install against a registry that records integrity")
	}
	u, err := cfg.lockedTarballURL(name, e.Version, e.Resolved)
	if err != nil {
		if f, ok := err.(*ForeignTarballError); ok {
			f.File, f.Entry = file, key
		}
		return LockedTarball{}, err
	}
	return LockedTarball{Path: key, Name: name, Version: e.Version, URL: u, Integrity: integ,
		Bin: normalizeBin(e.Bin, name), InstallScript: e.HasInstallScript}, nil
}

// strongestIntegrity picks the hash an SRI integrity string is checked by, as ssri does: the
// strongest algorithm it gives (sha512, sha256, then sha1, which old packages have alone).
func strongestIntegrity(s string) (hash.Hash, bool) {
	var best hash.Hash
	rank := map[hash.Algo]int{hash.SHA1: 1, hash.SHA256: 2, hash.SHA512: 3}
	for _, f := range strings.Fields(s) {
		f, _, _ = strings.Cut(f, "?")
		algo, b64, ok := strings.Cut(f, "-")
		a := hash.Algo(algo)
		if !ok || rank[a] == 0 || rank[a] <= rank[best.Algo] {
			continue
		}
		d, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(d) != a.Size() {
			continue
		}
		best = hash.Hash{Algo: a, Digest: d}
	}
	return best, !best.IsZero()
}

// lockedTarballURL is where to fetch a locked tarball: its resolved URL when that is on the
// registry configured for the package; else the same tarball on the configured registry, when
// the URL is a registry tarball path ("…/<name>/-/<unscoped name>-<version>.tgz", as locks
// written against another registry or mirror have); the registry's tarball path when the lock
// records no URL (npm's omit-lockfile-registry-resolved). Anything else is refused.
func (c *Config) lockedTarballURL(name, version, resolved string) (string, error) {
	reg, err := c.Registry(name)
	if err != nil {
		return "", err
	}
	std := name + "/-/" + unscoped(name) + "-" + version + ".tgz"
	if resolved == "" {
		return reg + std, nil
	}
	if strings.HasPrefix(resolved, reg) {
		return resolved, nil
	}
	u, err := url.Parse(resolved)
	if err == nil {
		p := u.Path
		if e := u.EscapedPath(); strings.Contains(e, "%2f") || strings.Contains(e, "%2F") {
			p, _ = url.PathUnescape(e)
		}
		if strings.HasSuffix(p, "/"+std) {
			return reg + std, nil
		}
	}
	return "", &ForeignTarballError{URL: resolved, Registry: redact(reg)}
}
