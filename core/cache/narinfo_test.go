package cache

import (
	"strings"
	"testing"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/storepath"
)

// Written by Nix 2.8 (nix copy --to file://…?compression=zstd&secret-key=…) for a file added with
// nix-store --add to a store at /tmp/h3a/store, signed with nixPublic's secret key.
const (
	nixStoreDir = "/tmp/h3a/store"
	nixNarInfo  = `StorePath: /tmp/h3a/store/30d2g1wmv725g5dmsd56cy2h686wxggj-f.txt
URL: nar/0qa62dhmhx2947b66ndaalppnzplds7c3ybf8n3a82xicrwvs8cs.nar.zst
Compression: zstd
FileHash: sha256:0qa62dhmhx2947b66ndaalppnzplds7c3ybf8n3a82xicrwvs8cs
FileSize: 91
NarHash: sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw
NarSize: 120
References: 
Sig: test-1:pH+M6IVfSyiZQMl+zJ4HD9ShHhAdM8MayvyWS5F1CIdb62rqhF0mGQiQsoBvg2bBuMHQmCJUvOfZ4mHh3iNJCw==
CA: fixed:r:sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw
`
	nixSecret = "test-1:Ys0QaQHrXCdhDwMqyFM+e8tL9jut5p2Taepzeb8ddBxVTPURS0fRfZifdwGoTaK+8g++U9isL8okCSKMSKv25A=="
	nixPublic = "test-1:VUz1EUtH0X2Yn3cBqE2ivvIPvlPYrC/KJAkijEir9uQ="
)

func mustPublic(t *testing.T, s string) PublicKey {
	t.Helper()
	k, err := ParsePublicKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseNixNarInfo(t *testing.T) {
	n, err := ParseNarInfo([]byte(nixNarInfo), nixStoreDir)
	if err != nil {
		t.Fatal(err)
	}
	if n.StorePath != "/tmp/h3a/store/30d2g1wmv725g5dmsd56cy2h686wxggj-f.txt" || n.Compression != "zstd" ||
		n.FileSize != 91 || n.NarSize != 120 || len(n.References) != 0 || n.Deriver != "" || len(n.Sigs) != 1 ||
		n.CA != "fixed:r:sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw" ||
		n.URL != "nar/0qa62dhmhx2947b66ndaalppnzplds7c3ybf8n3a82xicrwvs8cs.nar.zst" {
		t.Fatalf("parsed %+v", n)
	}
	if got := string(n.Bytes()); got != nixNarInfo {
		t.Fatalf("Bytes differs from what Nix wrote:\n%s\nwant\n%s", got, nixNarInfo)
	}
	if err := n.Verify([]PublicKey{mustPublic(t, nixPublic)}); err != nil {
		t.Fatalf("Nix's signature does not verify: %v", err)
	}
	// den signs the same fingerprint to the same signature (ed25519 is deterministic).
	sk, err := ParseSecretKey(nixSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := sk.Sign(n.Fingerprint()); got != n.Sigs[0] {
		t.Fatalf("den's signature %s, Nix's %s", got, n.Sigs[0])
	}
	if sk.Public().String() != nixPublic || sk.String() != nixSecret {
		t.Fatalf("key round trip: %s %s", sk.Public(), sk)
	}
}

func testPaths(t *testing.T) (self, dep, drv storepath.Path) {
	t.Helper()
	h := hash.Sum(hash.SHA256, []byte("x"))
	var err error
	if self, err = storepath.Source("/s", h, "hello-1.0", nil); err != nil {
		t.Fatal(err)
	}
	if dep, err = storepath.Source("/s", hash.Sum(hash.SHA256, []byte("y")), "glibc", nil); err != nil {
		t.Fatal(err)
	}
	if drv, err = storepath.Text("/s", h, "hello-1.0.drv", nil); err != nil {
		t.Fatal(err)
	}
	return
}

func TestParseLenient(t *testing.T) {
	self, dep, drv := testPaths(t)
	narHash := hash.Sum(hash.SHA256, []byte("nar"))
	fileHash := hash.Sum(hash.SHA256, []byte("file"))
	for _, spell := range []struct{ name, nar, file string }{
		{"nix32", narHash.String(), fileHash.String()},
		{"hex", "sha256:" + narHash.Hex(), "sha256:" + fileHash.Hex()},
		{"base64", "sha256:" + narHash.SRI()[len("sha256-"):], "sha256:" + fileHash.SRI()[len("sha256-"):]},
		{"sri", narHash.SRI(), fileHash.SRI()},
		{"bare nix32", narHash.Nix32(), fileHash.Nix32()},
		{"bare hex", narHash.Hex(), fileHash.Hex()},
	} {
		t.Run(spell.name, func(t *testing.T) {
			text := "Unknown: whatever\r\nStorePath: " + string(self) + "\r\nURL: nar/x.nar.xz\r\nCompression: xz\r\n" +
				"FileHash: " + spell.file + "\r\nNarHash: " + spell.nar + "\r\nNarSize: 42\r\n" +
				"References: " + self.Base() + "  " + dep.Base() + "\r\nDeriver: " + drv.Base() + "\r\nSystem: x86_64-linux\r\n" +
				"Sig: a:AAAA\r\nSig: b:BBBB" // no final newline
			n, err := ParseNarInfo([]byte(text), "/s")
			if err != nil {
				t.Fatal(err)
			}
			if !n.NarHash.Equal(narHash) || !n.FileHash.Equal(fileHash) || n.FileSize != 0 || n.NarSize != 42 ||
				len(n.References) != 2 || n.References[0] != self || n.References[1] != dep || n.Deriver != drv ||
				len(n.Sigs) != 2 || n.Compression != "xz" {
				t.Fatalf("parsed %+v", n)
			}
		})
	}
}

func TestParseDefaultsAndRoundTrip(t *testing.T) {
	self, dep, drv := testPaths(t)
	n := &NarInfo{
		StorePath: self, URL: "nar/abc.nar.zst", Compression: "zstd",
		FileHash: hash.Sum(hash.SHA256, []byte("f")), FileSize: 10,
		NarHash: hash.Sum(hash.SHA256, []byte("n")), NarSize: 20,
		References: []storepath.Path{dep, self}, Deriver: drv, Sigs: []string{"k:sig1", "j:sig2"}, CA: "",
	}
	back, err := ParseNarInfo(n.Bytes(), "/s")
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Bytes()) != string(n.Bytes()) {
		t.Fatalf("round trip:\n%s\n%s", back.Bytes(), n.Bytes())
	}
	want := "StorePath: " + string(self) + "\nURL: nar/abc.nar.zst\nCompression: zstd\nFileHash: " + n.FileHash.String() +
		"\nFileSize: 10\nNarHash: " + n.NarHash.String() + "\nNarSize: 20\nReferences: " + dep.Base() + " " + self.Base() +
		"\nDeriver: " + drv.Base() + "\nSig: k:sig1\nSig: j:sig2\n"
	if string(n.Bytes()) != want {
		t.Fatalf("Bytes:\n%s\nwant\n%s", n.Bytes(), want)
	}

	// Optional fields absent: Compression defaults to bzip2 as in Nix, unknown-deriver is no deriver.
	min := "StorePath: " + string(self) + "\nURL: nar/x.nar.bz2\nNarHash: " + n.NarHash.String() + "\nNarSize: 5\nDeriver: unknown-deriver\n"
	m, err := ParseNarInfo([]byte(min), "/s")
	if err != nil {
		t.Fatal(err)
	}
	if m.Compression != "bzip2" || m.Deriver != "" || !m.FileHash.IsZero() || m.References != nil {
		t.Fatalf("parsed %+v", m)
	}
	if strings.Contains(string(m.Bytes()), "FileHash") || strings.Contains(string(m.Bytes()), "FileSize") {
		t.Fatalf("unknown file hash written:\n%s", m.Bytes())
	}
}

func TestParseErrors(t *testing.T) {
	self, _, _ := testPaths(t)
	nh := hash.Sum(hash.SHA256, []byte("n")).String()
	good := "StorePath: " + string(self) + "\nURL: u\nNarHash: " + nh + "\nNarSize: 5\n"
	for _, tc := range []struct{ text, want string }{
		{"URL: u\nNarHash: " + nh + "\nNarSize: 5\n", "no StorePath"},
		{"StorePath: " + string(self) + "\nNarHash: " + nh + "\nNarSize: 5\n", "no URL"},
		{"StorePath: " + string(self) + "\nURL: u\nNarSize: 5\n", "no NarHash"},
		{"StorePath: " + string(self) + "\nURL: u\nNarHash: " + nh + "\n", "no NarSize"},
		{strings.Replace(good, "/s/", "/other/", 1), "not in the store /s"},
		{good + "garbage line\n", `line 5: "garbage line" is not`},
		{good + "References: " + self.Base() + "\nReferences: " + self.Base() + "\n", "References appears twice"},
		{good + "CA: text:" + nh + "\nCA: text:" + nh + "\n", "CA appears twice"},
		{good + "NarSize: 0\n", "no NarSize"},
		{good + "FileSize: -1\n", "not a non-negative integer"},
		{good + "FileHash: sha256:zzz\n", "FileHash"},
		{good + "References: ../etc\n", "not a store path base name"},
	} {
		_, err := ParseNarInfo([]byte(tc.text), "/s")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parse %q: got %v, want error containing %q", tc.text, err, tc.want)
		}
	}
}

// Nix's narinfo parser (src/libstore/nar-info.cc, the NarInfo constructor, the same in Nix 2.8)
// assigns each scalar key as it reads it, so a repeated URL, NarSize, NarHash, FileHash or
// StorePath takes the last value; only a second non-empty References and a second CA are
// "extra". An empty References line before a full one is not a repeat either.
func TestParseRepeatedKeys(t *testing.T) {
	self, dep, _ := testPaths(t)
	first, last := hash.Sum(hash.SHA256, []byte("1")), hash.Sum(hash.SHA256, []byte("2"))
	text := "StorePath: " + string(dep) + "\nStorePath: " + string(self) + "\nURL: nar/a.nar\nURL: nar/b.nar\n" +
		"Compression: xz\nCompression: zstd\nFileHash: " + first.String() + "\nFileHash: " + last.String() +
		"\nFileSize: 1\nFileSize: 2\nNarHash: " + first.String() + "\nNarHash: " + last.String() +
		"\nNarSize: 0\nNarSize: 7\nReferences: \nReferences: " + dep.Base() + "\n"
	n, err := ParseNarInfo([]byte(text), "/s")
	if err != nil {
		t.Fatal(err)
	}
	if n.StorePath != self || n.URL != "nar/b.nar" || n.Compression != "zstd" || !n.FileHash.Equal(last) ||
		n.FileSize != 2 || !n.NarHash.Equal(last) || n.NarSize != 7 || len(n.References) != 1 || n.References[0] != dep {
		t.Fatalf("parsed %+v", n)
	}
}

// Nix's store path tests (src/libstore-tests/path.cc, TEST_DO_PARSE dotfile, triple_dot) allow
// names that start with a dot, so a narinfo may reference ".gitignore"; a FileHash in sha1 (Nix
// reads any algorithm there) parses too.
func TestParseDotNamesAndSHA1FileHash(t *testing.T) {
	self, _, _ := testPaths(t)
	dot := storepath.Path("/s/" + strings.Repeat("1", 32) + "-.gitignore")
	dots := storepath.Path("/s/" + strings.Repeat("2", 32) + "-...")
	nh := hash.Sum(hash.SHA256, []byte("n")).String()
	text := "StorePath: " + string(dot) + "\nURL: u\nFileHash: sha1:a9993e364706816aba3e25717850c26c9cd0d89d\nNarHash: " + nh +
		"\nNarSize: 5\nReferences: " + dots.Base() + " " + self.Base() + "\n"
	n, err := ParseNarInfo([]byte(text), "/s")
	if err != nil {
		t.Fatal(err)
	}
	if n.StorePath != dot || len(n.References) != 2 || n.References[0] != dots || n.FileHash.Algo != hash.SHA1 {
		t.Fatalf("parsed %+v", n)
	}
	if !strings.Contains(string(n.Bytes()), "FileHash: sha1:kpcd173cq987hw957sx6m0868wv3x6d9\n") {
		t.Errorf("the sha1 FileHash is not written as Nix writes it:\n%s", n.Bytes())
	}
}

func TestParseDropsBadDeriver(t *testing.T) {
	// The deriver is not signed: one that is not a derivation in this store is dropped, and the
	// rest of the narinfo stands.
	self, dep, drv := testPaths(t)
	nh := hash.Sum(hash.SHA256, []byte("n")).String()
	good := "StorePath: " + string(self) + "\nURL: u\nNarHash: " + nh + "\nNarSize: 5\n"
	for _, bad := range []string{"nope", "../../etc/passwd.drv", "/other/store/" + drv.Base(), drv.Base() + "/x.drv", dep.Base(), string(drv), strings.Repeat("e", 32) + "-x.drv"} {
		n, err := ParseNarInfo([]byte(good+"Deriver: "+bad+"\n"), "/s")
		if err != nil || n.Deriver != "" {
			t.Errorf("Deriver: %s parsed as %q, %v; want it dropped", bad, n.Deriver, err)
		}
	}
	n, err := ParseNarInfo([]byte(good+"Deriver: "+drv.Base()+"\n"), "/s")
	if err != nil || n.Deriver != drv {
		t.Errorf("a valid deriver parsed as %q, %v", n.Deriver, err)
	}
}

func TestVerify(t *testing.T) {
	self, dep, _ := testPaths(t)
	k1, _ := GenerateKey("one-1")
	k2, _ := GenerateKey("two-1")
	n := &NarInfo{StorePath: self, URL: "u", Compression: "none", NarHash: hash.Sum(hash.SHA256, []byte("n")), NarSize: 8,
		References: []storepath.Path{self, dep}}
	if err := n.Verify([]PublicKey{k1.Public()}); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("unsigned: %v", err)
	}
	n.Sign(k1)
	if err := n.Verify([]PublicKey{k2.Public(), k1.Public()}); err != nil {
		t.Fatalf("good signature: %v", err)
	}
	if err := n.Verify([]PublicKey{k2.Public()}); err == nil || err.Error() != "no signature by a trusted key (signed by: one-1)" {
		t.Fatalf("untrusted: %v", err)
	}
	// A key of the trusted name but other bytes (a rotated or forged key) is an invalid signature.
	forged := k2.Public()
	forged.Name = "one-1"
	if err := n.Verify([]PublicKey{forged}); err == nil || err.Error() != "signature by one-1 is invalid" {
		t.Fatalf("forged key: %v", err)
	}
	// Any change to what the fingerprint covers breaks the signature.
	for name, mutate := range map[string]func(m *NarInfo){
		"size": func(m *NarInfo) { m.NarSize++ },
		"hash": func(m *NarInfo) { m.NarHash = hash.Sum(hash.SHA256, []byte("other")) },
		"refs": func(m *NarInfo) { m.References = m.References[:1] },
		"path": func(m *NarInfo) { m.StorePath = dep },
	} {
		m := *n
		mutate(&m)
		if err := m.Verify([]PublicKey{k1.Public()}); err == nil || err.Error() != "signature by one-1 is invalid" {
			t.Errorf("%s changed: %v", name, err)
		}
	}
	// Reference order does not matter: the fingerprint sorts them.
	m := *n
	m.References = []storepath.Path{dep, self}
	if err := m.Verify([]PublicKey{k1.Public()}); err != nil {
		t.Fatalf("reordered refs: %v", err)
	}
	m.Sigs = []string{"garbage", "one-1:!!!"}
	if err := m.Verify([]PublicKey{k1.Public()}); err == nil || !strings.Contains(err.Error(), "one-1 is invalid") {
		t.Fatalf("malformed: %v", err)
	}
	m.Sigs = []string{"garbage"}
	if err := m.Verify([]PublicKey{k1.Public()}); err == nil || !strings.Contains(err.Error(), "malformed signature") {
		t.Fatalf("malformed: %v", err)
	}
	// Sign replaces the signature of a key with the same name and keeps the others.
	n.Sigs = append(n.Sigs, "other-1:xyz")
	n.Sign(k1)
	if len(n.Sigs) != 2 {
		t.Fatalf("sigs after re-sign: %v", n.Sigs)
	}
}

func TestFingerprint(t *testing.T) {
	self, dep, _ := testPaths(t)
	h := hash.Sum(hash.SHA256, []byte("n"))
	got := Fingerprint(self, h, 8, []storepath.Path{self, dep})
	refs := []string{string(self), string(dep)}
	if refs[0] > refs[1] {
		refs[0], refs[1] = refs[1], refs[0]
	}
	want := "1;" + string(self) + ";" + h.String() + ";8;" + refs[0] + "," + refs[1]
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if got := Fingerprint(self, h, 8, nil); got != "1;"+string(self)+";"+h.String()+";8;" {
		t.Fatalf("no refs: %s", got)
	}
}

func TestCacheInfo(t *testing.T) {
	c, err := ParseCacheInfo([]byte("StoreDir: /nix/store\r\nWantMassQuery: 1\nPriority: 40\nExtra: x"))
	if err != nil {
		t.Fatal(err)
	}
	if *c != (CacheInfo{StoreDir: "/nix/store", WantMassQuery: true, Priority: 40}) {
		t.Fatalf("parsed %+v", c)
	}
	if got := string(c.Bytes()); got != "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n" {
		t.Fatalf("Bytes %q", got)
	}
	// What nix copy --to file:// writes.
	c, err = ParseCacheInfo([]byte("StoreDir: /tmp/s\n"))
	if err != nil || *c != (CacheInfo{StoreDir: "/tmp/s"}) || string(c.Bytes()) != "StoreDir: /tmp/s\n" {
		t.Fatalf("minimal: %+v %v", c, err)
	}
	if _, err := ParseCacheInfo([]byte("Priority: high\n")); err == nil || !strings.Contains(err.Error(), "Priority") {
		t.Fatalf("bad priority: %v", err)
	}
}

func TestNixCA(t *testing.T) {
	const nix32 = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
	const sri = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	for in, want := range map[string]string{
		"fixed:r:sha256:" + nix32:             "fixed:r:sha256:" + nix32,
		"fixed:" + sri:                        "fixed:sha256:" + nix32, // written by an older den
		"text:sha256:" + nix32:                "text:sha256:" + nix32,
		"gotoolchain:h1:Hdh4VJAlDWzMnhKpqDw=": "",
		"gomod:h1:abc=":                       "",
		"fixed:r:nonsense":                    "",
		"":                                    "",
	} {
		if got := NixCA(in); got != want {
			t.Errorf("NixCA(%q) = %q, want %q", in, got, want)
		}
	}
}
