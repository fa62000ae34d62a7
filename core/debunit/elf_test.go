package debunit

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// fakeELF is the smallest ELF file debug/elf reads as one with the given interpreter (none if
// ""), a dynamic section (when dynamic) with DT_NEEDED entries and a DT_RUNPATH (none if "").
// It is 64-bit unless class32 (armv7l-linux's programs).
type fakeELF struct {
	machine elf.Machine
	typ     elf.Type
	interp  string
	dynamic bool
	needed  []string
	runpath string
	class32 bool
}

func (f fakeELF) bytes() string {
	le := binary.LittleEndian
	// The sizes of a word, the header, a program header and a section header.
	word, ehsize, phsize, shsize := uint64(8), uint64(64), uint64(56), uint64(64)
	if f.class32 {
		word, ehsize, phsize, shsize = 4, 52, 32, 40
	}
	put := func(b *bytes.Buffer, v uint64) {
		if f.class32 {
			binary.Write(b, le, uint32(v))
		} else {
			binary.Write(b, le, v)
		}
	}
	var dynstr bytes.Buffer
	dynstr.WriteByte(0)
	str := func(s string) uint64 {
		off := dynstr.Len()
		dynstr.WriteString(s + "\x00")
		return uint64(off)
	}
	var dyn bytes.Buffer
	entry := func(tag elf.DynTag, v uint64) {
		put(&dyn, uint64(tag))
		put(&dyn, v)
	}
	for _, n := range f.needed {
		entry(elf.DT_NEEDED, str(n))
	}
	if f.runpath != "" {
		entry(elf.DT_RUNPATH, str(f.runpath))
	}
	entry(elf.DT_NULL, 0)
	shstr := "\x00.interp\x00.dynstr\x00.dynamic\x00.shstrtab\x00"

	var progs, sects int
	if f.interp != "" {
		progs++
	}
	if f.dynamic {
		progs++
	}
	// Layout: header, program headers, .interp, .dynstr, .dynamic, .shstrtab, section headers.
	align := func(off uint64) uint64 { return (off + word - 1) &^ (word - 1) }
	off := ehsize + phsize*uint64(progs)
	interpOff := off
	off += uint64(len(f.interp) + 1)
	dynstrOff := off
	off += uint64(dynstr.Len())
	off = align(off)
	dynOff := off
	off += uint64(dyn.Len())
	shstrOff := off
	off += uint64(len(shstr))
	off = align(off)
	shOff := off
	sects = 5

	class := elf.ELFCLASS64
	if f.class32 {
		class = elf.ELFCLASS32
	}
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', byte(class), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)})
	b.Write(make([]byte, 9))
	binary.Write(&b, le, uint16(f.typ))
	binary.Write(&b, le, uint16(f.machine))
	binary.Write(&b, le, uint32(elf.EV_CURRENT))
	put(&b, 0)                      // entry
	put(&b, ehsize)                 // phoff
	put(&b, shOff)                  // shoff
	binary.Write(&b, le, uint32(0)) // flags
	binary.Write(&b, le, uint16(ehsize))
	binary.Write(&b, le, uint16(phsize))
	binary.Write(&b, le, uint16(progs))
	binary.Write(&b, le, uint16(shsize))
	binary.Write(&b, le, uint16(sects))
	binary.Write(&b, le, uint16(4)) // shstrndx
	prog := func(typ elf.ProgType, off, size uint64) {
		binary.Write(&b, le, uint32(typ))
		if !f.class32 {
			binary.Write(&b, le, uint32(elf.PF_R)) // a 64-bit program header's flags come second
		}
		for _, v := range []uint64{off, off, off, size, size} {
			put(&b, v)
		}
		if f.class32 {
			binary.Write(&b, le, uint32(elf.PF_R))
		}
		put(&b, word)
	}
	if f.interp != "" {
		prog(elf.PT_INTERP, interpOff, uint64(len(f.interp)+1))
	}
	if f.dynamic {
		prog(elf.PT_DYNAMIC, dynOff, uint64(dyn.Len()))
	}
	b.WriteString(f.interp + "\x00")
	b.Write(dynstr.Bytes())
	b.Write(make([]byte, int(dynOff)-b.Len()))
	b.Write(dyn.Bytes())
	b.WriteString(shstr)
	b.Write(make([]byte, int(shOff)-b.Len()))
	sect := func(name uint32, typ elf.SectionType, off, size uint64, link uint32, entsize uint64) {
		binary.Write(&b, le, name)
		binary.Write(&b, le, uint32(typ))
		for _, v := range []uint64{uint64(elf.SHF_ALLOC), off, off, size} {
			put(&b, v)
		}
		binary.Write(&b, le, link)
		binary.Write(&b, le, uint32(0))
		put(&b, 1)
		put(&b, entsize)
	}
	b.Write(make([]byte, shsize)) // the null section
	sect(1, elf.SHT_PROGBITS, interpOff, uint64(len(f.interp)+1), 0, 0)
	sect(9, elf.SHT_STRTAB, dynstrOff, uint64(dynstr.Len()), 0, 0)
	dynType := elf.SHT_DYNAMIC
	if !f.dynamic {
		dynType = elf.SHT_PROGBITS
	}
	sect(17, dynType, dynOff, uint64(dyn.Len()), 2, 2*word)
	sect(26, elf.SHT_STRTAB, shstrOff, uint64(len(shstr)), 0, 0)
	return b.String()
}

func TestFakeELFReads(t *testing.T) {
	for _, class32 := range []bool{false, true} {
		data := fakeELF{machine: elf.EM_X86_64, typ: elf.ET_DYN, interp: "/lib64/ld", dynamic: true, needed: []string{"libc.so.6"}, runpath: "$ORIGIN", class32: class32}.bytes()
		f, err := elf.NewFile(strings.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		needed, err := f.ImportedLibraries()
		rp, _ := f.DynString(elf.DT_RUNPATH)
		if err != nil || !reflect.DeepEqual(needed, []string{"libc.so.6"}) || !reflect.DeepEqual(rp, []string{"$ORIGIN"}) {
			t.Fatalf("32-bit %v: needed %q, runpath %q, %v", class32, needed, rp, err)
		}
		if want := map[bool]elf.Class{false: elf.ELFCLASS64, true: elf.ELFCLASS32}[class32]; f.Class != want {
			t.Errorf("class %v, want %v", f.Class, want)
		}
	}
}

// A unit of Debian's armhf packages (armv7l-linux) holds 32-bit ARM programs: they are
// patched as any other, pointed at the armhf loader and lib/arm-linux-gnueabihf; a 64-bit ARM
// file among them is another machine's, and left alone.
func TestPatchPlanArmhf(t *testing.T) {
	work := t.TempDir()
	calls := filepath.Join(work, "calls")
	os.Mkdir(calls, 0o755)
	fake := filepath.Join(work, "patchelf")
	os.WriteFile(fake, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+calls+"/call.$$\n"), 0o755)
	const final = "/den/store/22222222222222222222222222222222-foo-arm-linux-gnueabihf"
	const interp = "/den/store/33333333333333333333333333333333-glibc-arm-linux-gnueabihf/lib/arm-linux-gnueabihf/ld-linux-armhf.so.3"
	arm := func(interp string, needed ...string) string {
		return fakeELF{machine: elf.EM_ARM, typ: elf.ET_DYN, interp: interp, dynamic: true, needed: needed, class32: true}.bytes()
	}
	deb := writeDeb(t, work, "foo", "xz",
		exe("./usr/bin/prog", arm("/lib/ld-linux-armhf.so.3", "libfoo.so.1", "libc.so.6")),
		file("./usr/lib/arm-linux-gnueabihf/libfoo.so.1", arm("", "libc.so.6")),
		exe("./usr/bin/arm64", fakeELF{machine: elf.EM_AARCH64, typ: elf.ET_DYN, interp: "/lib/ld-linux-aarch64.so.1", dynamic: true, needed: []string{"libc.so.6"}}.bytes()),
	)
	var log bytes.Buffer
	out := filepath.Join(work, "out")
	if err := build(t, Spec{Debs: []string{deb}, Out: out, FinalOut: final, Interp: interp, Patchelf: []string{fake},
		Triplet: "arm-linux-gnueabihf", Jobs: 1, Log: &log}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	ents, _ := os.ReadDir(calls)
	for _, e := range ents {
		lines := strings.Split(strings.TrimSuffix(read(t, filepath.Join(calls, e.Name())), "\n"), "\n")
		var args []string
		for _, l := range lines {
			if rel, ok := strings.CutPrefix(l, out+"/"); ok {
				got[rel] = strings.Join(args, " ")
			} else {
				args = append(args, l)
			}
		}
	}
	want := map[string]string{
		"bin/prog":                            "--set-interpreter " + interp + " --set-rpath " + final + "/lib/arm-linux-gnueabihf",
		"lib/arm-linux-gnueabihf/libfoo.so.1": "--set-rpath " + final + "/lib/arm-linux-gnueabihf",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("patchelf runs:\n got %q\nwant %q", got, want)
	}
	if !strings.Contains(log.String(), "bin/arm64: not patched") {
		t.Errorf("the 64-bit ARM file is not reported:\n%s", log.String())
	}
}

// TestPatchPlan runs a fake patchelf that records its arguments, and checks which files get
// which interpreter and RUNPATH, and that files needing the same are patched in one run.
func TestPatchPlan(t *testing.T) {
	work := t.TempDir()
	calls := filepath.Join(work, "calls")
	os.Mkdir(calls, 0o755)
	fake := filepath.Join(work, "patchelf")
	os.WriteFile(fake, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+calls+"/call.$$\n"), 0o755)

	dep := filepath.Join(work, "dep")
	os.MkdirAll(filepath.Join(dep, "lib/x86_64-linux-gnu"), 0o755)
	os.WriteFile(filepath.Join(dep, "lib/x86_64-linux-gnu/libdep.so.1"), []byte("dep"), 0o644)
	os.WriteFile(filepath.Join(dep, "lib/libother.so"), []byte("other"), 0o644)
	empty := filepath.Join(work, "empty") // library directories without libraries count for nothing
	os.MkdirAll(filepath.Join(empty, "lib/x86_64-linux-gnu/sub"), 0o755)

	const final = "/den/store/22222222222222222222222222222222-foo"
	const interp = "/den/store/33333333333333333333333333333333-glibc/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
	x := func(typ elf.Type, interp string, dynamic bool, runpath string, needed ...string) string {
		return fakeELF{machine: elf.EM_X86_64, typ: typ, interp: interp, dynamic: dynamic, needed: needed, runpath: runpath}.bytes()
	}
	deb := writeDeb(t, work, "foo", "xz",
		exe("./usr/bin/prog", x(elf.ET_DYN, "/lib64/ld-linux-x86-64.so.2", true, "$ORIGIN/../lib/extra:/usr/lib/x86_64-linux-gnu/priv:/opt/nowhere",
			"libfoo.so.1", "libplug.so", "libdep.so.1", "libc.so.6")),
		file("./usr/lib/x86_64-linux-gnu/libfoo.so.1", x(elf.ET_DYN, "", true, "", "libc.so.6")),
		file("./usr/lib/x86_64-linux-gnu/plugins/libplug.so", x(elf.ET_DYN, "", true, "", "libc.so.6")),
		file("./usr/lib/x86_64-linux-gnu/priv/README", "private"),
		exe("./usr/bin/static", x(elf.ET_EXEC, "", false, "")),
		exe("./lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", x(elf.ET_DYN, "", true, "", "libc.so.6")),
		file("./usr/lib/debug/.build-id/ab/cdef.debug", x(elf.ET_DYN, "", true, "", "libc.so.6")),
		exe("./usr/bin/arm", fakeELF{machine: elf.EM_AARCH64, typ: elf.ET_DYN, interp: "/lib/ld-linux-aarch64.so.1", dynamic: true, needed: []string{"libc.so.6"}}.bytes()),
		file("./usr/lib/x86_64-linux-gnu/crt1.o", x(elf.ET_REL, "", false, "")),
		file("./usr/lib/x86_64-linux-gnu/libnone.so", x(elf.ET_DYN, "", true, "")),
		exe("./usr/bin/interp-only", x(elf.ET_DYN, "/lib64/ld-linux-x86-64.so.2", true, "")),
	)
	out := filepath.Join(work, "out")
	var log bytes.Buffer
	err := build(t, Spec{Debs: []string{deb}, Out: out, FinalOut: final, Deps: []string{dep, empty}, Interp: interp,
		Patchelf: []string{fake, "--prefix-arg"}, Jobs: 1, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}  // file -> args
	runs := map[string][]string{} // args -> files of one run
	ents, _ := os.ReadDir(calls)
	for _, e := range ents {
		lines := strings.Split(strings.TrimSuffix(read(t, filepath.Join(calls, e.Name())), "\n"), "\n")
		if lines[0] != "--prefix-arg" {
			t.Errorf("run without the argv prefix: %q", lines)
			continue
		}
		var args, files []string
		for _, l := range lines[1:] {
			if rel, ok := strings.CutPrefix(l, out+"/"); ok {
				files = append(files, rel)
			} else {
				args = append(args, l)
			}
		}
		for _, f := range files {
			got[f] = args
		}
		k := strings.Join(args, " ")
		runs[k] = append(runs[k], files...)
	}
	// A dependency's library dir only where it holds a library the file needs: prog needs
	// libdep.so.1 (dep's lib/<triplet>), not libother.so (dep's lib); libc.so.6 is nowhere.
	want := map[string][]string{
		"bin/prog": {"--set-interpreter", interp, "--set-rpath",
			"$ORIGIN/../lib/extra:" + final + "/lib/x86_64-linux-gnu:" + final + "/lib/x86_64-linux-gnu/priv:" + final + "/lib/x86_64-linux-gnu/plugins:" + dep + "/lib/x86_64-linux-gnu"},
		"lib/x86_64-linux-gnu/libfoo.so.1":        {"--set-rpath", final + "/lib/x86_64-linux-gnu"},
		"lib/x86_64-linux-gnu/plugins/libplug.so": {"--set-rpath", final + "/lib/x86_64-linux-gnu"},
		"bin/interp-only":                         {"--set-interpreter", interp},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("patchelf runs:\n got %q\nwant %q", got, want)
	}
	k := strings.Join(want["lib/x86_64-linux-gnu/libfoo.so.1"], " ")
	sort.Strings(runs[k])
	if len(ents) != 3 || len(runs[k]) != 2 {
		t.Errorf("%d patchelf runs for %q, want 3 with the two libraries in one", len(ents), runs)
	}
	if !strings.Contains(log.String(), "bin/arm: not patched") {
		t.Errorf("the foreign ELF file is not reported:\n%s", log.String())
	}
}

func TestPatchelfFailure(t *testing.T) {
	work := t.TempDir()
	fake := filepath.Join(work, "patchelf")
	os.WriteFile(fake, []byte("#!/bin/sh\necho 'cannot find section .dynamic' >&2\nexit 1\n"), 0o755)
	deb := writeDeb(t, work, "foo", "xz",
		exe("./usr/bin/prog", fakeELF{machine: elf.EM_X86_64, typ: elf.ET_DYN, interp: "/lib64/ld", dynamic: true, needed: []string{"libc.so.6"}}.bytes()))
	out := filepath.Join(work, "out")
	err := build(t, Spec{Debs: []string{deb}, Out: out, Interp: "/s/ld.so", Patchelf: []string{fake}})
	var pe *PatchError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "cannot find section .dynamic") || !strings.Contains(err.Error(), "bin/prog") {
		t.Fatalf("Build = %v, want a *PatchError naming the file and patchelf's message", err)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Error("the output survived the failed build")
	}
}
