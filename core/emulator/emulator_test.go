package emulator

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/den-sh/den/core/platform"
)

// elfHeader is the 64-byte header of a 64-bit little-endian ELF executable for machine, with no
// program or section headers: enough for debug/elf.
func elfHeader(machine elf.Machine) []byte {
	h := make([]byte, 64)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS], h[elf.EI_DATA], h[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	binary.LittleEndian.PutUint16(h[16:], uint16(elf.ET_EXEC))
	binary.LittleEndian.PutUint16(h[18:], uint16(machine))
	binary.LittleEndian.PutUint32(h[20:], uint32(elf.EV_CURRENT))
	binary.LittleEndian.PutUint16(h[52:], 64) // e_ehsize
	return h
}

// elf32Header is elfHeader for a 32-bit program (armv7l-linux's): a 52-byte header.
func elf32Header(machine elf.Machine) []byte {
	h := make([]byte, 52)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS], h[elf.EI_DATA], h[elf.EI_VERSION] = byte(elf.ELFCLASS32), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	binary.LittleEndian.PutUint16(h[16:], uint16(elf.ET_EXEC))
	binary.LittleEndian.PutUint16(h[18:], uint16(machine))
	binary.LittleEndian.PutUint32(h[20:], uint32(elf.EV_CURRENT))
	binary.LittleEndian.PutUint16(h[40:], 52) // e_ehsize
	return h
}

func sys(t *testing.T, s string) platform.System {
	t.Helper()
	p, err := platform.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWrap(t *testing.T) {
	dir := t.TempDir()
	arm := filepath.Join(dir, "app-arm64")
	x86 := filepath.Join(dir, "app-x86")
	script := filepath.Join(dir, "script")
	empty := filepath.Join(dir, "empty")
	for name, data := range map[string][]byte{
		arm: elfHeader(elf.EM_AARCH64), x86: elfHeader(elf.EM_X86_64), script: []byte("#!/bin/sh\necho hi\n"), empty: nil,
	} {
		if err := os.WriteFile(name, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	emus := filepath.Join(dir, "qemu")
	if err := os.MkdirAll(filepath.Join(emus, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	qemu := filepath.Join(emus, "bin", "qemu-aarch64-static")
	if err := os.WriteFile(qemu, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	aarch64 := sys(t, "aarch64-linux")

	got, wrapped, err := Wrap([]string{"./app", "-v"}, arm, aarch64, emus)
	if err != nil || !wrapped || !slices.Equal(got, []string{qemu, "-0", "./app", arm, "-v"}) {
		t.Errorf("an aarch64 program: %q %v %v", got, wrapped, err)
	}
	for _, p := range []string{x86, script, empty} {
		got, wrapped, err := Wrap([]string{"prog", "-v"}, p, aarch64, emus)
		if err != nil || wrapped || !slices.Equal(got, []string{p, "-v"}) {
			t.Errorf("%s runs as it is, got %q %v %v", filepath.Base(p), got, wrapped, err)
		}
	}
	if _, _, err := Wrap([]string{"x"}, arm, aarch64, t.TempDir()); err == nil {
		t.Error("an emulator package without qemu-aarch64-static: no error")
	}
	var ue *UnsupportedError
	if _, err := Program(sys(t, "aarch64-darwin")); !errors.As(err, &ue) {
		t.Errorf("Program(aarch64-darwin) = %v, want an UnsupportedError", err)
	}
	if p, _ := Program(sys(t, "armv7l-linux")); p != "qemu-arm-static" {
		t.Errorf("armv7l-linux runs under %q", p)
	}
	if Needed(aarch64, aarch64) || !Needed(aarch64, sys(t, "x86_64-linux")) {
		t.Error("Needed: a machine runs its own programs, and only those")
	}
}

// An armv7l-linux program is a 32-bit ARM one: a 64-bit aarch64 program is not, nor the
// other way round; an i686-linux program is a 32-bit x86 one.
func TestIsTarget32(t *testing.T) {
	dir := t.TempDir()
	arm32, arm64 := filepath.Join(dir, "app-armhf"), filepath.Join(dir, "app-arm64")
	if err := os.WriteFile(arm32, elf32Header(elf.EM_ARM), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(arm64, elfHeader(elf.EM_AARCH64), 0o755); err != nil {
		t.Fatal(err)
	}
	x86 := filepath.Join(dir, "app-i386")
	if err := os.WriteFile(x86, elf32Header(elf.EM_386), 0o755); err != nil {
		t.Fatal(err)
	}
	armv7l, aarch64, i686 := sys(t, "armv7l-linux"), sys(t, "aarch64-linux"), sys(t, "i686-linux")
	for _, c := range []struct {
		path   string
		target platform.System
		want   bool
	}{
		{arm32, armv7l, true}, {arm64, armv7l, false}, {arm32, aarch64, false}, {arm64, aarch64, true},
		{x86, i686, true}, {x86, armv7l, false}, {arm32, i686, false},
	} {
		if got, err := IsTarget(c.path, c.target); err != nil || got != c.want {
			t.Errorf("IsTarget(%s, %s) = %v, %v; want %v", filepath.Base(c.path), c.target, got, err, c.want)
		}
	}
	emus := filepath.Join(dir, "qemu")
	qemu := filepath.Join(emus, "bin", "qemu-arm-static")
	if err := os.MkdirAll(filepath.Dir(qemu), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(qemu, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, wrapped, err := Wrap([]string{"app"}, arm32, armv7l, emus); err != nil || !wrapped || !slices.Equal(got, []string{qemu, "-0", "app", arm32}) {
		t.Errorf("an armv7l program: %q %v %v", got, wrapped, err)
	}
}
