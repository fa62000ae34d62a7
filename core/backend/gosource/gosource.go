// Package gosource is the backend for Go programs built from source with go install semantics
// (gopls, staticcheck, go:MODULE/PATH): the module version comes from the user's Go module
// proxy, every module the build needs is locked by the h1: hash the checksum database verified,
// and the build runs offline in the sandbox with the locked Go toolchain, -trimpath and
// CGO_ENABLED=0.
//
// Which modules a build needs is the go command's own answer, not den's guess. At lock time the
// locked toolchain runs `go install -n PATH@VERSION` for each system with an empty module cache:
// it downloads exactly the go.mod files of the pruned module graph and the zips of the modules
// that provide packages (and the modules it probes to find which one holds the package), and
// verifies each against the checksum database. den reads that cache back into den.lock. Module
// graph pruning, exclusions and package-to-module resolution change with Go releases; running the
// go command keeps den right where reimplementing them would drift.
package gosource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/den-sh/den/core/backend"
	"github.com/den-sh/den/core/derivation"
	"github.com/den-sh/den/core/gomod"
	"github.com/den-sh/den/core/hosttools"
	"github.com/den-sh/den/core/index"
	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/platform"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
	"github.com/den-sh/den/core/version"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// Backend implements backend.Backend.
type Backend struct{}

// Name of the backend in den.lock.
const Name = index.GoSource

// Attributes in den.lock.
const (
	attrModule = "module" // the module holding the program
	attrPath   = "path"   // the package go install builds
)

// NoModuleError says no prefix of a go:PATH is a module the proxies know.
type NoModuleError struct {
	Path string
	Err  error // the proxy's answer for the longest prefix
}

func (e *NoModuleError) Error() string {
	return fmt.Sprintf("no module provides %s: %v", e.Path, e.Err)
}

func (e *NoModuleError) Unwrap() error { return e.Err }

// Hints says what the path should look like.
func (e *NoModuleError) Hints() []string {
	return []string{"go:MODULE/PATH names a main package by its import path, as go install takes it"}
}

// InstallError is the go command refusing to load the program at lock time: a checksum
// mismatch, a version that needs a newer Go, a package that does not build for the system.
type InstallError struct {
	Target string // path@version
	System string
	Output string // what the go command said, without its download progress
	Err    error
}

func (e *InstallError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("go install %s for %s: %v", e.Target, e.System, e.Err)
	}
	return fmt.Sprintf("go install %s for %s failed:\n%s", e.Target, e.System, e.Output)
}

func (e *InstallError) Unwrap() error { return e.Err }

// Versions lists the module's tagged versions, newest first.
func (Backend) Versions(ctx context.Context, env *backend.Env, e *index.Entry) ([]string, error) {
	client, err := env.GoModules()
	if err != nil {
		return nil, err
	}
	_, versions, err := findModule(ctx, client, e)
	if err != nil {
		return nil, err
	}
	out := append([]string{}, versions...)
	version.Sort(out)
	return out, nil
}

// findModule returns the module that holds e's program and its versions: e.Module, or, for a
// go:PATH entry, the longest prefix of the path that the proxies know as a module, as go install
// finds it.
func findModule(ctx context.Context, client *gomod.Client, e *index.Entry) (string, []string, error) {
	if e.Module != "" {
		versions, err := client.Versions(ctx, e.Module)
		return e.Module, versions, err
	}
	var first error
	for p := e.Path; p != "."; p = path.Dir(p) {
		if module.CheckPath(p) != nil {
			continue
		}
		versions, err := client.Versions(ctx, p)
		if err == nil {
			return p, versions, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, err
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = fmt.Errorf("%q is not a Go import path", e.Path)
	}
	return "", nil, &NoModuleError{Path: e.Path, Err: first}
}

// selectVersion picks c's version. A module without tagged versions lists only the
// pseudo-version the proxy's @latest names, which "latest" then means.
func selectVersion(c version.Constraint, versions []string) (string, error) {
	v, err := version.Select(c, versions)
	if err != nil && len(versions) == 1 && module.IsPseudoVersion(versions[0]) &&
		(c.String() == "latest" || c.String() == "*") {
		return versions[0], nil
	}
	return v, err
}

// Lock resolves the version, locks the toolchain that builds it, and records every module the go
// command needs to build it on any of systems.
func (b Backend) Lock(ctx context.Context, env *backend.Env, e *index.Entry, c version.Constraint, systems []platform.System) (*lock.Package, error) {
	client, err := env.GoModules()
	if err != nil {
		return nil, err
	}
	mod, versions, err := findModule(ctx, client, e)
	if err != nil {
		return nil, err
	}
	v, err := selectVersion(c, versions)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	pkgPath := e.InstallPath()

	goMod, err := client.GoMod(ctx, mod, v)
	if err != nil {
		return nil, err
	}
	// The toolchain is chosen from this go.mod, so it is checked before it is believed; the go
	// command checks it again below, with everything else.
	_, modHash, err := client.Lookup(ctx, mod, v)
	if err != nil {
		return nil, err
	}
	if modHash != "" { // "" for modules GONOSUMDB or GOSUMDB=off exempt
		if err := gomod.VerifyMod(goMod, modHash); err != nil {
			return nil, err
		}
	}
	constraint, err := toolchainConstraint(mod, v, goMod)
	if err != nil {
		return nil, err
	}
	goEntry, err := env.Index.Lookup("go")
	if err != nil {
		return nil, err
	}
	// The build runs on the machine that realizes the lock and cross-compiles, so the toolchain
	// is locked for every system the package is (each is a machine the project is used on) and
	// for this one.
	toolchain, err := env.Lock(ctx, goEntry, constraint, withSystem(systems, env.Current))
	if err != nil {
		return nil, fmt.Errorf("%s: the Go toolchain to build it: %w", e.Name, err)
	}
	toolchainDrv, err := env.Plan(ctx, toolchain, env.Current)
	if err != nil {
		return nil, err
	}
	sources, err := keptModuleSources(ctx, env, toolchainDrv, client.Config(), pkgPath+"@"+v, systems)
	if err != nil {
		return nil, err
	}
	p := &lock.Package{
		Name: e.Name, Constraint: c.String(), Version: v, Backend: Name,
		Attrs:   map[string]string{attrModule: mod, attrPath: pkgPath},
		Sources: sources,
		Systems: map[string]*lock.System{},
		Deps:    []*lock.Package{toolchain},
	}
	for _, sys := range systems {
		p.Systems[sys.String()] = &lock.System{}
	}
	return p, nil
}

// toolchainConstraint asks for the newest Go that the module's go directive allows, as a Go
// developer updating their toolchain would use. A go.mod without a go directive is Go 1.16's.
func toolchainConstraint(mod, v string, goMod []byte) (version.Constraint, error) {
	f, err := modfile.ParseLax(mod+"@"+v+"/go.mod", goMod, nil)
	if err != nil {
		return version.Constraint{}, err
	}
	goVersion := "1.16"
	if f.Go != nil {
		goVersion = f.Go.Version
	}
	return version.ParseConstraint(">=" + goVersion)
}

func withSystem(systems []platform.System, sys platform.System) []platform.System {
	for _, s := range systems {
		if s == sys {
			return systems
		}
	}
	return append(append([]platform.System{}, systems...), sys)
}

// keptModuleSources is moduleSources with the toolchain toolchainDrv, kept in env.Memo. What go
// install needs for one version of a program is fixed once the module versions are published:
// their go.mod files never change and the checksum database holds every hash. So it is worked
// out once per program version, Go release and set of systems, and the toolchain is realized
// only then.
func keptModuleSources(ctx context.Context, env *backend.Env, toolchainDrv *derivation.Derivation, cfg *gomod.Config, target string, systems []platform.System) ([]lock.Source, error) {
	names := make([]string, len(systems))
	for i, s := range systems {
		names[i] = s.String()
	}
	sort.Strings(names)
	key := strings.Join(append([]string{"go install -n", target, string(toolchainDrv.Out), strings.Join(names, " ")}, cfg.Environ()...), "\n")
	var srcs []lock.Source
	if _, ok := env.Memo.Get(key, &srcs); ok && len(srcs) > 0 {
		return srcs, nil
	}
	if err := env.Realize(ctx, toolchainDrv); err != nil {
		return nil, err
	}
	goCmd := filepath.Join(string(toolchainDrv.Out), "bin", "go")
	srcs, err := moduleSources(ctx, goCmd, cfg, target, systems)
	if err != nil {
		return nil, err
	}
	env.Memo.Put(key, srcs) // a lost memo costs a go install run
	return srcs, nil
}

// moduleSources runs `go install -n target` for each system in one fresh module cache and
// returns what the go command downloaded and verified. Only the user's module settings reach
// the go command: nothing of the caller's Go environment (GOFLAGS, a go.work, GOPATH) may change
// which modules are chosen.
func moduleSources(ctx context.Context, goCmd string, cfg *gomod.Config, target string, systems []platform.System) (srcs []lock.Source, err error) {
	tmp, err := os.MkdirTemp("", "den-go-install-")
	if err != nil {
		return nil, err
	}
	// The module cache is read-only, as the go command leaves it.
	defer func() {
		if rerr := store.RemoveTree(tmp); err == nil && rerr != nil {
			err = rerr
		}
	}()
	gopath := filepath.Join(tmp, "gopath")
	modCache := filepath.Join(gopath, "pkg", "mod")
	work := filepath.Join(tmp, "work")
	home := filepath.Join(tmp, "home")
	for _, dir := range []string{work, home} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
	}
	base := append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"GOPATH=" + gopath,
		"GOMODCACHE=" + modCache,
		"GOCACHE=" + filepath.Join(tmp, "cache"),
		"GOFLAGS=-mod=mod",
		"GOTOOLCHAIN=local",
		"CGO_ENABLED=0",
		"GOENV=off",
	}, cfg.Environ()...)
	for _, sys := range systems {
		cmd := exec.CommandContext(ctx, goCmd, "install", "-n", target)
		cmd.Dir = work
		cmd.Env = append(append([]string{}, base...), "GOOS="+sys.GOOS(), "GOARCH="+sys.GOARCH())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &InstallError{Target: target, System: sys.String(), Output: goOutput(stderr.Bytes()), Err: err}
		}
	}
	return scanModCache(filepath.Join(modCache, "cache", "download"))
}

// goOutput keeps what a failing go command said that matters: not its download progress, and
// only the end of a long story.
func goOutput(stderr []byte) string {
	var lines []string
	for line := range strings.SplitSeq(strings.TrimRight(string(stderr), "\n"), "\n") {
		if !strings.HasPrefix(line, "go: downloading ") {
			lines = append(lines, line)
		}
	}
	const maxLines = 30
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "\n")
}

// scanModCache lists what a module cache's download directory holds: every go.mod the go
// command downloaded (hashed as go.sum hashes it) and every module zip, with the hash the go
// command verified and wrote beside it in <version>.ziphash. The checksum database's own cache
// (sumdb/) and the go command's bookkeeping (.info, .lock, list) are skipped.
func scanModCache(dir string) ([]lock.Source, error) {
	var srcs []lock.Source
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == filepath.Join(dir, "sumdb") {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(p)
		if (ext != ".mod" && ext != ".zip") || filepath.Base(filepath.Dir(p)) != "@v" {
			return nil
		}
		escMod, err := filepath.Rel(dir, filepath.Dir(filepath.Dir(p)))
		if err != nil {
			return err
		}
		mod, err := module.UnescapePath(filepath.ToSlash(escMod))
		if err != nil {
			return fmt.Errorf("module cache: %s: %w", p, err)
		}
		vers, err := module.UnescapeVersion(strings.TrimSuffix(d.Name(), ext))
		if err != nil {
			return fmt.Errorf("module cache: %s: %w", p, err)
		}
		src := lock.Source{Name: mod, Version: vers}
		switch ext {
		case ".mod":
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			src.Kind = derivation.BuilderGoMod
			if src.Hash, err = gomod.HashMod(data); err != nil {
				return err
			}
		case ".zip":
			data, err := os.ReadFile(strings.TrimSuffix(p, ext) + ".ziphash")
			if err != nil {
				return fmt.Errorf("module cache: the go command left %s without its hash: %w", p, err)
			}
			src.Kind = derivation.BuilderGoModule
			src.Hash = strings.TrimSpace(string(data))
			if !strings.HasPrefix(src.Hash, "h1:") {
				return fmt.Errorf("module cache: %s.ziphash holds %q, not an h1: hash", strings.TrimSuffix(p, ext), src.Hash)
			}
		}
		srcs = append(srcs, src)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(srcs, func(i, j int) bool {
		a, b := srcs[i], srcs[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Kind < b.Kind
	})
	return srcs, nil
}

// Plan is the build of the program for sys, from the lock alone: the toolchain for the current
// system, every locked module as a fixed output, and a script that runs go install offline.
func (Backend) Plan(ctx context.Context, env *backend.Env, p *lock.Package, sys platform.System) (*derivation.Derivation, error) {
	if !p.HasSystem(sys.String()) {
		return nil, &backend.NotLockedForError{Package: p.Name, System: sys.String()}
	}
	pkgPath := p.Attrs[attrPath]
	if len(p.Deps) != 1 || pkgPath == "" {
		return nil, &lock.Error{File: lock.FileName, Err: fmt.Errorf("%s: a go-source package needs its package path and its Go toolchain", p.Name)}
	}
	toolchain, err := env.Plan(ctx, p.Deps[0], env.Current)
	if err != nil {
		return nil, err
	}
	d := &derivation.Derivation{
		Name:    programName(p) + "-" + strings.TrimPrefix(p.Version, "v"),
		Version: p.Version,
		System:  env.Current.String(),
		Host:    sys.String(),
		Builder: derivation.BuilderScript,
		Script:  script(pkgPath + "@" + p.Version),
		Env:     map[string]string{"GOOS": sys.GOOS(), "GOARCH": sys.GOARCH()},
		Inputs:  []storepath.Path{toolchain.Out},
		Needs:   []*derivation.Derivation{toolchain},
	}
	mods := map[module.Version]*derivation.GoModuleInput{}
	var order []module.Version
	for _, s := range p.SourcesFor(sys.String()) {
		if s.Kind != derivation.BuilderGoMod && s.Kind != derivation.BuilderGoModule {
			return nil, &lock.Error{File: lock.FileName, Err: fmt.Errorf("%s: unexpected source kind %q", p.Name, s.Kind)}
		}
		name := storepath.SanitizeName(s.Name + "-" + s.Version)
		if s.Kind == derivation.BuilderGoMod {
			name = storepath.SanitizeName(s.Name + "-" + s.Version + ".mod")
		}
		src := &derivation.Derivation{
			Name: name, Version: s.Version, System: env.Current.String(), Host: env.Current.String(),
			Builder: s.Kind, Module: s.Name, ModVersion: s.Version, OutputHash: s.Hash,
		}
		if err := src.Seal(env.Store.Dir); err != nil {
			return nil, err
		}
		d.Inputs = append(d.Inputs, src.Out)
		d.Needs = append(d.Needs, src)
		mv := module.Version{Path: s.Name, Version: s.Version}
		m := mods[mv]
		if m == nil {
			m = &derivation.GoModuleInput{Module: s.Name, Version: s.Version}
			mods[mv] = m
			order = append(order, mv)
		}
		if s.Kind == derivation.BuilderGoMod {
			m.Mod = src.Out
		} else {
			m.Dir = src.Out
		}
	}
	// A module may come without its go.mod: the go command looked into its zip only to learn
	// whether it holds the package asked for (golang.org/x/tools for golang.org/x/tools/gopls).
	for _, mv := range order {
		d.GoModules = append(d.GoModules, *mods[mv])
	}
	if d.HostTools, err = env.Tools.Resolve(hosttools.Base, false); err != nil {
		return nil, err
	}
	return d, d.Seal(env.Store.Dir)
}

// script installs target with the go command offline (the builder has laid out the modules as a
// proxy and set GOPROXY) and copies the program into $out/bin. A cross-compiled program lands
// in $GOPATH/bin/GOOS_GOARCH, since the go command will not put it where the host's go
// programs go.
func script(target string) string {
	return `go install -trimpath '` + target + `'
bin="$GOPATH/bin"
if [ "$(go env GOHOSTOS)/$(go env GOHOSTARCH)" != "$GOOS/$GOARCH" ]; then
	bin="$bin/${GOOS}_$GOARCH"
fi
mkdir -p "$out/bin"
for f in "$bin"/*; do
	if [ -f "$f" ]; then cp "$f" "$out/bin/"; fi
done`
}

// programName names the output: the index name (gopls), or for go:PATH the command's name as
// go install gives it, the last element of the path that is not a major version suffix.
func programName(p *lock.Package) string {
	if storepath.CheckName(p.Name) == nil {
		return p.Name
	}
	return storepath.SanitizeName(commandName(p.Attrs[attrPath]))
}

func commandName(pkgPath string) string {
	elem := path.Base(pkgPath)
	if dir := path.Dir(pkgPath); dir != "." && isMajorSuffix(elem) {
		return path.Base(dir)
	}
	return elem
}

// isMajorSuffix is the go command's test: v2, v3, … but not v0, v1 or v01.
func isMajorSuffix(elem string) bool {
	if len(elem) < 2 || elem[0] != 'v' || elem[1] == '0' || elem[1] == '1' && len(elem) == 2 {
		return false
	}
	for _, c := range elem[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
