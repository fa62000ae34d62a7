package resolve

import (
	"errors"
	"strings"
	"testing"

	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
)

// debLock is a Debian package as den lock writes it: greet per architecture, and
// greet-data (Architecture: all) shared by both systems.
func debLock() *lock.Package {
	const h = "sha256-0DtGvDDtQ1/7fuAzvJkwn8aapdCFv7vtAAv926rUffM="
	src := func(name, version, url string) lock.Source {
		return lock.Source{Kind: "deb", Name: name, Version: version, URL: url, Hash: h, Group: name}
	}
	p := &lock.Package{Name: "deb:greet", Version: "1:1.0~RC2-1", Backend: index.Deb,
		Attrs: map[string]string{"roots": "greet", "bootstrap": "patchelf"},
		Sources: []lock.Source{
			src("greet-data", "2.0.0~M26-1", "mirror://debian/pool/main/g/greet/greet-data_2.0.0~M26-1_all.deb"),
			src("patchelf", "0.14.3-1+b1", "mirror://debian-security/pool/updates/main/p/patchelf/patchelf_0.14.3-1+b1_all.deb"),
		},
		Systems: map[string]*lock.System{
			"x86_64-linux":  {Sources: []lock.Source{src("greet", "1:1.0~RC2-1", "mirror://debian/pool/main/g/greet/greet_1.0~RC2-1_amd64.deb")}},
			"aarch64-linux": {Sources: []lock.Source{src("greet", "1:1.0~RC2-1", "mirror://debian/pool/main/g/greet/greet_1.0~RC2-1_arm64.deb")}},
		},
	}
	return p
}

func TestVerifyDeb(t *testing.T) {
	e := &index.Entry{Name: "deb:greet", Backend: index.Deb, Debs: []string{"greet"}}
	if err := verifyDeb(debLock(), e); err != nil {
		t.Fatalf("the lock den writes (versions with epochs and capitals): %v", err)
	}
	// Locked for one system only, every source is shared, and may be for that system's
	// architecture.
	one := debLock()
	one.Sources = append(one.Sources, one.Systems["x86_64-linux"].Sources...)
	one.Systems = map[string]*lock.System{"x86_64-linux": {}}
	if err := verifyDeb(one, e); err != nil {
		t.Fatalf("one system: %v", err)
	}

	for _, tc := range []struct {
		name   string
		change func(p *lock.Package)
		want   string
	}{
		{"outside the pool", func(p *lock.Package) {
			p.Systems["x86_64-linux"].Sources[0].URL = "mirror://debian/pool/../x/greet_1.0~RC2-1_amd64.deb"
		},
			`"mirror://debian/pool/../x/greet_1.0~RC2-1_amd64.deb", which is not a .deb in a Debian archive's pool`},
		{"another host", func(p *lock.Package) { p.Sources[0].URL = "http://127.0.0.1:9/greet-data_2.0.0~M26-1_all.deb" },
			"which is not a .deb in a Debian archive's pool"},
		{"another package's .deb", func(p *lock.Package) {
			p.Systems["x86_64-linux"].Sources[0].URL = "mirror://debian/pool/main/e/evil/evil_1.0_amd64.deb"
		}, `greet 1:1.0~RC2-1 is locked at "mirror://debian/pool/main/e/evil/evil_1.0_amd64.deb", which is not its .deb (greet_1.0~RC2-1_amd64.deb)`},
		{"another version's .deb", func(p *lock.Package) { p.Systems["x86_64-linux"].Sources[0].Version = "1:0.9-1" },
			"greet 1:0.9-1 is locked at"},
		{"another architecture's .deb", func(p *lock.Package) {
			p.Systems["x86_64-linux"].Sources[0].URL = "mirror://debian/pool/main/g/greet/greet_1.0~RC2-1_arm64.deb"
		}, "which is not its .deb (greet_1.0~RC2-1_amd64.deb)"},
		{"a shared .deb of one architecture", func(p *lock.Package) {
			p.Sources[0].URL = "mirror://debian/pool/main/g/greet/greet-data_2.0.0~M26-1_amd64.deb"
		}, "which is not its .deb (greet-data_2.0.0~M26-1_all.deb)"},
		{"roots", func(p *lock.Package) { p.Attrs["roots"] = "greet evil" }, `its attributes differ from den's index (bootstrap="patchelf" roots="greet evil", where den's index has bootstrap="patchelf" roots="greet")`},
		{"bootstrap", func(p *lock.Package) { p.Attrs["bootstrap"] = "evil" }, "its attributes differ from den's index"},
		{"a system attribute", func(p *lock.Package) { p.Systems["x86_64-linux"].Attrs = map[string]string{"roots": "evil"} },
			"it has a roots attribute for x86_64-linux"},
		{"a hash of another algorithm", func(p *lock.Package) { p.Sources[1].Hash = "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=" },
			"patchelf has no SHA256 hash"},
		{"a source of another kind", func(p *lock.Package) { p.Sources[1].Kind = "url" }, "it has a url source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := debLock()
			tc.change(p)
			err := verifyDeb(p, e)
			var lm *LockMismatchError
			if !errors.As(err, &lm) || !strings.Contains(err.Error(), tc.want) || !strings.HasSuffix(err.Error(), "which den did not write") {
				t.Fatalf("got %v, want a LockMismatchError with %q", err, tc.want)
			}
		})
	}
}

// crossLibLock is zlib locked for aarch64-linux on x86_64-linux: the target's debs qualified,
// the bootstrap the build machine's.
func crossLibLock() *lock.Package {
	const h = "sha256-0DtGvDDtQ1/7fuAzvJkwn8aapdCFv7vtAAv926rUffM="
	return &lock.Package{Name: "zlib", Version: "1:1.2.13.dfsg-1", Backend: index.Deb, Target: "aarch64-linux",
		Attrs: map[string]string{"target-roots": "zlib1g-dev", "bootstrap": "patchelf"},
		Sources: []lock.Source{
			{Kind: "deb", Name: "patchelf", Version: "0.14.3-1+b1", URL: "mirror://debian/pool/main/p/patchelf/patchelf_0.14.3-1+b1_amd64.deb", Hash: h},
			{Kind: "deb", Name: "zlib1g-dev:arm64", Version: "1:1.2.13.dfsg-1", URL: "mirror://debian/pool/main/z/zlib/zlib1g-dev_1.2.13.dfsg-1_arm64.deb", Hash: h},
		},
		Systems: map[string]*lock.System{"x86_64-linux": {}},
	}
}

func TestVerifyDebForTarget(t *testing.T) {
	e := &index.Entry{Name: "zlib", Backend: index.Deb, Debs: []string{"zlib1g-dev"}}
	if err := verifyDeb(crossLibLock(), e); err != nil {
		t.Fatalf("zlib for aarch64-linux as den locks it: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(p *lock.Package)
		want   string
	}{
		{"the build machine's .deb under the target's name", func(p *lock.Package) {
			p.Sources[1].URL = "mirror://debian/pool/main/z/zlib/zlib1g-dev_1.2.13.dfsg-1_amd64.deb"
		}, "which is not its .deb (zlib1g-dev_1.2.13.dfsg-1_arm64.deb)"},
		{"another architecture's qualifier", func(p *lock.Package) { p.Sources[1].Name = "zlib1g-dev:riscv64" },
			"zlib1g-dev:riscv64 names an architecture that is not its target's"},
		{"a qualified name without a target", func(p *lock.Package) {
			p.Target = ""
			p.Attrs = map[string]string{"roots": "zlib1g-dev", "bootstrap": "patchelf"}
		},
			"names an architecture that is not its target's"},
		{"build roots", func(p *lock.Package) { p.Attrs["roots"] = "zlib1g-dev" }, "its attributes differ from den's index"},
		{"a target den has no Debian for", func(p *lock.Package) { p.Target = "aarch64-darwin" }, "its target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := crossLibLock()
			tc.change(p)
			err := verifyDeb(p, e)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}

	// A cross toolchain is made for the target den's index names.
	tc := &index.Entry{Name: "cross-aarch64-linux", Backend: index.Deb, Debs: []string{"gcc-12-aarch64-linux-gnu"},
		Target: "aarch64-linux", TargetDebs: []string{"libc6-dev"}}
	p := crossLibLock()
	p.Name, p.Attrs = tc.Name, map[string]string{"roots": "gcc-12-aarch64-linux-gnu", "target-roots": "libc6-dev", "bootstrap": "patchelf"}
	p.Sources = p.Sources[:1]
	if err := verifyDeb(p, tc); err != nil {
		t.Fatalf("the cross toolchain: %v", err)
	}
	p.Target = "riscv64-linux"
	if err := verifyDeb(p, tc); err == nil || !strings.Contains(err.Error(), `locked for the target "riscv64-linux"`) {
		t.Errorf("a cross toolchain for another target: %v", err)
	}
}

func TestVerifyCrossRecipeDeps(t *testing.T) {
	rec := &index.RecipeEntry{Deps: []string{"zlib"}}
	p := &lock.Package{Name: "zdemo", Target: "aarch64-linux", Deps: []*lock.Package{
		{Name: "stdenv"}, {Name: "cross-aarch64-linux", Target: "aarch64-linux"}, {Name: "zlib", Target: "aarch64-linux"},
	}}
	if err := verifyRecipeDeps(p, rec); err != nil {
		t.Fatalf("a cross recipe as den locks it: %v", err)
	}
	p.Deps[2].Target = ""
	if err := verifyRecipeDeps(p, rec); err == nil || !strings.Contains(err.Error(), "dependency zlib") {
		t.Errorf("a cross recipe linking the build machine's zlib: %v", err)
	}
	p.Deps[2].Target, p.Deps[0].Target = "aarch64-linux", "aarch64-linux"
	if err := verifyRecipeDeps(p, rec); err == nil || !strings.Contains(err.Error(), "dependency stdenv") {
		t.Errorf("a cross recipe with the target's stdenv: %v", err)
	}
	native := &lock.Package{Name: "zdemo", Deps: []*lock.Package{{Name: "stdenv"}, {Name: "zlib", Target: "aarch64-linux"}}}
	if err := verifyRecipeDeps(native, rec); err == nil || !strings.Contains(err.Error(), "built for its own system") {
		t.Errorf("a native recipe linking the target's zlib: %v", err)
	}
	native.Deps = append(native.Deps[:1], &lock.Package{Name: "zlib"}, &lock.Package{Name: "cross-aarch64-linux", Target: "aarch64-linux"})
	if err := verifyRecipeDeps(native, rec); err == nil {
		t.Error("a native recipe with a cross toolchain: no error")
	}
}
