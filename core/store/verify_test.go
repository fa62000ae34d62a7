package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/den-sh/den/core/storepath"
)

func TestVerify(t *testing.T) {
	s := newStore(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "good", "f"), "good", 0o644)
	writeFile(t, filepath.Join(src, "bad", "f"), "original", 0o644)
	writeFile(t, filepath.Join(src, "gone", "f"), "gone", 0o644)
	good := addPath(t, s, filepath.Join(src, "good"), "good")
	bad := addPath(t, s, filepath.Join(src, "bad"), "bad")
	gone := addPath(t, s, filepath.Join(src, "gone"), "gone")

	if probs, err := s.Verify(true, nil); err != nil || len(probs) != 0 {
		t.Fatalf("intact store: %v, %v", probs, err)
	}

	f := filepath.Join(string(bad), "f")
	if err := os.Chmod(f, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte("altered!"), 0o644); err != nil { // same size
		t.Fatal(err)
	}
	os.Chmod(f, 0o444)

	if probs, err := s.Verify(false, nil); err != nil || len(probs) != 0 {
		t.Errorf("without checkContents: %v, %v; want no problem", probs, err)
	}
	probs, err := s.Verify(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 || probs[0].Path != bad || !strings.Contains(probs[0].Reason, "contents changed") {
		t.Errorf("with checkContents: %v, want %s changed", probs, bad)
	}

	if err := RemoveTree(string(gone)); err != nil {
		t.Fatal(err)
	}
	assertValid(t, s, gone, false) // registered, but not on disk
	for _, check := range []bool{false, true} {
		probs, err := s.Verify(check, []storepath.Path{gone, good})
		if err != nil {
			t.Fatal(err)
		}
		if len(probs) != 1 || probs[0].Path != gone || !strings.Contains(probs[0].Reason, "missing") {
			t.Errorf("Verify(%v) = %v, want %s missing", check, probs, gone)
		}
	}

	var nv *NotValidError
	if _, err := s.Verify(false, []storepath.Path{outPath(t, s, "never")}); !errors.As(err, &nv) {
		t.Errorf("Verify of an unregistered path: %v, want NotValidError", err)
	}
}

func TestAddSignatures(t *testing.T) {
	s := newStore(t)
	p := build(t, s, "signed", map[string]string{"f": "x"})
	if err := s.AddSignatures(p, "k1:AAAA", "k2:BBBB"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSignatures(p, "k1:AAAA", "k3:CCCC"); err != nil {
		t.Fatal(err)
	}
	got := mustInfo(t, s, p).Signatures
	if strings.Join(got, " ") != "k1:AAAA k2:BBBB k3:CCCC" {
		t.Errorf("signatures = %v", got)
	}
	if err := s.AddSignatures(outPath(t, s, "ghost"), "k:X"); err == nil {
		t.Error("signed an invalid path")
	}
}
