package npm

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// PackageManager is the packageManager field of a project's package.json, as corepack reads
// it: "pnpm@10.28.0", perhaps with "+sha512.…" after the version.
type PackageManager struct {
	Name, Version string
}

// maxPackageJSON bounds what is read of a package.json: a real one is a few kilobytes.
const maxPackageJSON = 4 << 20

// ReadPackageManager returns the packageManager that dir/package.json names. ok is false when
// there is no package.json, or it names none (or is not JSON: npm itself will say so).
func ReadPackageManager(dir string) (pm PackageManager, ok bool, err error) {
	f, err := os.Open(filepath.Join(dir, "package.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return pm, false, nil
	}
	if err != nil {
		return pm, false, err
	}
	defer f.Close()
	var doc struct {
		PackageManager string `json:"packageManager"`
	}
	if json.NewDecoder(io.LimitReader(f, maxPackageJSON)).Decode(&doc) != nil {
		return pm, false, nil
	}
	name, v, found := strings.Cut(doc.PackageManager, "@")
	if !found || name == "" || v == "" {
		return pm, false, nil
	}
	v, _, _ = strings.Cut(v, "+")
	return PackageManager{Name: name, Version: v}, true, nil
}
