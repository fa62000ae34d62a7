package build

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/den-sh/den/core/archive"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/fetch"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/npm"
)

// NPMDepsSuffix ends the name of a recipe's npm dependency tree.
const NPMDepsSuffix = "-npm-deps"

// NPMLockfile is the lockfile an npm dependency tree is laid out from, at the top of the
// recipe's source; the output keeps a copy, for the build to check it has the same one.
const NPMLockfile = "package-lock.json"

// npmDepsJobs bounds the tarball downloads of one tree that run at once.
const npmDepsJobs = 8

// npmDeps lays out at tmp the node_modules tree of the package-lock.json of d.Src, in den's own
// process: tmp/node_modules holds each locked tarball, fetched from the configured registry and
// checked against the lock's integrity, unpacked at its install path with npm's .bin links, and
// tmp/package-lock.json the lock itself. No npm runs and no package's install script either: the
// build that gets the tree is where code runs, offline. Then the tree's NAR hash is checked
// against npm-deps-hash.
//
// A tree and not an npm cache for `npm ci --offline`: the lock's "packages" map already is the
// tree npm would reify, so laying it out needs no npm in this fixed-output step and none in the
// build, which just copies it (a node from the index or the host is enough to run it).
func (b *Builder) npmDeps(ctx context.Context, d *derivation.Derivation, tmp string) error {
	if b.NPM == nil {
		return fmt.Errorf("%s: no npm configuration to find the registry", d.Name)
	}
	recipe := recipeOf(d, NPMDepsSuffix)
	work, err := os.MkdirTemp(filepath.Dir(tmp), ".npmdeps-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	src, err := b.npmSource(d, work)
	if err != nil {
		return err
	}
	lockData, err := os.ReadFile(filepath.Join(src, NPMLockfile))
	if errors.Is(err, fs.ErrNotExist) {
		return &npm.LockfileError{File: NPMLockfile, Msg: fmt.Sprintf("not found at the top of recipe %s's source, which its npm-deps-hash needs", recipe),
			Hint: "run npm install in the recipe's source to write one, and commit it"}
	}
	if err != nil {
		return err
	}
	cfg, err := b.NPM()
	if err != nil {
		return err
	}
	tarballs, err := npm.LockedTarballs(NPMLockfile, lockData, cfg)
	if err != nil {
		return fmt.Errorf("recipe %s: %w", recipe, err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "node_modules"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, NPMLockfile), lockData, 0o444); err != nil {
		return err
	}
	unpacked, err := b.fetchTarballs(ctx, tarballs, work)
	if err != nil {
		return fmt.Errorf("recipe %s: %w", recipe, err)
	}
	// Parents before the packages nested in them, which replace whatever a parent's tarball
	// had at their place, as npm's reify does.
	for i, t := range tarballs {
		if err := placePackage(unpacked[i], filepath.Join(tmp, filepath.FromSlash(t.Path))); err != nil {
			return fmt.Errorf("recipe %s: %s@%s: %w", recipe, t.Name, t.Version, err)
		}
	}
	if err := linkBins(tmp, tarballs); err != nil {
		return fmt.Errorf("recipe %s: %w", recipe, err)
	}
	got, _, err := nar.Hash(tmp)
	if err != nil {
		return err
	}
	if want, err := hash.Parse(d.OutputHash, ""); err != nil || !want.Equal(got) {
		return &InputHashError{Recipe: recipe, Key: "npm-deps-hash", What: "the node_modules of its " + NPMLockfile,
			Want: d.OutputHash, Got: got, Because: "its " + NPMLockfile}
	}
	return nil
}

// npmSource is the top of d's source: the store directory itself, or an archive unpacked in work.
func (b *Builder) npmSource(d *derivation.Derivation, work string) (string, error) {
	if fi, err := os.Stat(string(d.Src)); err != nil {
		return "", err
	} else if fi.IsDir() {
		return string(d.Src), nil
	}
	return b.unpack(d, work)
}

// fetchTarballs downloads and unpacks every tarball into a directory of its own under work,
// several at a time, and returns those directories in the order of ts.
func (b *Builder) fetchTarballs(ctx context.Context, ts []npm.LockedTarball, work string) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dirs := make([]string, len(ts))
	errs := make([]error, len(ts))
	sem := make(chan struct{}, npmDepsJobs)
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			dirs[i] = filepath.Join(work, fmt.Sprintf("%d", i))
			if errs[i] = b.fetchTarball(ctx, t, dirs[i]); errs[i] != nil {
				errs[i] = fmt.Errorf("%s@%s (%s): %w", t.Name, t.Version, t.Path, errs[i])
				cancel()
			}
		}()
	}
	wg.Wait()
	// The first failure, not the cancellations it caused.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	return dirs, errors.Join(errs...)
}

func (b *Builder) fetchTarball(ctx context.Context, t npm.LockedTarball, dest string) error {
	task := b.Progress.Start("downloading", t.Name+"@"+t.Version, 0)
	defer task.Done()
	var header map[string][]string
	if b.Auth != nil {
		if v := b.Auth(t.URL); v != "" {
			header = map[string][]string{"Authorization": {v}}
		}
	}
	res, err := fetch.Fetch(ctx, fetch.Request{
		URLs: []string{t.URL}, Hash: t.Integrity, Dir: filepath.Dir(dest), Client: b.Client,
		Progress: task.Set, Header: header,
		// A tarball pinned by sha1 alone is checked by it, and the whole tree by npm-deps-hash.
		LegacySHA1: true,
	})
	if err != nil {
		return err
	}
	defer os.Remove(res.Path)
	return archive.Unpack(res.Path, dest, archive.Limits{})
}

// placePackage moves an unpacked tarball to the package's install path. npm strips the first
// component of every entry ("package/" by convention, though some tarballs use another name),
// so the contents of each top directory become the package's; files at the top are dropped.
func placePackage(unpacked, target string) error {
	if err := os.RemoveAll(target); err != nil {
		return err
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	tops, err := os.ReadDir(unpacked)
	if err != nil {
		return err
	}
	for _, top := range tops {
		if !top.IsDir() {
			continue
		}
		dir := filepath.Join(unpacked, top.Name())
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			to := filepath.Join(target, e.Name())
			if _, err := os.Lstat(to); err == nil {
				return fmt.Errorf("its tarball has %s twice, under two top directories", e.Name())
			}
			if err := os.Rename(filepath.Join(dir, e.Name()), to); err != nil {
				return err
			}
		}
	}
	return nil
}

// linkBins writes npm's .bin links: each package's commands, in the node_modules directory it
// is installed in, link to their files, made executable as npm does. When two packages of one
// directory name the same command, the first by install path keeps it; a command whose file the
// package lacks is skipped, as npm skips it.
func linkBins(root string, ts []npm.LockedTarball) error {
	for _, t := range ts {
		names := make([]string, 0, len(t.Bin))
		for n := range t.Bin {
			names = append(names, n)
		}
		sort.Strings(names)
		pkgDir := filepath.FromSlash(t.Path)
		// The node_modules the package is in: the last one of its install path.
		nm := t.Path[:strings.LastIndex(t.Path, "node_modules/")+len("node_modules")]
		binDir := filepath.Join(root, filepath.FromSlash(nm), ".bin")
		for _, n := range names {
			rel := filepath.FromSlash(t.Bin[n]) // normalized: inside the package
			file := filepath.Join(root, pkgDir, rel)
			fi, err := os.Lstat(file)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if err := os.Chmod(file, fi.Mode().Perm()|0o555); err != nil {
				return err
			}
			if err := os.MkdirAll(binDir, 0o755); err != nil {
				return err
			}
			link := filepath.Join(binDir, n)
			if _, err := os.Lstat(link); err == nil {
				continue
			}
			target, err := filepath.Rel(binDir, file)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, link); err != nil {
				return err
			}
		}
	}
	return nil
}
