package gomod

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// UnzipVerified unpacks a module zip (toolchain selects the golang.org/toolchain finishing touches)
// into dest, hashing every file as it is written, on every core, and keeps dest only if the zip's
// h1: hash equals wantH1. It does what VerifyZip followed by UnzipModule or UnzipToolchain does,
// with one decompression instead of three (x/mod's Unzip checks the whole zip before extracting),
// which is most of the time a cold toolchain fetch takes. The rules are x/mod's: every file under
// module@version/, valid file paths, no case-insensitive duplicates, bounded sizes.
func UnzipVerified(zipFile, mod, version, dest, wantH1 string, toolchain bool) (err error) {
	if err := checkWant(wantH1); err != nil {
		return err
	}
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		return fmt.Errorf("open module zip %s@%s: %w", mod, version, err)
	}
	defer zr.Close()
	prefix := mod + "@" + version + "/"
	seen := map[string]bool{}
	var total uint64
	dirs := map[string]bool{}
	for _, f := range zr.File {
		rel, ok := strings.CutPrefix(f.Name, prefix)
		if !ok || rel == "" || strings.HasSuffix(f.Name, "/") {
			return fmt.Errorf("module zip %s@%s: entry %q is not a file under %s", mod, version, f.Name, prefix)
		}
		if strings.Contains(f.Name, "\n") {
			return fmt.Errorf("module zip %s@%s: entry name %q holds a newline", mod, version, f.Name)
		}
		if err := module.CheckFilePath(rel); err != nil {
			return fmt.Errorf("module zip %s@%s: %w", mod, version, err)
		}
		if low := strings.ToLower(rel); seen[low] {
			return fmt.Errorf("module zip %s@%s: %q appears twice (case-insensitively)", mod, version, rel)
		} else {
			seen[low] = true
		}
		total += f.UncompressedSize64
		if total > modzip.MaxZipFile {
			return fmt.Errorf("module zip %s@%s: unpacks to more than %d bytes", mod, version, modzip.MaxZipFile)
		}
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	if err := os.Mkdir(dest, 0o755); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dest)
		}
	}()
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	sort.Strings(sorted) // parents before children
	for _, d := range sorted {
		if err := os.Mkdir(filepath.Join(dest, filepath.FromSlash(d)), 0o755); err != nil {
			return err
		}
	}

	sums := make([][sha256.Size]byte, len(zr.File))
	errs := make([]error, len(zr.File))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f := zr.File[i]
				rel := strings.TrimPrefix(f.Name, prefix)
				sums[i], errs[i] = extract(f, filepath.Join(dest, filepath.FromSlash(rel)), toolchain && toolchainExec(rel))
			}
		}()
	}
	for i := range zr.File {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return fmt.Errorf("module zip %s@%s: %w", mod, version, e)
		}
	}
	// The h1: hash, as golang.org/x/mod/sumdb/dirhash.Hash1 defines it.
	order := make([]int, len(zr.File))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return zr.File[order[a]].Name < zr.File[order[b]].Name })
	h := sha256.New()
	for _, i := range order {
		fmt.Fprintf(h, "%x  %s\n", sums[i], zr.File[i].Name)
	}
	got := "h1:" + base64.StdEncoding.EncodeToString(h.Sum(nil))
	if got != wantH1 {
		return &ChecksumMismatchError{Module: mod, Version: version, File: "zip", Want: wantH1, Got: got}
	}
	if toolchain {
		if _, err := os.Stat(filepath.Join(dest, "bin", "go")); err != nil {
			return fmt.Errorf("toolchain %s has no bin/go", version)
		}
		for _, f := range zr.File {
			rel := strings.TrimPrefix(f.Name, prefix)
			if path.Base(rel) == "_go.mod" {
				src := filepath.Join(dest, filepath.FromSlash(rel))
				data, err := os.ReadFile(src)
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(filepath.Dir(src), "go.mod"), data, 0o444); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// toolchainExec is the go command's rule for which toolchain files get their execute bits back:
// everything under bin/ and pkg/tool/, and lib's go_<goos>_<goarch>_exec wrappers.
func toolchainExec(rel string) bool {
	if runtime.GOOS == "windows" {
		return false
	}
	if strings.HasPrefix(rel, "bin/") || strings.HasPrefix(rel, "pkg/tool/") {
		return true
	}
	if strings.HasPrefix(rel, "lib/") {
		ok, _ := path.Match("go_?*_?*_exec", path.Base(rel))
		return ok
	}
	return false
}

func extract(f *zip.File, dest string, exec bool) (sum [sha256.Size]byte, err error) {
	r, err := f.Open()
	if err != nil {
		return sum, err
	}
	defer r.Close()
	mode := os.FileMode(0o444)
	if exec {
		mode = 0o555
	}
	w, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return sum, err
	}
	h := sha256.New()
	// One byte past the declared size catches an entry that holds more than it says.
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, int64(f.UncompressedSize64)+1))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && uint64(n) != f.UncompressedSize64 {
		err = fmt.Errorf("%s holds %d bytes, not the %d its header says", f.Name, n, f.UncompressedSize64)
	}
	copy(sum[:], h.Sum(nil))
	return sum, err
}
