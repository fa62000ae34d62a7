package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/den-sh/den/core/config"
	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/progress"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// StoreCmd groups the store's maintenance commands.
type StoreCmd struct {
	Add      StoreAddCmd      `cmd:"" help:"Add files or directories to the store by content and print their paths."`
	Dump     StoreDumpCmd     `cmd:"" help:"Write the NAR serialization of a path to stdout."`
	Hash     StoreHashCmd     `cmd:"" help:"Print the NAR hash of a path (like nix-hash --type sha256)."`
	PathInfo StorePathInfoCmd `cmd:"" name:"path-info" help:"Show the hash, size and references of store paths."`
	Verify   StoreVerifyCmd   `cmd:"" help:"Report store paths that are missing or whose contents changed."`
	GC       StoreGCCmd       `cmd:"" name:"gc" help:"Delete store paths not reachable from a GC root, and den's debris."`
	Optimise StoreOptimiseCmd `cmd:"" help:"Hard-link identical files in the store."`
	Copy     StoreCopyCmd     `cmd:"" help:"Copy this store's downloads into another store dir (moving to /den/store)."`
}

// StoreCopyCmd is den store copy: what a store holds that can move to another store dir. A path's
// hash names its store dir, and a build's files may too (RUNPATHs, scripts), so only downloads
// (fixed-output paths, which reference nothing) move, each at its path in the other dir, checked
// by its NAR hash; den sync there builds the rest from them without the network.
type StoreCopyCmd struct {
	To      string   `required:"" placeholder:"STORE_DIR" help:"The store dir to copy into: /den/store, or any other."`
	ToState string   `name:"to-state" placeholder:"DIR" help:"Its state dir (default: /den/var for the shared store, else required)."`
	Paths   []string `arg:"" optional:"" name:"path" help:"Store paths whose closures to copy (default: every valid path)."`
}

func (c *StoreCopyCmd) Run(a *App) error {
	cfg, err := a.Config()
	if err != nil {
		return err
	}
	src, err := a.Store()
	if err != nil {
		return err
	}
	to := filepath.Clean(c.To)
	if !filepath.IsAbs(to) {
		return &usageError{err: fmt.Errorf("--to %s: the store dir must be an absolute path", c.To)}
	}
	if to == src.Dir {
		return &usageError{err: fmt.Errorf("--to %s is this store", c.To)}
	}
	state := c.ToState
	if state == "" {
		if to != config.SharedStore(cfg.Root) {
			return &usageError{err: fmt.Errorf("--to %s: say which state dir owns it with --to-state", c.To),
				hints: []string{"only the shared store " + config.SharedStore(cfg.Root) + " has a state dir den knows (" + config.SharedState(cfg.Root) + ")"}}
		}
		state = config.SharedState(cfg.Root)
	}
	dst, err := store.Open(to, state)
	if err != nil {
		return err
	}
	if err := dst.Writable(); err != nil {
		return err
	}
	var infos []store.PathInfo
	if len(c.Paths) == 0 {
		infos, err = src.All()
	} else {
		var ps []storepath.Path
		for _, arg := range c.Paths {
			p, err := src.ParsePath(arg)
			if err != nil {
				return &usageError{err: err}
			}
			ps = append(ps, p)
		}
		infos, err = src.Closure(ps...)
	}
	if err != nil {
		return err
	}
	roots, err := dst.TempRoots()
	if err != nil {
		return err
	}
	defer roots.Close()
	copied, there, left := 0, 0, 0
	for _, info := range infos {
		if filepath.Dir(string(info.Path)) != src.Dir {
			continue
		}
		if _, ok := store.FixedPathIn(to, info); !ok {
			left++
			continue
		}
		p, made, err := dst.CopyFixed(info)
		if err != nil {
			return err
		}
		roots.Add(p)
		if made {
			copied++
			if a.Globals.Verbose {
				fmt.Fprintf(a.Stderr, "copied %s\n", p)
			}
		} else {
			there++
		}
	}
	fmt.Fprintf(a.Stderr, "%d download(s) copied to %s, %d already there; %d path(s) that may name their store dir (builds, environments, derivations) stay: den sync in each project makes them there from these\n", copied, to, there, left)
	return nil
}

// StoreAddCmd is den store add.
type StoreAddCmd struct {
	Paths []string `arg:"" type:"existingfile|existingdir" name:"path" help:"Files or directories to add."`
	Name  string   `help:"Store name to use instead of the file's base name (one path only)."`
}

func (c *StoreAddCmd) Run(a *App) error {
	s, err := a.Store()
	if err != nil {
		return err
	}
	if c.Name != "" && len(c.Paths) > 1 {
		return &usageError{err: fmt.Errorf("--name applies to one path, got %d", len(c.Paths))}
	}
	for _, p := range c.Paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		name := c.Name
		if name == "" {
			name = filepath.Base(abs)
			if err := storepath.CheckName(name); err != nil {
				return &usageError{err: fmt.Errorf("%s: %v", p, err), hints: []string{"pass --name to choose a valid store name"}}
			}
		}
		sp, err := s.AddPath(abs, name)
		if err != nil {
			return err
		}
		a.roots.Add(sp)
		fmt.Fprintln(a.Stdout, sp)
	}
	return nil
}

// StoreDumpCmd is den store dump.
type StoreDumpCmd struct {
	Path string `arg:"" help:"A path (in the store or not) to serialize."`
}

func (c *StoreDumpCmd) Run(a *App) error {
	w := bufio.NewWriterSize(a.Stdout, 1<<20)
	if err := nar.Dump(w, c.Path); err != nil {
		return err
	}
	return w.Flush()
}

// StoreHashCmd is den store hash.
type StoreHashCmd struct {
	Paths  []string `arg:"" name:"path" help:"Paths (in the store or not) to hash."`
	Format string   `default:"nix32" enum:"nix32,sri,hex" help:"Spelling of the hash: nix32 (sha256:…), sri or hex."`
}

func (c *StoreHashCmd) Run(a *App) error {
	for _, p := range c.Paths {
		h, _, err := nar.Hash(p)
		if err != nil {
			return err
		}
		switch c.Format {
		case "sri":
			fmt.Fprintln(a.Stdout, h.SRI())
		case "hex":
			fmt.Fprintln(a.Stdout, h.Hex())
		default:
			fmt.Fprintln(a.Stdout, h.String())
		}
	}
	return nil
}

// storePaths turns arguments into valid store paths; a path inside a store path, or a symlink
// into the store (a GC root, a profile link), names the store path.
func storePaths(s *store.Store, args []string) ([]storepath.Path, error) {
	var out []storepath.Path
	for _, arg := range args {
		p := arg
		if real, err := filepath.EvalSymlinks(arg); err == nil {
			p = real
		} else if abs, err := filepath.Abs(arg); err == nil {
			p = abs
		}
		sp, err := s.ParsePath(p)
		if err != nil {
			return nil, &usageError{err: err}
		}
		info, err := s.Info(sp)
		if err != nil {
			return nil, err
		}
		if info == nil {
			return nil, &usageError{err: fmt.Errorf("%s is not a valid store path", sp)}
		}
		out = append(out, sp)
	}
	return out, nil
}

// StorePathInfoCmd is den store path-info.
type StorePathInfoCmd struct {
	Paths   []string `arg:"" name:"path" help:"Store paths."`
	JSON    bool     `help:"Print JSON, with the field names of nix path-info --json."`
	Closure bool     `short:"r" help:"Include everything the paths reference, transitively."`
	Size    bool     `short:"S" help:"Show the closure size of each path."`
}

type pathInfoJSON struct {
	store.PathInfo
	ClosureSize int64 `json:"closureSize,omitempty"`
}

func (c *StorePathInfoCmd) Run(a *App) error {
	s, err := a.Store()
	if err != nil {
		return err
	}
	paths, err := storePaths(s, c.Paths)
	if err != nil {
		return err
	}
	var infos []store.PathInfo
	if c.Closure {
		infos, err = s.Closure(paths...)
	} else {
		for _, p := range paths {
			var info *store.PathInfo
			info, err = s.Info(p)
			if err != nil {
				break
			}
			infos = append(infos, *info)
		}
	}
	if err != nil {
		return err
	}
	rows := make([]pathInfoJSON, len(infos))
	for i, info := range infos {
		rows[i].PathInfo = info
		if info.References == nil {
			rows[i].References = []storepath.Path{}
		}
		if c.Size {
			cl, err := s.Closure(info.Path)
			if err != nil {
				return err
			}
			for _, x := range cl {
				rows[i].ClosureSize += x.NarSize
			}
		}
	}
	if c.JSON {
		enc := json.NewEncoder(a.Stdout)
		return enc.Encode(rows)
	}
	for _, r := range rows {
		if c.Size {
			fmt.Fprintf(a.Stdout, "%s\t%s\t%d\t%d\n", r.Path, r.NarHash, r.NarSize, r.ClosureSize)
		} else {
			fmt.Fprintf(a.Stdout, "%s\t%s\t%d\n", r.Path, r.NarHash, r.NarSize)
		}
		if a.Globals.Verbose {
			for _, ref := range r.References {
				fmt.Fprintf(a.Stdout, "  -> %s\n", ref)
			}
		}
	}
	return nil
}

// StoreVerifyCmd is den store verify.
type StoreVerifyCmd struct {
	Paths         []string `arg:"" optional:"" name:"path" help:"Store paths to check (default: all)."`
	CheckContents bool     `help:"Re-hash contents and compare with the recorded hash."`
}

// verifyFailed carries the count of bad paths so the exit status is 1 without a second message.
type verifyFailed struct{ n int }

func (e *verifyFailed) Error() string {
	return fmt.Sprintf("%d store path(s) failed verification", e.n)
}
func (e *verifyFailed) Hints() []string {
	return []string{"delete the damaged paths with den store gc after removing their roots, or rebuild them"}
}

func (c *StoreVerifyCmd) Run(a *App) error {
	s, err := a.Store()
	if err != nil {
		return err
	}
	var paths []storepath.Path
	if len(c.Paths) > 0 {
		if paths, err = storePaths(s, c.Paths); err != nil {
			return err
		}
	}
	probs, err := s.Verify(c.CheckContents, paths)
	if err != nil {
		return err
	}
	for _, p := range probs {
		fmt.Fprintf(a.Stdout, "%s: %s\n", p.Path, p.Reason)
	}
	if len(probs) > 0 {
		return &verifyFailed{len(probs)}
	}
	if !a.Globals.Quiet {
		fmt.Fprintln(a.Stderr, "all checked paths are intact")
	}
	return nil
}

// StoreGCCmd is den store gc.
type StoreGCCmd struct {
	DryRun bool `name:"dry-run" help:"Report what would be deleted (store paths, then debris) without deleting it."`
}

func (c *StoreGCCmd) Run(a *App) error {
	s, err := a.Store()
	if err != nil {
		return err
	}
	res, err := s.GC(c.DryRun)
	if res == nil {
		return err
	}
	// stdout lists everything deleted (or that would be), store paths first, then debris.
	for _, p := range res.Deleted {
		fmt.Fprintln(a.Stdout, p)
	}
	for _, d := range res.Debris {
		fmt.Fprintln(a.Stdout, d)
	}
	verb := "deleted"
	if c.DryRun {
		verb = "would delete"
	}
	fmt.Fprintf(a.Stderr, "%s %d store path(s) and %d debris entr(ies), %s freed\n", verb, len(res.Deleted), len(res.Debris), progress.Bytes(res.Bytes))
	for _, k := range res.Kept {
		fmt.Fprintf(a.Stderr, "kept %s: den did not create it\n", k)
	}
	if len(res.Others) > 0 {
		fmt.Fprintf(a.Stderr, "left %d entr(ies) holding other users' files, unregistered: their owners' den store gc, or root's, deletes them\n", len(res.Others))
	}
	return err
}

// StoreOptimiseCmd is den store optimise.
type StoreOptimiseCmd struct{}

func (c *StoreOptimiseCmd) Run(a *App) error {
	s, err := a.Store()
	if err != nil {
		return err
	}
	res, err := s.Optimise()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.Stderr, "linked %d file(s), %s saved\n", res.Files, progress.Bytes(res.Saved))
	return nil
}
