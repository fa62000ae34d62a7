package debunit

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/den-sh/den/core/nar"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// ent is one entry of a test .deb's data.tar.
type ent struct {
	name string
	body string // regular files
	link string // symlinks ("->"), hard links ("=>" prefix)
	mode int64
	typ  byte // overrides the type guessed from the fields
}

func file(name, body string) ent { return ent{name: name, body: body, mode: 0o644} }
func exe(name, body string) ent  { return ent{name: name, body: body, mode: 0o755} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) ent {
	return ent{name: name, link: to, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, to string) ent      { return ent{name: name, link: to, typ: tar.TypeLink, mode: 0o644} }
func special(name string, typ byte) ent { return ent{name: name, typ: typ, mode: 0o644} }

// writeDeb writes a .deb (ar: debian-binary, control.tar.gz, data.tar.<comp>) into dir.
func writeDeb(t *testing.T, dir, name, comp string, ents ...ent) string {
	t.Helper()
	var data bytes.Buffer
	var w io.WriteCloser
	switch comp {
	case "xz":
		xw, err := xz.NewWriter(&data)
		if err != nil {
			t.Fatal(err)
		}
		w = xw
	case "zst":
		zw, err := zstd.NewWriter(&data)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	case "gz":
		w = gzip.NewWriter(&data)
	case "":
		w = nopCloser{&data}
	default:
		t.Fatalf("compression %q", comp)
	}
	tw := tar.NewWriter(w)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.typ, Linkname: e.link, Format: tar.FormatGNU}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var control bytes.Buffer
	gw := gzip.NewWriter(&control)
	ctw := tar.NewWriter(gw)
	ctl := "Package: " + name + "\n"
	ctw.WriteHeader(&tar.Header{Name: "./control", Mode: 0o644, Size: int64(len(ctl))})
	ctw.Write([]byte(ctl))
	ctw.Close()
	gw.Close()

	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	member := func(name string, body []byte) {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8o%-10d`\n", name, 0, 0, 0, 0o644, len(body))
		ar.Write(body)
		if len(body)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	member("debian-binary", []byte("2.0\n"))
	member("control.tar.gz", control.Bytes())
	dataName := "data.tar"
	if comp != "" {
		dataName += "." + comp
	}
	member(dataName, data.Bytes())
	p := filepath.Join(dir, name+".deb")
	if err := os.WriteFile(p, ar.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

const x86 = "x86_64-linux-gnu"

func build(t *testing.T, s Spec) error {
	t.Helper()
	if s.Triplet == "" {
		s.Triplet = x86
	}
	if s.FinalOut == "" {
		s.FinalOut = "/den/store/00000000000000000000000000000000-unit"
	}
	return Build(context.Background(), s)
}

func readlink(t *testing.T, p string) string {
	t.Helper()
	l, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUsrMergeAndModes(t *testing.T) {
	dir := t.TempDir()
	a := writeDeb(t, dir, "a", "xz",
		dir_("./"), dir_("./usr/"), dir_("./usr/bin/"), exe("./usr/bin/tool", "tool"),
		dir_("./bin/"), ent{name: "./bin/sh", body: "sh", mode: 0o700},
		dir_("./lib/"), dir_("./lib/x86_64-linux-gnu/"), ent{name: "./lib/x86_64-linux-gnu/libc.so.6", body: "libc", mode: 0o600},
		file("./usr/lib/x86_64-linux-gnu/libz.so.1", "z"),
		dir_("./lib64/"), symlink("./lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
		exe("./lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "ld"),
		file("./usr/share/doc/a/copyright", "c"),
		hardlink("./usr/bin/tool2", "./usr/bin/tool"),
	)
	b := writeDeb(t, dir, "b", "zst", symlink("./lib", "usr/lib"), file("./usr/include/a.h", "h"))
	out := filepath.Join(dir, "out")
	if err := build(t, Spec{Debs: []string{a, b}, Out: out}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{
		"bin/tool": 0o755, "bin/tool2": 0o755, "bin/sh": 0o755, "lib/x86_64-linux-gnu/libc.so.6": 0o644,
		"lib/x86_64-linux-gnu/libz.so.1": 0o644, "share/doc/a/copyright": 0o644, "include/a.h": 0o644,
		"bin": 0o755 | os.ModeDir, "lib": 0o755 | os.ModeDir, "lib64": 0o755 | os.ModeDir,
	} {
		fi, err := os.Lstat(filepath.Join(out, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
	}
	if _, err := os.Lstat(filepath.Join(out, "usr")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("usr survived the usr-merge: %v", err)
	}
	if got := readlink(t, filepath.Join(out, "lib64/ld-linux-x86-64.so.2")); got != "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" {
		t.Errorf("lib64 loader link = %q", got)
	}
	// The hard link is a copy with the content.
	if read(t, filepath.Join(out, "bin/tool2")) != "tool" {
		t.Error("hard link lost its content")
	}
	var s1, s2 os.FileInfo
	s1, _ = os.Stat(filepath.Join(out, "bin/tool"))
	s2, _ = os.Stat(filepath.Join(out, "bin/tool2"))
	if os.SameFile(s1, s2) {
		t.Error("the hard link is still a hard link")
	}
}

func dir_(name string) ent { return dir(name) }

func TestSymlinks(t *testing.T) {
	work := t.TempDir()
	dep := filepath.Join(work, "dep")
	os.MkdirAll(filepath.Join(dep, "lib/x86_64-linux-gnu"), 0o755)
	os.WriteFile(filepath.Join(dep, "lib/x86_64-linux-gnu/libdep.so.2"), []byte("dep"), 0o644)
	other := filepath.Join(work, "other")
	os.MkdirAll(filepath.Join(other, "lib/x86_64-linux-gnu"), 0o755)
	os.WriteFile(filepath.Join(other, "lib/x86_64-linux-gnu/libdep.so.2"), []byte("other"), 0o644)
	// An absolute link in a dependency must not be followed out of it.
	os.Symlink("/", filepath.Join(other, "host"))

	dev := writeDeb(t, work, "foo-dev", "xz",
		symlink("./usr/lib/x86_64-linux-gnu/libfoo.so", "/lib/x86_64-linux-gnu/libfoo.so.1"),
		symlink("./usr/lib/x86_64-linux-gnu/libbar.so", "../../../lib/x86_64-linux-gnu/libbar.so.1"),
		symlink("./usr/lib/x86_64-linux-gnu/libdep.so", "/lib/x86_64-linux-gnu/libdep.so.2"),
		symlink("./usr/bin/editor", "/etc/alternatives/editor"),
		symlink("./usr/bin/vi", "vim"),
		symlink("./usr/bin/etc-passwd", "/host/etc/passwd"),
		symlink("./usr/share/doc/foo-dev", "foo"),
	)
	lib := writeDeb(t, work, "foo", "gz",
		file("./lib/x86_64-linux-gnu/libfoo.so.1", "foo"),
		file("./lib/x86_64-linux-gnu/libbar.so.1", "bar"),
		exe("./usr/bin/vim", "vim"),
		file("./usr/share/doc/foo/copyright", "c"),
	)
	out := filepath.Join(work, "out")
	var log bytes.Buffer
	if err := build(t, Spec{Debs: []string{dev, lib}, Out: out, Deps: []string{other, dep}, Log: &log}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"lib/x86_64-linux-gnu/libfoo.so": "libfoo.so.1",                               // absolute, in the unit
		"lib/x86_64-linux-gnu/libbar.so": "libbar.so.1",                               // relative across the old /usr boundary
		"lib/x86_64-linux-gnu/libdep.so": other + "/lib/x86_64-linux-gnu/libdep.so.2", // the first dependency that has it
		"bin/editor":                     "../etc/alternatives/editor",                // nowhere: dangling, inside
		"bin/vi":                         "vim",                                       // Debian's spelling kept
		"bin/etc-passwd":                 "../host/etc/passwd",                        // not through a dependency's link to the host
		"share/doc/foo-dev":              "foo",
	} {
		if got := readlink(t, filepath.Join(out, name)); got != want {
			t.Errorf("%s -> %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(log.String(), "bin/editor -> /etc/alternatives/editor") {
		t.Errorf("the dangling link is not reported in the log:\n%s", log.String())
	}
}

func TestLdScriptAndShebangs(t *testing.T) {
	work := t.TempDir()
	dep := filepath.Join(work, "dep")
	os.MkdirAll(filepath.Join(dep, "lib/x86_64-linux-gnu"), 0o755)
	os.MkdirAll(filepath.Join(dep, "bin"), 0o755)
	os.WriteFile(filepath.Join(dep, "lib/x86_64-linux-gnu/libc_nonshared.a"), []byte("!<arch>\n"), 0o644)
	os.WriteFile(filepath.Join(dep, "bin/sh"), []byte("sh"), 0o755)
	const final = "/den/store/11111111111111111111111111111111-glibc"
	script := "/* GNU ld script\n   Use the shared library, but some functions are only in\n   the static library, so try that secondarily.  */\n" +
		"OUTPUT_FORMAT(elf64-x86-64)\n" +
		"GROUP ( /lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libc_nonshared.a  AS_NEEDED ( /lib64/ld-linux-x86-64.so.2 ) )\n"
	deb := writeDeb(t, work, "libc", "xz",
		file("./lib/x86_64-linux-gnu/libc.so.6", "\x7fELF-not-really"),
		file("./usr/lib/x86_64-linux-gnu/libc.so", script),
		exe("./usr/bin/perl", "perl"),
		exe("./usr/bin/a", "#!/usr/bin/perl -w\nprint 1;\n"),
		exe("./usr/bin/b", "#!/bin/sh\necho b\n"),
		exe("./usr/bin/c", "#! /usr/bin/env python3\n"),
		exe("./usr/sbin/d", "#!/bin/sh"),
		file("./usr/share/e.sh", "#!/usr/bin/perl\n"),
	)
	out := filepath.Join(work, "out")
	if err := build(t, Spec{Debs: []string{deb}, Out: out, FinalOut: final, Deps: []string{dep}}); err != nil {
		t.Fatal(err)
	}
	wantScript := strings.Replace(strings.Replace(script,
		"/lib/x86_64-linux-gnu/libc.so.6", final+"/lib/x86_64-linux-gnu/libc.so.6", 1),
		"/usr/lib/x86_64-linux-gnu/libc_nonshared.a", dep+"/lib/x86_64-linux-gnu/libc_nonshared.a", 1)
	if got := read(t, filepath.Join(out, "lib/x86_64-linux-gnu/libc.so")); got != wantScript {
		t.Errorf("ld script:\n%s\nwant:\n%s", got, wantScript)
	}
	for name, want := range map[string]string{
		"bin/a":      "#!" + final + "/bin/perl -w\nprint 1;\n",
		"bin/b":      "#!" + dep + "/bin/sh\necho b\n",
		"bin/c":      "#! /usr/bin/env python3\n",
		"sbin/d":     "#!" + dep + "/bin/sh",
		"share/e.sh": "#!" + final + "/bin/perl\n",
	} {
		if got := read(t, filepath.Join(out, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if fi, _ := os.Stat(filepath.Join(out, "bin/a")); fi.Mode() != 0o755 {
		t.Errorf("rewritten script lost its mode: %v", fi.Mode())
	}
}

func TestRefusesHostileEntries(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    []ent
		want string
	}{
		{"dotdot", []ent{file("./usr/../../etc/passwd", "x")}, "escapes"},
		{"parent", []ent{file("../evil", "x")}, "escapes"},
		{"absolute", []ent{file("/etc/passwd", "x")}, "absolute name"},
		{"unclean", []ent{file("./usr//bin/x", "x")}, "not clean"},
		{"device", []ent{special("./dev/null", tar.TypeChar)}, "device"},
		{"fifo", []ent{special("./fifo", tar.TypeFifo)}, "fifo"},
		{"through-symlink", []ent{symlink("./usr/lib/l", "/tmp"), file("./usr/lib/l/x", "x")}, "not a directory"},
		{"hardlink-out", []ent{hardlink("./usr/bin/x", "../../etc/passwd")}, "hard link target"},
		{"hardlink-missing", []ent{hardlink("./usr/bin/x", "./usr/bin/y")}, "not a regular file earlier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			deb := writeDeb(t, work, "evil", "xz", tc.e...)
			out := filepath.Join(work, "out")
			err := build(t, Spec{Debs: []string{deb}, Out: out})
			var ee *EntryError
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build = %v, want an *EntryError saying %q", err, tc.want)
			}
			if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the output survived the failed build: %v", err)
			}
			if _, err := os.Lstat(filepath.Join(work, "etc")); err == nil {
				t.Error("something was written outside the output")
			}
		})
	}
}

func TestNotADeb(t *testing.T) {
	work := t.TempDir()
	p := filepath.Join(work, "x.deb")
	os.WriteFile(p, []byte("PK\x03\x04 not a deb"), 0o644)
	var ee *EntryError
	if err := build(t, Spec{Debs: []string{p}, Out: filepath.Join(work, "out")}); !errors.As(err, &ee) {
		t.Fatalf("Build = %v, want an *EntryError", err)
	}
}

func TestConflicts(t *testing.T) {
	work := t.TempDir()
	a := writeDeb(t, work, "a", "xz", file("./usr/share/x", "same"), file("./usr/share/y", "one"), symlink("./usr/bin/l", "t"))
	same := writeDeb(t, work, "same", "zst", file("./usr/share/x", "same"), symlink("./bin/l", "t"))
	if err := build(t, Spec{Debs: []string{a, same}, Out: filepath.Join(work, "ok")}); err != nil {
		t.Fatalf("identical files from two debs: %v", err)
	}
	for name, e := range map[string][]ent{
		"content": {file("./usr/share/y", "two")},
		"size":    {file("./usr/share/y", "three")},
		"mode":    {exe("./usr/share/y", "one")},
		"kind":    {dir("./usr/share/y/")},
		"link":    {symlink("./usr/bin/l", "u")},
		"merged":  {file("./share/y", "owt")}, // /share and /usr/share meet in the usr-merge
	} {
		t.Run(name, func(t *testing.T) {
			b := writeDeb(t, work, "b-"+name, "xz", e...)
			err := build(t, Spec{Debs: []string{a, b}, Out: filepath.Join(work, "out-"+name)})
			var ce *ConflictError
			if !errors.As(err, &ce) || ce.First != a || ce.Deb != b {
				t.Fatalf("Build = %v, want a *ConflictError between %s and %s", err, a, b)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	work := t.TempDir()
	var ents []ent
	for i := range 50 {
		ents = append(ents, file(fmt.Sprintf("./usr/lib/x86_64-linux-gnu/lib%d.so.1", i), fmt.Sprint(i)),
			symlink(fmt.Sprintf("./usr/lib/x86_64-linux-gnu/lib%d.so", i), fmt.Sprintf("/lib/x86_64-linux-gnu/lib%d.so.1", i)))
	}
	ents = append(ents, exe("./usr/bin/s", "#!/bin/sh\n"), exe("./bin/sh", "sh"))
	deb := writeDeb(t, work, "d", "xz", ents...)
	var hashes []string
	for _, o := range []string{"one", "two"} {
		out := filepath.Join(work, o)
		if err := build(t, Spec{Debs: []string{deb}, Out: out}); err != nil {
			t.Fatal(err)
		}
		h, _, err := nar.Hash(out)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h.String())
	}
	if hashes[0] != hashes[1] {
		t.Errorf("two builds differ: %s", hashes)
	}
}

func TestBadSpec(t *testing.T) {
	work := t.TempDir()
	deb := writeDeb(t, work, "a", "xz", file("./usr/x", "x"))
	for name, s := range map[string]Spec{
		"triplet": {Debs: []string{deb}, Out: filepath.Join(work, "o1"), FinalOut: "/s/x", Triplet: "mips-linux-gnu"},
		"final":   {Debs: []string{deb}, Out: filepath.Join(work, "o2"), FinalOut: "relative", Triplet: x86},
		"interp":  {Debs: []string{deb}, Out: filepath.Join(work, "o3"), FinalOut: "/s/x", Triplet: x86, Interp: "lib/ld.so"},
		"nodebs":  {Out: filepath.Join(work, "o4"), FinalOut: "/s/x", Triplet: x86},
		"exists":  {Debs: []string{deb}, Out: work, FinalOut: "/s/x", Triplet: x86},
		"nodep":   {Debs: []string{deb}, Out: filepath.Join(work, "o5"), FinalOut: "/s/x", Triplet: x86, Deps: []string{filepath.Join(work, "missing")}},
	} {
		if err := Build(context.Background(), s); err == nil {
			t.Errorf("%s: Build succeeded", name)
		}
	}
}

// TestPkgConfig: a .pc file names store paths, never the host's /usr: Debian's prefix=/usr is
// the unit, absolute dirs and -I/-L flags go to the unit or the dependency that has them, and
// what is nowhere (and ${prefix}-relative values) stays.
func TestPkgConfig(t *testing.T) {
	work := t.TempDir()
	dep := filepath.Join(work, "dep")
	os.MkdirAll(filepath.Join(dep, "include/dep"), 0o755)
	const final = "/den/store/11111111111111111111111111111111-zlib"
	pc := "prefix=/usr\nexec_prefix=${prefix}\nlibdir=/usr/lib/x86_64-linux-gnu\nincludedir=${prefix}/include\nother=/opt/nowhere\n\n" +
		"Name: zlib\nDescription: a = b: c\nLibs: -L${libdir} -lz\nCflags: -I${includedir} -I/usr/include/dep -I/usr/include/missing\n"
	deb := writeDeb(t, work, "zlib1g-dev", "xz",
		file("./usr/lib/x86_64-linux-gnu/libz.a", "!<arch>\n"),
		file("./usr/include/zlib.h", "/* zlib */"),
		file("./usr/lib/x86_64-linux-gnu/pkgconfig/zlib.pc", pc),
		file("./usr/share/doc/not-pkgconfig.pc", "prefix=/usr\n"),
	)
	out := filepath.Join(work, "out")
	if err := build(t, Spec{Debs: []string{deb}, Out: out, FinalOut: final, Deps: []string{dep}}); err != nil {
		t.Fatal(err)
	}
	want := "prefix=" + final + "\nexec_prefix=${prefix}\nlibdir=" + final + "/lib/x86_64-linux-gnu\nincludedir=${prefix}/include\nother=/opt/nowhere\n\n" +
		"Name: zlib\nDescription: a = b: c\nLibs: -L${libdir} -lz\nCflags: -I${includedir} -I" + dep + "/include/dep -I/usr/include/missing\n"
	if got := read(t, filepath.Join(out, "lib/x86_64-linux-gnu/pkgconfig/zlib.pc")); got != want {
		t.Errorf("zlib.pc:\n%s\nwant:\n%s", got, want)
	}
	if got := read(t, filepath.Join(out, "share/doc/not-pkgconfig.pc")); got != "prefix=/usr\n" {
		t.Errorf("a .pc outside a pkgconfig dir was rewritten: %q", got)
	}
}
