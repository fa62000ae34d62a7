// Package manifest owns den.toml: finding it, decoding it strictly, and saying where it is wrong.
package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/project"
)

// FileName is the manifest's name in a project's root directory.
const FileName = project.FileName

// Manifest is a decoded and checked den.toml.
type Manifest struct {
	Path string // as given to Load or Parse; errors name the file this way
	Root string // absolute directory holding the file; relative paths in it resolve here

	Systems  []string  // "<arch>-<os>"; empty means only the host's
	Packages []Package // in file order, so that den add and den list keep the user's order
	// TargetPackages are the names of the packages marked target = true: libraries of every
	// target (see TargetLibraries), not in Packages.
	TargetPackages []string
	Env            []EnvVar // in file order, so that later values can refer to earlier ones
	Scripts        map[string]string
	Shell          Shell
	Options        Options
	Caches         Caches
	// Targets are the systems the project cross-builds for ([targets.SYSTEM]), by system
	// name, each with the libraries a build for it links against, realized for that system.
	Targets map[string]Target
	Recipes map[string]*Recipe

	// PackagesHeader is the "[packages]" line, after which den add can insert the first entry.
	// It is empty (Start == End) when the file has no such header.
	PackagesHeader Span

	data []byte
}

// Package is one entry of [packages].
type Package struct {
	Name    string   // as written, backend prefix included: "go", "npm:prettier"
	Version string   // the constraint as written: "1.22", "^20", "latest"
	Systems []string // empty: every system of the manifest
	Outputs []string // empty: the package's default outputs
	Pos     Position // of the name
	// Target (target = true) makes the package a library of every target rather than a tool of
	// the build machine: Check moves it from Packages to TargetPackages.
	Target bool

	// Line is the whole `name = value` line (through its newline) when the entry sits directly
	// under the [packages] header, so den add and den rm can splice the file without
	// reformatting it. It is empty (Start == End) when the entry is written another way.
	Line Span
}

// EnvVar is one entry of [env].
type EnvVar struct {
	Name, Value string
	Pos         Position // of the name
}

// Shell is [shell].
type Shell struct {
	Init string // shell code run when the environment is entered
}

// SandboxMode says how strictly builds are isolated.
type SandboxMode string

const (
	SandboxAuto     SandboxMode = "auto"     // sandbox where the host allows it
	SandboxRequired SandboxMode = "required" // fail rather than build without a sandbox
	SandboxOff      SandboxMode = "off"
)

// Options is [options].
type Options struct {
	Sandbox SandboxMode // empty when den.toml leaves it to the user's config
}

// Target is one [targets.SYSTEM] table.
type Target struct {
	Libraries []string // index packages, realized for the target (zlib's arm64 headers and libraries)
}

// TargetLibraries are the libraries realized for target: its [targets.SYSTEM] libraries, then
// the packages marked target = true, each once.
func (m *Manifest) TargetLibraries(target string) []string {
	var out []string
	for _, l := range append(append([]string{}, m.Targets[target].Libraries...), m.TargetPackages...) {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// Caches is [caches], binary caches the project asks for on top of the user's.
type Caches struct {
	Substituters      []string
	TrustedPublicKeys []string
	// Push are caches every path den builds or fetches for the project is pushed to, signed with
	// the user's push-key (config.toml's [caches]); used only once the project is allowed.
	Push []string
}

// Recipe is a package built from source, defined in the project by [recipes.NAME].
type Recipe struct {
	Name        string
	Description string
	Version     string
	Src         Source // zero when the recipe has no source
	Build       string // a shell script
	Deps        []string
	HostTools   []string
	Env         map[string]string
	// VendorHash is the NAR hash (SRI sha256) of the vendor directory `go mod vendor` makes for
	// the recipe's Go module source, which the build then uses offline; Vendor says the key is
	// there, VendorHash empty meaning "not known yet" (den says the hash to write).
	VendorHash hash.Hash
	Vendor     bool
	// NPMDepsHash is the NAR hash (SRI sha256) of the node_modules tree den lays out from the
	// package-lock.json of the recipe's source (Nix's buildNpmPackage npmDepsHash), which the
	// build then uses offline; NPMDeps says the key is there, the hash empty meaning "not known
	// yet".
	NPMDepsHash hash.Hash
	NPMDeps     bool
	Pos         Position // of the name
}

// Source is where a recipe's source comes from: downloaded URLs checked against Hash, or a
// local Path.
type Source struct {
	URLs []string  // mirrors, tried in order
	Hash hash.Hash // required with URLs
	Path string    // absolute, resolved against the manifest's Root
}

// IsZero reports whether the recipe has no source.
func (s Source) IsZero() bool { return len(s.URLs) == 0 && s.Path == "" }

// Position is a place in den.toml. Line and Col count from 1; Col counts bytes, as go vet and
// compilers do; Offset counts bytes from the start of the file.
type Position struct {
	Line, Col, Offset int
}

// Span is a range of bytes in den.toml, End excluded.
type Span struct {
	Start, End int
}

// ContentHash is the hex sha256 of the file's bytes, so that trust can be granted to one exact
// content and revoked by any change.
func (m *Manifest) ContentHash() string {
	sum := sha256.Sum256(m.data)
	return hex.EncodeToString(sum[:])
}

// NotFoundError says that no directory from Dir up to the file system's root holds den.toml.
type NotFoundError struct {
	Dir string
}

func (e *NotFoundError) Error() string {
	return "no " + FileName + " in " + e.Dir + " or any parent directory\nhint: run den init to create one"
}

// Unwrap lets callers treat a missing manifest like any missing file.
func (e *NotFoundError) Unwrap() error { return fs.ErrNotExist }

// Find returns the nearest directory, from dir upwards, that holds den.toml, so that den works
// from anywhere inside a project the way git does.
func Find(dir string) (root string, err error) {
	root, err = project.Find(dir)
	if errors.Is(err, project.ErrNotFound) {
		start, _ := filepath.Abs(dir) // project.Find made it absolute already
		return "", &NotFoundError{Dir: start}
	}
	return root, err
}

// Load reads and parses the manifest at path.
func Load(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes data as the manifest at path. Errors are *Error, naming the line and column.
func Parse(path string, data []byte) (*Manifest, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f := newFile(path, data)
	// The syntax pass comes first: it alone knows where every key and value is, which the
	// decoder's errors and the checks below need to point at the mistake.
	lay, err := f.scan()
	if err != nil {
		return nil, err
	}
	doc, err := f.decode(lay)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Path: path, Root: filepath.Dir(abs), data: data, PackagesHeader: lay.packagesHeader}
	c := &checker{f: f, lay: lay, m: m}
	if err := c.fill(doc); err != nil {
		return nil, err
	}
	return m, nil
}

// document is den.toml decoded strictly (decode.go). Packages and sources may be a string or a
// table, which no Go type expresses; they are decoded loosely and checked by hand against the
// schema in schema.go.
type document struct {
	Systems  []string          `toml:"systems"`
	Packages map[string]any    `toml:"packages"`
	Env      map[string]string `toml:"env"`
	Scripts  map[string]string `toml:"scripts"`
	Shell    struct {
		Init string `toml:"init"`
	} `toml:"shell"`
	Options struct {
		Sandbox string `toml:"sandbox"`
	} `toml:"options"`
	Caches struct {
		Substituters      []string `toml:"substituters"`
		TrustedPublicKeys []string `toml:"trusted-public-keys"`
		Push              []string `toml:"push"`
	} `toml:"caches"`
	Recipes map[string]recipeDoc `toml:"recipes"`
	Targets map[string]targetDoc `toml:"targets"`
}

type targetDoc struct {
	Libraries []string `toml:"libraries"`
}

type recipeDoc struct {
	Description string            `toml:"description"`
	Version     string            `toml:"version"`
	Src         any               `toml:"src"`
	Build       string            `toml:"build"`
	Deps        []string          `toml:"deps"`
	HostTools   []string          `toml:"host-tools"`
	Env         map[string]string `toml:"env"`
	VendorHash  *string           `toml:"vendor-hash"`
	NPMDepsHash *string           `toml:"npm-deps-hash"`
}
