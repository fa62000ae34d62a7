package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/den-sh/den/core/hash"
	"github.com/den-sh/den/core/nar"
	"github.com/den-sh/den/core/store"
	"github.com/den-sh/den/core/storepath"
)

// DirHandler serves a cache directory read-only, as any static file host would: GET and HEAD of
// the files under dir (with Range support, which matters for large NARs), no directory listings,
// nothing outside dir (symlinks that leave it are refused), no dot files (Put's temporaries).
// The root also answers ?den-list (see ListQuery).
func DirHandler(dir string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "this cache is read-only", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name == "" && r.URL.Query().Has(ListQuery) {
			serveList(w, r, func() ([]string, error) {
				c := &fileCache{dir: dir}
				return c.List(r.Context())
			})
			return
		}
		if checkName(name) != nil || hidden(name) {
			http.NotFound(w, r)
			return
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			http.Error(w, "cache directory unavailable", http.StatusInternalServerError)
			return
		}
		defer root.Close()
		f, err := root.Open(filepath.FromSlash(name))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "escapes") {
				http.NotFound(w, r)
			} else {
				http.Error(w, "cannot read "+name, http.StatusInternalServerError)
			}
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", contentType(name))
		http.ServeContent(w, r, "", fi.ModTime(), f)
	})
}

// hidden reports whether any element of name starts with a dot.
func hidden(name string) bool {
	for _, e := range strings.Split(name, "/") {
		if strings.HasPrefix(e, ".") {
			return true
		}
	}
	return false
}

func serveList(w http.ResponseWriter, r *http.Request, list func() ([]string, error)) {
	names, err := list()
	if err != nil {
		http.Error(w, "cannot list the cache", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set(ListHeader, "1")
	if r.Method == http.MethodHead {
		return
	}
	var b bytes.Buffer
	for _, n := range names {
		b.WriteString(n + "\n")
	}
	w.Write(b.Bytes())
}

// StoreHandler serves the local store as a binary cache: nix-cache-info, a narinfo for every valid
// path (signed on the fly when key is non-nil, keeping the signatures the store already holds) and
// its NAR, dumped from the store and zstd-compressed while it is sent. The NAR's name holds the
// path's hash part and NAR hash, so a narinfo fetched before the path was deleted and re-added
// never leads to a different NAR. Narinfos carry no FileHash or FileSize: they are not known
// before the NAR has been compressed, and Nix does without them.
func StoreHandler(st *store.Store, key *SecretKey) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "this cache is read-only", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/")
		switch {
		case name == "" && r.URL.Query().Has(ListQuery):
			serveList(w, r, func() ([]string, error) {
				all, err := st.All()
				names := make([]string, len(all))
				for i, info := range all {
					names[i] = info.Path.HashPart() + ".narinfo"
				}
				sort.Strings(names)
				return names, err
			})
		case name == "nix-cache-info":
			ci := CacheInfo{StoreDir: st.Dir, WantMassQuery: true, Priority: DefaultPriority}
			serveBytes(w, r, name, ci.Bytes())
		case strings.HasSuffix(name, ".narinfo") && !strings.Contains(name, "/"):
			info := lookup(w, r, st, strings.TrimSuffix(name, ".narinfo"))
			if info == nil {
				return
			}
			n, err := storeNarInfo(info, key)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			serveBytes(w, r, name, n.Bytes())
		case strings.HasPrefix(name, "nar/") && strings.HasSuffix(name, ".nar.zst"):
			base := strings.TrimSuffix(strings.TrimPrefix(name, "nar/"), ".nar.zst")
			part, narHash, ok := strings.Cut(base, "-")
			if !ok {
				http.NotFound(w, r)
				return
			}
			info := lookup(w, r, st, part)
			if info == nil {
				return
			}
			h, err := hash.Parse(info.NarHash, hash.SHA256)
			if err != nil || h.Nix32() != narHash {
				http.NotFound(w, r)
				return
			}
			serveNar(w, r, info)
		default:
			http.NotFound(w, r)
		}
	})
}

func serveBytes(w http.ResponseWriter, r *http.Request, name string, b []byte) {
	w.Header().Set("Content-Type", contentType(name))
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

// lookup finds the valid path with hash part part, answering 404 itself when there is none.
func lookup(w http.ResponseWriter, r *http.Request, st *store.Store, part string) *store.PathInfo {
	if _, err := hash.DecodeNix32(part, 20); err != nil || len(part) != storepath.HashLen {
		http.NotFound(w, r)
		return nil
	}
	// The database is keyed by full path; the store directory has the name. A glob reads the
	// directory once, which is fast next to the NAR that usually follows.
	matches, _ := filepath.Glob(filepath.Join(st.Dir, part+"-*"))
	for _, m := range matches {
		p, err := storepath.Parse(st.Dir, m)
		if err != nil {
			continue
		}
		info, err := st.Info(p)
		if err != nil {
			http.Error(w, "cannot read the store database", http.StatusInternalServerError)
			return nil
		}
		if info != nil {
			return info
		}
	}
	http.NotFound(w, r)
	return nil
}

func storeNarInfo(info *store.PathInfo, key *SecretKey) (*NarInfo, error) {
	h, err := hash.Parse(info.NarHash, hash.SHA256)
	if err != nil {
		return nil, fmt.Errorf("store record of %s has a bad NAR hash", info.Path)
	}
	n := &NarInfo{
		StorePath:   info.Path,
		URL:         "nar/" + info.Path.HashPart() + "-" + h.Nix32() + ".nar.zst",
		Compression: "zstd",
		NarHash:     h,
		NarSize:     info.NarSize,
		References:  info.References,
		Deriver:     info.Deriver,
		Sigs:        append([]string(nil), info.Signatures...),
		CA:          NixCA(info.CA),
	}
	if key != nil {
		n.Sign(*key)
	}
	return n, nil
}

// serveNar streams the compressed NAR: dump, compress and send run together, so memory stays at a
// few zstd blocks whatever the size of the path. A failure half way leaves a truncated body, which
// the client's NarHash check rejects.
func serveNar(w http.ResponseWriter, r *http.Request, info *store.PathInfo) {
	w.Header().Set("Content-Type", contentType("nar/"))
	if r.Method == http.MethodHead {
		return
	}
	zw, err := Compressor("zstd", w)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if err := nar.Dump(ctxWriter{r.Context(), zw}, string(info.Path)); err != nil {
		zw.Close()
		// The status line is gone; breaking the connection is the only way left to say so, and
		// net/http does that when a handler panics with ErrAbortHandler.
		panic(http.ErrAbortHandler)
	}
	zw.Close()
}
