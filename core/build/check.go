package build

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/sandbox"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// CheckSuffix is added to a path's name for the rebuild that --check keeps when it differs, as
// Nix keeps <path>.check: named like a store path, it is debris to den store gc.
const CheckSuffix = ".check"

// NotBuiltError says a path to check is not valid: there is nothing to compare a rebuild with.
type NotBuiltError struct {
	Name string
	Path storepath.Path
}

func (e *NotBuiltError) Error() string {
	return fmt.Sprintf("%s is not built yet (%s); run den build %s first", e.Name, e.Path, e.Name)
}

// Difference is one file that differs between a valid path and its rebuild.
type Difference struct {
	Path string // relative to the output's root; "." is the root itself
	What string // "content", "mode", "link target", "type", "only in the store", "only in the rebuild"
}

// NotReproducibleError says a rebuild gave another NAR hash than the valid path's.
type NotReproducibleError struct {
	Path        storepath.Path
	Want, Got   string       // the registered NAR hash and the rebuild's
	Kept        string       // where the rebuild is kept
	Differences []Difference // the first few files that differ, in path order
	More        int          // how many more differ
}

func (e *NotReproducibleError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s is not reproducible: the rebuild's NAR hash is %s, the store's %s", e.Path, e.Got, e.Want)
	if len(e.Differences) > 0 {
		sb.WriteString("; differing files:")
	}
	for _, d := range e.Differences {
		if strings.HasPrefix(d.What, "only") {
			fmt.Fprintf(&sb, "\n  %s (%s)", d.Path, d.What)
		} else {
			fmt.Fprintf(&sb, "\n  %s (%s differs)", d.Path, d.What)
		}
	}
	if e.More > 0 {
		fmt.Fprintf(&sb, "\n  and %d more", e.More)
	}
	return sb.String()
}

// Hints say where the rebuild is.
func (e *NotReproducibleError) Hints() []string {
	return []string{"the rebuild is kept at " + e.Kept + " (compare: diff -r " + string(e.Path) + " " + e.Kept + ")"}
}

// maxDifferences bounds the files a NotReproducibleError lists.
const maxDifferences = 10

// Check rebuilds d, whose output must be valid, and compares the rebuild's NAR hash with the
// registered one, as Nix's --check: a build script runs again with the same inputs (realized
// first if they were collected), a download is downloaded again and verified. d's output is
// left as it is. On a difference the rebuild is kept at the output's path plus CheckSuffix and
// a *NotReproducibleError lists the files that differ.
//
// In the sandbox the rebuild appears to its script at the output's own path, as the first
// build did. Without one the script must write where $out says, and the output's path is taken;
// the rebuild then writes a path of the same length with another hash part, which is replaced
// by the output's in every file and link afterwards (Nix's hash rewriting for the same case).
func (b *Builder) Check(ctx context.Context, d *derivation.Derivation) error {
	b.mu.Lock()
	b.start()
	b.mu.Unlock()
	if err := b.TempRoots.Add(d.Out); err != nil {
		return err
	}
	info, err := b.Store.Info(d.Out)
	if err != nil {
		return err
	}
	if info == nil {
		return &NotBuiltError{Name: strings.TrimSuffix(d.Name, "-"+d.Version), Path: d.Out}
	}
	want, err := hash.Parse(info.NarHash, "")
	if err != nil {
		return fmt.Errorf("%s: its registered NAR hash: %w", d.Out, err)
	}
	if err := b.checkNative(d); err != nil {
		return err
	}
	if err := b.realizeNeeds(ctx, d); err != nil {
		return err
	}
	release, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	// The shared GC lock keeps a collection from taking the output or the rebuild meanwhile.
	unlockGC, err := b.Store.Adding()
	if err != nil {
		return err
	}
	defer unlockGC()
	dir, err := b.Store.NewTemp(d.Out.HashPart() + "-check")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "out")
	if err := b.rebuild(ctx, d, tmp); err != nil {
		return err
	}
	got, _, err := nar.Hash(tmp)
	if err != nil {
		return err
	}
	kept := string(d.Out) + CheckSuffix
	if got.Equal(want) {
		return removeIfExists(kept) // an older, differing rebuild is stale now
	}
	diffs, err := compareTrees(string(d.Out), tmp)
	if err != nil {
		return err
	}
	if err := removeIfExists(kept); err != nil {
		return err
	}
	if err := os.Rename(tmp, kept); err != nil {
		return err
	}
	e := &NotReproducibleError{Path: d.Out, Want: want.String(), Got: got.String(), Kept: kept, Differences: diffs}
	if len(diffs) > maxDifferences {
		e.Differences, e.More = diffs[:maxDifferences], len(diffs)-maxDifferences
	}
	return e
}

// rebuild produces d's output again at tmp.
func (b *Builder) rebuild(ctx context.Context, d *derivation.Derivation, tmp string) error {
	if d.IsFixed() {
		var err error
		switch d.Builder {
		case derivation.BuilderFetch:
			err = b.fetch(ctx, d, tmp)
		case derivation.BuilderGoVendor:
			err = b.vendor(ctx, d, tmp)
		case derivation.BuilderNPMDeps:
			err = b.npmDeps(ctx, d, tmp)
		default:
			err = b.fetchGo(ctx, d, tmp)
		}
		if err != nil {
			return fmt.Errorf("downloading %s again: %w", d.Name, err)
		}
		return nil
	}
	mode, err := b.sandboxMode()
	if err != nil {
		return err
	}
	run := scriptRun{out: string(d.Out), outHost: tmp, logTag: CheckSuffix}
	if mode != sandbox.ModeOff {
		_, err := b.runScript(ctx, d, mode, run)
		return err
	}
	stand, err := standIn(d.Out)
	if err != nil {
		return err
	}
	run.out, run.outHost = string(stand), string(stand)
	defer removeIfExists(string(stand))
	if _, err := b.runScript(ctx, d, mode, run); err != nil {
		return err
	}
	if err := rewriteHashPart(string(stand), stand.HashPart(), d.Out.HashPart()); err != nil {
		return fmt.Errorf("%s: rewriting the rebuild's path: %w", d.Name, err)
	}
	return os.Rename(string(stand), tmp)
}

// standIn is a path of the store dir with p's name and a random hash part: where an unsandboxed
// rebuild writes. If den is killed, it is debris that den store gc removes.
func standIn(p storepath.Path) (storepath.Path, error) {
	var r [20]byte
	rand.Read(r[:])
	part := hash.EncodeNix32(r[:])[:storepath.HashLen]
	sp := storepath.Path(filepath.Join(p.Dir(), part+"-"+p.Name()))
	if _, err := os.Lstat(string(sp)); err == nil {
		return "", fmt.Errorf("%s exists already", sp)
	}
	return sp, nil
}

// rewriteHashPart replaces from with to (the same length) in every file and link under root.
func rewriteHashPart(root, from, to string) error {
	old, repl := []byte(from), []byte(to)
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil || !strings.Contains(target, from) {
				return err
			}
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink(strings.ReplaceAll(target, from, to), p)
		case e.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil || !bytes.Contains(data, old) {
				return err
			}
			fi, err := e.Info()
			if err != nil {
				return err
			}
			if err := os.Chmod(p, fi.Mode().Perm()|0o200); err != nil {
				return err
			}
			if err := os.WriteFile(p, bytes.ReplaceAll(data, old, repl), 0); err != nil {
				return err
			}
			return os.Chmod(p, fi.Mode().Perm())
		}
		return nil
	})
}

// compareTrees lists the files that differ between two trees, as NAR sees them: the kind, the
// executable bit, the content and a link's target.
func compareTrees(store, rebuild string) ([]Difference, error) {
	a, err := listTree(store)
	if err != nil {
		return nil, err
	}
	b, err := listTree(rebuild)
	if err != nil {
		return nil, err
	}
	var diffs []Difference
	for rel, fa := range a {
		fb, ok := b[rel]
		if !ok {
			diffs = append(diffs, Difference{Path: rel, What: "only in the store"})
			continue
		}
		if what, err := differs(filepath.Join(store, rel), fa, filepath.Join(rebuild, rel), fb); err != nil {
			return nil, err
		} else if what != "" {
			diffs = append(diffs, Difference{Path: rel, What: what})
		}
	}
	for rel := range b {
		if _, ok := a[rel]; !ok {
			diffs = append(diffs, Difference{Path: rel, What: "only in the rebuild"})
		}
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i].Path < diffs[j].Path })
	return diffs, nil
}

func listTree(root string) (map[string]fs.FileMode, error) {
	out := map[string]fs.FileMode{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := e.Info()
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = fi.Mode()
		return nil
	})
	return out, err
}

func differs(pa string, ma fs.FileMode, pb string, mb fs.FileMode) (string, error) {
	if ma.Type() != mb.Type() {
		return "type", nil
	}
	switch {
	case ma.Type()&fs.ModeSymlink != 0:
		ta, err := os.Readlink(pa)
		if err != nil {
			return "", err
		}
		tb, err := os.Readlink(pb)
		if err != nil {
			return "", err
		}
		if ta != tb {
			return "link target", nil
		}
	case ma.IsRegular():
		if (ma&0o100 != 0) != (mb&0o100 != 0) {
			return "mode", nil
		}
		da, err := os.ReadFile(pa)
		if err != nil {
			return "", err
		}
		db, err := os.ReadFile(pb)
		if err != nil {
			return "", err
		}
		if !bytes.Equal(da, db) {
			return "content", nil
		}
	}
	return "", nil
}

// removeIfExists removes a tree that may be read-only, if it exists.
func removeIfExists(p string) error {
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return store.RemoveTree(p)
}
