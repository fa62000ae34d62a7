// Package nar reads and writes Nix archives (NAR), byte-identical to nix-store --dump.
package nar

// The format, as Nix 2.8 writes it: every token is a string, written as its length (uint64,
// little-endian) followed by its bytes and zero padding to a multiple of 8. Contents are a string
// too, so a NAR has no alignment surprises.
//
//	archive   = "nix-archive-1" node
//	node      = "(" "type" ( regular | symlink | directory ) ")"
//	regular   = "regular" [ "executable" "" ] "contents" <bytes>
//	symlink   = "symlink" "target" <target>
//	directory = "directory" { "entry" "(" "name" <name> "node" node ")" }
//
// Directory entries are sorted by name, bytewise, with no duplicates. The writer and reader are
// written here rather than taken from a library because hashing store paths is on every build's
// critical path (it reads files ahead in parallel) and because the reader must refuse every
// archive Nix would not have written, not merely parse the ones it would.

import (
	"encoding/binary"
	"strings"
)

const (
	magic = "nix-archive-1"

	// maxName is the longest file name Linux and macOS accept; a longer one could never be
	// restored, and bounding it keeps a hostile length prefix from allocating much.
	maxName = 255
	// maxTarget is PATH_MAX, the longest symlink target the kernel stores.
	maxTarget = 4096
	// maxDepth bounds directory nesting so that a small hostile archive cannot make Walk build
	// quadratically long paths; real trees are far shallower.
	maxDepth = 1024
)

// Type is the kind of a node in an archive.
type Type uint8

const (
	Regular Type = iota + 1
	Symlink
	Directory
)

func (t Type) String() string {
	switch t {
	case Regular:
		return "regular"
	case Symlink:
		return "symlink"
	case Directory:
		return "directory"
	}
	return "invalid"
}

// padding is the number of zero bytes that follow n bytes of string data.
func padding(n uint64) int { return int(-n & 7) }

// zeroPad holds enough zero bytes for any padding.
const zeroPad = "\x00\x00\x00\x00\x00\x00\x00\x00"

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	b = append(b, s...)
	return append(b, zeroPad[:padding(uint64(len(s)))]...)
}

func appendStrings(b []byte, ss ...string) []byte {
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// validName reports whether a directory entry name is one Nix accepts.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}
