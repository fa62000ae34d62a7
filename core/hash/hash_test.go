package hash

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// Vectors from Nix: the sha256 of "" and of "abc" in each spelling.
func TestSpellings(t *testing.T) {
	for _, tc := range []struct {
		in, hex, nix32, sri string
	}{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			"0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73",
			"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
			"1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s",
			"sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="},
	} {
		h := Sum(SHA256, []byte(tc.in))
		if h.Hex() != tc.hex || h.Nix32() != tc.nix32 || h.SRI() != tc.sri {
			t.Errorf("%q: got %s %s %s", tc.in, h.Hex(), h.Nix32(), h.SRI())
		}
		for _, s := range []string{"sha256:" + tc.hex, "sha256:" + tc.nix32, tc.sri, tc.nix32, tc.hex} {
			p, err := Parse(s, SHA256)
			if err != nil || !p.Equal(h) {
				t.Errorf("Parse(%q) = %v, %v", s, p, err)
			}
		}
	}
}

func TestNix32RoundTrip(t *testing.T) {
	for n := 1; n < 70; n++ {
		b := bytes.Repeat([]byte{0xa5, 0x3c, 0xff, 0x01}, n)[:n]
		d, err := DecodeNix32(EncodeNix32(b), n)
		if err != nil || !bytes.Equal(d, b) {
			t.Fatalf("n=%d: %x != %x (%v)", n, d, b, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{"", "md5:abc", "sha256:zz", "sha256-!!", "deadbeef"} {
		if _, err := Parse(s, ""); err == nil {
			t.Errorf("Parse(%q) succeeded", s)
		}
	}
	_, err := Parse("sha256:"+strings.Repeat("e", 52), "")
	if err == nil {
		t.Errorf("nix32 with invalid letter accepted")
	}
}

// Nix's libutil hash tests (src/libutil-tests/hash.cc, testKnownMD5Hashes1/2, testKnownSHA1Hashes1/2,
// testKnownSHA512Hashes1; RFC 1321, 3174 and 4634 values), each read back in every spelling Nix
// 2.8 accepts: "<algo>:" with hex, nix32 or padded base64, and SRI with or without padding
// (checked with Nix 2.8's `nix hash to-base16`).
func TestNixLibutilVectors(t *testing.T) {
	for _, tc := range []struct {
		algo     Algo
		in, want string
	}{
		{MD5, "", "d41d8cd98f00b204e9800998ecf8427e"},
		{MD5, "abc", "900150983cd24fb0d6963f7d28e17f72"},
		{SHA1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{SHA1, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
		{SHA256, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
		{SHA512, "abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
	} {
		h := Sum(tc.algo, []byte(tc.in))
		if h.Hex() != tc.want {
			t.Errorf("%s(%q) = %s, want %s", tc.algo, tc.in, h.Hex(), tc.want)
			continue
		}
		a := string(tc.algo)
		b64 := base64.StdEncoding.EncodeToString(h.Digest)
		spellings := []string{a + ":" + tc.want, a + ":" + strings.ToUpper(tc.want), a + ":" + h.Nix32(), a + ":" + b64,
			a + "-" + b64, a + "-" + strings.TrimRight(b64, "=")}
		for _, s := range spellings {
			p, err := Parse(s, "")
			if err != nil || !p.Equal(h) {
				t.Errorf("Parse(%q) = %v, %v; want %s", s, p, err, h)
			}
		}
		if p, err := Parse(tc.want, tc.algo); err != nil || !p.Equal(h) {
			t.Errorf("Parse(%q, %s) = %v, %v", tc.want, tc.algo, p, err)
		}
	}
	// The nix32 spellings Nix 2.8's `nix hash to-base32` prints for the sha1 and md5 of "abc".
	for s, hex := range map[string]string{
		"sha1:kpcd173cq987hw957sx6m0868wv3x6d9": "a9993e364706816aba3e25717850c26c9cd0d89d",
		"md5:3jgzhjhz9zjvbb0kyj7jc500ch":        "900150983cd24fb0d6963f7d28e17f72",
	} {
		if p, err := Parse(s, ""); err != nil || p.Hex() != hex {
			t.Errorf("Parse(%q) = %v, %v; want hex %s", s, p, err, hex)
		}
	}
	if !SHA256.Strong() || !SHA512.Strong() || SHA1.Strong() || MD5.Strong() {
		t.Error("Strong: only sha256 and sha512 may check a download")
	}
}

// Nix's base64 tests (src/libutil-tests/base-n.cc, Base64TrailParseTest "AcceptsVariousSha512Paddings",
// taken from snix): one SHA-512 digest as SRI with no, one, two or three "=" and with trailing
// garbage after the padding, all of which Nix 2.8 accepts, and the same digest written "sha512:".
func TestNixBase64Paddings(t *testing.T) {
	const want = "ee0f754c1bd8a18428ad14eaa3ead80ff8b96275af5012e7a8384f1f10490da056eec9ae3cc791a7a13a24e16e54df5bccdd109c7d53a14534bbd7360a300b11"
	const b = "7g91TBvYoYQorRTqo+rYD/i5YnWvUBLnqDhPHxBJDaBW7smuPMeRp6E6JOFuVN9bzN0QnH1ToUU0u9c2CjALEQ"
	for _, s := range []string{"sha512-" + b, "sha512-" + b + "=", "sha512-" + b + "==", "sha512-" + b + "===",
		"sha512-" + b + "== cheesecake", "sha512:" + b + "=="} {
		h, err := Parse(s, "")
		if err != nil || h.Algo != SHA512 || h.Hex() != want {
			t.Errorf("Parse(%q) = %v, %v", s, h, err)
		}
	}
	// Too short a digest is still refused, padded or not.
	for _, s := range []string{"sha512-" + b[:84], "sha512-" + b[:84] + "==", "sha256-" + b, "sha1-" + b} {
		if h, err := Parse(s, ""); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", s, h)
		}
	}
}

// Nix's BaseNix32::encode returns "" for no bytes (src/libutil/base-nix-32.cc, "if (bs.size() == 0)
// return {}"), so an empty input encodes to "" and a zero Hash prints as nothing instead of
// panicking.
func TestNix32Empty(t *testing.T) {
	if s := EncodeNix32(nil); s != "" {
		t.Errorf("EncodeNix32(nil) = %q", s)
	}
	if d, err := DecodeNix32("", 0); err != nil || len(d) != 0 {
		t.Errorf("DecodeNix32(\"\", 0) = %x, %v", d, err)
	}
	var zero Hash
	if zero.String() != "" || zero.SRI() != "" || zero.Nix32() != "" || zero.Hex() != "" {
		t.Errorf("zero Hash prints %q %q %q %q", zero.String(), zero.SRI(), zero.Nix32(), zero.Hex())
	}
}
