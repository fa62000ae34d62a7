package cache

import (
	"compress/bzip2"
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Methods are the Compression values den writes. Nix's default for file caches is xz; den's is
// zstd because it decompresses several times faster at a similar ratio, which is what a
// substituter waits on.
var Methods = []string{"zstd", "xz", "none"}

// Compressor returns a writer that compresses into w with method ("zstd", "xz" or "none").
// Close flushes the compressed stream but does not close w.
func Compressor(method string, w io.Writer) (io.WriteCloser, error) {
	switch method {
	case "zstd":
		// SpeedDefault (zstd level 3, as the zstd tool) with blocks compressed concurrently: a
		// 250 MB toolchain NAR is compressed at disk speed rather than one core's.
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
	case "xz":
		return xz.NewWriter(w)
	case "none":
		return nopWriteCloser{w}, nil
	case "bzip2":
		return nil, fmt.Errorf("den reads bzip2 caches but does not write them; use zstd, xz or none")
	}
	return nil, fmt.Errorf("unsupported compression %q; use zstd, xz or none", method)
}

// Decompressor returns a reader of the decompressed stream of r, for method "zstd", "xz", "bzip2"
// or "none" ("" is "bzip2", as in a narinfo). Close releases the decoder, not r.
func Decompressor(method string, r io.Reader) (io.ReadCloser, error) {
	switch method {
	case "zstd":
		// Substitution decompresses many NARs at once: a couple of in-flight blocks per stream and
		// low-memory buffers keep that bounded while still overlapping decoding with reading.
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(min(2, runtime.GOMAXPROCS(0))), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return d.IOReadCloser(), nil
	case "xz":
		x, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		return io.NopCloser(x), nil
	case "bzip2", "":
		return io.NopCloser(bzip2.NewReader(r)), nil
	case "none":
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("unsupported compression %q; den reads zstd, xz, bzip2 and none", method)
}

// Ext is the file name extension Nix gives a NAR compressed with method.
func Ext(method string) string {
	switch method {
	case "zstd":
		return ".zst"
	case "xz":
		return ".xz"
	case "bzip2", "":
		return ".bz2"
	}
	return ""
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
