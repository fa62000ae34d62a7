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

// Paths printed by Nix 2.8 for the file "hello\n" named flat.txt with the store dir
// /tmp/nixt/store: `nix-store --add-fixed sha256` (flat) and `--add-fixed --recursive sha256`.
func TestAgainstNix(t *testing.T) {
	const dir = "/tmp/nixt/store"
	fileHash, _ := hash.Parse("sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", "")
	flat, err := FixedFlat(dir, fileHash, "flat.txt")
	if err != nil || flat != dir+"/2jwdgs8yaqqlvs68fl9m0z7lxsxgzxhb-flat.txt" {
		t.Errorf("flat: %s %v", flat, err)
	}
	// The NAR of a regular file "hello\n": its hash, as nix-hash --type sha256 prints it.
	narHash, _ := hash.Parse("sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw", "")
	rec, err := FixedRecursive(dir, narHash, "flat.txt")
	if err != nil || rec != dir+"/m25cyvhmbilrgilq62v2yqq46pxg61is-flat.txt" {
		t.Errorf("recursive: %s %v", rec, err)
	}
}
