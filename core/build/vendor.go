package build

import (
	"context"
	"fmt"
	"maps"
	"os"
	"strings"

	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/sandbox"
)

// InputHashError says a fixed-output input a recipe makes from its source (the vendor
// directory of vendor-hash, the node_modules of npm-deps-hash) does not have the hash den.toml
// gives, or den.toml gives none yet: it prints the one to write, as Nix does.
type InputHashError struct {
	Recipe string
	Key    string // the recipe's key: "vendor-hash" or "npm-deps-hash"
	What   string // what was hashed: "its vendor directory"
	Want   string // as den.toml says it; derivation.PlaceholderHash when it says none
	Got    hash.Hash
	// Because says what the hash follows from, for the hint: "the module's go.sum".
	Because string
}

func (e *InputHashError) Error() string {
	if e.Want == derivation.PlaceholderHash {
		return fmt.Sprintf("recipe %s has no %s yet; %s has\n  got: %s", e.Recipe, e.Key, e.What, e.Got.SRI())
	}
	return fmt.Sprintf("%s mismatch in recipe %s:\n  specified: %s\n  got:       %s", e.Key, e.Recipe, e.Want, e.Got.SRI())
}

// Hints say what to write.
func (e *InputHashError) Hints() []string {
	return []string{fmt.Sprintf("write %s = %q in [recipes.%s], once %s is the one you expect", e.Key, e.Got.SRI(), e.Recipe, e.Because)}
}

// recipeOf is the recipe a fixed-output input named <recipe>-<version><suffix> belongs to.
func recipeOf(d *derivation.Derivation, suffix string) string {
	return strings.TrimSuffix(strings.TrimSuffix(d.Name, suffix), "-"+d.Version)
}

// goEnvVars are the go command's settings a vendoring build takes from the user's Go
// configuration: where modules come from and how they are checked.
var goEnvVars = []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOSUMCHECK", "GOPRIVATE", "GONOPROXY", "GOINSECURE"}

// vendorScript runs in the module's source with the network: the go command fetches what
// go.sum pins (checking it against go.sum and the checksum database) and writes vendor/.
const vendorScript = `export GOTOOLCHAIN=local GOENV=off GOFLAGS= GOCACHE="$TMPDIR/.den-go/cache" GOPATH="$TMPDIR/.den-go/path"
go mod vendor
if [ -d vendor ]; then cp -R vendor/. "$out"/; fi
`

// vendor makes the vendor directory of d.Src at tmp and checks its NAR hash.
func (b *Builder) vendor(ctx context.Context, d *derivation.Derivation, tmp string) error {
	if b.GoModules == nil {
		return fmt.Errorf("%s: no Go module proxy is configured", d.Name)
	}
	client, err := b.GoModules()
	if err != nil {
		return err
	}
	vals := client.Config().Values
	run := *d
	run.Script = vendorScript
	run.Env = maps.Clone(d.Env)
	if run.Env == nil {
		run.Env = map[string]string{}
	}
	for _, k := range goEnvVars {
		if v, ok := vals[k]; ok {
			run.Env[k] = v
		}
	}
	mode, err := b.sandboxMode()
	if err != nil {
		return err
	}
	r := scriptRun{out: string(d.Out), outHost: tmp, network: true}
	if mode == sandbox.ModeOff {
		// Unsandboxed, $out must be a path of the store dir, and d.Out is not to be written
		// before its hash is checked: the script writes a stand-in, which never mentions itself.
		stand, err := standIn(d.Out)
		if err != nil {
			return err
		}
		defer removeIfExists(string(stand))
		r.out, r.outHost = string(stand), string(stand)
	}
	if _, err := b.runScript(ctx, &run, mode, r); err != nil {
		return err
	}
	if r.outHost != tmp {
		if err := os.Rename(r.outHost, tmp); err != nil {
			return err
		}
	}
	got, _, err := nar.Hash(tmp)
	if err != nil {
		return err
	}
	if want, err := hash.Parse(d.OutputHash, ""); err != nil || !want.Equal(got) {
		return &InputHashError{Recipe: recipeOf(d, VendorSuffix), Key: "vendor-hash", What: "its vendor directory",
			Want: d.OutputHash, Got: got, Because: "the module's go.sum"}
	}
	return nil
}

// VendorSuffix ends the name of a recipe's vendor directory.
const VendorSuffix = "-vendor"
