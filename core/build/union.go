package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// candidates are the paths an output built from d may refer to: the closure of its inputs.
func (b *Builder) candidates(d *derivation.Derivation) ([]storepath.Path, error) {
	closure, err := b.Store.Closure(d.References()...)
	if err != nil {
		return nil, err
	}
	out := make([]storepath.Path, 0, len(closure))
	for _, c := range closure {
		out = append(out, c.Path)
	}
	return out, nil
}

// buildUnion merges the trees of d's paths into tmp: directories are made, everything else is a
// symbolic link to the first path that has it. A path that is itself a link to a directory is
// merged as that directory, so that two packages' lib/ both come through.
func (b *Builder) buildUnion(d *derivation.Derivation, tmp string) (string, store.Publish, error) {
	cands, err := b.candidates(d)
	if err != nil {
		return tmp, store.Publish{}, err
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return tmp, store.Publish{}, err
	}
	for _, p := range strings.Fields(d.Env["paths"]) {
		if filepath.Dir(p) != b.Store.Dir {
			return tmp, store.Publish{}, fmt.Errorf("%s: %s is not a store path", d.Name, p)
		}
		if err := unionInto(tmp, p, 0); err != nil {
			return tmp, store.Publish{}, fmt.Errorf("%s: merging %s: %w", d.Name, p, err)
		}
	}
	for _, l := range strings.Fields(d.Env["links"]) {
		name, target, ok := strings.Cut(l, "=")
		if !ok || !filepath.IsLocal(name) || strings.Contains(target, "/") || target == "" {
			return tmp, store.Publish{}, fmt.Errorf("%s: bad link %q", d.Name, l)
		}
		at := filepath.Join(tmp, name)
		if _, err := os.Lstat(at); err == nil {
			continue // a package has it
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(at), target)); err != nil {
			continue // nothing to point at
		}
		if err := os.Symlink(target, at); err != nil {
			return tmp, store.Publish{}, err
		}
	}
	for _, dir := range strings.Fields(d.Env["command-dirs"]) {
		if err := linkCommands(tmp, dir); err != nil {
			return tmp, store.Publish{}, fmt.Errorf("%s: %w", d.Name, err)
		}
	}
	return tmp, store.Publish{Candidates: cands}, nil
}

// linkCommands links every executable file of dir (relative to the union's root) into bin/,
// with a relative link, unless bin/ has that name already.
func linkCommands(root, dir string) error {
	if !filepath.IsLocal(dir) || filepath.Clean(dir) != dir || dir == "bin" {
		return fmt.Errorf("bad command directory %q", dir)
	}
	entries, err := os.ReadDir(filepath.Join(root, dir))
	if err != nil {
		return fmt.Errorf("command directory %s: %w (does the package have it?)", dir, err)
	}
	bin := filepath.Join(root, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if fi, err := os.Lstat(bin); err != nil || !fi.IsDir() {
		return fmt.Errorf("bin is not a directory of the union, so %s cannot be linked into it", dir)
	}
	n := 0
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(root, dir, e.Name()))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		n++
		at := filepath.Join(bin, e.Name())
		if _, err := os.Lstat(at); err == nil {
			continue // a package has it
		}
		if err := os.Symlink(filepath.Join("..", dir, e.Name()), at); err != nil {
			return err
		}
	}
	if n == 0 {
		return fmt.Errorf("command directory %s has no executables", dir)
	}
	return nil
}

func unionInto(dst, src string, depth int) error {
	if depth > 64 {
		return fmt.Errorf("%s: directories nested too deep", src)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		s, t := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		sDir := isDir(s)
		fi, err := os.Lstat(t)
		switch {
		case err == nil && fi.IsDir() && sDir:
			if err := unionInto(t, s, depth+1); err != nil {
				return err
			}
		case err == nil && fi.Mode()&fs.ModeSymlink != 0 && sDir && isDir(t):
			// Two packages have this directory: replace the first one's link by a directory
			// holding both.
			first, err := filepath.EvalSymlinks(t)
			if err != nil {
				return err
			}
			if err := os.Remove(t); err != nil {
				return err
			}
			if err := os.Mkdir(t, 0o755); err != nil {
				return err
			}
			if err := unionInto(t, first, depth+1); err != nil {
				return err
			}
			if err := unionInto(t, s, depth+1); err != nil {
				return err
			}
		case err == nil:
			// The first package's file wins.
		case sDir && e.Type()&fs.ModeSymlink == 0 && depth == 0:
			// Top-level directories are always real, so a later package can join them.
			if err := os.Mkdir(t, 0o755); err != nil {
				return err
			}
			if err := unionInto(t, s, depth+1); err != nil {
				return err
			}
		default:
			if err := os.Symlink(s, t); err != nil {
				return err
			}
		}
	}
	return nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
