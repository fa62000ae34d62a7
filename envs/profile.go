// Package envs composes realized store paths into an environment: profiles, variables, and the
// generations kept in a project's .den directory.
//
// A profile is itself a store path: a symlink forest merging the packages' bin, man pages,
// pkg-config files and the like, plus den-env.json recording the packages and the variables they
// bring, so that activation reads one small file and never the lock. It is added by content with
// references to every package, so the same packages always give the same profile and the store's
// garbage collector keeps the packages exactly as long as the profile. A project points at its
// profile through numbered generations under .den/generations, each registered as an indirect GC
// root (gcroots/auto), with .den/current naming the one in use; switching and rolling back only
// repoint that link, so they are atomic and cheap. Deleting the project deletes the links, and
// the next collection frees what only that project used, as Nix does for result links.
package envs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
	"github.com/den-sh/den/envs/activate"
)

// Package is one realized package going into a profile.
type Package struct {
	Name string            `json:"name"`
	Out  storepath.Path    `json:"out"`
	Vars map[string]string `json:"vars,omitempty"` // set as given, e.g. GOROOT = Out
	// Defaults are set only where the user has not set them, e.g. GOTOOLCHAIN=local.
	Defaults map[string]string `json:"defaults,omitempty"`
}

// Profile is a built profile.
type Profile struct {
	Path     storepath.Path
	Packages []Package // in the order given to BuildProfile
}

// EnvFile is the file inside a profile that records its environment.
const EnvFile = activate.EnvFile

// mergedDirs are the directories of each package that a profile merges. Everything else in a
// package is reached through its own store path (GOROOT, say), never through the profile.
var mergedDirs = []string{
	"bin",
	"sbin",
	"share/man",
	"share/info",
	"share/aclocal",
	"lib/pkgconfig",
	"include",
	"etc/bash_completion.d",
	"share/zsh/site-functions",
	"share/fish/vendor_completions.d",
}

// ConflictError says two packages provide the same file of a profile with different content.
type ConflictError struct {
	File     string   // relative to the profile, e.g. "bin/node"
	Packages []string // the two packages, in the order given
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("packages %s and %s both provide %s; remove one of them", e.Packages[0], e.Packages[1], e.File)
}

// envFile is the JSON form of EnvFile. In Vars, relative entries of a prepended list are
// relative to the profile: a content-addressed path cannot spell its own name.
type envFile struct {
	Packages []Package `json:"packages"`
	Vars     []Var     `json:"vars"`
}

// BuildProfile makes the profile of pkgs, in that order, and adds it to the store under name.
// Every package must be valid in s. Callers that race a garbage collection hold pkgs, and then
// the profile, as temp roots until Switch has linked it.
func BuildProfile(s *store.Store, name string, pkgs []Package) (*Profile, error) {
	if err := storepath.CheckName(name); err != nil {
		return nil, err
	}
	refs := make([]storepath.Path, 0, len(pkgs))
	for _, pkg := range pkgs {
		if ok, err := s.IsValid(pkg.Out); err != nil {
			return nil, err
		} else if !ok {
			return nil, fmt.Errorf("package %s: %s is not in the store; realize it first", pkg.Name, pkg.Out)
		}
		refs = append(refs, pkg.Out)
	}
	// Assembled outside the store's temp area, which a concurrent collection empties; AddTree
	// copies it in.
	dir, err := os.MkdirTemp("", "den-profile-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tree := filepath.Join(dir, "profile")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return nil, err
	}
	owner := map[string]int{} // forest entry -> index of the package that put it there
	for i, pkg := range pkgs {
		for _, d := range mergedDirs {
			if err := link(tree, d, string(pkg.Out), i, pkgs, owner, 0); err != nil {
				return nil, err
			}
		}
	}
	vars, err := activate.PackageVars(tree, activatePackages(pkgs), true)
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(envFile{Packages: nonNil(pkgs), Vars: vars}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tree, EnvFile), append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	p, err := s.AddTree(tree, name, refs)
	if err != nil {
		return nil, fmt.Errorf("add profile: %w", err)
	}
	return &Profile{Path: p, Packages: pkgs}, nil
}

func nonNil(pkgs []Package) []Package {
	if pkgs == nil {
		return []Package{}
	}
	return pkgs
}

// link mirrors pkgDir/rel into tree/rel: real directories, and a symlink per file pointing at the
// package's absolute path of that file. owner records which package made each entry.
func link(tree, rel, pkgDir string, i int, pkgs []Package, owner map[string]int, depth int) error {
	src := filepath.Join(pkgDir, rel)
	fi, err := os.Stat(src) // a package's bin may itself be a link to a directory
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return nil
	}
	if depth > 40 {
		return fmt.Errorf("package %s: %s is nested too deeply (a symlink loop?)", pkgs[i].Name, rel)
	}
	if err := mkdir(tree, rel, i, pkgs, owner); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		r := filepath.Join(rel, e.Name())
		p := filepath.Join(pkgDir, r)
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				isDir = true
			}
		}
		if isDir {
			if err := link(tree, r, pkgDir, i, pkgs, owner, depth+1); err != nil {
				return err
			}
			continue
		}
		dst := filepath.Join(tree, r)
		if j, taken := owner[r]; taken {
			if sameTarget(dst, p) {
				continue
			}
			return &ConflictError{File: r, Packages: []string{pkgs[j].Name, pkgs[i].Name}}
		}
		if err := os.Symlink(p, dst); err != nil {
			return err
		}
		owner[r] = i
	}
	return nil
}

// mkdir makes the forest directory rel unless a file of an earlier package is there already.
func mkdir(tree, rel string, i int, pkgs []Package, owner map[string]int) error {
	dst := filepath.Join(tree, rel)
	if fi, err := os.Lstat(dst); err == nil {
		if fi.IsDir() {
			return nil
		}
		return &ConflictError{File: rel, Packages: []string{pkgs[owner[rel]].Name, pkgs[i].Name}}
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	owner[rel] = i // so that a later package's file of that name is a conflict
	return nil
}

// sameTarget reports whether the forest link dst and the package file p are the same file in
// the end, as when two packages link one shared store file.
func sameTarget(dst, p string) bool {
	a, err1 := filepath.EvalSymlinks(dst)
	b, err2 := filepath.EvalSymlinks(p)
	return err1 == nil && err2 == nil && a == b
}

// ReadProfile reads the packages a profile was built from (with activate.ReadProfile, which the
// launcher uses too).
func ReadProfile(p storepath.Path) (*Profile, error) {
	pkgs, err := activate.ReadProfile(string(p))
	if err != nil {
		return nil, err
	}
	prof := &Profile{Path: p}
	for _, pkg := range pkgs {
		prof.Packages = append(prof.Packages, Package{Name: pkg.Name, Out: storepath.Path(pkg.Out), Vars: pkg.Vars, Defaults: pkg.Defaults})
	}
	return prof, nil
}
