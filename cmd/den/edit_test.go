package main

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/den-sh/den/core/npm/npmtest"
	"github.com/den-sh/den/core/platform"
)

// editWorld is a project with its own home, store and state, and a fake npm registry with node
// and two versions of left-pad, for den add to edit.
type editWorld struct {
	t    *testing.T
	den  string
	dir  string
	proj string
	env  []string
}

func newEditWorld(t *testing.T) *editWorld {
	reg := fakeNodeRegistry(t)
	for _, v := range []string{"1.0.0", "1.3.0"} {
		reg.Add(npmtest.Package{Name: "left-pad", Version: v, Files: map[string]string{"index.js": "left-pad " + v + "\n"}})
	}
	reg.Add(npmtest.Package{Name: "is-odd", Version: "3.0.1", Files: map[string]string{"index.js": "odd\n"}})
	w := &editWorld{t: t, den: filepath.Join(installDen(t), "den"), dir: t.TempDir()}
	w.proj = filepath.Join(w.dir, "proj")
	os.MkdirAll(w.proj, 0o755)
	os.MkdirAll(filepath.Join(w.dir, "home"), 0o755)
	w.env = []string{"HOME=" + w.dir + "/home", "PATH=/usr/bin:/bin", "DEN_STORE=" + w.dir + "/store",
		"DEN_STATE=" + w.dir + "/state", "DEN_CACHE=" + w.dir + "/cache", "XDG_CONFIG_HOME=" + w.dir + "/home/.config",
		"npm_config_registry=" + reg.URL, "GOPROXY=off", "DEN_REQUIRE_SANDBOX=" + os.Getenv("DEN_REQUIRE_SANDBOX")}
	os.WriteFile(filepath.Join(w.proj, "den.toml"), []byte("systems = [\""+platform.Current().String()+"\"]\n\n[packages]\n"), 0o644)
	w.must("allow")
	return w
}

func (w *editWorld) cmd(args ...string) *exec.Cmd {
	c := exec.Command(w.den, args...)
	c.Dir, c.Env = w.proj, w.env
	return c
}

func (w *editWorld) must(args ...string) string {
	w.t.Helper()
	out, err := w.cmd(args...).CombinedOutput()
	if err != nil {
		w.t.Fatalf("den %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestEditsSerialized starts two den add at once: both changes land, in den.toml and den.lock.
func TestEditsSerialized(t *testing.T) {
	w := newEditWorld(t)
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i, pkg := range []string{"npm:left-pad@1", "npm:is-odd@3"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := w.cmd("add", pkg).CombinedOutput()
			outs[i], errs[i] = string(out), err
		}()
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("den add %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	toml, _ := os.ReadFile(filepath.Join(w.proj, "den.toml"))
	lockData, _ := os.ReadFile(filepath.Join(w.proj, "den.lock"))
	for _, name := range []string{"npm:left-pad", "npm:is-odd"} {
		if !strings.Contains(string(toml), `"`+name+`"`) || !strings.Contains(string(lockData), "name = '"+name+"'") {
			t.Errorf("%s lost:\n--- den.toml\n%s\n--- den.lock\n%s", name, toml, lockData)
		}
	}
	// Both edits were den's own: the project stays allowed, and den.lock matches den.toml.
	w.must("run", "--frozen", "--", "true")
}

// TestEditKilled kills den add at random moments, again and again: den.toml and den.lock are
// always both as they were or both as den add left them (once the next den has finished an
// interrupted change), the project stays allowed, and no temporary file is left beside them.
func TestEditKilled(t *testing.T) {
	w := newEditWorld(t)
	w.must("add", "npm:left-pad@1.0.0")
	rng := rand.New(rand.NewPCG(1, 2))
	versions := []string{"1.3.0", "1.0.0"}
	killedMidway := 0
	for i := range 40 {
		c := w.cmd("add", "npm:left-pad@"+versions[i%2])
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(120)) * time.Millisecond)
		c.Process.Signal(syscall.SIGKILL)
		if err := c.Wait(); err != nil {
			killedMidway++
		}
		// Any command that reads the project finishes or drops the interrupted change first;
		// den run --frozen then proves den.lock matches den.toml and the project is allowed.
		if out, err := w.cmd("run", "--frozen", "--", "true").CombinedOutput(); err != nil {
			toml, _ := os.ReadFile(filepath.Join(w.proj, "den.toml"))
			lockData, _ := os.ReadFile(filepath.Join(w.proj, "den.lock"))
			t.Fatalf("round %d: den run --frozen after a killed den add: %v\n%s\n--- den.toml\n%s\n--- den.lock\n%s", i, err, out, toml, lockData)
		}
		ents, _ := os.ReadDir(w.proj)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, []string{".den", "den.lock", "den.toml"}) {
			t.Fatalf("round %d: the project holds %v", i, names)
		}
	}
	if killedMidway == 0 {
		t.Fatalf("no den add was killed before it ended; the test proves nothing")
	}
	t.Logf("%d of 40 den add were killed before they ended", killedMidway)
}
