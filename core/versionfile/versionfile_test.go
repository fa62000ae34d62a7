package versionfile

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestConstraints(t *testing.T) {
	for in, want := range map[string]string{
		"v20.11.0": "20.11.0", "20": "20", "node": "latest", "stable": "latest", "lts/*": "lts",
		"lts/Iron": "lts/iron", " 18.19.1 ": "18.19.1", "": "",
	} {
		if got := nodeConstraint(in); got != want {
			t.Errorf("nodeConstraint(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"module m\ngo 1.22.1\n":                   "1.22",
		"module m\ngo 1.21\n":                     "1.21",
		"module m\ngo 1.23rc1\n":                  "1.23",
		"module m\ngo 1.22\ntoolchain go1.22.5\n": "1.22.5",
		"module m\ngo 1.22\ntoolchain default\n":  "1.22",
		"module m\n":                              "",
		"not a go.mod":                            "",
	} {
		if got := goConstraint([]byte(in)); got != want {
			t.Errorf("goConstraint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".node-version"), []byte("20.1.0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".python-version"), []byte("3.11.7\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".tool-versions"), []byte("# tools\nnodejs 18.0.0\ngolang 1.22.3\nruby 3.3.0\n"), 0o644)
	pins, skipped, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Pin{{"node", "20.1.0", ".node-version"}, {"python", "3.11.7", ".python-version"}, {"go", "1.22.3", ".tool-versions"}}
	if !reflect.DeepEqual(pins, want) {
		t.Errorf("pins %+v, want %+v", pins, want)
	}
	if !reflect.DeepEqual(skipped, []Skipped{{"ruby", ".tool-versions"}}) {
		t.Errorf("skipped %+v", skipped)
	}
	if pins, _, err := Read(t.TempDir()); err != nil || len(pins) != 0 {
		t.Errorf("empty dir: %v %v", pins, err)
	}
}
