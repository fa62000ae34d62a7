package shellhook

import (
	"errors"
	"slices"
	"testing"
)

func TestFor(t *testing.T) {
	for path, want := range map[string]string{"/bin/bash": "bash", "/usr/local/bin/zsh": "zsh", "fish": "fish"} {
		sh, err := For(path)
		if err != nil || sh.Name() != want {
			t.Errorf("For(%q) = %v, %v; want %s", path, sh, err, want)
		}
	}
	_, err := For("/bin/sh")
	var unsupported *UnsupportedError
	if !errors.As(err, &unsupported) || unsupported.Shell != "/bin/sh" {
		t.Errorf("For(/bin/sh) error = %v, want an UnsupportedError", err)
	}
}

func TestDetect(t *testing.T) {
	if got := Detect(func(string) string { return "" }); got != "/bin/bash" {
		t.Errorf("Detect without SHELL = %q, want /bin/bash", got)
	}
	if got := Detect(func(k string) string { return map[string]string{"SHELL": "/usr/bin/fish"}[k] }); got != "/usr/bin/fish" {
		t.Errorf("Detect = %q, want /usr/bin/fish", got)
	}
}

func TestSessionEnv(t *testing.T) {
	env := []string{"PATH=/a:/b", "DEN_SHELL=x", "HOME=/h", "ZDOTDIR=/old"}
	got := sessionEnv(env, "ZDOTDIR=/new")
	want := []string{"PATH=/a:/b", "HOME=/h", "DEN_PATH=/a:/b", "DEN_SHELL=1", "ZDOTDIR=/new"}
	if !slices.Equal(got, want) {
		t.Errorf("sessionEnv = %q, want %q", got, want)
	}
}
