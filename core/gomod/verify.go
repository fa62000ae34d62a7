package gomod

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/sumdb/dirhash"
)

// ChecksumMismatchError says a downloaded zip or go.mod does not hash to what the checksum
// database (or den.lock, which holds what the database said) expects.
type ChecksumMismatchError struct {
	Module, Version string // Version is empty for a go.mod, which does not name its version
	File            string // "zip" or "go.mod"
	Want, Got       string
}

func (e *ChecksumMismatchError) Error() string {
	what := e.Module
	if e.Version != "" {
		what += "@" + e.Version
	}
	if what == "" {
		what = "module"
	}
	return fmt.Sprintf("%s: %s checksum mismatch: the module proxy served content that differs from the checksum database (want %s, got %s)",
		what, e.File, e.Want, e.Got)
}

// Hints says what the mismatch means for the user.
func (e *ChecksumMismatchError) Hints() []string {
	return []string{"the download was not used; a proxy must serve exactly the bytes the checksum database records, so check GOPROXY"}
}

// HashZip returns the h1: hash of a module zip, the hash the checksum database and go.sum record.
func HashZip(zipFile string) (string, error) {
	return dirhash.HashZip(zipFile, dirhash.Hash1)
}

// HashMod returns the h1: hash of a go.mod, computed as the go command does: the dirhash of a
// tree holding that one file under the name "go.mod".
func HashMod(data []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

// VerifyZip checks that a module zip hashes to wantH1.
func VerifyZip(zipFile, wantH1 string) error {
	if err := checkWant(wantH1); err != nil {
		return err
	}
	got, err := HashZip(zipFile)
	if err != nil {
		return fmt.Errorf("hashing %s: %w", zipFile, err)
	}
	if got != wantH1 {
		mod, version := zipModule(zipFile)
		return &ChecksumMismatchError{Module: mod, Version: version, File: "zip", Want: wantH1, Got: got}
	}
	return nil
}

// VerifyMod checks that a go.mod hashes to wantH1.
func VerifyMod(data []byte, wantH1 string) error {
	if err := checkWant(wantH1); err != nil {
		return err
	}
	got, err := HashMod(data)
	if err != nil {
		return err
	}
	if got != wantH1 {
		return &ChecksumMismatchError{Module: modfile.ModulePath(data), File: "go.mod", Want: wantH1, Got: got}
	}
	return nil
}

// checkWant refuses an empty or foreign expected hash, which would otherwise read as a mismatch
// blamed on the proxy.
func checkWant(wantH1 string) error {
	if wantH1 == "" {
		return errors.New("no expected h1: hash to verify against")
	}
	if !strings.HasPrefix(wantH1, "h1:") {
		return fmt.Errorf("expected hash %q is not an h1: hash", wantH1)
	}
	return nil
}

// zipModule reads module@version from a module zip's first file name, to name the module in a
// mismatch; a zip too broken to tell gives empty strings.
func zipModule(zipFile string) (mod, version string) {
	z, err := zip.OpenReader(zipFile)
	if err != nil {
		return "", ""
	}
	defer z.Close()
	if len(z.File) == 0 {
		return "", ""
	}
	// Module paths hold slashes but never "@", so the version runs from "@" to the next slash.
	mod, rest, ok := strings.Cut(z.File[0].Name, "@")
	if !ok {
		return "", ""
	}
	version, _, _ = strings.Cut(rest, "/")
	return mod, version
}
