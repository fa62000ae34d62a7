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
	for _, ok := range []string{"hello-2.12", "a+b=c?d_e.f", "x", ".hidden"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "é", "a/b", string(make([]byte, 212))} {
		if err := CheckName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The names of Nix's store path tests (src/libstore-tests/path.cc): TEST_DO_PARSE and
// TEST_DONT_PARSE, through both CheckName and Parse of /nix/store/<HASH_PART>-<name>.
func TestNixPathNames(t *testing.T) {
	const dir, hashPart = "/nix/store", "g1w7hy3qg1w7hy3qg1w7hy3qg1w7hy3q"
	good := []string{"02345", "foo", "FOO", "foo+bar", "foo-dev", "foo_bar", "foo.txt", "foo?why", "foo=foo",
		".gitignore", "...a", "...1", "...-", "..."}
	for _, name := range good {
		p, err := Parse(dir, dir+"/"+hashPart+"-"+name)
		if err != nil || p.Name() != name {
			t.Errorf("good %q: %v, %v", name, p, err)
		}
		if err := CheckName(name); err != nil {
			t.Errorf("good %q: CheckName: %v", name, err)
		}
	}
	bad := []string{"", "&*()", "**", "*,foo", "foo,*", "foo!o", ".", "..", "..-1", ".-1", "..-a", ".-a"}
	for _, name := range bad {
		if p, err := Parse(dir, dir+"/"+hashPart+"-"+name); err == nil {
			t.Errorf("bad %q: parsed as %s", name, p)
		}
		if err := CheckName(name); err == nil {
			t.Errorf("bad %q: CheckName accepted it", name)
		}
	}
	// TEST_ONLY_PARSE_NON_CANONICAL and TEST_PARSE_NEITHER: den's Parse is Nix's
	// parseStorePathCanonical, which refuses all of these.
	for _, s := range []string{
		dir + "/" + hashPart + "-foo/", dir + "//" + hashPart + "-foo", dir + "/./" + hashPart + "-foo", dir + "/bar/../" + hashPart + "-foo",
		"", hashPart + "-foo", "/foo/" + hashPart + "-foo", dir, dir + "/", dir + "/" + hashPart + "-foo/bin/sh", dir + hashPart + "-foo",
	} {
		if p, err := Parse(dir, s); err == nil {
			t.Errorf("Parse(%q) = %s, want an error", s, p)
		}
	}
}

// nix-store --add names a path after the file, so a dot file keeps its dot; only the names Nix
// refuses lose their leading dots.
func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{".gitignore": ".gitignore", "...": "...", "a b": "a-b", ".": "source",
		"..": "source", ".-a": "-a", "..-1": "-1", "héllo": "h--llo", "": "source"} {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
		if err := CheckName(SanitizeName(in)); err != nil {
			t.Errorf("SanitizeName(%q) is not a valid name: %v", in, err)
		}
	}
}

// The path Nix 2.8 prints for `nix-store --add ./.gitignore` of the file "hi\n" with the store dir
// /nix/store (Nix's path.cc TEST_DO_PARSE dotfile, as a path Nix itself made).
func TestDotfileAgainstNix(t *testing.T) {
	narHash := nar1("hi\n")
	p, err := Source("/nix/store", narHash, ".gitignore", nil)
	if err != nil || p != "/nix/store/gf4r08l78xqjfz0p3qqlkgadkqmwggs2-.gitignore" {
		t.Errorf("nix-store --add ./.gitignore: %s %v", p, err)
	}
}

// nar1 is the NAR hash of a regular, non-executable file with the given contents.
func nar1(contents string) hash.Hash {
	var b []byte
	str := func(s string) {
		n := make([]byte, 8)
		n[0] = byte(len(s))
		n[1] = byte(len(s) >> 8)
		b = append(b, n...)
		b = append(b, s...)
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
	}
	for _, s := range []string{"nix-archive-1", "(", "type", "regular", "contents", contents, ")"} {
		str(s)
	}
	return hash.Sum(hash.SHA256, b)
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

// Nix's tests/functional/add.sh adds ./dummy with `--add-fixed sha1 --recursive` (path4) and expects
// a path other than --add's. These are the paths Nix 2.8 prints for the file "hello\n" named
// flat.txt with the store dir /tmp/nixt/store, flat and recursive, from hashes in sha1 spellings.
func TestSHA1AgainstNix(t *testing.T) {
	const dir = "/tmp/nixt/store"
	fileHash, err := hash.Parse("sha1:f572d396fae9206628714fb2ce00f72e94f2258f", "")
	if err != nil {
		t.Fatal(err)
	}
	flat, err := FixedFlat(dir, fileHash, "flat.txt")
	if err != nil || flat != dir+"/53a4s0gmary8ckh2n2643cc06l0bm79h-flat.txt" {
		t.Errorf("--add-fixed sha1: %s %v", flat, err)
	}
	// nix-hash --type sha1 of the file's NAR.
	narHash, err := hash.Parse("sha1:0deb52c2735eb38d360f976b7b3823c4ad05cce7", "")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := FixedRecursive(dir, narHash, "flat.txt")
	if err != nil || rec != dir+"/9ccgyvfy2dn21b9sqg7j4svadarqjxdm-flat.txt" {
		t.Errorf("--add-fixed --recursive sha1: %s %v", rec, err)
	}
	// nar1 spells the NAR as Nix does: its sha256 is the one TestAgainstNix takes from nix-hash.
	if h := nar1("hello\n"); h.Nix32() != "04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw" {
		t.Errorf("nar1 hashes to %s", h)
	}
}
