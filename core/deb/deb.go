// Package deb owns Debian's archive as a package source: the archives apt's sources (or den's
// config) name, their verified indexes, and dependency closures of binary packages.
//
// Trust flows the way apt's does, and only one way. InRelease is verified against the keyring
// of its source (see DefaultKeyrings); the Packages files are checked, before a byte of them is
// parsed, against the size and SHA256 that the signed InRelease gives; a .deb is then a
// fixed-output download (Package.SRI) of mirror://<Mirror>/<Filename>, whose hash comes from
// the verified Packages file and ends up in den.lock. Verified index files are cached under
// Archive.CacheDir by hash, so a warm Index fetches only InRelease files.
//
// Written here rather than taken from a library: the fetch-and-verify chain (pault.ag/go/debian
// has parsers but no archive client, and its clear-signature code uses the deprecated
// x/crypto/openpgp) and the resolver (Debian's own are apt and dose, neither in Go). Control
// files, dependency relations and versions are parsed by pault.ag/go/debian; signatures are
// checked by ProtonMail/go-crypto.
package deb

import (
	"encoding/base64"
	"encoding/hex"

	"pault.ag/go/debian/version"
)

// Package is one binary package of an archive's index, for one architecture.
type Package struct {
	Name, Version, Arch string
	// Source is the name of the source package it was built from (the Source field without
	// its "(version)"; the package's own name when the field is absent), and SourceVersion
	// that source's version (the package's own version when not given).
	Source, SourceVersion string
	// Filename is the .deb's path under the archive's root (pool/main/…), SHA256 its hash
	// in hex and Size its length, as the verified Packages file gives them.
	Filename, SHA256 string
	Size             int64
	// Mirror names the archive it came from ("debian", "debian-security"): the .deb is at
	// mirror://<Mirror>/<Filename>. Suite is the suite whose index had it.
	Mirror, Suite string
	// The relations as written in the index; Closure parses them.
	Depends, PreDepends, Provides string
	MultiArch                     string // "same", "foreign", "allowed" or ""
	Essential                     bool
	Priority                      string

	ver version.Version
}

// SRI returns the .deb's hash in the SRI form fixed-output fetches take ("sha256-<base64>").
func (p *Package) SRI() string {
	b, err := hex.DecodeString(p.SHA256)
	if err != nil || len(b) != 32 {
		return ""
	}
	return "sha256-" + base64.StdEncoding.EncodeToString(b)
}

// URL returns the .deb's location in the form den.lock keeps: mirror://<Mirror>/<Filename>.
func (p *Package) URL() string { return "mirror://" + p.Mirror + "/" + p.Filename }

// String names the package as Debian tools do: name_version_arch.
func (p *Package) String() string { return p.Name + "_" + p.Version + "_" + p.Arch }
