// Package debtest owns a fake Debian archive on loopback for tests: a generated signing key,
// clear-signed InRelease files, Packages indexes and small real .deb files.
package debtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Epoch is the fixed time of keys, signatures, Release dates and .deb members, so that the
// archive's files are the same on every run (signatures aside: EdDSA signing is deterministic,
// so they are too).
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Archive describes the archive to publish.
type Archive struct {
	// Suites to publish; default ["bookworm"].
	Suites []string
	// Archs are the binary architectures; default ["amd64", "arm64"].
	Archs []string
	// Mirror is the last element of the archive's URL path; default "debian".
	Mirror string
	// Packages to publish. A package goes to its Suite (default the first suite) and to its
	// architecture's index, or to every architecture's for Arch "all".
	Packages []Deb
	// Date is the Release files' Date; default Epoch.
	Date time.Time
	// ValidUntil, when set, is the Release files' Valid-Until.
	ValidUntil time.Time
	// AcquireByHash publishes the index files under by-hash/SHA256/ too and says so.
	AcquireByHash bool
	// Compressions of the Packages files listed and served: any of "xz", "gz", ""
	// (uncompressed); default all three.
	Compressions []string
	// Key signs InRelease; nil means a key generated for the server.
	Key *openpgp.Entity
}

// Deb is one binary package.
type Deb struct {
	Name, Version                 string
	Arch                          string // default "amd64"
	Source                        string // the Source field as written ("zlib" or "zlib (1:1.2.13-1)"); default none
	Suite                         string
	Depends, PreDepends, Provides string
	MultiArch, Priority           string
	Essential                     bool
	// Files are the data.tar's entries, by path without a leading "./" ("usr/bin/hello");
	// parent directories are added.
	Files map[string]File
	// Compression of control.tar and data.tar: "xz" (default), "gz", "zst" or "none".
	Compression string
	// Control holds more fields for the control file and the index entry.
	Control map[string]string
}

// File is one entry of a .deb's data.tar.
type File struct {
	Data string
	Mode fs.FileMode // permission bits; 0 means 0644 (0755 for directories)
	Link string      // makes the entry a symlink to Link
	Dir  bool        // makes the entry a directory
}

// Published is a .deb as the archive serves it.
type Published struct {
	Deb
	Filename string // under the archive root: pool/main/<x>/<source>/<name>_<version>_<arch>.deb
	Path     string // on disk
	SHA256   string // hex
	Size     int64
}

// Server is a published archive served on loopback.
type Server struct {
	// URL is the archive's root (the URI an apt source names), ending in /<Mirror>.
	URL string
	// Root is the directory served at URL: dists/… and pool/…; tests may change files in it.
	Root string
	// KeyringFile is the armored public key that verifies the archive.
	KeyringFile string
	// AptDir is an /etc/apt-like directory with sources.list.d/debtest.sources naming the
	// archive (Signed-By: KeyringFile).
	AptDir string
	// Key is the signing key (with its private part).
	Key *openpgp.Entity
	// Debs are the published packages, by "name_version_arch".
	Debs map[string]*Published

	t    testing.TB
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []string
	arch Archive
}

// New publishes a in a temporary directory and serves it until the test ends.
func New(t testing.TB, a Archive) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{t: t, Root: filepath.Join(dir, "archive"), AptDir: filepath.Join(dir, "apt"), KeyringFile: filepath.Join(dir, "archive-key.asc")}
	s.Key = a.Key
	if s.Key == nil {
		s.Key = NewKey(t, "den test archive")
	}
	if err := os.WriteFile(s.KeyringFile, ArmoredPublicKey(t, s.Key), 0o644); err != nil {
		t.Fatal(err)
	}
	mirror := a.Mirror
	if mirror == "" {
		mirror = "debian"
	}
	prefix := "/" + mirror
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.URL.Path)
		s.mu.Unlock()
		rel, ok := strings.CutPrefix(r.URL.Path, prefix+"/")
		if !ok || path.Clean("/"+rel) != "/"+rel {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, filepath.Join(s.Root, filepath.FromSlash(rel)))
	}))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL + prefix
	s.Publish(a)
	return s
}

// Stop stops serving, as an archive that is unreachable.
func (s *Server) Stop() { s.srv.Close() }

// Requests returns the URL paths requested so far, in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

// ResetRequests forgets the requests so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	s.reqs = nil
	s.mu.Unlock()
}

// Path returns the file of the archive at rel ("dists/bookworm/InRelease").
func (s *Server) Path(rel string) string { return filepath.Join(s.Root, filepath.FromSlash(rel)) }

// Deb returns the published package name (of any version and architecture: the first by
// key order), or nil.
func (s *Server) Deb(name string) *Published {
	keys := make([]string, 0, len(s.Debs))
	for k := range s.Debs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if s.Debs[k].Name == name {
			return s.Debs[k]
		}
	}
	return nil
}

// Tamper changes the file at rel in place: the first occurrence of old becomes new (which
// must be found).
func (s *Server) Tamper(rel, old, new string) {
	s.t.Helper()
	p := s.Path(rel)
	data, err := os.ReadFile(p)
	if err != nil {
		s.t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		s.t.Fatalf("debtest: %s has no %q", rel, old)
	}
	if err := os.WriteFile(p, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// Publish (re)writes the whole archive from a, signed with the server's key, and the apt
// sources naming it. Files of an earlier publication that a does not name stay.
func (s *Server) Publish(a Archive) {
	s.t.Helper()
	if err := s.publish(a); err != nil {
		s.t.Fatalf("debtest: %v", err)
	}
}

func (s *Server) publish(a Archive) error {
	if len(a.Suites) == 0 {
		a.Suites = []string{"bookworm"}
	}
	if len(a.Archs) == 0 {
		a.Archs = []string{"amd64", "arm64"}
	}
	if a.Date.IsZero() {
		a.Date = Epoch
	}
	if a.Compressions == nil {
		a.Compressions = []string{"xz", "gz", ""}
	}
	s.arch = a
	s.Debs = map[string]*Published{}
	// suite → arch → entries
	entries := map[string]map[string][]*Published{}
	for _, d := range a.Packages {
		if d.Arch == "" {
			d.Arch = "amd64"
		}
		if d.Suite == "" {
			d.Suite = a.Suites[0]
		}
		data, err := BuildDeb(d)
		if err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
		src := d.Name
		if d.Source != "" {
			src, _, _ = strings.Cut(d.Source, " ")
		}
		first := src[:1]
		if strings.HasPrefix(src, "lib") && len(src) > 3 {
			first = src[:4]
		}
		p := &Published{Deb: d, Filename: fmt.Sprintf("pool/main/%s/%s/%s_%s_%s.deb", first, src, d.Name, strings.ReplaceAll(stripEpoch(d.Version), ":", "%3a"), d.Arch)}
		p.Path = s.Path(p.Filename)
		sum := sha256.Sum256(data)
		p.SHA256, p.Size = hex.EncodeToString(sum[:]), int64(len(data))
		if err := writeFile(p.Path, data); err != nil {
			return err
		}
		s.Debs[d.Name+"_"+d.Version+"_"+d.Arch] = p
		if entries[d.Suite] == nil {
			entries[d.Suite] = map[string][]*Published{}
		}
		for _, arch := range a.Archs {
			if d.Arch == arch || d.Arch == "all" {
				entries[d.Suite][arch] = append(entries[d.Suite][arch], p)
			}
		}
	}
	for _, suite := range a.Suites {
		if err := s.publishSuite(a, suite, entries[suite]); err != nil {
			return err
		}
	}
	return s.writeAptDir(a)
}

func stripEpoch(v string) string {
	if _, after, ok := strings.Cut(v, ":"); ok {
		return after
	}
	return v
}

func (s *Server) publishSuite(a Archive, suite string, byArch map[string][]*Published) error {
	dists := s.Path("dists/" + suite)
	type listed struct {
		name string
		sum  string
		size int
	}
	var files []listed
	for _, arch := range a.Archs {
		ps := byArch[arch]
		sort.Slice(ps, func(i, j int) bool {
			if ps[i].Name != ps[j].Name {
				return ps[i].Name < ps[j].Name
			}
			return ps[i].Version < ps[j].Version
		})
		var idx bytes.Buffer
		for _, p := range ps {
			idx.WriteString(paragraph(p))
			idx.WriteString("\n")
		}
		base := "main/binary-" + arch + "/Packages"
		variants := map[string][]byte{}
		for _, c := range a.Compressions {
			switch c {
			case "":
				variants[""] = idx.Bytes()
			case "xz":
				variants[".xz"] = compress("xz", idx.Bytes())
			case "gz":
				variants[".gz"] = compress("gz", idx.Bytes())
			default:
				return fmt.Errorf("unknown compression %q", c)
			}
		}
		// The plain file is listed even when not served, as Debian lists it: its hash
		// checks the decompressed file.
		if _, ok := variants[""]; !ok {
			sum := sha256.Sum256(idx.Bytes())
			files = append(files, listed{base, hex.EncodeToString(sum[:]), idx.Len()})
		}
		for _, ext := range []string{"", ".gz", ".xz"} {
			data, ok := variants[ext]
			if !ok {
				continue
			}
			sum := sha256.Sum256(data)
			files = append(files, listed{base + ext, hex.EncodeToString(sum[:]), len(data)})
			if err := writeFile(filepath.Join(dists, filepath.FromSlash(base+ext)), data); err != nil {
				return err
			}
			if a.AcquireByHash {
				if err := writeFile(filepath.Join(dists, "main", "binary-"+arch, "by-hash", "SHA256", hex.EncodeToString(sum[:])), data); err != nil {
					return err
				}
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var rel bytes.Buffer
	fmt.Fprintf(&rel, "Origin: Debian\nLabel: Debian\nSuite: %s\nCodename: %s\n", suite, suite)
	fmt.Fprintf(&rel, "Date: %s\n", a.Date.UTC().Format(time.RFC1123))
	if !a.ValidUntil.IsZero() {
		fmt.Fprintf(&rel, "Valid-Until: %s\n", a.ValidUntil.UTC().Format(time.RFC1123))
	}
	if a.AcquireByHash {
		rel.WriteString("Acquire-By-Hash: yes\n")
	}
	rel.WriteString("No-Support-for-Architecture-all: Packages\n")
	fmt.Fprintf(&rel, "Architectures: all %s\nComponents: main\nDescription: den test archive\nSHA256:\n", strings.Join(a.Archs, " "))
	for _, f := range files {
		fmt.Fprintf(&rel, " %s %8d %s\n", f.sum, f.size, f.name)
	}
	if err := writeFile(filepath.Join(dists, "Release"), rel.Bytes()); err != nil {
		return err
	}
	signed, err := ClearSign(a.Key, s.Key, rel.Bytes())
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dists, "InRelease"), signed)
}

// ClearSign clear-signs text with key (the Archive's Key if set, else fallback), as at Epoch.
func ClearSign(key, fallback *openpgp.Entity, text []byte) ([]byte, error) {
	if key == nil {
		key = fallback
	}
	var out bytes.Buffer
	w, err := clearsign.Encode(&out, key.PrivateKey, &packet.Config{DefaultHash: crypto.SHA256, Time: func() time.Time { return Epoch }})
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(text); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func (s *Server) writeAptDir(a Archive) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n", s.URL, strings.Join(a.Suites, " "), s.KeyringFile)
	if err := os.MkdirAll(filepath.Join(s.AptDir, "trusted.gpg.d"), 0o755); err != nil {
		return err
	}
	return writeFile(filepath.Join(s.AptDir, "sources.list.d", "debtest.sources"), []byte(b.String()))
}

// paragraph is p's entry in a Packages file.
func paragraph(p *Published) string {
	var b strings.Builder
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	field("Package", p.Name)
	field("Source", p.Source)
	field("Version", p.Version)
	field("Architecture", p.Arch)
	field("Multi-Arch", p.MultiArch)
	if p.Essential {
		field("Essential", "yes")
	}
	field("Provides", p.Provides)
	field("Pre-Depends", p.PreDepends)
	field("Depends", p.Depends)
	for _, k := range sortedKeys(p.Control) {
		field(k, p.Control[k])
	}
	field("Priority", p.Priority)
	field("Description", p.Name+" for den's tests\n a package of the fake archive\n .\n with a multi-line description")
	field("Filename", p.Filename)
	field("Size", fmt.Sprint(p.Size))
	field("SHA256", p.SHA256)
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func writeFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// NewKey generates an EdDSA signing key (fast, and its signatures are deterministic).
func NewKey(t testing.TB, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", "", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return Epoch.Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// ArmoredPublicKey returns e's public key as an armored keyring (an .asc file).
func ArmoredPublicKey(t testing.TB, e *openpgp.Entity) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// BinaryPublicKey returns e's public key as a binary keyring (a .gpg file).
func BinaryPublicKey(t testing.TB, e *openpgp.Entity) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := e.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// BuildDeb returns d as a .deb: an ar archive of debian-binary, control.tar.<c> and
// data.tar.<c>, as dpkg-deb writes it.
func BuildDeb(d Deb) ([]byte, error) {
	c := d.Compression
	if c == "" {
		c = "xz"
	}
	ext := map[string]string{"xz": ".xz", "gz": ".gz", "zst": ".zst", "none": ""}
	e, ok := ext[c]
	if !ok {
		return nil, fmt.Errorf("unknown compression %q", c)
	}
	if d.Arch == "" {
		d.Arch = "amd64"
	}
	var control strings.Builder
	fmt.Fprintf(&control, "Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: den <den@localhost>\n", d.Name, d.Version, d.Arch)
	for _, kv := range [][2]string{{"Source", d.Source}, {"Multi-Arch", d.MultiArch}, {"Provides", d.Provides}, {"Pre-Depends", d.PreDepends}, {"Depends", d.Depends}, {"Priority", d.Priority}} {
		if kv[1] != "" {
			fmt.Fprintf(&control, "%s: %s\n", kv[0], kv[1])
		}
	}
	if d.Essential {
		control.WriteString("Essential: yes\n")
	}
	for _, k := range sortedKeys(d.Control) {
		fmt.Fprintf(&control, "%s: %s\n", k, d.Control[k])
	}
	control.WriteString("Description: " + d.Name + " for den's tests\n")
	ctar, err := tarOf(map[string]File{"control": {Data: control.String()}})
	if err != nil {
		return nil, err
	}
	dtar, err := tarOf(d.Files)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteString("!<arch>\n")
	arMember(&out, "debian-binary", []byte("2.0\n"))
	arMember(&out, "control.tar"+e, compress(c, ctar))
	arMember(&out, "data.tar"+e, compress(c, dtar))
	return out.Bytes(), nil
}

// arMember writes one member of a common-format ar archive: a 60-byte header, the data, and
// a newline pad to an even offset.
func arMember(w *bytes.Buffer, name string, data []byte) {
	fmt.Fprintf(w, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, Epoch.Unix(), 0, 0, "100644", len(data))
	w.Write(data)
	if len(data)%2 == 1 {
		w.WriteByte('\n')
	}
}

// tarOf writes files as dpkg-deb does: "./"-prefixed names, parents first, root-owned.
func tarOf(files map[string]File) ([]byte, error) {
	all := map[string]File{}
	for name, f := range files {
		name = strings.Trim(name, "/")
		if name == "" || path.Clean(name) != name {
			return nil, fmt.Errorf("bad file name %q", name)
		}
		all[name] = f
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = File{Dir: true}
			}
		}
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	hdr := func(h *tar.Header) error {
		h.Uname, h.Gname, h.ModTime, h.Format = "root", "root", Epoch, tar.FormatGNU
		return tw.WriteHeader(h)
	}
	if err := hdr(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(all) {
		f := all[name]
		mode := int64(f.Mode.Perm())
		switch {
		case f.Dir:
			if mode == 0 {
				mode = 0o755
			}
			if err := hdr(&tar.Header{Name: "./" + name + "/", Typeflag: tar.TypeDir, Mode: mode}); err != nil {
				return nil, err
			}
		case f.Link != "":
			if err := hdr(&tar.Header{Name: "./" + name, Typeflag: tar.TypeSymlink, Linkname: f.Link, Mode: 0o777}); err != nil {
				return nil, err
			}
		default:
			if mode == 0 {
				mode = 0o644
			}
			if err := hdr(&tar.Header{Name: "./" + name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(f.Data))}); err != nil {
				return nil, err
			}
			if _, err := io.WriteString(tw, f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func compress(c string, data []byte) []byte {
	var b bytes.Buffer
	var w io.WriteCloser
	var err error
	switch c {
	case "none":
		return data
	case "xz":
		w, err = xz.NewWriter(&b)
	case "gz":
		w, err = gzip.NewWriterLevel(&b, gzip.BestCompression)
	case "zst":
		w, err = zstd.NewWriter(&b)
	}
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		panic("debtest: compressing in memory: " + err.Error())
	}
	return b.Bytes()
}
