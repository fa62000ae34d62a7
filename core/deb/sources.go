package deb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// The names under which den.lock writes a Debian location (mirror://debian/pool/…). A lock
// holds names, never URLs, so that every machine fetches from the archives it is configured
// for.
const (
	MirrorDebian   = "debian"
	MirrorSecurity = "debian-security"
)

// Source is one archive entry of apt's sources (or of den's config): one URI and its suites.
type Source struct {
	URI        string
	Suites     []string
	Components []string
	// Types are the entry's types: "deb" (binary packages, which Index reads) and "deb-src"
	// (source packages, which mirror:// URLs of source tarballs use).
	Types []string
	// Keyring is the entry's Signed-By as written: keyring file paths, fingerprints that pick
	// keys out of the default keyrings, or an armored key block. Empty means the default
	// keyrings (see DefaultKeyrings).
	Keyring string
	// Mirror is the name den.lock writes this archive's files under: the base name of the URI
	// path, "debian" or "debian-security". An archive whose path says neither (a Debian mirror
	// at /mirror, say, signed by Debian's keyring) is "debian-security" when every suite is a
	// security suite, and "debian" otherwise.
	Mirror string
	// Architectures restricts the entry to these architectures (arch= / Architectures:);
	// empty means every architecture.
	Architectures []string
	// IgnoreValidUntil is set by check-valid-until=no in the entry, or by
	// Acquire::Check-Valid-Until "false" in apt's configuration: an InRelease past its
	// Valid-Until is then accepted, as apt accepts it (archive snapshots need this).
	IgnoreValidUntil bool
	// Origin is where the entry was read: "file:line", or "den config".
	Origin string
}

// HasType reports whether the entry has type t ("deb" or "deb-src").
func (s Source) HasType(t string) bool {
	for _, x := range s.Types {
		if x == t {
			return true
		}
	}
	return false
}

// NoSourceError says no Debian archive is configured anywhere and how to configure one.
type NoSourceError struct {
	AptDir string
	// ConfigFile and ConfigKey name den's setting that lists archives; the caller that knows
	// them fills them in.
	ConfigFile, ConfigKey string
}

func (e *NoSourceError) Error() string {
	return fmt.Sprintf("no Debian archive is configured: %s has no apt source of the Debian archive and den's config names none", e.AptDir)
}

// Hints says what to set.
func (e *NoSourceError) Hints() []string {
	file, key := e.ConfigFile, e.ConfigKey
	if file == "" {
		file = "den's config.toml"
	}
	if key == "" {
		key = "debian-sources"
	}
	return []string{
		fmt.Sprintf("add to %s:  %s = [\"<URL of a Debian archive, ending in /debian> bookworm bookworm-updates\", \"<URL ending in /debian-security> bookworm-security\"]", file, key),
		fmt.Sprintf("or give apt a source of the Debian archive in %s", filepath.Join(e.AptDir, "sources.list.d")),
	}
}

// SourceError is an apt source entry den cannot read.
type SourceError struct {
	Origin string // file:line
	Msg    string
}

func (e *SourceError) Error() string { return e.Origin + ": " + e.Msg }

// Sources returns the Debian archives to read: configured first (den's config, one entry per
// string in the form "[options] URI suite [suite...]", component main), then those of apt's
// sources in aptDir (sources.list, then sources.list.d/*.list and *.sources in name order;
// other files, such as *.disabled, are skipped as apt skips them).
//
// An apt entry is taken as a Debian archive when its Signed-By names a debian-archive keyring
// or its URI path ends in /debian or /debian-security. An entry without Signed-By is not taken
// on that ground alone: one-line entries of third-party archives (which apt verifies with
// trusted.gpg.d) usually have none. Entries with Enabled: no, flat repositories ("suite/") and
// URIs other than http, https and file are skipped. A suite that an earlier entry already
// lists for the same URI is dropped from the later one.
//
// Entries of den's config (configured) replace apt's when there are any.
//
// With no archive at all, the error is a *NoSourceError.
func Sources(aptDir string, configured []string) ([]Source, error) {
	if aptDir == "" {
		aptDir = "/etc/apt"
	}
	var out []Source
	for i, c := range configured {
		s, ok, err := parseOneLine("deb "+c, fmt.Sprintf("den config (entry %d)", i+1), true)
		if err != nil {
			return nil, err
		}
		if ok {
			s.Components = []string{"main"}
			out = append(out, s)
		}
	}
	if len(out) > 0 {
		// den's own configuration replaces apt's, so a project can be pointed at one archive
		// (a snapshot, a local mirror) whatever the host uses.
		return dedupe(out), nil
	}
	apt, err := AptSources(aptDir)
	if err != nil {
		return nil, err
	}
	for _, s := range apt {
		if isDebianArchive(s) {
			out = append(out, s)
		}
	}
	out = dedupe(out)
	if len(out) == 0 {
		return nil, &NoSourceError{AptDir: aptDir}
	}
	return out, nil
}

// AptSources parses every entry of apt's sources in aptDir, Debian's or not, in apt's order.
// A missing sources.list or sources.list.d is no error; an entry apt would refuse is.
func AptSources(aptDir string) ([]Source, error) {
	files := []string{filepath.Join(aptDir, "sources.list")}
	more, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", "*"))
	sort.Strings(more)
	files = append(files, more...)
	ignoreValidUntil := aptIgnoresValidUntil(aptDir)
	var out []Source
	for _, f := range files {
		var ss []Source
		var err error
		switch {
		case strings.HasSuffix(f, ".sources"):
			ss, err = readDeb822(f)
		case strings.HasSuffix(f, ".list"):
			ss, err = readOneLine(f)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		for i := range ss {
			ss[i].IgnoreValidUntil = ss[i].IgnoreValidUntil || ignoreValidUntil
		}
		out = append(out, ss...)
	}
	return out, nil
}

func isDebianArchive(s Source) bool {
	if strings.Contains(s.Keyring, "debian-archive-keyring") {
		return true
	}
	u, err := url.Parse(s.URI)
	if err != nil {
		return false
	}
	base := path.Base(strings.TrimRight(u.Path, "/"))
	return base == MirrorDebian || base == MirrorSecurity
}

// mirrorName gives an archive the name its files are locked under.
func mirrorName(uri string, suites []string) string {
	u, err := url.Parse(uri)
	if err == nil {
		switch path.Base(strings.TrimRight(u.Path, "/")) {
		case MirrorDebian:
			return MirrorDebian
		case MirrorSecurity:
			return MirrorSecurity
		}
	}
	if len(suites) == 0 {
		return MirrorDebian
	}
	for _, s := range suites {
		if !strings.HasSuffix(s, "-security") && !strings.HasSuffix(s, "/updates") {
			return MirrorDebian
		}
	}
	return MirrorSecurity
}

func dedupe(in []Source) []Source {
	seen := map[string]bool{}
	var out []Source
	for _, s := range in {
		base := strings.TrimRight(s.URI, "/")
		var suites []string
		for _, suite := range s.Suites {
			for _, t := range s.Types {
				k := t + " " + base + " " + suite
				if !seen[k] {
					seen[k] = true
					suites = appendNew(suites, suite)
				}
			}
		}
		if len(suites) > 0 {
			s.Suites = suites
			out = append(out, s)
		}
	}
	return out
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func validURI(uri, origin string) error {
	u, err := url.Parse(uri)
	if err != nil {
		return &SourceError{Origin: origin, Msg: fmt.Sprintf("URI %q: %v", uri, err)}
	}
	switch u.Scheme {
	case "http", "https", "file":
		return nil
	}
	return errSkip
}

// errSkip marks an entry den does not read (a cdrom:, tor+http: or other transport).
var errSkip = errors.New("skip")

func readOneLine(file string) ([]Source, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading apt sources: %w", err)
	}
	var out []Source
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		s, ok, err := parseOneLine(sc.Text(), fmt.Sprintf("%s:%d", file, n), false)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, s)
		}
	}
	return out, sc.Err()
}

// parseOneLine parses "deb [options] URI suite [component...]". With suitesOnly (den's config
// form) every word after the URI is a suite.
func parseOneLine(line, origin string, suitesOnly bool) (Source, bool, error) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	fs := strings.Fields(line)
	if len(fs) == 0 {
		return Source{}, false, nil
	}
	s := Source{Types: []string{fs[0]}, Origin: origin}
	if fs[0] != "deb" && fs[0] != "deb-src" {
		return Source{}, false, &SourceError{Origin: origin, Msg: fmt.Sprintf("unknown type %q: an entry starts with deb or deb-src", fs[0])}
	}
	fs = fs[1:]
	if len(fs) > 0 && strings.HasPrefix(fs[0], "[") {
		var opts []string
		closed := false
		for len(fs) > 0 && !closed {
			w := fs[0]
			fs = fs[1:]
			w = strings.TrimPrefix(w, "[")
			if strings.HasSuffix(w, "]") {
				w, closed = strings.TrimSuffix(w, "]"), true
			}
			if w != "" {
				opts = append(opts, w)
			}
		}
		if !closed {
			return Source{}, false, &SourceError{Origin: origin, Msg: "the options' [ has no ]"}
		}
		for _, o := range opts {
			k, v, _ := strings.Cut(o, "=")
			switch strings.ToLower(k) {
			case "signed-by":
				s.Keyring = strings.ReplaceAll(v, ",", " ")
			case "check-valid-until":
				s.IgnoreValidUntil = isNo(v)
			case "arch":
				s.Architectures = strings.Split(v, ",")
			}
		}
	}
	if len(fs) < 2 {
		return Source{}, false, &SourceError{Origin: origin, Msg: "an entry needs a URI and a suite"}
	}
	s.URI = fs[0]
	if suitesOnly {
		s.Suites = fs[1:]
	} else {
		s.Suites = fs[1:2]
		s.Components = fs[2:]
	}
	if err := validURI(s.URI, origin); err == errSkip && suitesOnly {
		return Source{}, false, &SourceError{Origin: origin, Msg: fmt.Sprintf("URI %q: den reads archives over http, https or file", s.URI)}
	} else if err == errSkip {
		return Source{}, false, nil
	} else if err != nil {
		return Source{}, false, err
	}
	if strings.HasSuffix(s.Suites[0], "/") {
		return Source{}, false, nil // a flat repository: no dists/, not an archive's layout
	}
	s.Mirror = mirrorName(s.URI, s.Suites)
	return s, true, nil
}

func isNo(v string) bool {
	switch strings.ToLower(strings.Trim(v, `"' `)) {
	case "no", "false", "0", "off":
		return true
	}
	return false
}

func readDeb822(file string) ([]Source, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading apt sources: %w", err)
	}
	var out []Source
	fields := map[string]string{}
	var last string
	start := 0
	flush := func() error {
		defer func() { fields, last, start = map[string]string{}, "", 0 }()
		if len(fields) == 0 {
			return nil
		}
		origin := fmt.Sprintf("%s:%d", file, start)
		if isNo(fields["enabled"]) {
			return nil
		}
		s := Source{
			Types:         strings.Fields(fields["types"]),
			Suites:        strings.Fields(fields["suites"]),
			Components:    strings.Fields(fields["components"]),
			Keyring:       strings.TrimSpace(fields["signed-by"]),
			Architectures: strings.Fields(fields["architectures"]),
			Origin:        origin,
		}
		if v, ok := fields["check-valid-until"]; ok {
			s.IgnoreValidUntil = isNo(v)
		}
		uris := strings.Fields(fields["uris"])
		if len(s.Types) == 0 || len(uris) == 0 || len(s.Suites) == 0 {
			return &SourceError{Origin: origin, Msg: "an entry needs Types, URIs and Suites"}
		}
		for _, t := range s.Types {
			if t != "deb" && t != "deb-src" {
				return &SourceError{Origin: origin, Msg: fmt.Sprintf("unknown type %q in Types: deb or deb-src", t)}
			}
		}
		for _, uri := range uris {
			if err := validURI(uri, origin); err == errSkip {
				continue
			} else if err != nil {
				return err
			}
			if strings.HasSuffix(s.Suites[0], "/") {
				continue
			}
			e := s
			e.URI = uri
			e.Mirror = mirrorName(uri, s.Suites)
			out = append(out, e)
		}
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		switch {
		case strings.HasPrefix(line, "#"):
			continue
		case line == "":
			if err := flush(); err != nil {
				return nil, err
			}
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				return nil, &SourceError{Origin: fmt.Sprintf("%s:%d", file, n), Msg: "a continuation line without a field before it"}
			}
			l := strings.TrimSpace(line)
			if l == "." {
				l = "" // an empty line of a multi-line value (an inline key block)
			}
			fields[last] += "\n" + l
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, &SourceError{Origin: fmt.Sprintf("%s:%d", file, n), Msg: fmt.Sprintf("%q is not a field (Name: value)", line)}
			}
			if start == 0 {
				start = n
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// aptIgnoresValidUntil reads apt's configuration (apt.conf and apt.conf.d/*) for
// Acquire::Check-Valid-Until "false", which turns the check off for every source. Only this
// one setting is looked for, in its one-line form.
func aptIgnoresValidUntil(aptDir string) bool {
	files := []string{filepath.Join(aptDir, "apt.conf")}
	more, _ := filepath.Glob(filepath.Join(aptDir, "apt.conf.d", "*"))
	sort.Strings(more)
	ignore := false
	for _, f := range append(files, more...) {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "//") || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, " ")
			if ok && strings.EqualFold(k, "Acquire::Check-Valid-Until") {
				ignore = isNo(strings.TrimSuffix(strings.TrimSpace(v), ";"))
			}
		}
	}
	return ignore
}
