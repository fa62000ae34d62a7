// Package platform owns system names in Nix's spelling ("x86_64-linux", "aarch64-darwin") and
// their mapping to Go's GOOS/GOARCH.
package platform

import (
	"fmt"
	"runtime"
	"strings"
)

// System is an "<arch>-<os>" pair.
type System struct{ Arch, OS string }

func (s System) String() string { return s.Arch + "-" + s.OS }

var goArch = map[string]string{"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm", "riscv64": "riscv64"}

// Known lists the systems den can lock for.
var Known = []string{"x86_64-linux", "aarch64-linux", "x86_64-darwin", "aarch64-darwin", "i686-linux", "armv7l-linux", "riscv64-linux"}

// Parse reads "<arch>-<os>".
func Parse(s string) (System, error) {
	arch, os, ok := strings.Cut(s, "-")
	if !ok || goArch[arch] == "" || (os != "linux" && os != "darwin") {
		return System{}, fmt.Errorf("unknown system %q (known: %s)", s, strings.Join(Known, ", "))
	}
	return System{Arch: arch, OS: os}, nil
}

// GOOS is Go's name of the operating system.
func (s System) GOOS() string { return s.OS }

// GOARCH is Go's name of the architecture.
func (s System) GOARCH() string { return goArch[s.Arch] }

// Current is the system den runs on.
func Current() System {
	for arch, ga := range goArch {
		if ga == runtime.GOARCH {
			return System{Arch: arch, OS: runtime.GOOS}
		}
	}
	return System{Arch: runtime.GOARCH, OS: runtime.GOOS}
}
