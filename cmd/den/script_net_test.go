package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/den-sh/den/core/cache"
	"github.com/rogpeppe/go-internal/testscript"
)

// allScriptCmds is scriptCmds, the fake network servers below, the closure checks and the fake
// Debian archive's commands.
func allScriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	all := map[string]func(ts *testscript.TestScript, neg bool, args []string){}
	for k, v := range scriptCmds {
		all[k] = v
	}
	for k, v := range netScriptCmds {
		all[k] = v
	}
	for k, v := range closureScriptCmds {
		all[k] = v
	}
	for k, v := range debScriptCmds {
		all[k] = v
	}
	for k, v := range ptyScriptCmds {
		all[k] = v
	}
	for k, v := range s3ScriptCmds {
		all[k] = v
	}
	return all
}

var netScriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	// hostilecache MODE DIR VAR: serve DIR (a binary cache, or any files) on loopback, VAR
	// getting its URL, and append each request's path to DIR.hits. MODE says how it misbehaves
	// with every file but nix-cache-info and narinfos (so NARs, and tarballs):
	//   plain   it does not
	//   silent  it accepts connections and never answers, not even for those
	//   stall   the headers and half the bytes, then nothing
	//   endless the file, then zeros without end
	// Requests left hanging are released when the script ends.
	"hostilecache": func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) != 3 {
			ts.Fatalf("usage: hostilecache plain|silent|stall|endless DIR VAR")
		}
		mode, dir := args[0], ts.MkAbs(args[1])
		switch mode {
		case "plain", "silent", "stall", "endless":
		default:
			ts.Fatalf("unknown mode %q", mode)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		done := make(chan struct{})
		var mu sync.Mutex
		record := func(path string) {
			mu.Lock()
			defer mu.Unlock()
			f, err := os.OpenFile(dir+".hits", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err == nil {
				fmt.Fprintln(f, path)
				f.Close()
			}
		}
		if mode == "silent" {
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					record("connection")
					go func() { <-done; c.Close() }()
				}
			}()
			ts.Defer(func() { close(done); ln.Close() })
			ts.Setenv(args[2], "http://"+ln.Addr().String())
			return
		}
		files := cache.DirHandler(dir)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			record(r.URL.Path)
			if mode == "plain" || r.URL.Path == "/nix-cache-info" || strings.HasSuffix(r.URL.Path, ".narinfo") {
				files.ServeHTTP(w, r)
				return
			}
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(r.URL.Path)))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			switch mode {
			case "stall":
				w.Write(data[:len(data)/2])
				w.(http.Flusher).Flush()
				select {
				case <-done:
				case <-r.Context().Done():
				}
			case "endless":
				w.Write(data)
				zeros := make([]byte, 64<<10)
				for r.Context().Err() == nil {
					if _, err := w.Write(zeros); err != nil {
						return
					}
				}
			}
		})}
		go srv.Serve(ln)
		ts.Defer(func() { close(done); srv.Close() })
		ts.Setenv(args[2], "http://"+ln.Addr().String())
	},
}
