package debtest

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

// readAr splits an ar archive into its members, checking the common format's framing.
func readAr(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("!<arch>\n")) {
		t.Fatal("no ar magic")
	}
	data = data[8:]
	out := map[string][]byte{}
	var order []string
	for len(data) > 0 {
		if len(data) < 60 || string(data[58:60]) != "`\n" {
			t.Fatalf("bad ar header %q", data[:min(60, len(data))])
		}
		name := strings.TrimSpace(string(data[:16]))
		var size int
		for _, c := range strings.TrimSpace(string(data[48:58])) {
			size = size*10 + int(c-'0')
		}
		out[name] = data[60 : 60+size]
		order = append(order, name)
		data = data[60+size+size%2:]
	}
	if strings.Join(order, " ") != "debian-binary control.tar.xz data.tar.xz" {
		t.Fatalf("members %v", order)
	}
	return out
}

func TestBuildDeb(t *testing.T) {
	d := Deb{Name: "hello", Version: "2.10-3", Depends: "libc6 (>= 2.34)", Files: map[string]File{
		"usr/bin/hello":              {Data: "#!/bin/sh\necho hi\n", Mode: 0o755},
		"usr/share/doc/hello/README": {Data: "odd length."},
		"usr/lib/libhello.so":        {Link: "libhello.so.1"},
	}}
	data, err := BuildDeb(d)
	if err != nil {
		t.Fatal(err)
	}
	m := readAr(t, data)
	if string(m["debian-binary"]) != "2.0\n" {
		t.Fatalf("debian-binary %q", m["debian-binary"])
	}
	xr, err := xz.NewReader(bytes.NewReader(m["data.tar.xz"]))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(xr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e := h.Name
		if h.Typeflag == tar.TypeSymlink {
			e += " -> " + h.Linkname
		}
		if h.Name == "./usr/bin/hello" && h.Mode != 0o755 {
			t.Errorf("mode %o", h.Mode)
		}
		names = append(names, e)
	}
	want := "./ ./usr/ ./usr/bin/ ./usr/bin/hello ./usr/lib/ ./usr/lib/libhello.so -> libhello.so.1 ./usr/share/ ./usr/share/doc/ ./usr/share/doc/hello/ ./usr/share/doc/hello/README"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("data.tar:\n got %s\nwant %s", got, want)
	}
	// dpkg-deb, where the host has it, reads the file as Debian's own .debs.
	if _, err := exec.LookPath("dpkg-deb"); err == nil {
		f := t.TempDir() + "/hello.deb"
		os.WriteFile(f, data, 0o644)
		out, err := exec.Command("dpkg-deb", "-f", f, "Package", "Depends").CombinedOutput()
		if err != nil || string(out) != "Package: hello\nDepends: libc6 (>= 2.34)\n" {
			t.Fatalf("dpkg-deb -f: %v\n%s", err, out)
		}
		out, err = exec.Command("dpkg-deb", "-c", f).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "./usr/lib/libhello.so -> libhello.so.1") {
			t.Fatalf("dpkg-deb -c: %v\n%s", err, out)
		}
	}
}
