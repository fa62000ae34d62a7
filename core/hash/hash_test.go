package hash

import (
	"bytes"
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
