package npmtest_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/den-sh/den/core/npm/npmtest"
)

func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func TestTarballIsAnNPMPack(t *testing.T) {
	p := npmtest.Package{Name: "@s/tool", Version: "1.2.3", Bin: "cli.js", Files: map[string]string{"cli.js": "#!/usr/bin/env node\n", "lib/a.js": "1"}}
	tgz := npmtest.Tarball(p)
	if !bytes.Equal(tgz, npmtest.Tarball(p)) {
		t.Error("tarballs should be reproducible")
	}
	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	var pj map[string]any
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "package/package.json" {
			json.NewDecoder(tr).Decode(&pj)
		}
	}
	if want := []string{"package/package.json", "package/cli.js", "package/lib/a.js"}; !reflect.DeepEqual(names, want) {
		t.Errorf("entries %v, want %v", names, want)
	}
	if pj["name"] != "@s/tool" || pj["version"] != "1.2.3" || pj["bin"] != "cli.js" {
		t.Errorf("package.json %v", pj)
	}
}

func TestRegistryServesAndTampers(t *testing.T) {
	reg := npmtest.NewAt(t, "/npm/", npmtest.Package{Name: "@s/tool", Version: "1.0.0"})
	code, body := get(t, reg.URL+"@s%2ftool", "")
	var doc struct {
		DistTags map[string]string `json:"dist-tags"`
		Versions map[string]struct {
			Dist struct{ Tarball, Integrity string }
		}
	}
	if code != 200 || json.Unmarshal(body, &doc) != nil || doc.DistTags["latest"] != "1.0.0" {
		t.Fatalf("packument: %d %s", code, body)
	}
	dist := doc.Versions["1.0.0"].Dist
	if dist.Tarball != reg.URL+npmtest.TarballPath("@s/tool", "1.0.0") || dist.Tarball != reg.URL+"@s/tool/-/tool-1.0.0.tgz" {
		t.Errorf("tarball URL %s", dist.Tarball)
	}
	sri := func(b []byte) string {
		s := sha512.Sum512(b)
		return "sha512-" + base64.StdEncoding.EncodeToString(s[:])
	}
	_, tgz := get(t, dist.Tarball, "")
	if sri(tgz) != dist.Integrity || dist.Integrity != reg.Integrity("@s/tool", "1.0.0") {
		t.Error("served tarball does not match its integrity")
	}
	reg.Tamper("@s/tool", "1.0.0")
	if _, bad := get(t, dist.Tarball, ""); sri(bad) == dist.Integrity || len(bad) != len(tgz) {
		t.Error("tampered tarball should differ in content, not length")
	}
	if code, _ := get(t, reg.URL+"nope", ""); code != 404 {
		t.Errorf("unknown package: %d", code)
	}
	reg.RequireToken("t0k")
	if code, _ := get(t, reg.URL+"@s%2ftool", ""); code != 401 {
		t.Errorf("without token: %d", code)
	}
	if code, _ := get(t, reg.URL+"@s%2ftool", "t0k"); code != 200 {
		t.Errorf("with token: %d", code)
	}
	if n := reg.PackumentRequests("@s/tool"); n != 3 {
		t.Errorf("PackumentRequests = %d", n)
	}
}
