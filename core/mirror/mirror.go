// Package mirror owns mirror:// URLs: it expands mirror://debian/<path> into the Debian archives
// the host already uses (its apt sources) or that den's config names, never a built-in host.
package mirror

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Resolver expands mirror:// URLs.
type Resolver struct {
	// Configured mirrors from den's config, by name; they come before apt's.
	Configured map[string][]string
	// AptDir is the apt configuration directory, normally /etc/apt.
	AptDir string
	// ConfigFile is den's user config, named in the error when nothing is configured.
	ConfigFile string
}

// NotConfiguredError says a mirror has no location and how to give it one.
type NotConfiguredError struct{ Name, ConfigFile string }

func (e *NotConfiguredError) Error() string {
	return fmt.Sprintf("mirror://%s/ has no location: no apt source of the Debian archive was found and den's config names none", e.Name)
}

// Hints says what to set.
func (e *NotConfiguredError) Hints() []string {
	return []string{fmt.Sprintf("add to %s:  [mirrors] %s = [\"<URL of a Debian archive, ending in /debian>\"]", e.ConfigFile, e.Name)}
}

// Resolve implements fetch's mirror hook.
func (r *Resolver) Resolve(u *url.URL) ([]string, error) {
	if u.Scheme != "mirror" {
		return nil, fmt.Errorf("unknown URL scheme %q in %s", u.Scheme, u)
	}
	bases := append([]string{}, r.Configured[u.Host]...)
	if u.Host == "debian" {
		bases = append(bases, r.debianArchives()...)
	}
	if len(bases) == 0 {
		return nil, &NotConfiguredError{Name: u.Host, ConfigFile: r.ConfigFile}
	}
	seen := map[string]bool{}
	var out []string
	for _, b := range bases {
		full := strings.TrimRight(b, "/") + "/" + strings.TrimLeft(u.Path, "/")
		if !seen[full] {
			seen[full] = true
			out = append(out, full)
		}
	}
	return out, nil
}

// debianArchives reads apt's sources (one-line .list and deb822 .sources files) for archives of
// Debian itself: those signed with Debian's archive keyring, or whose path ends in /debian.
// Security archives are left out: their pool holds only updates.
func (r *Resolver) debianArchives() []string {
	dir := r.AptDir
	if dir == "" {
		dir = "/etc/apt"
	}
	files := []string{filepath.Join(dir, "sources.list")}
	more, _ := filepath.Glob(filepath.Join(dir, "sources.list.d", "*"))
	sort.Strings(more)
	files = append(files, more...)
	var out []string
	for _, f := range files {
		switch {
		case strings.HasSuffix(f, ".sources"):
			out = append(out, deb822URIs(f)...)
		case strings.HasSuffix(f, ".list"):
			out = append(out, oneLineURIs(f)...)
		}
	}
	return out
}

func isDebianArchive(uri, signedBy string, suites []string) bool {
	for _, s := range suites {
		if strings.HasSuffix(s, "-security") || strings.HasSuffix(s, "/updates") {
			return false
		}
	}
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") {
		return false
	}
	return path.Base(strings.TrimRight(u.Path, "/")) == "debian" || strings.Contains(signedBy, "debian-archive-keyring")
}

func deb822URIs(file string) []string {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []string
	for _, para := range strings.Split(string(data), "\n\n") {
		fields := map[string]string{}
		var last string
		for _, line := range strings.Split(para, "\n") {
			if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
				continue
			}
			if line[0] == ' ' || line[0] == '\t' {
				fields[last] += " " + strings.TrimSpace(line)
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if ok {
				last = strings.ToLower(strings.TrimSpace(k))
				fields[last] = strings.TrimSpace(v)
			}
		}
		if en := strings.ToLower(fields["enabled"]); en == "no" || en == "false" {
			continue
		}
		if !strings.Contains(" "+fields["types"]+" ", " deb ") && !strings.Contains(" "+fields["types"]+" ", " deb-src ") {
			continue
		}
		suites := strings.Fields(fields["suites"])
		for _, uri := range strings.Fields(fields["uris"]) {
			if isDebianArchive(uri, fields["signed-by"], suites) {
				out = append(out, uri)
			}
		}
	}
	return out
}

func oneLineURIs(file string) []string {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fs := strings.Fields(line)
		if len(fs) < 3 || (fs[0] != "deb" && fs[0] != "deb-src") {
			continue
		}
		fs = fs[1:]
		signedBy := ""
		if strings.HasPrefix(fs[0], "[") {
			for len(fs) > 0 {
				opt := fs[0]
				fs = fs[1:]
				if strings.Contains(opt, "signed-by=") {
					signedBy = opt
				}
				if strings.HasSuffix(opt, "]") {
					break
				}
			}
		}
		if len(fs) < 2 {
			continue
		}
		if isDebianArchive(fs[0], signedBy, fs[1:2]) {
			out = append(out, fs[0])
		}
	}
	return out
}
