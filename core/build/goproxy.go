package build

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/storepath"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	modzip "golang.org/x/mod/zip"
)

// A Go build gets its modules the way the go command likes best: from a module proxy. The
// modules are already in the store (fixed outputs verified against the lock's h1: hashes), so
// den lays them out as a file:// proxy in the build directory before the sandbox starts, and the
// go command inside resolves, verifies against go.sum and unpacks them with no network at all.
// The store keeps modules unpacked (BuilderGoModule outputs), so each zip is made again from its
// tree with golang.org/x/mod/zip. The h1: hash covers only file names and contents, not zip metadata, so
// the rebuilt zip hashes exactly as the one the checksum database recorded.

// goProxyDir is the proxy's directory under the build directory.
const goProxyDir = "goproxy"

// prepareGoProxy writes mods as a module proxy under buildDir and returns the environment that
// points the go command at it: offline, with the module cache and build cache inside the build
// dir, and no checksum database (every file was verified against den.lock when it entered the
// store). The environment names the build dir as the build sees it, at seen.
func prepareGoProxy(mods []derivation.GoModuleInput, buildDir, seen string) (map[string]string, error) {
	root := filepath.Join(buildDir, goProxyDir)
	versions := map[string][]string{}
	for _, m := range mods {
		if err := module.Check(m.Module, m.Version); err != nil {
			return nil, err
		}
		if m.Mod == "" && m.Dir == "" {
			return nil, fmt.Errorf("%s@%s: a Go module input with neither go.mod nor source", m.Module, m.Version)
		}
		escMod, err := module.EscapePath(m.Module)
		if err != nil {
			return nil, err
		}
		escVer, err := module.EscapeVersion(m.Version)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(root, filepath.FromSlash(escMod), "@v")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		info, err := json.Marshal(struct{ Version string }{m.Version})
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, escVer+".info"), info, 0o644); err != nil {
			return nil, err
		}
		if m.Mod != "" {
			mod, err := os.ReadFile(string(m.Mod))
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(dir, escVer+".mod"), mod, 0o644); err != nil {
				return nil, err
			}
		}
		if m.Dir != "" {
			if err := zipModule(m, filepath.Join(dir, escVer+".zip")); err != nil {
				return nil, err
			}
		}
		versions[dir] = append(versions[dir], m.Version)
	}
	// list and @latest answer what the go command asks beyond exact versions: the newest version
	// of the program's module, whose go.mod says whether the one installed is retracted. Only
	// versions the lock holds are listed, so the go command finds what it found at lock time.
	for dir, vs := range versions {
		semver.Sort(vs)
		if err := os.WriteFile(filepath.Join(dir, "list"), []byte(strings.Join(vs, "\n")+"\n"), 0o644); err != nil {
			return nil, err
		}
		latest, err := json.Marshal(struct{ Version string }{vs[len(vs)-1]})
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "@latest"), latest, 0o644); err != nil {
			return nil, err
		}
	}
	gopath := filepath.Join(seen, "go")
	return map[string]string{
		"GOPROXY":     "file://" + filepath.ToSlash(filepath.Join(seen, goProxyDir)),
		"GOSUMDB":     "off",
		"GOFLAGS":     "-mod=mod",
		"GOTOOLCHAIN": "local",
		"GOENV":       "off",
		"GOTELEMETRY": "off",
		"GOPATH":      gopath,
		"GOMODCACHE":  filepath.Join(gopath, "pkg", "mod"),
		"GOCACHE":     filepath.Join(seen, "go-build"),
		"CGO_ENABLED": "0",
	}, nil
}

// zipModule writes the module zip of m's unpacked tree to dest.
func zipModule(m derivation.GoModuleInput, dest string) error {
	f, err := os.Create(dest)
	if err != nil {
		return err
	}
	err = modzip.CreateFromDir(f, module.Version{Path: m.Module, Version: m.Version}, string(m.Dir))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s@%s: %w", m.Module, m.Version, err)
	}
	return nil
}

// goModulePaths are the store paths of d's Go modules. They are inputs, but not programs: a
// module that happens to have a bin directory must not land on the build's PATH.
func goModulePaths(d *derivation.Derivation) map[storepath.Path]bool {
	paths := map[storepath.Path]bool{}
	for _, m := range d.GoModules {
		paths[m.Mod] = true
		if m.Dir != "" {
			paths[m.Dir] = true
		}
	}
	return paths
}
