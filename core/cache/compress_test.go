package cache

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

func sample(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		// Alternate kilobytes of noise and of repetition: compressible, but not trivially.
		if i/1024%2 == 0 {
			b[i] = byte(r.IntN(256))
		} else {
			b[i] = byte(i / 1000)
		}
	}
	return b
}

func TestCompressRoundTrip(t *testing.T) {
	data := sample(3 << 20)
	for _, m := range Methods {
		t.Run(m, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := Compressor(m, &buf)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if m != "none" && buf.Len() >= len(data) {
				t.Fatalf("%s did not compress: %d >= %d", m, buf.Len(), len(data))
			}
			r, err := Decompressor(m, &buf)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			if !bytes.Equal(got, data) {
				t.Fatalf("%s round trip differs", m)
			}
		})
	}
}

// bzip2 is read only (old Nix caches); Go has no writer, so the test uses the bzip2 tool when present.
func TestDecompressBzip2(t *testing.T) {
	if _, err := exec.LookPath("bzip2"); err != nil {
		t.Skip("no bzip2 tool")
	}
	cmd := exec.Command("bzip2", "-c")
	cmd.Stdin = strings.NewReader("hello bzip2\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"bzip2", ""} {
		r, err := Decompressor(m, bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		if string(got) != "hello bzip2\n" {
			t.Fatalf("got %q", got)
		}
	}
}

func TestCompressErrors(t *testing.T) {
	if _, err := Compressor("br", io.Discard); err == nil || !strings.Contains(err.Error(), `unsupported compression "br"`) {
		t.Fatal(err)
	}
	if _, err := Compressor("bzip2", io.Discard); err == nil || !strings.Contains(err.Error(), "does not write") {
		t.Fatal(err)
	}
	if _, err := Decompressor("lz4", strings.NewReader("")); err == nil {
		t.Fatal("lz4 accepted")
	}
	r, err := Decompressor("zstd", strings.NewReader("not zstd at all"))
	if err == nil {
		_, err = io.ReadAll(r)
	}
	if err == nil {
		t.Fatal("garbage zstd decoded")
	}
	for m, ext := range map[string]string{"zstd": ".zst", "xz": ".xz", "bzip2": ".bz2", "": ".bz2", "none": ""} {
		if Ext(m) != ext {
			t.Errorf("Ext(%q) = %q", m, Ext(m))
		}
	}
}
