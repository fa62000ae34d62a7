package main

import (
	"os"
	"testing"

	"github.com/den-sh/den/core/store"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestE2E runs the user journeys in testdata/e2e against the registries and mirrors configured on
// this machine (apt sources, GOPROXY, npm's config). It runs under `make e2e` only.
func TestE2E(t *testing.T) {
	if os.Getenv("DEN_E2E") != "1" {
		t.Skip("set DEN_E2E=1 (make e2e) to run against the real registries")
	}
	// One store for every script: a package two journeys need (gopls, compiled from source) is
	// realized once, and the per-path locks are exercised by scripts running side by side. Scripts
	// that need an empty store make their own.
	shared := t.TempDir()
	t.Cleanup(func() { store.RemoveTree(shared) })
	p := scriptParams("../../testdata/e2e")
	p.Setup = func(env *testscript.Env) error {

		// den's own directories are fresh; everything that says where registries are is the
		// machine's own.
		for _, k := range []string{"HOME", "PATH", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOINSECURE",
			"GOENV", "npm_config_registry", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "XDG_CONFIG_HOME",
			// and which certificate authorities this machine's network is trusted with (npm
			// takes Node's NODE_EXTRA_CA_CERTS; without it, each of its requests retries for a
			// minute before its cache answers).
			"NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR"} {
			if v, ok := os.LookupEnv(k); ok {
				env.Setenv(k, v)
			}
		}
		env.Setenv("DEN_STORE", shared+"/store")
		env.Setenv("DEN_STATE", shared+"/state")
		env.Setenv("DEN_CACHE", shared+"/cache")
		env.Setenv("DEN_REPO", repoRoot())
		return nil
	}
	testscript.Run(t, p)
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return wd + "/../.."
}
