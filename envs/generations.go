package envs

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// StateDir is a project's state directory, next to den.toml.
const StateDir = ".den"

// Generation is one numbered profile of a project.
type Generation struct {
	Number  int
	Profile storepath.Path
	Time    time.Time // when it was made (its link's mtime)
	Current bool
}

// NoGenerationError says a generation asked for does not exist.
type NoGenerationError struct {
	Number int // 0: the one before the current generation
}

func (e *NoGenerationError) Error() string {
	if e.Number == 0 {
		return "there is no generation before the current one"
	}
	return fmt.Sprintf("there is no generation %d; den generations lists them", e.Number)
}

func generationsDir(root string) string { return filepath.Join(root, StateDir, "generations") }
func currentLink(root string) string    { return filepath.Join(root, StateDir, "current") }

// lock serialises changes to one project's generations.
func lock(root string) (unlock func(), err error) {
	if _, err := stateSubdir(root, "generations"); err != nil {
		return nil, err
	}
	f, err := OpenStateLock(root, "lock")
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// change runs fn with root made absolute, the store's GC lock held shared — a collection must
// not delete a profile between fn's check of it and its root being in place — and the project's
// generations locked, and gives fn the generations as they are.
func change(s *store.Store, root string, fn func(root string, gens []Generation) (Generation, error)) (Generation, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return Generation{}, err
	}
	unlockGC, err := s.Adding()
	if err != nil {
		return Generation{}, err
	}
	defer unlockGC()
	unlock, err := lock(root)
	if err != nil {
		return Generation{}, err
	}
	defer unlock()
	gens, err := List(root)
	if err != nil {
		return Generation{}, err
	}
	return fn(root, gens)
}

// Switch makes profile the project's current environment: a new generation unless the current
// one is that profile already. The generation's link is registered as an indirect GC root.
func Switch(s *store.Store, root string, profile storepath.Path) (Generation, error) {
	return change(s, root, func(root string, gens []Generation) (Generation, error) {
		if ok, err := s.IsValid(profile); err != nil {
			return Generation{}, err
		} else if !ok {
			return Generation{}, fmt.Errorf("profile %s is not in the store", profile)
		}
		last := 0
		for _, g := range gens {
			if g.Current && g.Profile == profile {
				return g, nil
			}
			last = max(last, g.Number)
		}
		n := last + 1
		link := filepath.Join(generationsDir(root), strconv.Itoa(n))
		if err := os.Symlink(string(profile), link); err != nil {
			return Generation{}, err
		}
		if err := addRoot(s, link); err != nil {
			os.Remove(link)
			return Generation{}, err
		}
		if err := setCurrent(root, n); err != nil {
			return Generation{}, err
		}
		return generation(root, n, true)
	})
}

// Rollback makes generation n current again (n = 0: the one before the current generation).
func Rollback(s *store.Store, root string, n int) (Generation, error) {
	return change(s, root, func(root string, gens []Generation) (Generation, error) {
		return rollback(s, root, gens, n)
	})
}

func rollback(s *store.Store, root string, gens []Generation, n int) (Generation, error) {
	cur := -1
	for i, g := range gens {
		if g.Current {
			cur = i
		}
	}
	target := -1
	for i, g := range gens {
		if n == 0 && cur > 0 && i == cur-1 || n != 0 && g.Number == n {
			target = i
		}
	}
	if target < 0 {
		return Generation{}, &NoGenerationError{Number: n}
	}
	g := gens[target]
	if ok, err := s.IsValid(g.Profile); err != nil {
		return Generation{}, err
	} else if !ok {
		return Generation{}, fmt.Errorf("generation %d's profile %s is no longer in the store", g.Number, g.Profile)
	}
	// The root may be gone (a collection removes dangling ones); make sure it is there.
	if err := addRoot(s, filepath.Join(generationsDir(root), strconv.Itoa(g.Number))); err != nil {
		return Generation{}, err
	}
	if err := setCurrent(root, g.Number); err != nil {
		return Generation{}, err
	}
	g.Current = true
	return g, nil
}

// Current is the profile of the project's current generation. With no generation yet the error
// wraps fs.ErrNotExist.
func Current(root string) (storepath.Path, error) {
	target, err := os.Readlink(currentLink(root))
	if err != nil {
		return "", fmt.Errorf("no current environment: %w", err)
	}
	n, err := strconv.Atoi(filepath.Base(target))
	if err != nil {
		return "", fmt.Errorf("%s points at %s, not a generation", currentLink(root), target)
	}
	g, err := generation(root, n, true)
	return g.Profile, err
}

// List returns the project's generations, oldest first.
func List(root string) ([]Generation, error) {
	ents, err := os.ReadDir(generationsDir(root))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cur := -1
	if target, err := os.Readlink(currentLink(root)); err == nil {
		if n, err := strconv.Atoi(filepath.Base(target)); err == nil {
			cur = n
		}
	}
	var gens []Generation
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n <= 0 || strconv.Itoa(n) != e.Name() {
			continue // a temp link, or something that is not ours
		}
		g, err := generation(root, n, n == cur)
		if err != nil {
			return nil, err
		}
		gens = append(gens, g)
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i].Number < gens[j].Number })
	return gens, nil
}

func generation(root string, n int, current bool) (Generation, error) {
	link := filepath.Join(generationsDir(root), strconv.Itoa(n))
	fi, err := os.Lstat(link)
	if err != nil {
		return Generation{}, err
	}
	target, err := os.Readlink(link)
	if err != nil {
		return Generation{}, err
	}
	p, err := storepath.Parse(filepath.Dir(target), target)
	if err != nil {
		return Generation{}, fmt.Errorf("generation %d: %w", n, err)
	}
	return Generation{Number: n, Profile: p, Time: fi.ModTime(), Current: current}, nil
}

// setCurrent repoints .den/current at generation n atomically: a new link renamed over the old.
func setCurrent(root string, n int) error {
	var b [6]byte
	rand.Read(b[:])
	tmp := currentLink(root) + ".tmp-" + hex.EncodeToString(b[:])
	if err := os.Symlink(filepath.Join("generations", strconv.Itoa(n)), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, currentLink(root)); err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Join(root, StateDir))
	return nil
}

// RootName is the name under gcroots/auto of the indirect root for the absolute link path: the
// first 32 hex digits of its sha256, so one link always has one root.
func RootName(link string) string {
	sum := sha256.Sum256([]byte(link))
	return hex.EncodeToString(sum[:])[:32]
}

// addRoot registers link (absolute) as an indirect GC root: the collector follows
// gcroots/auto/<name> to the link and on to the store, and drops the root once the link is gone.
func addRoot(s *store.Store, link string) error {
	dir := filepath.Join(s.GCRootsDir(), "auto")
	if err := s.MkdirAll(dir); err != nil {
		return err
	}
	name := filepath.Join(dir, RootName(link))
	if old, err := os.Readlink(name); err == nil && old == link {
		return nil
	}
	var b [6]byte
	rand.Read(b[:])
	tmp := name + ".tmp-" + hex.EncodeToString(b[:])
	if err := os.Symlink(link, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}
