package gomod

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// UnzipModule unpacks a module zip into dest, which must be empty or absent. golang.org/x/mod/zip
// enforces the module zip rules as it goes: every file under module@version/, no "..", no case
// collisions, no links, declared and total sizes bounded. Files come out read-only.
func UnzipModule(zipFile, mod, version, dest string) error {
	return modzip.Unzip(dest, module.Version{Path: mod, Version: version}, zipFile)
}

// UnzipToolchain unpacks a golang.org/toolchain zip into dest and finishes it the way the go
// command does on first use. Module zips carry no file modes, so the commands lose their execute
// bits; the go command gives them back to every file under bin/ and pkg/tool/ and to lib's
// go_<goos>_<goarch>_exec wrappers. And since a go.mod would cut a module zip short, the zip holds
// GOROOT's go.mod files as _go.mod; each is copied back beside itself as go.mod, without which
// the go command does not recognise the standard library.
func UnzipToolchain(zipFile, version, dest string) error {
	if err := UnzipModule(zipFile, ToolchainModule, version, dest); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dest, "bin", "go")); err != nil {
		return fmt.Errorf("toolchain %s has no bin/go: %w", version, err)
	}
	if runtime.GOOS != "windows" {
		for _, rule := range []struct{ dir, pattern string }{
			{"pkg/tool", ""},
			{"lib", "go_?*_?*_exec"},
			{"bin", ""},
		} {
			if err := allowExec(filepath.Join(dest, filepath.FromSlash(rule.dir)), rule.pattern); err != nil {
				return fmt.Errorf("toolchain %s: %w", version, err)
			}
		}
	}
	err := filepath.WalkDir(dest, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "_go.mod" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(filepath.Dir(path), "go.mod"), data, 0o444)
	})
	if err != nil {
		return fmt.Errorf("toolchain %s: restoring go.mod files: %w", version, err)
	}
	return nil
}

// allowExec adds execute bits to the files under dir whose names match pattern ("" matches all).
// A missing dir is fine: not every toolchain has lib/.
func allowExec(dir, pattern string) error {
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if pattern != "" {
			if ok, _ := filepath.Match(pattern, d.Name()); !ok {
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.Chmod(path, info.Mode().Perm()|0o111)
	})
}
