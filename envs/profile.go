// Package envs composes realized store paths into an environment: profiles, variables, and the
// generations kept in a project's .den directory.
//
// A profile is itself a store path: a symlink forest merging the packages' bin, man pages,
// pkg-config files and the like, plus den-env.json recording the packages and the variables they
// bring, so that activation reads one small file and never the lock. Its path is that of a
// derivation output, input-addressed: the hash of the packages (names, store paths, variables, in
// order) and of the layout's format, as Nix's buildEnv profiles are derivation outputs. Store
// paths never change, so the forest of the same packages is the same forest, and a command whose
// profile is valid already reuses it after one lookup instead of linking thousands of files again
// to find the path they hash to; adding by content would have to walk every package to learn
// its path. The forest's references to the packages are scanned when it is registered, as for any
// build, so the garbage collector keeps the packages exactly as long as the profile. A project points at its
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

	"github.com/den-sh/den/core/hash"
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
	// Debian's multiarch dirs: a C library's headers, .so and .pc files there, for a compiler
	// and pkg-config that the environment points at them (LIBRARY_PATH, CPATH).
	"lib/x86_64-linux-gnu",
	"lib/aarch64-linux-gnu",
	"lib/arm-linux-gnueabihf",
	"lib/i386-linux-gnu",
	"share/pkgconfig",
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
// relative to the profile.
type envFile struct {
	Packages []Package `json:"packages"`
	Vars     []Var     `json:"vars"`
}

// profileFormat names the way BuildProfile lays a profile out, and enters every profile's path
// with the merged directories: a den that builds the forest or den-env.json differently for the
// same packages must get new paths, not reuse the old layout. Change it with any such change.
const profileFormat = "den-profile-1"

// ProfilePath is the store path of the profile of pkgs, in that order, named name: computed
// from the packages alone, without looking at them.
func ProfilePath(storeDir, name string, pkgs []Package) (storepath.Path, error) {
	data, err := json.Marshal(struct {
		Format   string    `json:"format"`
		Merged   []string  `json:"merged"`
		Packages []Package `json:"packages"` // maps are encoded sorted
	}{profileFormat, mergedDirs, nonNil(pkgs)})
	if err != nil {
		return "", err
	}
	return storepath.Output(storeDir, hash.Sum(hash.SHA256, data), "out", name)
}

// BuildProfile makes the profile of pkgs, in that order, named name, unless the store has it
// already (see ProfilePath). Every package must be valid in s. Callers that race a garbage
// collection hold pkgs, and the profile's path, as temp roots until Switch has linked it.
func BuildProfile(s *store.Store, name string, pkgs []Package) (*Profile, error) {
	p, err := ProfilePath(s.Dir, name, pkgs)
	if err != nil {
		return nil, err
	}
	// A valid profile's references, the packages, are valid too: the store registers nothing
	// whose closure is incomplete.
	if ok, err := s.IsValid(p); err != nil {
		return nil, err
	} else if ok {
		return &Profile{Path: p, Packages: pkgs}, nil
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
	// Built in the store's temp area under the store's locks (a collection waits for it) and
	// published as any build output is: made read-only, hashed, its references scanned.
	_, err = s.Ensure(p, func(tree string) (string, store.Publish, error) {
		return tree, store.Publish{Candidates: refs}, writeProfile(tree, pkgs)
	})
	if err != nil {
		return nil, fmt.Errorf("build profile: %w", err)
	}
	return &Profile{Path: p, Packages: pkgs}, nil
}

// writeProfile lays out the profile of pkgs at tree, which does not exist yet.
func writeProfile(tree string, pkgs []Package) error {
	if err := os.Mkdir(tree, 0o755); err != nil {
		return err
	}
	owner := map[string]int{} // forest entry -> index of the package that put it there
	for i, pkg := range pkgs {
		for _, d := range mergedDirs {
			if err := link(tree, d, string(pkg.Out), i, pkgs, owner, 0); err != nil {
				return err
			}
		}
	}
	vars, err := activate.PackageVars(tree, activatePackages(pkgs), true)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(envFile{Packages: nonNil(pkgs), Vars: vars}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(tree, EnvFile), append(data, '\n'), 0o644)
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
