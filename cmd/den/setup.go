package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/den-sh/den/core/config"
	"github.com/den-sh/den/core/store"
)

// SetupCmd is den setup: the store dir that is the same on every machine, made once by root.
type SetupCmd struct {
	Group string   `default:"den" help:"The group whose members may add to the shared store."`
	User  []string `name:"user" placeholder:"NAME" help:"Add this user to the group (repeatable); under sudo, the user who ran sudo is added too."`
}

func (c *SetupCmd) Help() string {
	return `Makes ROOT/store (the store dir) and ROOT/var (its database, GC roots, locks, build dirs and
logs), ROOT being /den unless DEN_ROOT says otherwise. Every user then gets this store instead of
a per-user one under their home, so a binary cache one of them fills serves all of them, and
every machine set up the same way. Both dirs belong to root and the group (created if missing),
are group-writable and setgid; members add paths, anyone may read and run them.

It needs root; run as anyone else it says the one sudo command to run. Running it again changes
nothing that is already right.`
}

func (c *SetupCmd) Run(a *App) error {
	cfg, err := a.Config()
	if err != nil {
		return err
	}
	storeDir, stateDir := config.SharedStore(cfg.Root), config.SharedState(cfg.Root)
	if os.Geteuid() != 0 {
		return c.notRoot(a, cfg, storeDir, stateDir)
	}
	gid, err := c.ensureGroup(a)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
		return err
	}
	changed := false
	for _, d := range []string{storeDir, stateDir} {
		made, err := sharedDir(d, gid)
		if err != nil {
			return fmt.Errorf("set up %s: %w", d, err)
		}
		if made {
			fmt.Fprintf(a.Stderr, "set up %s: root and group %s may write it (mode 2775)\n", d, c.Group)
		}
		changed = changed || (made && d == storeDir)
	}
	s, err := store.Open(storeDir, stateDir)
	if err != nil {
		return err
	}
	if err := s.Writable(); err != nil {
		return err
	}
	users := c.User
	if su := os.Getenv("SUDO_USER"); su != "" && su != "root" && !slices.Contains(users, su) {
		users = append(users, su)
	}
	for _, name := range users {
		if err := c.addMember(a, name); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.Stdout, "%s is the store for every user of this machine (its state is in %s)\n", storeDir, stateDir)
	if os.Getenv("DEN_STORE") != "" {
		fmt.Fprintf(a.Stderr, "note: DEN_STORE is set, so den goes on using %s until it is unset\n", cfg.StoreDir)
	}
	if !changed {
		return nil
	}
	fmt.Fprintf(a.Stderr, "a per-user store's downloads move with den store copy --to %s (as its user); den sync in each project makes the rest there\n", storeDir)
	return nil
}

// notRoot says what den setup would need, or that it is already done.
func (c *SetupCmd) notRoot(a *App, cfg *config.Config, storeDir, stateDir string) error {
	if _, err := os.Stat(storeDir); err == nil && store.IsShared(stateDir) {
		s, err := store.Open(storeDir, stateDir)
		if err != nil {
			return err
		}
		if err := s.Writable(); err != nil {
			return err
		}
		fmt.Fprintf(a.Stdout, "%s is set up, and you may add to it\n", storeDir)
		return nil
	}
	self, err := selfPath()
	if err != nil {
		self = "den"
	}
	cmd := "sudo "
	if os.Getenv("DEN_ROOT") != "" {
		cmd += "DEN_ROOT=" + cfg.Root + " "
	}
	cmd += self + " setup"
	if c.Group != "den" {
		cmd += " --group " + c.Group
	}
	return &usageError{
		err:   fmt.Errorf("den setup makes %s and %s, owned by root and the group %s: only root may", storeDir, stateDir, c.Group),
		hints: []string{"run: " + cmd},
	}
}

// ensureGroup finds the group, creating it (a system group) if needed.
func (c *SetupCmd) ensureGroup(a *App) (int, error) {
	g, err := user.LookupGroup(c.Group)
	if err != nil {
		var unknown user.UnknownGroupError
		if !errors.As(err, &unknown) {
			return 0, err
		}
		if err := runTool("groupadd", "--system", c.Group); err != nil {
			return 0, fmt.Errorf("create the group %s: %w", c.Group, err)
		}
		fmt.Fprintf(a.Stderr, "created the group %s\n", c.Group)
		if g, err = user.LookupGroup(c.Group); err != nil {
			return 0, err
		}
	}
	return strconv.Atoi(g.Gid)
}

// addMember puts a user in the group unless they are already in it.
func (c *SetupCmd) addMember(a *App, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return &usageError{err: fmt.Errorf("--user %s: %v", name, err)}
	}
	g, err := user.LookupGroup(c.Group)
	if err != nil {
		return err
	}
	if ids, err := u.GroupIds(); err == nil && slices.Contains(ids, g.Gid) {
		return nil
	}
	if err := runTool("usermod", "-a", "-G", c.Group, name); err != nil {
		return fmt.Errorf("add %s to the group %s: %w", name, c.Group, err)
	}
	fmt.Fprintf(a.Stderr, "added %s to the group %s: it applies from their next login (or newgrp %s in a shell)\n", name, c.Group, c.Group)
	return nil
}

// sharedDir makes d, or corrects it, to root:gid with mode 2775; made says whether it changed.
func sharedDir(d string, gid int) (made bool, err error) {
	fi, err := os.Lstat(d)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(d, 0o755); err != nil {
			return false, err
		}
		if fi, err = os.Lstat(d); err != nil {
			return false, err
		}
		made = true
	} else if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("%s is not a directory", d)
	}
	want := os.ModeDir | os.ModeSetgid | 0o775
	if st, ok := statOwner(fi); !ok || st != [2]int{0, gid} {
		if err := os.Chown(d, 0, gid); err != nil {
			return made, err
		}
		made = true
	}
	if fi.Mode()&(os.ModeType|os.ModeSetgid|os.ModeSticky|os.ModePerm) != want {
		if err := os.Chmod(d, os.ModeSetgid|0o775); err != nil {
			return made, err
		}
		made = true
	}
	return made, nil
}

func runTool(name string, args ...string) error {
	path, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, e := os.Stat(filepath.Join(dir, name)); e == nil {
				path, err = filepath.Join(dir, name), nil
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%s is not installed: %w", name, err)
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// statOwner is fi's uid and gid.
func statOwner(fi os.FileInfo) ([2]int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return [2]int{}, false
	}
	return [2]int{int(st.Uid), int(st.Gid)}, true
}

// notePerUser says, once per user (or every time, with always), that the store is the per-user
// fallback, whose caches serve nobody else.
func (a *App) notePerUser(c *config.Config, always bool) {
	if !c.PerUser {
		return
	}
	stamp := filepath.Join(c.StateDir, "per-user-store-noted")
	if _, err := os.Stat(stamp); err == nil && !always {
		return
	}
	if os.MkdirAll(c.StateDir, 0o755) == nil {
		os.WriteFile(stamp, nil, 0o644)
	}
	fmt.Fprintf(a.Stderr, "note: den uses the per-user store %s, since %s does not exist: a binary cache holds paths for one store dir, so what this store pushes serves only stores at this exact dir; sudo den setup makes %s, the same for every user and machine\n",
		c.StoreDir, config.SharedStore(c.Root), config.SharedStore(c.Root))
}
