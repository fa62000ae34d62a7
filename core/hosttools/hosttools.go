// Package hosttools owns the identity of host programs that builds may use: where a tool
// resolves to, its --version line and the hash of its file, so that a different compiler gives a
// different derivation hash. Identities are cached by file metadata, since hashing a compiler on
// every den build would be wasted work.
package hosttools

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/den-sh/den/core/derivation"
	"golang.org/x/sys/unix"
)

// Base is the small standard environment every script build gets from the host, the way Nix's
// stdenv brings a shell and coreutils: what ./configure and make install scripts take for granted.
// Tools missing on the host are left out, and which ones were found is part of the identity.
var Base = []string{
	"awk", "basename", "bash", "cat", "chmod", "cmp", "cp", "cut", "date", "diff", "dirname", "echo",
	"env", "expr", "false", "find", "grep", "gzip", "head", "id", "install", "ln", "ls", "mkdir",
	"mktemp", "mv", "od", "patch", "printf", "pwd", "readlink", "realpath", "rm", "rmdir", "sed",
	"sh", "sleep", "sort", "stat", "tail", "tar", "tee", "test", "touch", "tr", "true", "uname",
	"uniq", "wc", "xargs", "xz",
}

// companions are the programs a tool runs by name from PATH: a C compiler drives the assembler
// and linker, so declaring cc brings them too.
var companions = map[string][]string{
	"cc":      {"as", "ld", "ar", "ranlib", "nm", "strip", "cpp"},
	"gcc":     {"as", "ld", "ar", "ranlib", "nm", "strip", "cpp"},
	"c++":     {"as", "ld", "ar", "ranlib", "nm", "strip", "cpp"},
	"g++":     {"as", "ld", "ar", "ranlib", "nm", "strip", "cpp"},
	"clang":   {"as", "ld", "ar", "ranlib", "nm", "strip"},
	"clang++": {"as", "ld", "ar", "ranlib", "nm", "strip"},
}

// WithCompanions adds to names the programs they run by name, once each.
func WithCompanions(names []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, n := range names {
		add(n)
	}
	for _, n := range names {
		for _, c := range companions[n] {
			add(c)
		}
	}
	return out
}

// IsName reports whether name can only name a program on the search path: no directory in it
// (a path could run a file of the project's, or anything on the machine), not . or .., nothing
// a shell or a file name would treat specially.
func IsName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 255 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("+-._", c)) {
			return false
		}
	}
	return name[0] != '-' && name[0] != '.'
}

// NameError says a host tool was not named by a bare program name.
type NameError struct{ Name string }

func (e *NameError) Error() string {
	return fmt.Sprintf("host tool %q is not a program name; den looks host tools up by name on PATH", e.Name)
}

// Resolver finds tools on a search path and caches their identities in a file.
type Resolver struct {
	Path      string // the host PATH to search
	CacheFile string // may be empty
}

type cacheEntry struct {
	Key  string              `json:"key"`
	Tool derivation.HostTool `json:"tool"`
}

// Resolve returns the identities of the named tools, sorted by name. Missing tools are an error
// when required, and skipped otherwise. Versions are read only for required tools: the base set's
// file hashes identify them well enough, and running fifty --version commands would be slow.
func (r *Resolver) Resolve(names []string, required bool) ([]derivation.HostTool, error) {
	cache := r.load()
	dirty := false
	var out []derivation.HostTool
	for _, name := range names {
		if !IsName(name) {
			return nil, &NameError{Name: name}
		}
		p, err := r.lookPath(name)
		if err != nil {
			if required {
				return nil, fmt.Errorf("host tool %q is not on PATH; install it or remove it from host-tools", name)
			}
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, err
		}
		var st unix.Stat_t
		if err := unix.Stat(real, &st); err != nil {
			return nil, err
		}
		key := fmt.Sprintf("%s|%s|%d|%d|%d.%09d|%v", name, real, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, required)
		if e, ok := cache[name+"|"+fmt.Sprint(required)]; ok && e.Key == key {
			out = append(out, e.Tool)
			continue
		}
		t := derivation.HostTool{Name: name, Path: real}
		if t.Hash, err = fileHash(real); err != nil {
			return nil, err
		}
		if required {
			t.Version = versionLine(real)
		}
		cache[name+"|"+fmt.Sprint(required)] = cacheEntry{Key: key, Tool: t}
		dirty = true
		out = append(out, t)
	}
	if dirty {
		r.save(cache)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (r *Resolver) lookPath(name string) (string, error) {
	for _, dir := range filepath.SplitList(r.Path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

func fileHash(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// versionLine is the first line a tool prints for --version, or "" if it has none.
func versionLine(p string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p, "--version")
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		return ""
	}
	line, _, _ := bufio.NewReader(bytes.NewReader(out)).ReadLine()
	return strings.TrimSpace(string(line))
}

func (r *Resolver) load() map[string]cacheEntry {
	m := map[string]cacheEntry{}
	if r.CacheFile == "" {
		return m
	}
	if data, err := os.ReadFile(r.CacheFile); err == nil {
		json.Unmarshal(data, &m)
	}
	return m
}

// save is best effort: a lost cache only costs a re-hash.
func (r *Resolver) save(m map[string]cacheEntry) {
	if r.CacheFile == "" {
		return
	}
	data, _ := json.MarshalIndent(m, "", " ")
	os.MkdirAll(filepath.Dir(r.CacheFile), 0o755)
	tmp := fmt.Sprintf("%s.%d", r.CacheFile, os.Getpid())
	if os.WriteFile(tmp, data, 0o644) == nil {
		os.Rename(tmp, r.CacheFile)
	}
}

// Impure reports whether d's output depends on the host beyond what its hash pins: d, or a
// derivation it needs, runs a host tool a recipe declared (host-tools), as a compiler. The base
// tools every host-tools build gets (Base: a shell and coreutils to drive the build) do not make
// it impure, nor does anything in a fixed-output derivation, which its hash checks.
func Impure(d *derivation.Derivation) bool {
	if d.IsFixed() {
		return false
	}
	if len(Declared(d.HostTools)) > 0 {
		return true
	}
	for _, n := range d.Needs {
		if Impure(n) {
			return true
		}
	}
	return false
}

// Declared are the tools among ts that are not base tools.
func Declared(ts []derivation.HostTool) []string {
	var out []string
	for _, t := range ts {
		if !slices.Contains(Base, t.Name) {
			out = append(out, t.Name)
		}
	}
	return out
}
