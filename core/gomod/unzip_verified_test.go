package gomod

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// UnzipVerified must agree with x/mod's hashing and unpacking, and reject a zip whose content
// does not match the hash, leaving nothing behind.
func TestUnzipVerifiedAgreesWithXMod(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for name, body := range map[string]string{
		"bin/go": "#!/bin/sh\necho go\n", "pkg/tool/linux_amd64/compile": "c", "lib/wasm/go_js_wasm_exec": "x",
		"lib/time/zoneinfo.zip": "z", "src/_go.mod": "module std\n", "VERSION": "go1.22.3\n",
	} {
		p := filepath.Join(src, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	mv := module.Version{Path: ToolchainModule, Version: "v0.0.1-go1.22.3.linux-amd64"}
	zipFile := filepath.Join(dir, "tc.zip")
	f, _ := os.Create(zipFile)
	if err := modzip.CreateFromDir(f, mv, src); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want, err := HashZip(zipFile)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := UnzipVerified(zipFile, mv.Path, mv.Version, out, want, true); err != nil {
		t.Fatal(err)
	}
	for name, exec := range map[string]bool{"bin/go": true, "pkg/tool/linux_amd64/compile": true,
		"lib/wasm/go_js_wasm_exec": true, "lib/time/zoneinfo.zip": false, "VERSION": false, "src/go.mod": false} {
		fi, err := os.Stat(filepath.Join(out, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if (fi.Mode()&0o111 != 0) != exec {
			t.Errorf("%s: mode %v", name, fi.Mode())
		}
	}
	bad := filepath.Join(dir, "bad")
	err = UnzipVerified(zipFile, mv.Path, mv.Version, bad, "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", true)
	var cm *ChecksumMismatchError
	if !errors.As(err, &cm) || cm.Got != want {
		t.Fatalf("mismatch not reported: %v", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatal("dest left behind after a mismatch")
	}
	if err := UnzipVerified(zipFile, "other/module", mv.Version, filepath.Join(dir, "x"), want, false); err == nil {
		t.Fatal("entries outside module@version/ accepted")
	}
}
