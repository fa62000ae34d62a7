// Package emulator runs another system's programs on this one: it tells a program of a target
// system by its ELF header, and runs it under QEMU's user-mode emulator for that system (a
// static program from the store), without binfmt_misc, which den never assumes or installs.
package emulator

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/den-sh/den/core/platform"
)

// Package is the index package that holds the emulators.
const Package = "qemu-user"

// machines are the ELF machines of the Linux systems an emulator runs, and QEMU's name of
// each CPU.
var machines = map[string]struct {
	machine elf.Machine
	class   elf.Class
	qemu    string
}{
	"aarch64-linux": {elf.EM_AARCH64, elf.ELFCLASS64, "aarch64"},
	"x86_64-linux":  {elf.EM_X86_64, elf.ELFCLASS64, "x86_64"},
	"riscv64-linux": {elf.EM_RISCV, elf.ELFCLASS64, "riscv64"},
	"armv7l-linux":  {elf.EM_ARM, elf.ELFCLASS32, "arm"},
	"i686-linux":    {elf.EM_386, elf.ELFCLASS32, "i386"},
}

// UnsupportedError says den knows no emulator for a system.
type UnsupportedError struct{ System string }

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("den has no emulator for %s (it runs aarch64-linux, x86_64-linux, riscv64-linux, armv7l-linux and i686-linux programs under QEMU)", e.System)
}

// Needed reports whether programs of target need the emulator on a machine of system on: a
// machine runs its own system's programs natively.
func Needed(target, on platform.System) bool { return target != on }

// Program is the file name of the emulator for target in the emulator package's bin:
// qemu-aarch64-static.
func Program(target platform.System) (string, error) {
	m, ok := machines[target.String()]
	if !ok {
		return "", &UnsupportedError{System: target.String()}
	}
	return "qemu-" + m.qemu + "-static", nil
}

// IsTarget reports whether the file at path is an ELF program of target. A file that is not
// ELF (a script, which runs as it is) or is for another machine is not.
func IsTarget(path string, target platform.System) (bool, error) {
	m, ok := machines[target.String()]
	if !ok {
		return false, &UnsupportedError{System: target.String()}
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, err
	}
	if string(magic[:]) != elf.ELFMAG {
		return false, nil
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return ef.Machine == m.machine && ef.Class == m.class, nil
}

// Wrap returns argv to run the program at path (argv[0] as the user named it) for target:
// under the emulator of the package at emulators when it is a program of target, else argv
// with path as its first word, unchanged. The emulator is told argv[0] (-0), so a program
// that looks at its own name sees the name it was run by.
func Wrap(argv []string, path string, target platform.System, emulators string) ([]string, bool, error) {
	ok, err := IsTarget(path, target)
	if err != nil || !ok {
		return append([]string{path}, argv[1:]...), false, err
	}
	prog, err := Program(target)
	if err != nil {
		return nil, false, err
	}
	qemu := filepath.Join(emulators, "bin", prog)
	if _, err := os.Stat(qemu); err != nil {
		return nil, false, fmt.Errorf("the emulator package %s has no %s: %w", emulators, prog, err)
	}
	return append([]string{qemu, "-0", argv[0], path}, argv[1:]...), true, nil
}
