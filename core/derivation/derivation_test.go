package derivation

import (
	"strings"
	"testing"

	"github.com/den-sh/den/core/storepath"
)

const store = "/tmp/den-test-store"

func base() *Derivation {
	return &Derivation{
		Name: "hello-1.0", Version: "1.0", System: "x86_64-linux", Host: "x86_64-linux",
		Builder: BuilderScript, Script: "make install", Env: map[string]string{"A": "1", "B": "2"},
		Inputs:    []storepath.Path{store + "/b0000000000000000000000000000000-b", store + "/a0000000000000000000000000000000-a"},
		HostTools: []HostTool{{Name: "make", Path: "/usr/bin/make", Hash: "sha256:1"}, {Name: "cc", Path: "/usr/bin/cc", Hash: "sha256:2"}},
	}
}

func TestMerkle(t *testing.T) {
	d := base()
	if err := d.Seal(store); err != nil {
		t.Fatal(err)
	}
	again := base()
	again.Inputs[0], again.Inputs[1] = again.Inputs[1], again.Inputs[0] // order does not matter
	again.Seal(store)
	if again.Out != d.Out {
		t.Fatalf("same inputs, different paths: %s %s", d.Out, again.Out)
	}
	for name, change := range map[string]func(*Derivation){
		"script":   func(x *Derivation) { x.Script += " " },
		"env":      func(x *Derivation) { x.Env["A"] = "2" },
		"input":    func(x *Derivation) { x.Inputs[0] = store + "/c0000000000000000000000000000000-b" },
		"hosttool": func(x *Derivation) { x.HostTools[0].Hash = "sha256:3" },
		"system":   func(x *Derivation) { x.System = "aarch64-linux" },
		"host":     func(x *Derivation) { x.Host = "aarch64-darwin" },
		"version":  func(x *Derivation) { x.Version = "1.1" },
		"stdenv":   func(x *Derivation) { x.Stdenv = true },
	} {
		x := base()
		change(x)
		x.Seal(store)
		if x.Out == d.Out {
			t.Errorf("changing %s kept the path %s", name, d.Out)
		}
	}
	other := base()
	other.Seal("/other/store")
	if other.Out.HashPart() == d.Out.HashPart() {
		t.Error("the store dir is not part of the hash")
	}
}

func TestFixedOutputIgnoresURLs(t *testing.T) {
	a := &Derivation{Name: "x.tar.gz", Builder: BuilderFetch, URLs: []string{"http://127.0.0.1:1/x.tar.gz"},
		OutputHash: "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}
	b := *a
	b.URLs = []string{"http://127.0.0.1:2/mirror/x.tar.gz"}
	if err := a.Seal(store); err != nil {
		t.Fatal(err)
	}
	b.Seal(store)
	if a.Out != b.Out {
		t.Fatalf("URL changed a fixed-output path")
	}
}

// Nix reads md5 and sha1 fixed-output hashes (hash.Parse does too, for narinfos), but a download is
// only checked against sha256 or sha512.
func TestFixedOutputNeedsAStrongHash(t *testing.T) {
	for _, h := range []string{"sha1:a9993e364706816aba3e25717850c26c9cd0d89d", "md5:900150983cd24fb0d6963f7d28e17f72"} {
		d := &Derivation{Name: "x.tar.gz", Builder: BuilderFetch, URLs: []string{"http://127.0.0.1:1/x.tar.gz"}, OutputHash: h}
		if err := d.Seal(store); err == nil || !strings.Contains(err.Error(), "must be sha256 or sha512") {
			t.Errorf("Seal with %s: %v, want a refusal", h, err)
		}
	}
}

func TestGoModulesEnterTheHash(t *testing.T) {
	mods := func() []GoModuleInput {
		return []GoModuleInput{
			{Module: "example.com/b", Version: "v1.0.0", Mod: store + "/b0000000000000000000000000000000-b.mod"},
			{Module: "example.com/a", Version: "v1.0.0", Mod: store + "/a0000000000000000000000000000000-a.mod",
				Dir: store + "/a0000000000000000000000000000001-a"},
		}
	}
	without := base()
	without.Seal(store)
	d := base()
	d.GoModules = mods()
	d.Seal(store)
	if d.Out == without.Out {
		t.Fatal("adding Go modules kept the path")
	}
	swapped := base()
	swapped.GoModules = mods()
	swapped.GoModules[0], swapped.GoModules[1] = swapped.GoModules[1], swapped.GoModules[0]
	swapped.Seal(store)
	if swapped.Out != d.Out {
		t.Errorf("the order of Go modules changed the path")
	}
	noDir := base()
	noDir.GoModules = mods()
	noDir.GoModules[1].Dir = ""
	noDir.Seal(store)
	if noDir.Out == d.Out {
		t.Errorf("dropping a module's source tree kept the path")
	}
}

func TestDebUnitSeal(t *testing.T) {
	unit := func() *Derivation {
		return &Derivation{Name: "glibc-2.36", System: "x86_64-linux", Host: "x86_64-linux", Builder: BuilderDebUnit,
			Env: map[string]string{"debs": store + "/a0000000000000000000000000000000-libc6.deb", "triplet": "x86_64-linux-gnu",
				"interp": DebUnitOutPrefix + "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
			Inputs: []storepath.Path{store + "/a0000000000000000000000000000000-libc6.deb"}}
	}
	d := unit()
	if d.IsFixed() {
		t.Fatal("a Debian unit is input-addressed, not fixed-output")
	}
	if err := d.Seal(store); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*Derivation){
		"debs":     func(x *Derivation) { x.Env["debs"] = store + "/b0000000000000000000000000000000-libc6.deb" },
		"deps":     func(x *Derivation) { x.Env["deps"] = store + "/c0000000000000000000000000000000-gcc" },
		"interp":   func(x *Derivation) { x.Env["interp"] = "" },
		"patchelf": func(x *Derivation) { x.Env["patchelf"] = store + "/d0000000000000000000000000000000-boot/bin/patchelf" },
		"triplet":  func(x *Derivation) { x.Env["triplet"] = "aarch64-linux-gnu" },
	} {
		x := unit()
		change(x)
		if err := x.Seal(store); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if x.Out == d.Out {
			t.Errorf("changing %s kept the path", name)
		}
	}
	for name, change := range map[string]func(*Derivation){
		"no debs":     func(x *Derivation) { x.Env["debs"] = " " },
		"bad triplet": func(x *Derivation) { x.Env["triplet"] = "mips-linux-gnu" },
	} {
		x := unit()
		change(x)
		if err := x.Seal(store); err == nil {
			t.Errorf("%s: Seal succeeded", name)
		}
	}
}
