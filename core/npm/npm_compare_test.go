package npm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/den-sh/den/core/npm/npmtest"
)

// TestMatchesNPM installs random dependency graphs from the loopback fake with the real npm and
// with den, and compares the node_modules layouts. It needs npm on PATH and runs only when
// DEN_NPM_COMPARE is set (to a first seed, or 1); DEN_NPM_COMPARE_SEEDS says how many graphs.
func TestMatchesNPM(t *testing.T) {
	first, err := strconv.ParseInt(os.Getenv("DEN_NPM_COMPARE"), 10, 64)
	if err != nil {
		t.Skip("set DEN_NPM_COMPARE=<first seed> to compare layouts with npm")
	}
	npmBin, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("DEN_NPM_COMPARE is set but npm is not on PATH")
	}
	count := int64(40)
	if n, err := strconv.ParseInt(os.Getenv("DEN_NPM_COMPARE_SEEDS"), 10, 64); err == nil {
		count = n
	}
	for seed := first; seed < first+count; seed++ {
		reg := npmtest.New(t, randomGraph(seed)...)
		want, npmErr := npmInstall(t, npmBin, reg, "top", "1.0.0")
		if errors.Is(npmErr, context.DeadlineExceeded) {
			t.Logf("seed %d: npm did not finish", seed)
			continue
		}
		tree, err := clientFor(t, reg).Resolve(context.Background(), "top", "1.0.0", linuxX64)
		switch {
		case err != nil && npmErr != nil:
			continue
		case err != nil:
			t.Errorf("seed %d: npm installed, den failed: %v", seed, err)
			continue
		case npmErr != nil:
			t.Logf("seed %d: den resolved, npm failed: %v", seed, npmErr)
			continue
		}
		var got []string
		for _, n := range tree.Nodes {
			if n.Link != "" {
				got = append(got, n.Path+" -> "+n.Link)
			} else {
				got = append(got, n.Path+"@"+n.Version)
			}
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("seed %d:\n npm %s\n den %s", seed, strings.Join(want, " "), strings.Join(got, " "))
		}
	}
}

// randomGraph mixes what resolution must get right: ranges, tags and aliases, prereleases,
// deprecations, optional and peer dependencies, and packages for another platform.
func randomGraph(seed int64) []npmtest.Package {
	rnd := rand.New(rand.NewSource(seed))
	ranges := []string{"^1", "^2", "~1.0", "*", ">=2", "1.1.0", "^1.1", "2 || 3", "<2", "latest", "^1.2.0-beta.0", "npm:c@^1"}
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	var pkgs []npmtest.Package
	for _, n := range names {
		for _, v := range []string{"1.0.0", "1.1.0", "1.2.0-beta.1", "2.0.0", "3.0.0"} {
			p := npmtest.Package{Name: n, Version: v, Deps: deps{}, Optional: deps{}, Peer: deps{}}
			for range rnd.Intn(4) {
				o, r := names[rnd.Intn(len(names))], ranges[rnd.Intn(len(ranges))]
				// An alias gets a name of its own, as in real packages: npm accepts any
				// package under an alias's name (its dep-valid ignores the name), den does not.
				if strings.HasPrefix(r, "npm:") {
					o += "-alias"
				}
				switch {
				case o == n:
				case rnd.Intn(6) == 0:
					p.Optional[o] = r
				case rnd.Intn(5) == 0 && r != "latest" && !strings.HasPrefix(r, "npm:"):
					p.Peer[o] = r
					if rnd.Intn(3) == 0 {
						p.PeerOptional = append(p.PeerOptional, o)
					}
				default:
					p.Deps[o] = r
				}
			}
			if rnd.Intn(8) == 0 {
				p.OS = []string{"darwin"}
			}
			if rnd.Intn(10) == 0 {
				p.Deprecated = "old"
			}
			pkgs = append(pkgs, p)
		}
	}
	top := deps{}
	for range 4 {
		top[names[rnd.Intn(len(names))]] = ranges[rnd.Intn(9)]
	}
	return append(pkgs, npmtest.Package{Name: "top", Version: "1.0.0", Deps: top, Optional: deps{"h": "*", "missing-pkg": "^1"}})
}

// npmInstall runs npm install in a fresh project that depends on root@spec and lists what it
// put in node_modules as "path@version". npm sees only the fake registry and a private home.
func npmInstall(t *testing.T, npmBin string, reg *npmtest.Registry, root, spec string) ([]string, error) {
	dir := t.TempDir()
	pj, _ := json.Marshal(map[string]any{"name": "project", "version": "1.0.0", "dependencies": map[string]string{root: spec}})
	if err := os.WriteFile(filepath.Join(dir, "package.json"), pj, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npmBin, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--no-update-notifier")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "npm_config_cache=" + filepath.Join(dir, ".cache"), "npm_config_registry=" + reg.URL}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		line, _, _ := strings.Cut(string(out), "\n")
		return nil, fmt.Errorf("%v: %s", err, line)
	}
	var lock struct {
		Packages map[string]struct {
			Version, Resolved string
			Link              bool
		} `json:"packages"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil || json.Unmarshal(data, &lock) != nil {
		return nil, fmt.Errorf("no readable package-lock.json")
	}
	var res []string
	for p, v := range lock.Packages {
		// The lock also lists optional packages for other platforms, which npm does not install.
		if _, err := os.Lstat(filepath.Join(dir, p)); p == "" || err != nil {
			continue
		}
		if v.Link {
			res = append(res, p+" -> "+v.Resolved)
		} else {
			res = append(res, p+"@"+v.Version)
		}
	}
	sort.Strings(res)
	return res, nil
}
