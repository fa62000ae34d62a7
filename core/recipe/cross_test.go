package recipe

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/manifest"
	"github.com/den-sh/den/core/platform"
	stdenvpkg "github.com/den-sh/den/core/stdenv"
	"github.com/den-sh/den/core/store"
)

func TestPlanCross(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "store"), filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	x86, _ := platform.Parse("x86_64-linux")
	arm, _ := platform.Parse("aarch64-linux")
	unit := func(name, host string) *derivation.Derivation {
		d := &derivation.Derivation{Name: name, System: "x86_64-linux", Host: host, Builder: derivation.BuilderUnion, Env: map[string]string{"paths": ""}}
		if err := d.Seal(st.Dir); err != nil {
			t.Fatal(err)
		}
		return d
	}
	stdenv, cross, zlib := unit("stdenv-12", "x86_64-linux"), unit("cross-aarch64-linux-12", "x86_64-linux"), unit("zlib-aarch64-linux-gnu-1.2.13", "aarch64-linux")
	r := &manifest.Recipe{Name: "zdemo", Version: "1.0", Build: "$CC -o z z.c -lz"}
	native := &Planner{Store: st, System: x86, Stdenv: stdenv}
	nd, err := native.PlanRecipe(r, []*derivation.Derivation{unit("zlib-1.2.13", "x86_64-linux")})
	if err != nil {
		t.Fatal(err)
	}
	p := &Planner{Store: st, System: x86, Stdenv: stdenv, Target: arm, Cross: cross}
	d, err := p.PlanRecipe(r, []*derivation.Derivation{zlib})
	if err != nil {
		t.Fatal(err)
	}
	if d.System != "x86_64-linux" || d.Host != "aarch64-linux" || d.Out == nd.Out {
		t.Errorf("cross: system %s host %s out %s (native %s)", d.System, d.Host, d.Out, nd.Out)
	}
	if d.Env["CC"] != "aarch64-linux-gnu-gcc" || d.Env["CONFIG_SITE"] != string(cross.Out)+"/"+stdenvpkg.ConfigSite || d.Env[TargetInputs] != string(zlib.Out) {
		t.Errorf("cross env %v", d.Env)
	}
	if !strings.HasSuffix(d.Script, stdenvpkg.CrossFixup("aarch64-linux-gnu")) || !d.Stdenv {
		t.Errorf("cross script:\n%s", d.Script)
	}
	for _, in := range []*derivation.Derivation{stdenv, cross, zlib} {
		found := false
		for _, i := range d.Inputs {
			found = found || i == in.Out
		}
		if !found {
			t.Errorf("%s is not among the cross build's inputs", in.Name)
		}
	}
	if _, ok := nd.Env["CC"]; ok || nd.Host != "x86_64-linux" {
		t.Errorf("the native plan got cross settings: %v", nd.Env)
	}

	// A recipe with host tools builds for this machine only.
	ht := &manifest.Recipe{Name: "ht", Version: "1", Build: "cc x.c", HostTools: []string{"cc"}}
	if _, err := p.PlanRecipe(ht, nil); err == nil || !strings.Contains(err.Error(), "uses host tools") {
		t.Errorf("a host-tools recipe cross-built: %v", err)
	}
	p.Cross = nil
	if _, err := p.PlanRecipe(r, nil); err == nil || !strings.Contains(err.Error(), "no cross toolchain") {
		t.Errorf("without a cross toolchain: %v", err)
	}
}
