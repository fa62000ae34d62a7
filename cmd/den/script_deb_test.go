package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/den-sh/den/core/deb/debtest"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/ulikunitz/xz"
)

// fakeDebian is a script's fake Debian archive, started by its debarchive command.
type fakeDebian struct {
	tb testing.TB
	s  *debtest.Server
}

func debianOf(ts *testscript.TestScript) *debtest.Server {
	f, ok := ts.Value("debian").(*fakeDebian)
	if !ok || f.s == nil {
		ts.Fatalf("no fake Debian archive: run debarchive first")
	}
	return f.s
}

// debWorld is the fake archive's packages for one architecture: a small world whose
// dependencies exercise what den's resolver must decide as Debian does. No file is an ELF file,
// so relocating runs no patchelf (the fake patchelf fails loudly if it is ever run).
//
//   - greet: a command (bin/greet) that prints libgreet's message through a link into
//     libgreet's unit; Depends on libgreet (>= 1.0) (two versions: 1.2 wins) and on
//     "awk-ish | mawk-fake", where awk-ish is virtual: provided by nawk-fake (Priority
//     standard), aawk-fake (optional) and mawk-fake (optional), so nawk-fake is chosen.
//   - greet-mawk: Depends on mawk-fake, then awk-ish: the provider already chosen wins.
//   - greet-versioned: Depends on greet-data (>= 2): provided at 1 by greet-data-old, at 2.0 by
//     greet-data-new, and unversioned by greet-data-any, so only greet-data-new satisfies it.
//   - needy -> greet-plugin -> libnothere (>= 3), which the archive has at 2.0 only.
//   - libc6 (source glibc), nearly empty, and patchelf, the bootstrap, a script.
func debWorld(arch string) []debtest.Deb {
	script := func(body string) debtest.File { return debtest.File{Data: "#!/bin/sh\n" + body, Mode: 0o755} }
	d := func(name, version, source string) debtest.Deb {
		return debtest.Deb{Name: name, Version: version, Arch: arch, Source: source}
	}
	greet := d("greet", "1.0-1", "greet")
	greet.Depends = "libgreet (>= 1.0), awk-ish | mawk-fake"
	greet.Files = map[string]debtest.File{
		"usr/bin/greet": script("here=$(dirname \"$(readlink -f \"$0\")\")\n" +
			"echo \"hello from greet 1.0 (" + arch + ")\"\ncat \"$here/../share/greet/message\"\n"),
		// Debian's links across packages are absolute: this one leads into libgreet's unit.
		"usr/share/greet/message": {Link: "/usr/share/libgreet/message"},
	}
	libgreet := func(version string) debtest.Deb {
		p := d("libgreet", version, "libgreet")
		p.Depends = "libc6 (>= 2.34)"
		p.Files = map[string]debtest.File{
			"usr/share/libgreet/message": {Data: "greetings from libgreet " + version + "\n"},
			"usr/share/libgreet/hello":   {Link: "message"},
			"usr/share/libgreet/abs":     {Link: "/usr/share/libgreet/message"},
		}
		return p
	}
	awk := func(name, priority, provides string) debtest.Deb {
		p := d(name, "1.0-1", name)
		p.Priority, p.Provides = priority, provides
		p.Files = map[string]debtest.File{"usr/bin/" + name: script("echo " + name + "\n")}
		return p
	}
	greetMawk := d("greet-mawk", "1.0-1", "greet")
	greetMawk.Depends = "mawk-fake, awk-ish"
	greetMawk.Files = map[string]debtest.File{"usr/bin/greet-mawk": script("echo mawk\n")}
	greetVersioned := d("greet-versioned", "1.0-1", "greet")
	greetVersioned.Depends = "greet-data (>= 2)"
	greetVersioned.Files = map[string]debtest.File{"usr/bin/greet-versioned": script("echo versioned\n")}
	needy := d("needy", "1.0-1", "needy")
	needy.Depends = "greet-plugin"
	plugin := d("greet-plugin", "1.0-1", "greet-plugin")
	plugin.Depends = "libnothere (>= 3)"
	libc := d("libc6", "2.36-9+deb12u4", "glibc")
	libc.MultiArch = "same"
	libc.Files = map[string]debtest.File{"usr/share/doc/libc6/README": {Data: "a fake glibc: no loader, no ELF\n"}}
	patchelf := d("patchelf", "0.14.3-1+b1", "patchelf (0.14.3-1)")
	patchelf.Depends = "libc6 (>= 2.34)"
	patchelf.Files = map[string]debtest.File{
		"usr/bin/patchelf": script("echo \"the fake patchelf was run: $*\" >&2\nexit 1\n"),
	}
	return []debtest.Deb{
		greet, libgreet("0.9-1"), libgreet("1.2-1"),
		awk("nawk-fake", "standard", "awk-ish"), awk("aawk-fake", "optional", "awk-ish"), awk("mawk-fake", "optional", "awk-ish"),
		greetMawk, greetVersioned,
		awk("greet-data-old", "optional", "greet-data (= 1)"), awk("greet-data-new", "optional", "greet-data (= 2.0)"),
		awk("greet-data-any", "required", "greet-data"),
		needy, plugin, d("libnothere", "2.0-1", "libnothere"),
		libc, patchelf,
	}
}

// indexWorld are fakes of the Debian packages of den's index entries with links and command
// directories, for debarchive -index:
//
//   - python3.11 (bin/python3.11, which says where it runs from), for den's index's python
//     3.11 (a form with links: bin/python3, bin/python).
//   - postgresql-15 and postgresql-client-15 (one source), for den's index's postgresql: their
//     programs in lib/postgresql/15/bin (postgres reads its share directory relative to its own
//     resolved path, as PostgreSQL does); postgresql-15 depends on postgresql-common, which the
//     index leaves out.
func indexWorld(arch string) []debtest.Deb {
	script := func(body string) debtest.File { return debtest.File{Data: "#!/bin/sh\n" + body, Mode: 0o755} }
	d := func(name, version, source string) debtest.Deb {
		return debtest.Deb{Name: name, Version: version, Arch: arch, Source: source}
	}
	python := d("python3.11", "3.11.2-6+deb12u9", "python3.11")
	python.Depends = "libc6 (>= 2.34)"
	python.Files = map[string]debtest.File{
		"usr/bin/python3.11": script("echo \"Python 3.11.2 at $(dirname \"$(dirname \"$(readlink -f \"$0\")\")\")\"\n"),
		"usr/bin/pydoc3.11":  script("echo pydoc\n"),
	}
	pgBin := func(name string) debtest.File {
		return script("here=$(dirname \"$(readlink -f \"$0\")\")\necho \"" + name + " (PostgreSQL) 15.20\"\n" +
			"cat \"$here/../../../../share/postgresql/15/postgres.bki\"\n")
	}
	postgres := d("postgresql-15", "15.20-0+deb12u1", "postgresql-15")
	postgres.Depends = "libc6 (>= 2.34), postgresql-client-15, postgresql-common (>= 241)"
	postgres.Files = map[string]debtest.File{
		"usr/lib/postgresql/15/bin/postgres":   pgBin("postgres"),
		"usr/lib/postgresql/15/bin/initdb":     pgBin("initdb"),
		"usr/share/postgresql/15/postgres.bki": {Data: "the catalog of PostgreSQL 15\n"},
	}
	pgClient := d("postgresql-client-15", "15.20-0+deb12u1", "postgresql-15")
	pgClient.Files = map[string]debtest.File{"usr/lib/postgresql/15/bin/psql": pgBin("psql")}
	pgCommon := d("postgresql-common", "248", "postgresql-common")
	pgCommon.Depends = "libnothere (>= 3)" // never locked: den's index leaves it out
	world := []debtest.Deb{python, postgres, pgClient, pgCommon}
	// What a [targets.aarch64-linux] table locks (names only: nothing here compiles): the
	// cross toolchain's debs and the emulator from amd64, the target's C library and zlib
	// from arm64.
	debs := map[string][]string{
		"amd64": {"gcc-12-aarch64-linux-gnu", "g++-12-aarch64-linux-gnu", "binutils-aarch64-linux-gnu", "bash", "qemu-user-static"},
		"arm64": {"libc6-dev", "linux-libc-dev", "libstdc++6", "zlib1g", "zlib1g-dev", "libffi-dev"},
	}
	for _, name := range debs[arch] {
		world = append(world, d(name, "1.0-1", name))
	}
	return world
}

var debScriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// debarchive: start a signed fake Debian archive on loopback (suite bookworm, amd64 and
	// arm64, the packages of debWorld), and point den at it: den's config.toml gets
	// debian-sources naming it, signed by its key, so that no script reads the host's apt
	// sources. $DEBARCHIVE is its URL, $DEBROOT its files on disk (dists/…, pool/…), $DEBKEY its
	// key file and $DEBOTHERKEY another key's. With -index, it also has the packages of
	// indexWorld.
	"debarchive": func(ts *testscript.TestScript, neg bool, args []string) {
		f := ts.Value("debian").(*fakeDebian)
		if f.s != nil {
			ts.Fatalf("debarchive: the archive is already running")
		}
		withIndex := len(args) == 1 && args[0] == "-index"
		if len(args) > 0 && !withIndex {
			ts.Fatalf("usage: debarchive [-index]")
		}
		var pkgs []debtest.Deb
		for _, arch := range []string{"amd64", "arm64"} {
			pkgs = append(pkgs, debWorld(arch)...)
			if withIndex {
				pkgs = append(pkgs, indexWorld(arch)...)
			}
		}
		f.s = debtest.New(f.tb, debtest.Archive{Packages: pkgs})
		other := filepath.Join(ts.Getenv("WORK"), "other-key.asc")
		ts.Check(os.WriteFile(other, debtest.ArmoredPublicKey(f.tb, debtest.NewKey(f.tb, "not the archive's key")), 0o644))
		cfgDir := filepath.Join(ts.Getenv("XDG_CONFIG_HOME"), "den")
		ts.Check(os.MkdirAll(cfgDir, 0o755))
		cfg := filepath.Join(cfgDir, "config.toml")
		// A top-level key goes before the tables a script may have written.
		old, _ := os.ReadFile(cfg)
		line := fmt.Sprintf("debian-sources = [%q]\n", "[signed-by="+f.s.KeyringFile+"] "+f.s.URL+" bookworm")
		ts.Check(os.WriteFile(cfg, append([]byte(line), old...), 0o644))
		ts.Setenv("DEBARCHIVE", f.s.URL)
		ts.Setenv("DEBROOT", f.s.Root)
		ts.Setenv("DEBKEY", f.s.KeyringFile)
		ts.Setenv("DEBOTHERKEY", other)
	},
	// debarchive-hits VAR [REGEXP]: VAR gets how many requests the fake archive has answered
	// (those whose path matches REGEXP).
	"debarchive-hits": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 1 || len(args) > 2 {
			ts.Fatalf("usage: debarchive-hits VAR [REGEXP]")
		}
		re := regexp.MustCompile(".")
		if len(args) == 2 {
			var err error
			re, err = regexp.Compile(args[1])
			ts.Check(err)
		}
		n := 0
		for _, p := range debianOf(ts).Requests() {
			if re.MatchString(p) {
				n++
			}
		}
		ts.Setenv(args[0], strconv.Itoa(n))
	},
	// debarchive-stop: stop serving, as an archive that cannot be reached.
	"debarchive-stop": func(ts *testscript.TestScript, neg bool, args []string) {
		debianOf(ts).Stop()
	},
	// debtamper FILE OLD NEW: in FILE of the archive (dists/bookworm/InRelease), replace the
	// first OLD with NEW. A .xz or .gz file is decompressed first and compressed again, so it
	// stays well-formed and only its content differs from what InRelease lists.
	"debtamper": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 3 {
			ts.Fatalf("usage: debtamper FILE OLD NEW")
		}
		s := debianOf(ts)
		p := s.Path(args[0])
		data, err := os.ReadFile(p)
		ts.Check(err)
		plain, err := decompress(args[0], data)
		ts.Check(err)
		if !bytes.Contains(plain, []byte(args[1])) {
			ts.Fatalf("debtamper: %s has no %q", args[0], args[1])
		}
		plain = bytes.Replace(plain, []byte(args[1]), []byte(args[2]), 1)
		data, err = recompress(args[0], plain)
		ts.Check(err)
		ts.Check(os.WriteFile(p, data, 0o644))
	},
	// matchline REGEXP VAR: VAR gets the first line of the previous command's stdout that
	// matches REGEXP, or its first group's match if REGEXP has a group.
	"matchline": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 2 {
			ts.Fatalf("usage: matchline REGEXP VAR")
		}
		re, err := regexp.Compile(args[0])
		ts.Check(err)
		for _, l := range strings.Split(ts.ReadFile("stdout"), "\n") {
			if m := re.FindStringSubmatch(l); m != nil {
				if len(m) > 1 {
					l = m[1]
				}
				ts.Setenv(args[1], strings.TrimSpace(l))
				return
			}
		}
		ts.Fatalf("no line of stdout matches %s", args[0])
	},
}

func decompress(name string, data []byte) ([]byte, error) {
	var r io.Reader
	var err error
	switch {
	case strings.HasSuffix(name, ".xz"):
		r, err = xz.NewReader(bytes.NewReader(data))
	case strings.HasSuffix(name, ".gz"):
		r, err = gzip.NewReader(bytes.NewReader(data))
	default:
		return data, nil
	}
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func recompress(name string, data []byte) ([]byte, error) {
	var b bytes.Buffer
	var w io.WriteCloser
	var err error
	switch {
	case strings.HasSuffix(name, ".xz"):
		w, err = xz.NewWriter(&b)
	case strings.HasSuffix(name, ".gz"):
		w = gzip.NewWriter(&b)
	default:
		return data, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
