// Package mirror owns mirror:// URLs: it expands mirror://debian/<path> and
// mirror://debian-security/<path> into the Debian archives the host already uses (its apt
// sources) or that den's config names, never a built-in host.
package mirror

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/den-sh/den/core/deb"
)

// Resolver expands mirror:// URLs.
type Resolver struct {
	// Configured mirrors from den's config, by name; they come before apt's.
	Configured map[string][]string
	// AptDir is the apt configuration directory, normally /etc/apt.
	AptDir string
	// Debian are the Debian archives den's config names (debian-sources); when set, they
	// replace apt's.
	Debian []string
	// ConfigFile is den's user config, named in the error when nothing is configured.
	ConfigFile string
}

// NotConfiguredError says a mirror has no location and how to give it one.
type NotConfiguredError struct{ Name, ConfigFile string }

func (e *NotConfiguredError) Error() string {
	if e.Name == deb.MirrorDebian || e.Name == deb.MirrorSecurity {
		return fmt.Sprintf("mirror://%s/ has no location: no apt source of the Debian archive was found and den's config names none", e.Name)
	}
	return fmt.Sprintf("mirror://%s/ has no location: den's config names none", e.Name)
}

// Hints says what to set.
func (e *NotConfiguredError) Hints() []string {
	what := "<URL>"
	switch e.Name {
	case deb.MirrorDebian:
		what = "<URL of a Debian archive, ending in /debian>"
	case deb.MirrorSecurity:
		what = "<URL of Debian's security archive, ending in /debian-security>"
	}
	return []string{fmt.Sprintf("add to %s:  [mirrors] %s = [\"%s\"]", e.ConfigFile, e.Name, what)}
}

// Resolve implements fetch's mirror hook.
func (r *Resolver) Resolve(u *url.URL) ([]string, error) {
	if u.Scheme != "mirror" {
		return nil, fmt.Errorf("unknown URL scheme %q in %s", u.Scheme, u)
	}
	bases := append([]string{}, r.Configured[u.Host]...)
	if u.Host == deb.MirrorDebian || u.Host == deb.MirrorSecurity {
		apt, err := r.aptArchives(u.Host)
		if err != nil {
			return nil, err
		}
		bases = append(bases, apt...)
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

// aptArchives returns the URIs of apt's sources (read by core/deb, one-line and deb822 forms)
// that are Debian archives locked under name: "debian" for the archive itself, and
// "debian-security" for the security archive, whose pool holds only updates.
func (r *Resolver) aptArchives(name string) ([]string, error) {
	srcs, err := deb.Sources(r.AptDir, r.Debian)
	var ns *deb.NoSourceError
	if errors.As(err, &ns) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range srcs {
		if s.Mirror == name {
			out = append(out, s.URI)
		}
	}
	return out, nil
}
