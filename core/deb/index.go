package deb

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"pault.ag/go/debian/control"
	"pault.ag/go/debian/dependency"
	"pault.ag/go/debian/version"
)

// Index is the merged package index of an Archive for one architecture.
type Index struct {
	Arch string

	pkgs      map[string]*Package
	providers map[string][]provider // by virtual package name
}

// provider is a package that Provides a name, at a version when the Provides says so.
type provider struct {
	pkg *Package
	ver *version.Version
}

func newIndex(arch string) *Index {
	return &Index{Arch: arch, pkgs: map[string]*Package{}, providers: map[string][]provider{}}
}

// NewIndex makes an index of the given packages, as Archive.Index merges them (for each name
// the highest version wins). It is for callers that hold packages from elsewhere (a lock file's
// entries, a test); each package's Version must parse.
func NewIndex(arch string, pkgs []*Package) (*Index, error) {
	ix := newIndex(arch)
	for _, p := range pkgs {
		v, err := version.Parse(p.Version)
		if err != nil {
			return nil, fmt.Errorf("package %s: version %q: %w", p.Name, p.Version, err)
		}
		p.ver = v
		ix.add(p)
	}
	ix.finish()
	return ix, nil
}

func (ix *Index) add(p *Package) {
	if old := ix.pkgs[p.Name]; old == nil || version.Compare(p.ver, old.ver) > 0 {
		ix.pkgs[p.Name] = p
	}
}

// finish indexes the Provides of the winning packages. Their order does not matter: the
// resolver orders providers itself.
func (ix *Index) finish() {
	for _, p := range ix.pkgs {
		if p.Provides == "" {
			continue
		}
		dep, err := dependency.Parse(p.Provides)
		if err != nil {
			continue // a Provides that does not parse provides nothing
		}
		for _, rel := range dep.Relations {
			for _, poss := range rel.Possibilities {
				pr := provider{pkg: p}
				if poss.Version != nil && poss.Version.Operator == "=" {
					if v, err := version.Parse(poss.Version.Number); err == nil {
						pr.ver = &v
					}
				}
				ix.providers[poss.Name] = append(ix.providers[poss.Name], pr)
			}
		}
	}
}

// Get returns the package called name (a real package, not a virtual one), or nil.
func (ix *Index) Get(name string) *Package { return ix.pkgs[name] }

// Packages returns every package of the index, sorted by name.
func (ix *Index) Packages() []*Package {
	out := make([]*Package, 0, len(ix.pkgs))
	for _, p := range ix.pkgs {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Len is the number of packages.
func (ix *Index) Len() int { return len(ix.pkgs) }

// pkgMeta is what a Packages file's paragraphs do not say about themselves.
type pkgMeta struct {
	mirror, suite, arch string
	where               string // the file's URL, for errors
}

// IndexFormatError is a verified Packages file with an entry den cannot use.
type IndexFormatError struct {
	Where   string // the Packages file's URL
	Package string
	Msg     string
}

func (e *IndexFormatError) Error() string {
	return fmt.Sprintf("%s: package %q: %s", e.Where, e.Package, e.Msg)
}

// parsePackages reads the paragraphs of a Packages file, keeping those of meta.arch and "all".
// It reads the paragraphs with pault.ag's ParagraphReader and takes the fields by hand: that
// library's reflection-driven BinaryIndex decoder costs three times as long on the archive's
// 60,000 entries, and most of them are never looked at again.
func parsePackages(r io.Reader, meta pkgMeta) ([]*Package, error) {
	pr, err := control.NewParagraphReader(bufio.NewReaderSize(r, 1<<20), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", meta.where, err)
	}
	var out []*Package
	for {
		para, err := pr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", meta.where, err)
		}
		v := para.Values
		arch := v["Architecture"]
		if arch != meta.arch && arch != "all" {
			continue
		}
		p := &Package{
			Name:       v["Package"],
			Version:    v["Version"],
			Arch:       arch,
			Filename:   v["Filename"],
			SHA256:     strings.ToLower(v["SHA256"]),
			Mirror:     meta.mirror,
			Suite:      meta.suite,
			Depends:    v["Depends"],
			PreDepends: v["Pre-Depends"],
			Provides:   v["Provides"],
			MultiArch:  v["Multi-Arch"],
			Essential:  v["Essential"] == "yes",
			Priority:   v["Priority"],
		}
		bad := func(msg string) error { return &IndexFormatError{Where: meta.where, Package: p.Name, Msg: msg} }
		if p.Name == "" {
			return nil, bad("no Package field")
		}
		if p.ver, err = version.Parse(p.Version); err != nil {
			return nil, bad(fmt.Sprintf("version %q: %v", p.Version, err))
		}
		if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != 32 {
			return nil, bad(fmt.Sprintf("SHA256 %q is not a sha256 in hex", p.SHA256))
		}
		if p.Size, err = strconv.ParseInt(v["Size"], 10, 64); err != nil || p.Size < 0 {
			return nil, bad(fmt.Sprintf("Size %q is not a size", v["Size"]))
		}
		if p.Filename == "" || strings.HasPrefix(p.Filename, "/") || strings.Contains("/"+p.Filename+"/", "/../") {
			return nil, bad(fmt.Sprintf("Filename %q is not a path under the archive", p.Filename))
		}
		p.Source, p.SourceVersion = p.Name, p.Version
		if s := v["Source"]; s != "" {
			name, ver, ok := strings.Cut(s, " ")
			p.Source = name
			if ok {
				p.SourceVersion = strings.Trim(strings.TrimSpace(ver), "()")
			}
		}
		out = append(out, p)
	}
}
