package project

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrNotStateFile is returned by ReadStateFile for anything but a regular file reached without
// symbolic links.
var ErrNotStateFile = errors.New("not a regular file den wrote")

// ErrTooLarge is returned by ReadStateFile for a file longer than the caller allows.
var ErrTooLarge = errors.New("larger than den writes it")

// ReadStateFile reads the file name (slash-separated, below .den) of the project at root. A
// project's .den arrives with the project's other files as far as den can tell — a repository may
// have committed one — so a read follows no symbolic link, neither .den itself nor any directory
// below it nor the file, reads only a regular file (a FIFO or a device would hang the prompt) and
// no more than max bytes.
func ReadStateFile(root, name string, max int64) ([]byte, error) {
	dir := filepath.Join(root, StateDir)
	parts := strings.Split(name, "/")
	for _, p := range parts[:len(parts)-1] {
		if err := realDir(dir); err != nil {
			return nil, err
		}
		dir = filepath.Join(dir, p)
	}
	if err := realDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, parts[len(parts)-1])
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, &os.PathError{Op: "read", Path: path, Err: ErrNotStateFile}
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &os.PathError{Op: "read", Path: path, Err: ErrNotStateFile}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &os.PathError{Op: "read", Path: path, Err: ErrTooLarge}
	}
	return data, nil
}

// realDir reports an error unless dir is a directory itself, not a link to one.
func realDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &os.PathError{Op: "open", Path: dir, Err: syscall.ENOTDIR}
	}
	return nil
}
