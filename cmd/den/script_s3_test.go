package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/den-sh/den/core/cache/s3test"
	"github.com/rogpeppe/go-internal/testscript"
)

// s3ScriptCmds drive a script's fake S3 server (core/cache/s3test, gofakes3 on loopback).
var s3ScriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// s3serve VAR BUCKET...: start a fake S3 server holding the buckets; VAR gets its endpoint
	// (http://127.0.0.1:PORT), and AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY the credentials it
	// accepts (S3KEY and S3SECRET too, to restore them).
	"s3serve": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 2 {
			ts.Fatalf("usage: s3serve VAR BUCKET...")
		}
		srv, err := s3test.Start(args[1:]...)
		ts.Check(err)
		ts.Defer(srv.Close)
		ts.Value("s3").(*fakeS3).srv = srv
		ts.Setenv(args[0], srv.URL)
		for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey,
			"S3KEY": s3test.AccessKey, "S3SECRET": s3test.SecretKey} {
			ts.Setenv(k, v)
		}
	},
	// s3cut on|off: make every upload to the fake S3 server fail as a dropped connection, or not.
	"s3cut": func(ts *testscript.TestScript, neg bool, args []string) {
		srv := s3Of(ts)
		switch {
		case len(args) == 1 && args[0] == "on":
			srv.Cut(func(r *http.Request) bool { return r.Method == http.MethodPut || r.Method == http.MethodPost })
		case len(args) == 1 && args[0] == "off":
			srv.Cut(nil)
		default:
			ts.Fatalf("usage: s3cut on|off")
		}
	},
	// s3keys BUCKET: print the bucket's object keys, one a line.
	"s3keys": func(ts *testscript.TestScript, neg bool, args []string) {
		keys, err := s3Of(ts).Keys(args[0])
		ts.Check(err)
		fmt.Fprint(ts.Stdout(), strings.Join(keys, "\n")+"\n")
	},
}

// fakeS3 is a script's fake S3 server, started by s3serve.
type fakeS3 struct{ srv *s3test.Server }

func s3Of(ts *testscript.TestScript) *s3test.Server {
	f := ts.Value("s3").(*fakeS3)
	if f.srv == nil {
		ts.Fatalf("no fake S3 server: run s3serve first")
	}
	return f.srv
}
