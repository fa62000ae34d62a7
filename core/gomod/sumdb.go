package gomod

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/lockedfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// maxSumDBAnswer bounds one answer of a checksum database: a record or a tile is a few kilobytes.
const maxSumDBAnswer = 1 << 20

// NoChecksumDBError is Lookup's answer for a module that no checksum database checks (GOSUMDB=off,
// or GONOSUMDB or GOPRIVATE matches it). The caller then records the hash of what it downloads,
// trusting it on first use, as go.sum does without a checksum database.
type NoChecksumDBError struct {
	Module, Version string
	Reason          string
}

func (e *NoChecksumDBError) Error() string {
	return fmt.Sprintf("%s@%s is not checked by a checksum database: %s", e.Module, e.Version, e.Reason)
}

// SecurityError says the checksum database (or a proxy in front of it) served something its
// signed tree does not support: a tree head not signed by GOSUMDB's key, a tree that contradicts
// one it signed before, or records that are not in its tree. Nothing it said can be used, and the
// Client that saw it refuses further lookups.
type SecurityError struct {
	DB              string // the database's name
	Module, Version string
	Reason          string
	Detail          string // the evidence, as golang.org/x/mod/sumdb reports it
	StateDir        string // where the last tree head seen is kept
}

func (e *SecurityError) Error() string {
	return fmt.Sprintf("checking %s@%s: checksum database %s failed verification: %s", e.Module, e.Version, e.DB, e.Reason)
}

// Hints says what to check.
func (e *SecurityError) Hints() []string {
	hints := []string{"do not use modules fetched through this database or proxy until this is explained",
		"check that GOSUMDB holds the database's real key, and that GOPROXY is the proxy you mean"}
	if e.StateDir != "" {
		hints = append(hints, fmt.Sprintf("if you deliberately switched to another database under the same name, remove %s", e.StateDir))
	}
	return hints
}

// Lookup returns the h1: hashes that the checksum database records for module@version: the
// zip's and the go.mod's. For a module no database checks it returns empty hashes and a
// *NoChecksumDBError.
func (c *Client) Lookup(ctx context.Context, mod, version string) (zipHash, modHash string, err error) {
	if err := module.Check(mod, version); err != nil {
		return "", "", err
	}
	if version != module.CanonicalVersion(version) {
		return "", "", &module.ModuleError{Path: mod, Version: version, Err: errors.New("version is not canonical")}
	}
	if reason := c.exemption(mod); reason != "" {
		return "", "", &NoChecksumDBError{Module: mod, Version: version, Reason: reason}
	}
	db := c.cfg.SumDB
	if db == nil {
		return "", "", &module.ModuleError{Path: mod, Version: version, Err: errors.New(
			"a downloaded toolchain must be checked by the checksum database, but GOSUMDB=off")}
	}
	c.mu.Lock()
	bad := c.misbehaved
	c.mu.Unlock()
	if bad != nil {
		return "", "", bad
	}
	verifier, err := note.NewVerifier(db.Key)
	if err != nil {
		return "", "", fmt.Errorf("invalid GOSUMDB key: %v", err)
	}
	// A sumdb.Client per lookup, because its callbacks take no context; what it learns is kept
	// on disk (the latest tree head, tiles, records), so the next one starts from there.
	ops := &sumdbOps{c: c, ctx: ctx, db: db, verifier: verifier, mod: mod, version: version}
	client := sumdb.NewClient(ops)
	if zipHash, err = ops.hash(client, version); err != nil {
		return "", "", err
	}
	if modHash, err = ops.hash(client, version+"/go.mod"); err != nil {
		return "", "", err
	}
	return zipHash, modHash, nil
}

// exemption says why module is not checked by a checksum database, or "" when it is. Toolchains
// are always checked, as by the go command: there is no go.sum to pin them, and a toolchain is
// exactly what an attacker would like to swap. The go command's one exception, a single file://
// GOPROXY, is how Go's own release process tests a toolchain before the database has it.
func (c *Client) exemption(mod string) string {
	if mod == ToolchainModule {
		goproxy := c.cfg.Values["GOPROXY"]
		if !strings.HasPrefix(goproxy, "file://") || strings.ContainsAny(goproxy, ",|") {
			return ""
		}
	}
	if c.cfg.SumDB == nil {
		return "GOSUMDB=off"
	}
	if module.MatchPrefixPatterns(c.cfg.NoSumDB, mod) {
		return fmt.Sprintf("it matches GONOSUMDB or GOPRIVATE (%s)", c.cfg.NoSumDB)
	}
	return ""
}

// sumdbURL finds where to reach db, the way the go command does: the URL in GOSUMDB if any; else
// the first proxy that answers <proxy>/sumdb/<name>/supported, stepping on only past "not found"
// (or any error after "|"); else https://<name> itself. The answer is kept for the Client's life.
func (c *Client) sumdbURL(ctx context.Context, db *SumDB) (string, error) {
	if db.URL != "" {
		return db.URL, nil
	}
	c.mu.Lock()
	base := c.sumdbBase
	c.mu.Unlock()
	if base != "" {
		return base, nil
	}
	err := c.tryProxies(ctx, func(proxy string) error {
		through := strings.TrimSuffix(proxy, "/") + "/sumdb/" + db.Name
		if _, err := c.get(ctx, through+"/supported", maxSumDBAnswer); err != nil {
			return err
		}
		base = through
		return nil
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		base = "https://" + db.Name
	case err != nil:
		return "", fmt.Errorf("finding checksum database %s through GOPROXY: %w", db.Name, err)
	}
	c.mu.Lock()
	c.sumdbBase = base
	c.mu.Unlock()
	return base, nil
}

// sumdbOps is golang.org/x/mod/sumdb's window on the network and the disk for one Lookup.
type sumdbOps struct {
	c        *Client
	ctx      context.Context
	db       *SumDB
	verifier note.Verifier
	mod      string
	version  string

	mu        sync.Mutex // the sumdb client reads tiles in parallel
	remoteErr error
	security  *SecurityError
}

// hash looks up one go.sum line (vers may end in /go.mod) and returns its h1: hash.
func (o *sumdbOps) hash(client *sumdb.Client, vers string) (string, error) {
	lines, err := client.Lookup(o.mod, vers)
	if err != nil {
		return "", o.fail(err)
	}
	prefix := o.mod + " " + vers + " h1:"
	for _, line := range lines {
		if strings.HasPrefix(line, prefix) {
			return line[len(prefix)-len("h1:"):], nil
		}
	}
	return "", &module.ModuleError{Path: o.mod, Version: o.version, Err: fmt.Errorf(
		"checksum database %s has no h1: hash for %s %s", o.db.Name, o.mod, vers)}
}

// fail turns a sumdb.Client error into one a caller can act on. The client formats its errors
// with %v, so the typed causes are the ones recorded on the way; the two misbehaviours it reports
// only in words are recognised by those words (a test pins them).
func (o *sumdbOps) fail(err error) error {
	o.mu.Lock()
	security, remoteErr := o.security, o.remoteErr
	o.mu.Unlock()
	if security == nil {
		msg := err.Error()
		for _, sign := range []string{"cannot authenticate record data", "downloaded inconsistent tile"} {
			if strings.Contains(msg, sign) {
				security = o.securityError("what it served is not in the tree it signed", msg)
				break
			}
		}
	}
	if security != nil {
		o.c.mu.Lock()
		if o.c.misbehaved == nil {
			o.c.misbehaved = security
		}
		o.c.mu.Unlock()
		return security
	}
	if remoteErr != nil {
		return &module.ModuleError{Path: o.mod, Version: o.version, Err: fmt.Errorf("checksum database %s: %w", o.db.Name, remoteErr)}
	}
	return &module.ModuleError{Path: o.mod, Version: o.version, Err: fmt.Errorf("checksum database %s: %v", o.db.Name, err)}
}

func (o *sumdbOps) securityError(reason, detail string) *SecurityError {
	return &SecurityError{DB: o.db.Name, Module: o.mod, Version: o.version, Reason: reason, Detail: detail,
		StateDir: filepath.Join(o.c.cacheDir, "sumdb", filepath.FromSlash(o.db.Name))}
}

// ReadRemote fetches path from the database. Signed tree heads are checked against GOSUMDB's key
// here as well as by the sumdb client, because the client's error for a wrong key loses its type.
func (o *sumdbOps) ReadRemote(path string) ([]byte, error) {
	base, err := o.c.sumdbURL(o.ctx, o.db)
	if err == nil {
		var data []byte
		data, err = o.c.get(o.ctx, base+path, maxSumDBAnswer)
		if err == nil {
			return data, o.checkSigned(path, data)
		}
	}
	o.mu.Lock()
	if o.remoteErr == nil {
		o.remoteErr = err
	}
	o.mu.Unlock()
	return nil, err
}

func (o *sumdbOps) checkSigned(path string, data []byte) error {
	var msg []byte
	switch {
	case path == "/latest":
		msg = data
	case strings.HasPrefix(path, "/lookup/"):
		_, _, tree, err := tlog.ParseRecord(data)
		if err != nil {
			return nil // malformed, not misleading: the sumdb client says so
		}
		msg = tree
	default:
		return nil
	}
	_, err := note.Open(msg, note.VerifierList(o.verifier))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	if errors.As(err, &unverified) || errors.As(err, &invalid) {
		se := o.securityError("its tree head is not signed by the key in GOSUMDB", err.Error())
		o.mu.Lock()
		o.security = se
		o.mu.Unlock()
		return se
	}
	return nil
}

// ReadConfig returns GOSUMDB's key, or the latest tree head this machine has seen (<name>/latest),
// which every new tree head must extend.
func (o *sumdbOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(o.db.Key), nil
	}
	path, err := o.file("sumdb", file)
	if err != nil {
		return nil, err
	}
	data, err := lockedfile.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		// The first contact with a database starts from the empty tree.
		return []byte{}, nil
	}
	return data, err
}

// WriteConfig replaces the latest tree head if it is still old, under a file lock, so that den
// processes racing on one database detect each other (sumdb.ErrWriteConflict makes the client
// re-read and merge).
func (o *sumdbOps) WriteConfig(file string, old, new []byte) error {
	if file == "key" {
		return errors.New("the checksum database key cannot be written")
	}
	path, err := o.file("sumdb", file)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return err
	}
	f, err := lockedfile.Edit(path)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	if len(data) > 0 && !bytes.Equal(data, old) {
		return sumdb.ErrWriteConflict
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.Write(new); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// ReadCache reads a verified record or tile. The sumdb client checks them again against the tree
// on every use, so a damaged cache costs a download, never a wrong answer.
func (o *sumdbOps) ReadCache(file string) ([]byte, error) {
	path, err := o.file("sumdb-cache", file)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err == nil && len(data) == 0 {
		err = &fs.PathError{Op: "read", Path: path, Err: fs.ErrNotExist}
	}
	return data, err
}

// WriteCache saves a verified record or tile by rename, so readers never see half a file.
// Failing to cache only costs a later download, so errors are dropped.
func (o *sumdbOps) WriteCache(file string, data []byte) {
	path, err := o.file("sumdb-cache", file)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), path) != nil {
		os.Remove(f.Name())
	}
}

func (o *sumdbOps) Log(msg string) {}

// SecurityError records the proof of a forked tree; the sumdb client then fails with ErrSecurity,
// and fail hands this record to the caller instead.
func (o *sumdbOps) SecurityError(msg string) {
	se := o.securityError("it signed a tree that contradicts one it signed before", msg)
	o.mu.Lock()
	o.security = se
	o.mu.Unlock()
}

// file places a sumdb client file name (<db name>/latest, <db name>/tile/…, <db name>/lookup/…)
// under the cache directory. The names are built from checked module paths and the checked
// database name, but a name that would leave the directory is refused all the same.
func (o *sumdbOps) file(dir, name string) (string, error) {
	local := filepath.FromSlash(name)
	if !filepath.IsLocal(local) {
		return "", fmt.Errorf("checksum database file name %q leaves the cache directory", name)
	}
	if o.c.cacheDir == "" {
		return "", errors.New("no cache directory for the checksum database")
	}
	return filepath.Join(o.c.cacheDir, dir, local), nil
}
