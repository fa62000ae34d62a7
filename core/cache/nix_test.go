package cache

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/storepath"
)

// nixTool returns the path of a Nix command, skipping the test without it unless CI requires Nix.
func nixTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("DEN_REQUIRE_NIX") == "1" {
			t.Fatalf("%s is not on PATH, and DEN_REQUIRE_NIX=1 requires comparing with Nix", name)
		}
		t.Skipf("%s is not on PATH", name)
	}
	return p
}

// runNix runs a Nix command isolated from the machine's Nix configuration and state.
func runNix(t *testing.T, home string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(nixTool(t, name), args...)
	cmd.Env = nixEnv(home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func nixEnv(home string) []string {
	return append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+home+"/cache", "XDG_CONFIG_HOME="+home+"/config",
		"NIX_CONF_DIR="+home+"/etc", "NIX_CONFIG=experimental-features = nix-command\nbuild-users-group =\nsubstituters =\n")
}

// localNixStore is a Nix store URL with the logical store dir storeDir, kept in its own real
// location, so that Nix and den agree on every path's hash without touching /nix.
func localNixStore(dir, storeDir string) string {
	return "local?store=" + storeDir + "&real=" + dir + "/real&state=" + dir + "/state&log=" + dir + "/log"
}

// A cache den writes is a Nix cache: Nix lists it, verifies den's signatures with den's public key
// and copies the closure out of it with the same NAR hashes.
func TestNixReadsDenCache(t *testing.T) {
	nixTool(t, "nix")
	f := newPushFixture(t)
	key, _ := GenerateKey("den-interop-1")
	home := t.TempDir()
	cacheDir := t.TempDir()
	c, _ := Open("file://"+cacheDir, nil)
	if _, _, err := Push(context.Background(), f.st, c, []storepath.Path{f.top}, PushOptions{Key: &key}); err != nil {
		t.Fatal(err)
	}
	cacheURL := "file://" + cacheDir + "?store=" + f.st.Dir

	out := runNix(t, home, "nix", "path-info", "--store", cacheURL, "--json", "--all")
	var listed []struct {
		Path       string   `json:"path"`
		NarHash    string   `json:"narHash"`
		NarSize    int64    `json:"narSize"`
		References []string `json:"references"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("nix path-info: %v\n%s", err, out)
	}
	if len(listed) != len(f.closureMembers) {
		t.Fatalf("nix path-info lists %d paths, want %d:\n%s", len(listed), len(f.closureMembers), out)
	}
	for _, l := range listed {
		rec, err := f.st.Info(storepath.Path(l.Path))
		if err != nil || rec == nil {
			t.Fatalf("nix lists %s, which den did not push", l.Path)
		}
		if h, _ := hash.Parse(l.NarHash, ""); h.String() != rec.NarHash || l.NarSize != rec.NarSize || len(l.References) != len(rec.References) {
			t.Errorf("nix reads %s as %s %d %v; den has %s %d %v", l.Path, l.NarHash, l.NarSize, l.References, rec.NarHash, rec.NarSize, rec.References)
		}
	}

	runNix(t, home, "nix", "store", "verify", "--store", cacheURL, "--all", "--trusted-public-keys", key.Public().String())
	// And a key Nix does not trust fails the same check, so the one above proved something.
	other, _ := GenerateKey("other-1")
	cmd := exec.Command(nixTool(t, "nix"), "store", "verify", "--store", cacheURL, "--all", "--trusted-public-keys", other.Public().String())
	cmd.Env = nixEnv(home)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "untrusted") {
		t.Fatalf("nix store verify with an untrusted key: %v\n%s", err, out)
	}

	dest := localNixStore(t.TempDir(), f.st.Dir)
	runNix(t, home, "nix", "copy", "--from", cacheURL, "--to", dest, "--trusted-public-keys", key.Public().String(), string(f.top))
	out = runNix(t, home, "nix", "path-info", "--store", dest, "--json", "--recursive", string(f.top))
	listed = nil
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != len(f.closureMembers) {
		t.Fatalf("copied closure: %v\n%s", err, out)
	}
	for _, l := range listed {
		rec, _ := f.st.Info(storepath.Path(l.Path))
		if h, _ := hash.Parse(l.NarHash, ""); rec == nil || h.String() != rec.NarHash {
			t.Errorf("nix copied %s with NAR hash %s; den has %v", l.Path, l.NarHash, rec)
		}
	}
}

// A cache Nix writes, signed with a key nix-store --generate-binary-cache-key made, is one den
// reads: den parses the keys, verifies Nix's signatures and finds the NAR hashes Nix recorded;
// a narinfo den signs with Nix's secret key carries the same signature.
func TestDenReadsNixCache(t *testing.T) {
	nixTool(t, "nix")
	home := t.TempDir()
	keys := t.TempDir()
	runNix(t, home, "nix-store", "--generate-binary-cache-key", "nix-interop-1", keys+"/sk", keys+"/pk")
	skText, _ := os.ReadFile(keys + "/sk")
	pkText, _ := os.ReadFile(keys + "/pk")
	sk, err := ParseSecretKey(string(skText))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ParsePublicKey(string(pkText))
	if err != nil || sk.Public().String() != pk.String() {
		t.Fatalf("Nix's key pair: %v (den derives %s from the secret, Nix wrote %s)", err, sk.Public(), pk)
	}

	nixDir := t.TempDir()
	storeDir := filepath.Join(nixDir, "store")
	src := t.TempDir()
	os.MkdirAll(src+"/tree/bin", 0o755)
	os.WriteFile(src+"/tree/bin/tool", []byte("#!/bin/sh\necho tool\n"), 0o755)
	os.WriteFile(src+"/tree/data", []byte(strings.Repeat("data ", 10000)), 0o644)
	local := localNixStore(nixDir, storeDir)
	p := strings.TrimSpace(runNix(t, home, "nix-store", "--store", local, "--add", src+"/tree"))

	for _, method := range []string{"zstd", "xz", "none"} {
		t.Run(method, func(t *testing.T) {
			cacheDir := t.TempDir()
			runNix(t, home, "nix", "copy", "--store", local, "--to",
				"file://"+cacheDir+"?store="+storeDir+"&compression="+method+"&secret-key="+keys+"/sk", p)
			c, _ := Open("file://"+cacheDir, nil)
			info, err := c.Info(context.Background())
			if err != nil || info.StoreDir != storeDir {
				t.Fatalf("nix-cache-info: %+v %v", info, err)
			}
			sp, err := storepath.Parse(storeDir, p)
			if err != nil {
				t.Fatal(err)
			}
			n, err := GetNarInfo(context.Background(), c, sp, storeDir)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Verify([]PublicKey{pk}); err != nil {
				t.Fatalf("Nix's signature: %v", err)
			}
			if got := sk.Sign(n.Fingerprint()); got != n.Sigs[0] {
				t.Fatalf("den signs %s, Nix signed %s", got, n.Sigs[0])
			}
			raw, _ := os.ReadFile(filepath.Join(cacheDir, sp.HashPart()+".narinfo"))
			if string(n.Bytes()) != string(raw) {
				t.Errorf("den writes the narinfo as\n%s\nNix wrote\n%s", n.Bytes(), raw)
			}
			// The NAR decompresses to what den itself archives from the same tree.
			rc, err := c.Get(context.Background(), n.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			dr, err := Decompressor(n.Compression, rc)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			size, err := io.Copy(h, dr)
			if err != nil {
				t.Fatal(err)
			}
			want, wantSize, err := nar.Hash(filepath.Join(nixDir, "real", sp.Base()))
			if err != nil {
				t.Fatal(err)
			}
			if got := hash.FromHasher(hash.SHA256, h); !got.Equal(n.NarHash) || !want.Equal(n.NarHash) || size != n.NarSize || wantSize != size {
				t.Fatalf("NAR: decompressed %s %d, den hashes the tree %s %d, Nix says %s %d", got, size, want, wantSize, n.NarHash, n.NarSize)
			}
		})
	}
}

// Nix substitutes from den's store server: narinfos without FileHash, NARs compressed on the fly,
// signatures made on request.
func TestNixReadsStoreHandler(t *testing.T) {
	nixTool(t, "nix")
	f := newPushFixture(t)
	key, _ := GenerateKey("den-serve-1")
	srv := httptest.NewServer(StoreHandler(f.st, &key))
	defer srv.Close()
	home := t.TempDir()
	from := srv.URL + "?store=" + f.st.Dir
	dest := localNixStore(t.TempDir(), f.st.Dir)
	runNix(t, home, "nix", "copy", "--from", from, "--to", dest, "--trusted-public-keys", key.Public().String(), string(f.top))
	out := runNix(t, home, "nix", "path-info", "--store", dest, "--json", "--recursive", string(f.top))
	var listed []struct {
		Path    string `json:"path"`
		NarHash string `json:"narHash"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != len(f.closureMembers) {
		t.Fatalf("copied closure: %v\n%s", err, out)
	}
	for _, l := range listed {
		rec, _ := f.st.Info(storepath.Path(l.Path))
		if h, _ := hash.Parse(l.NarHash, ""); rec == nil || h.String() != rec.NarHash {
			t.Errorf("nix copied %s with NAR hash %s; den has %v", l.Path, l.NarHash, rec)
		}
	}
}
