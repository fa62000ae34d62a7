package storepath

import (
	"testing"

	"github.com/den-sh/den/core/hash"
)

// The store path of the NAR of a regular file "hello\n" named "hello" in /nix/store, as
// `nix-store --add` prints it, and of the same file fetched flat (`nix-prefetch-url`).
func TestKnownPaths(t *testing.T) {
	h := hash.Sum(hash.SHA256, []byte("hello"))
	p, err := Make("/nix/store", "source", h, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("/nix/store", string(p)); err != nil {
		t.Fatal(err)
	}
	if p.Name() != "x" || len(p.HashPart()) != 32 {
		t.Fatalf("bad split of %s", p)
	}
	q, _ := Make("/other/store", "source", h, "x")
	if q.HashPart() == p.HashPart() {
		t.Fatal("store dir is not part of the hash")
	}
}

func TestNames(t *testing.T) {
	for _, ok := range []string{"hello-2.12", "a+b=c?d_e.f", "x"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".hidden", "a b", "é", "a/b", string(make([]byte, 212))} {
		if err := CheckName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
