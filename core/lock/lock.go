// Package lock owns den.lock: the exact, per-system resolution of a project's packages, written
// deterministically so that it diffs and merges well, and complete enough that den.lock alone
// (no index, no version lists) realizes the same store paths on any machine with the same store
// dir.
//
// A package's sources (module zips, npm tarballs, source archives) are listed once at package
// level when every system shares them, and under a system when only that system needs them (a
// toolchain for that platform, a platform-specific npm binary). Locations are written relative to
// the registry they came from; which registry serves them is the reader's own configuration.
package lock

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// FileName is the lock file beside den.toml.
const FileName = "den.lock"

// FormatVersion is the version of the lock format written by this den.
const FormatVersion = 1

// File is den.lock.
type File struct {
	Version  int        `toml:"version"`
	Packages []*Package `toml:"package"`
	// Targets hold, per system of den.toml's [targets], what building for it takes beyond
	// [packages]: the cross toolchain, the emulator and the target's libraries.
	Targets []*Target `toml:"target,omitempty"`
}

// Target is what a project locks for one of its [targets.SYSTEM]: each package is locked for
// the build systems that cross-build for it (its Systems), a library with Target = System.
type Target struct {
	System   string     `toml:"system"`
	Packages []*Package `toml:"package"`
}

// Target returns what f locks for the target system sys, or nil.
func (f *File) Target(sys string) *Target {
	for _, t := range f.Targets {
		if t.System == sys {
			return t
		}
	}
	return nil
}

// Get returns the target's package named name, or nil; t may be nil.
func (t *Target) Get(name string) *Package {
	if t == nil {
		return nil
	}
	for _, p := range t.Packages {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Package is one resolved package.
type Package struct {
	Name       string `toml:"name"`       // as in den.toml: "go", "npm:prettier"
	Constraint string `toml:"constraint"` // as requested
	Version    string `toml:"version"`    // as resolved
	Backend    string `toml:"backend"`
	// Target is the system a cross-built package's output runs on ("aarch64-linux"), when it
	// is not the system that builds it: Systems then hold, per build system, what that system
	// needs to make the target's output (Nix's pkgsCross). "" for a package of the system itself.
	Target string `toml:"target,omitempty"`
	// Attrs hold what the backend needs beyond sources: a module or npm package name, the
	// package path to build, a build script, bin names. Sorted on write.
	Attrs   map[string]string `toml:"attrs,omitempty"`
	Sources []Source          `toml:"sources,omitempty,inline"`
	// Systems holds per-system data, for every system the package is locked for.
	Systems map[string]*System `toml:"systems,omitempty"`
	// Deps are packages this one needs to build or run (the Go toolchain that builds gopls, the
	// node that runs tsc), locked with it.
	Deps []*Package `toml:"deps,omitempty"`
}

// System is what differs per system.
type System struct {
	Sources []Source          `toml:"sources,omitempty,inline"`
	Attrs   map[string]string `toml:"attrs,omitempty"`
}

// Source is one fixed-output input, identified by its content hash.
type Source struct {
	Kind    string `toml:"kind"`              // "gomod", "npm", "url", "deb"
	Name    string `toml:"name,omitempty"`    // module path, npm package name, file name
	Version string `toml:"version,omitempty"` // module or package version
	Path    string `toml:"path,omitempty"`    // where it goes: npm install path "node_modules/x"
	URL     string `toml:"url,omitempty"`     // registry-relative location, or a mirror:// URL
	Hash    string `toml:"hash"`              // h1:…, sha512-…, sha256-…
	ModHash string `toml:"mod-hash,omitempty"`
	// Group and Needs are a Debian package's source package (the debs of one group share a store
	// path) and the debs of the closure it depends on, space-separated.
	Group string `toml:"group,omitempty"`
	Needs string `toml:"needs,omitempty"`
}

// Get returns the package named name, or nil.
func (f *File) Get(name string) *Package {
	for _, p := range f.Packages {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Put replaces or adds p.
func (f *File) Put(p *Package) {
	for i, q := range f.Packages {
		if q.Name == p.Name {
			f.Packages[i] = p
			return
		}
	}
	f.Packages = append(f.Packages, p)
}

// Remove drops the package named name.
func (f *File) Remove(name string) {
	out := f.Packages[:0]
	for _, p := range f.Packages {
		if p.Name != name {
			out = append(out, p)
		}
	}
	f.Packages = out
}

// SourcesFor returns the package's sources on sys, shared and the system's own, in the lock's
// canonical order: a plan made from it must not depend on how the lock was put together.
func (p *Package) SourcesFor(sys string) []Source {
	out := append([]Source{}, p.Sources...)
	if s := p.Systems[sys]; s != nil {
		out = append(out, s.Sources...)
	}
	sortSources(out)
	return out
}

// Attr returns a package attribute overridden by the system's own, if it has one.
func (p *Package) Attr(sys, key string) string {
	if s := p.Systems[sys]; s != nil {
		if v, ok := s.Attrs[key]; ok {
			return v
		}
	}
	return p.Attrs[key]
}

// For is a deep copy of p locked only for the systems named (those of them it has): a project's
// node, as the dependency of a tool the project locks for fewer systems.
func (p *Package) For(systems []string) *Package {
	q := *p
	q.Attrs = maps.Clone(p.Attrs)
	q.Sources = slices.Clone(p.Sources)
	q.Systems = map[string]*System{}
	for _, name := range systems {
		if s := p.Systems[name]; s != nil {
			q.Systems[name] = &System{Sources: slices.Clone(s.Sources), Attrs: maps.Clone(s.Attrs)}
		}
	}
	q.Deps = nil
	for _, d := range p.Deps {
		q.Deps = append(q.Deps, d.For(systems))
	}
	return &q
}

// HasSystem reports whether the package is locked for sys.
func (p *Package) HasSystem(sys string) bool { _, ok := p.Systems[sys]; return ok }

// Factor moves sources that every system has into the package-level list, so a package whose
// sources do not depend on the system is written once.
func (p *Package) Factor() {
	if len(p.Systems) == 0 {
		return
	}
	count := map[Source]int{}
	for _, s := range p.Systems {
		seen := map[Source]bool{}
		for _, src := range s.Sources {
			if !seen[src] {
				seen[src] = true
				count[src]++
			}
		}
	}
	shared := map[Source]bool{}
	for src, n := range count {
		if n == len(p.Systems) {
			shared[src] = true
		}
	}
	if len(shared) == 0 {
		return
	}
	for src := range shared {
		p.Sources = append(p.Sources, src)
	}
	sortSources(p.Sources)
	for _, s := range p.Systems {
		rest := s.Sources[:0]
		for _, src := range s.Sources {
			if !shared[src] {
				rest = append(rest, src)
			}
		}
		s.Sources = rest
	}
}

func (p *Package) normalize() {
	sortSources(p.Sources)
	for _, s := range p.Systems {
		sortSources(s.Sources)
		if len(s.Attrs) == 0 {
			s.Attrs = nil
		}
	}
	if len(p.Attrs) == 0 {
		p.Attrs = nil
	}
	sort.Slice(p.Deps, func(i, j int) bool {
		if p.Deps[i].Name != p.Deps[j].Name {
			return p.Deps[i].Name < p.Deps[j].Name
		}
		return p.Deps[i].Target < p.Deps[j].Target
	})
	for _, d := range p.Deps {
		d.normalize()
	}
}

func sortSources(s []Source) {
	sort.Slice(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Hash < b.Hash
	})
}

const header = "# den.lock: generated by den from den.toml. Commit it with den.toml; do not edit it by hand.\n\n"

// Encode writes f deterministically: packages sorted by name, sources sorted, maps sorted.
func Encode(f *File) ([]byte, error) {
	f.Version = FormatVersion
	sort.Slice(f.Packages, func(i, j int) bool { return f.Packages[i].Name < f.Packages[j].Name })
	for _, p := range f.Packages {
		p.normalize()
	}
	sort.Slice(f.Targets, func(i, j int) bool { return f.Targets[i].System < f.Targets[j].System })
	for _, t := range f.Targets {
		sort.Slice(t.Packages, func(i, j int) bool { return t.Packages[i].Name < t.Packages[j].Name })
		for _, p := range t.Packages {
			p.normalize()
		}
	}
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(true)
	enc.SetArraysMultiline(true)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	// A blank line between packages, so each is a block of its own in diffs.
	out := bytes.ReplaceAll(buf.Bytes(), []byte("\n[[package]]"), []byte("\n\n[[package]]"))
	out = bytes.ReplaceAll(out, []byte("\n\n\n[[package]]"), []byte("\n\n[[package]]"))
	out = bytes.ReplaceAll(out, []byte("\n[[target]]"), []byte("\n\n[[target]]"))
	out = bytes.ReplaceAll(out, []byte("\n\n\n[[target]]"), []byte("\n\n[[target]]"))
	return out, nil
}

// Error is a den.lock that cannot be read.
type Error struct {
	File string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.File, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Hints says what to do about a broken lock.
func (e *Error) Hints() []string {
	return []string{"run den update to write a fresh den.lock from den.toml"}
}

// Decode reads den.lock strictly.
func Decode(name string, data []byte) (*File, error) {
	var f File
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) && len(sm.Errors) > 0 {
			e := sm.Errors[0]
			row, col := e.Position()
			return nil, &Error{File: name, Err: fmt.Errorf("%d:%d: unknown key %q", row, col, strings.Join(e.Key(), "."))}
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, &Error{File: name, Err: fmt.Errorf("%d:%d: %s", row, col, strings.TrimSpace(de.Error()))}
		}
		return nil, &Error{File: name, Err: err}
	}
	if f.Version != FormatVersion {
		return nil, &Error{File: name, Err: fmt.Errorf("lock format version %d is not %d, the one this den reads", f.Version, FormatVersion)}
	}
	return &f, nil
}

// Read loads den.lock from dir; a missing file gives an empty lock and exists=false.
func Read(dir string) (f *File, exists bool, err error) {
	name := filepath.Join(dir, FileName)
	data, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return &File{Version: FormatVersion}, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	f, err = Decode(name, data)
	return f, err == nil, err
}
