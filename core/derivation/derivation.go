// Package derivation owns den's build descriptions: what goes into producing a store path, their
// canonical encoding, and the Merkle rule that turns that encoding into the output's path.
//
// The canonical encoding is JSON with a fixed field order, sorted maps and sorted lists, without
// the output path itself. An input-addressed output's path is Nix's output path of the sha256 of
// that encoding, so it changes whenever any input changes (a script character, an env value, an
// input's path, a source's hash, a host tool's identity) and is the same on every machine with the
// same store dir. A fixed-output derivation (a download) gets Nix's fixed-output path, which depends
// only on the expected hash and the name, never on the URLs.
package derivation

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/stdenv"
	"github.com/den-sh/den/core/storepath"
)

// Builders den knows.
const (
	BuilderFetch  = "fetchurl" // fixed-output download of URLs, verified against OutputHash
	BuilderScript = "script"   // a shell script run in the sandbox
	// BuilderGoModule is a Go module's source tree, from its zip verified against the h1: hash
	// in OutputHash; BuilderGoToolchain is a golang.org/toolchain zip unpacked as a GOROOT, with
	// the go command's executable bits; BuilderGoMod is a module's go.mod file alone.
	BuilderGoModule    = "gomodule"
	BuilderGoToolchain = "gotoolchain"
	BuilderGoMod       = "gomod"
	// BuilderDebUnit turns .deb files into one relocated tree (core/debunit). It is
	// input-addressed: its output depends on the .debs and dependency units among Inputs and on
	// these Env entries, all hashed with the rest of the derivation:
	//   debs      space-separated store paths of the .deb files (fixed-output downloads), in order
	//   deps      space-separated store paths of the dependency units, in lookup order
	//   interp    absolute path of the loader for executables; "$out/..." names one inside this
	//             unit itself (the glibc unit); "" patches no interpreter
	//   patchelf  space-separated argv prefix that runs patchelf; "" patches no ELF file (the
	//             bootstrap unit that holds patchelf itself)
	//   triplet   the multiarch triplet: x86_64-linux-gnu, aarch64-linux-gnu, arm-linux-gnueabihf, i386-linux-gnu
	BuilderDebUnit = "debunit"
	// BuilderCCWrapper is the stdenv's compiler wrapper, written by den itself from the
	// toolchain units its Env names (core/stdenv's Toolchain.Env); it runs no script.
	BuilderCCWrapper = "ccwrapper"
	// BuilderUnion merges the trees of its inputs (Env "paths", the first having a file winning)
	// into one of symbolic links, in den's own process. Env "links" adds links to files beside
	// them ("bin/awk=gawk"), Env "command-dirs" links every executable of those directories
	// into bin/ ("lib/postgresql/15/bin"), where no input has that file.
	BuilderUnion = "union"
	// BuilderGoVendor is the vendor directory of a Go module source (Src), made by `go mod
	// vendor` with the go command among Inputs and the network, as Nix's buildGoModule's
	// goModules: fixed-output, its path the NAR hash in OutputHash (SRI sha256) and the name.
	BuilderGoVendor = "govendor"
	// BuilderNPMDeps is the node_modules tree of the package-lock.json at the top of a source
	// (Src), laid out by den's own process from the registry tarballs the lock pins, as Nix's
	// fetchNpmDeps: fixed-output like BuilderGoVendor, and system-independent.
	BuilderNPMDeps = "npmdeps"
)

// DebUnitOutPrefix starts an interp entry of a BuilderDebUnit derivation that names a file in
// the unit's own output, whose path the derivation cannot spell before it is sealed.
const DebUnitOutPrefix = "$out/"

// PlaceholderHash stands for a fixed output's hash that is not known yet (Nix's lib.fakeHash):
// the output never matches it, and the error says the hash it got.
const PlaceholderHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

// HostTool is a program from the host that a build may use. Its identity enters the hash, so a
// different compiler gives a different path.
type HostTool struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Version string `json:"version,omitempty"`
	Hash    string `json:"hash"`
}

// GoModuleInput is one Go module version a build's go command may ask for: its go.mod when the
// module is in the module graph, its source tree when the build compiles its packages or looks
// into it to find which module holds a package. Before the script runs, the builder serves these
// to the go command as a module proxy directory, so a Go build needs no network.
type GoModuleInput struct {
	Module  string         `json:"module"`
	Version string         `json:"version"`
	Mod     storepath.Path `json:"mod,omitempty"` // the go.mod file (a BuilderGoMod output)
	Dir     storepath.Path `json:"dir,omitempty"` // the unpacked module (a BuilderGoModule output)
}

// Derivation describes how to produce one store path.
type Derivation struct {
	Name       string            `json:"name"` // the store name, e.g. hello-2.12.1
	Version    string            `json:"version,omitempty"`
	System     string            `json:"system"` // the platform that builds
	Host       string            `json:"host"`   // the platform the output runs on
	Builder    string            `json:"builder"`
	Script     string            `json:"script,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	Src        storepath.Path    `json:"src,omitempty"`
	Inputs     []storepath.Path  `json:"inputs,omitempty"`
	HostTools  []HostTool        `json:"hostTools,omitempty"`
	URLs       []string          `json:"urls,omitempty"`
	OutputHash string            `json:"outputHash,omitempty"` // fixed-output: SRI of the file, or h1:
	Module     string            `json:"module,omitempty"`     // Go module fixed outputs
	ModVersion string            `json:"modVersion,omitempty"`
	// Unpack marks a download that builds will unpack: it is checked to unpack safely before it
	// enters the store, so a hostile archive never becomes a valid path.
	Unpack bool `json:"unpack,omitempty"`
	// GoModules are the modules a script's go command resolves offline (see GoModuleInput).
	// Their paths are also among Inputs, so they are realized first and kept alive with the
	// derivation.
	GoModules []GoModuleInput `json:"goModules,omitempty"`
	// Stdenv marks a script built with the store's standard environment instead of the host:
	// the sandbox shows no host path (unless HostTools are declared too), /bin/sh is the bash
	// that Env["shell"] names (a path inside one of Inputs), and the build gets the setup of
	// its inputs (CPATH, LIBRARY_PATH, PKG_CONFIG_PATH) and the compiler wrapper's purity rules.
	Stdenv bool           `json:"stdenv,omitempty"`
	Out    storepath.Path `json:"out,omitempty"`

	// Needs are the derivations producing Src and Inputs, realized first. They are described by
	// their paths in the encoding.
	Needs []*Derivation `json:"-"`
	// Native marks a script whose output is for the machine that runs it (a recipe calling a
	// compiler): it is built only on System, never on another machine, while its output may
	// still come from a cache. Den's own repackaging scripts (npm trees, wrappers) leave it
	// false: they produce the same bytes anywhere. It is not part of the encoding, because it
	// says where the derivation may be built, not what it is.
	Native bool `json:"-"`
}

// IsFixed reports whether d is a fixed-output download.
func (d *Derivation) IsFixed() bool {
	switch d.Builder {
	case BuilderFetch, BuilderGoModule, BuilderGoToolchain, BuilderGoMod, BuilderGoVendor, BuilderNPMDeps:
		return true
	}
	return false
}

// Encode returns the canonical encoding, with the output path when computed.
func (d *Derivation) Encode() []byte {
	c := *d
	c.Inputs = append([]storepath.Path{}, d.Inputs...)
	sort.Slice(c.Inputs, func(i, j int) bool { return c.Inputs[i] < c.Inputs[j] })
	c.HostTools = append([]HostTool{}, d.HostTools...)
	sort.Slice(c.HostTools, func(i, j int) bool { return c.HostTools[i].Name < c.HostTools[j].Name })
	c.GoModules = append([]GoModuleInput(nil), d.GoModules...)
	sort.Slice(c.GoModules, func(i, j int) bool {
		a, b := c.GoModules[i], c.GoModules[j]
		if a.Module != b.Module {
			return a.Module < b.Module
		}
		return a.Version < b.Version
	})
	b, err := json.Marshal(&c)
	if err != nil {
		panic(err) // only strings, lists and maps of strings: cannot fail
	}
	return b
}

// Seal computes d.Out for the store dir.
func (d *Derivation) Seal(storeDir string) error {
	if err := storepath.CheckName(d.Name); err != nil {
		return err
	}
	switch d.Builder {
	case BuilderGoModule, BuilderGoToolchain, BuilderGoMod:
		if !strings.HasPrefix(d.OutputHash, "h1:") || d.Module == "" || d.ModVersion == "" {
			return fmt.Errorf("%s: a Go module download needs a module, a version and an h1: hash", d.Name)
		}
		var err error
		d.Out, err = storepath.FixedOther(storeDir, d.Builder, d.OutputHash, d.Name)
		return err
	case BuilderDebUnit:
		if len(strings.Fields(d.Env["debs"])) == 0 {
			return fmt.Errorf("%s: a Debian unit needs at least one .deb (env debs)", d.Name)
		}
		if t := d.Env["triplet"]; !slices.Contains(stdenv.Triplets(), t) {
			return fmt.Errorf("%s: a Debian unit's triplet is %q; want one of %s", d.Name, t, strings.Join(stdenv.Triplets(), ", "))
		}
	}
	if d.Builder == BuilderGoVendor || d.Builder == BuilderNPMDeps {
		what, from := "a vendor directory", "the Go module source it is made from"
		if d.Builder == BuilderNPMDeps {
			what, from = "an npm dependency tree", "the source whose package-lock.json it is laid out from"
		}
		h, err := hash.Parse(d.OutputHash, "")
		if err != nil || h.Algo != hash.SHA256 {
			return fmt.Errorf("%s: %s needs a sha256 hash, not %q", d.Name, what, d.OutputHash)
		}
		if d.Src == "" {
			return fmt.Errorf("%s: %s needs %s", d.Name, what, from)
		}
		d.Out, err = storepath.FixedRecursive(storeDir, h, d.Name)
		return err
	}
	if d.IsFixed() {
		h, err := hash.Parse(d.OutputHash, "")
		if err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
		if !h.Algo.Strong() {
			// Nix reads md5 and sha1 fixed-output hashes, but a collision in either is within reach,
			// so matching one does not prove a download is the file that was meant.
			return fmt.Errorf("%s: a download's hash must be sha256 or sha512, not %s", d.Name, h.Algo)
		}
		if len(d.URLs) == 0 {
			return fmt.Errorf("%s: a download needs at least one URL", d.Name)
		}
		d.Out, err = storepath.FixedFlat(storeDir, h, d.Name)
		return err
	}
	d.Out = ""
	var err error
	d.Out, err = storepath.Output(storeDir, hash.Sum(hash.SHA256, d.Encode()), "out", d.Name)
	return err
}

// References are the store paths the derivation file itself mentions.
func (d *Derivation) References() []storepath.Path {
	refs := append([]storepath.Path{}, d.Inputs...)
	if d.Src != "" {
		refs = append(refs, d.Src)
	}
	return refs
}
