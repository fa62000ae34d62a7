package manifest

import (
	"errors"
	"testing"
)

// FuzzParse guards the offset arithmetic that places errors: whatever the bytes, Parse returns
// a manifest or an *Error, and never panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte("[recipes.a]\nversion = \"1\"\nbuild = \"x\"\ndeps = [\"a\"]\nsrc = { urls = [[1]], hash = 3 }\n[packages]\nx = {systems=[[]]}\n"))
	f.Add([]byte("x = \"abc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("den.toml", data)
		var e *Error
		switch {
		case err == nil && m == nil:
			t.Fatal("no manifest and no error")
		case err != nil && !errors.As(err, &e):
			t.Fatalf("error %T is not *Error: %v", err, err)
		}
	})
}
