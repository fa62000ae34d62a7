package manifest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// manyEnv is a den.toml with n [env] entries.
func manyEnv(n int) []byte {
	var b strings.Builder
	b.WriteString("[env]\n")
	for i := range n {
		fmt.Fprintf(&b, "VAR_%d = \"value %d\"\n", i, i)
	}
	return []byte(b.String())
}

// TestParseManyEnv: 100,000 [env] entries took 20 s through go-toml's decoder, whose duplicate
// tracker searches all earlier keys for each new one. BenchmarkParseEnv shows the growth; this
// checks that such a file decodes, in order and completely.
func TestParseManyEnv(t *testing.T) {
	const n = 100_000
	m, err := Parse("den.toml", manyEnv(n))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Env) != n {
		t.Fatalf("%d env entries, want %d", len(m.Env), n)
	}
	for _, i := range []int{0, 1, n / 2, n - 1} {
		want := EnvVar{Name: fmt.Sprintf("VAR_%d", i), Value: fmt.Sprintf("value %d", i), Pos: Position{Line: i + 2, Col: 1}}
		want.Pos.Offset = m.Env[i].Pos.Offset
		if m.Env[i] != want {
			t.Errorf("entry %d = %+v, want %+v", i, m.Env[i], want)
		}
	}
	// A duplicate at the very end is still found.
	data := append(manyEnv(n), "VAR_7 = \"again\"\n"...)
	if _, err := Parse("den.toml", data); err == nil || !strings.Contains(err.Error(), "env.VAR_7 is already defined on line 9") {
		t.Errorf("duplicate after %d keys: %v", n, err)
	}
}

// BenchmarkParseEnv decodes den.tomls of growing [env] tables: ns/op should grow about tenfold
// from one size to the next, not a hundredfold.
func BenchmarkParseEnv(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		data := manyEnv(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Parse("den.toml", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestScanMatchesTOML holds scan to the rules of TOML that go-toml's decoder used to enforce
// for den: which documents define a key or table twice, and what the values decode to. go-toml
// is the reference here.
func TestScanMatchesTOML(t *testing.T) {
	docs := []string{
		// valid
		"a = \"1\"\nb = \"2\"\n",
		"[a]\nb = \"1\"\n[c]\nd = \"2\"\n",
		"[a.b.c]\nx = \"1\"\n[a]\ny = \"2\"\n",
		"[a.b]\nx = \"1\"\n[a.c]\ny = \"2\"\n[a]\nz = \"3\"\n",
		"[fruit]\napple.color = \"red\"\napple.taste.sweet = \"yes\"\n[fruit.apple.texture]\nsmooth = \"yes\"\n",
		"a.b = \"1\"\na.c = \"2\"\nd.e.f = \"3\"\n",
		"x = { a = \"1\", b.c = \"2\", d = [\"e\", { f = \"g\" }] }\n",
		"[env]\nA = \"tab\\there \\u00e9 \\U0001F600 \\\"q\\\" \\\\ \\b\\f\\r\"\nB = 'lit\\eral'\n",
		"C = \"\"\"\nmulti \\\n   line\\\n\"\"\"\nD = '''\nraw\nlines'''\nE = \"\"\"two \"\"quotes\"\"\"\n",
		"\"quoted key\" = \"x\"\n'lit key'.\"a.b\" = \"y\"\n\"\" = \"empty\"\n",
		"a = []\nb = [[], [\"x\"]]\nc = {}\n",
		"[a]\n[a.b]\n[a.b.c]\n",
		// invalid
		"a = \"1\"\na = \"2\"\n",
		"a = \"1\"\n[a]\n",
		"a = \"1\"\n[a.b]\n",
		"[a]\n[a]\n",
		"[a.b]\n[a]\n[a]\n",
		"x = { a = \"1\" }\nx.b = \"2\"\n",
		"x = { a = \"1\" }\n[x]\n",
		"x = { a = \"1\" }\n[x.y]\n",
		"x = [\"1\"]\n[x.y]\n",
		"a.b = \"1\"\n[a]\n",
		"a.b.c = \"1\"\n[a.b]\n",
		"[a.b.c]\nz = \"9\"\n[a]\nb.c.t = \"x\"\n",
		"[a.b]\nx = \"1\"\n[a]\nb.y = \"2\"\n",
		"a.b = \"1\"\na.b.c = \"2\"\n",
		"a.b = \"1\"\na = \"2\"\n",
		"x = { a = \"1\", a = \"2\" }\n",
		"x = { a.b = \"1\", a = \"2\" }\n",
		"x = { a = { b = \"1\" }, a.c = \"2\" }\n",
		"[a]\nb = \"1\"\n[a.b]\n",
	}
	for _, doc := range docs {
		var want map[string]any
		wantErr := toml.Unmarshal([]byte(doc), &want)
		lay, err := newFile("den.toml", []byte(doc)).scan()
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%q: scan says %v, go-toml says %v", doc, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if got := lay.root.loose(); !reflect.DeepEqual(got, want) {
			t.Errorf("%q decodes to\n %#v\nwant %#v", doc, got, want)
		}
	}
}
