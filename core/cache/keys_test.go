package cache

import (
	"strings"
	"testing"
)

func TestKeyRoundTrip(t *testing.T) {
	k, err := GenerateKey("cache.test-1")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ParseSecretKey("  " + k.String() + "\n")
	if err != nil || sk.String() != k.String() {
		t.Fatalf("secret round trip: %v", err)
	}
	pk, err := ParsePublicKey(k.Public().String() + "\n")
	if err != nil || pk.String() != k.Public().String() || pk.Name != "cache.test-1" {
		t.Fatalf("public round trip: %v", err)
	}
	sig := sk.Sign("1;/s/x;sha256:y;1;")
	if !strings.HasPrefix(sig, "cache.test-1:") || !pk.Verify("1;/s/x;sha256:y;1;", sig) || pk.Verify("1;/s/x;sha256:y;2;", sig) {
		t.Fatalf("sign/verify: %s", sig)
	}
}

func TestKeyParseErrors(t *testing.T) {
	k, _ := GenerateKey("k-1")
	for _, tc := range []struct {
		public bool
		in     string
		want   string
	}{
		{false, "", "not of the form name:base64"},
		{false, "nocolon", "not of the form name:base64"},
		{false, ":" + k.String()[4:], "key name is empty"},
		{false, "k-1:not base64!", "not valid base64"},
		{false, k.Public().String(), "holds 32 bytes, want 64 (this looks like a public key)"},
		{true, k.String(), "holds 64 bytes, want 32 (this looks like a secret key)"},
		{true, "k 1:" + k.Public().String()[4:], "must not contain"},
	} {
		var err error
		if tc.public {
			_, err = ParsePublicKey(tc.in)
		} else {
			_, err = ParseSecretKey(tc.in)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parse %q: got %v, want %q", tc.in, err, tc.want)
		}
		if err != nil && len(tc.in) > 20 && strings.Contains(err.Error(), tc.in[4:]) {
			t.Errorf("error leaks the key: %v", err)
		}
	}
	if _, err := GenerateKey(""); err == nil {
		t.Fatal("empty name accepted")
	}
}
