package nar

import (
	"fmt"
	"io"
	"os"
)

// Restore unpacks the archive read from r at dest, which must not exist. Files are written 0644,
// or 0755 when executable, and directories 0755; the store makes them read-only when it publishes
// them, and syncs them. Nothing is ever created outside dest: every entry is created exclusively,
// and a valid archive names each path once, beneath a directory it created itself. If the
// archive is invalid or anything fails, dest is removed again.
func Restore(r io.Reader, dest string) (err error) {
	created := false
	defer func() {
		if err != nil && created {
			os.RemoveAll(dest)
		}
	}()
	buf := make([]byte, 256<<10)
	return Walk(r, func(e Entry) error {
		path := dest
		if e.Path != "" {
			path = join(dest, e.Path)
		}
		switch e.Type {
		case Directory:
			if err := os.Mkdir(path, 0o755); err != nil {
				return fmt.Errorf("nar: %w", err)
			}
			created = true
		case Symlink:
			if err := os.Symlink(e.Target, path); err != nil {
				return fmt.Errorf("nar: %w", err)
			}
			created = true
		case Regular:
			perm := os.FileMode(0o644)
			if e.Executable {
				perm = 0o755
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
			if err != nil {
				return fmt.Errorf("nar: %w", err)
			}
			created = true
			if err := copyContents(f, e.Contents, buf); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("nar: %w", err)
			}
		}
		return nil
	})
}

// copyContents is io.CopyBuffer without *os.File's ReadFrom, which would ignore buf and allocate
// a buffer per file. Errors from reading the archive come through unchanged.
func copyContents(f *os.File, r io.Reader, buf []byte) error {
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := f.Write(buf[:n]); werr != nil {
				return fmt.Errorf("nar: %w", werr)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
