package npm

// This file is node-semver's range language, written here because the Go semver libraries
// disagree with npm where it matters for resolution: a prerelease matches only a range that names
// a prerelease of the same major.minor.patch, upper bounds carry "-0", `^0.0.x` and partial hyphen
// ranges desugar npm's way, and "* || 1.0.0-rc.1" collapses to "*". Each desugaring below follows
// node-semver's classes/range.js case by case.

import (
	"fmt"
	"strconv"
	"strings"
)

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER, the largest version number node-semver
// accepts; anything above it means something else to npm, so den refuses it too.
const maxSafeInteger = 1<<53 - 1

// Version is a semantic version as npm reads it.
type Version struct {
	Major, Minor, Patch uint64
	Prerelease          []string
	Build               []string
}

// ParseVersion reads a version, tolerating npm's loose leading "v" or "=" and surrounding space.
func ParseVersion(s string) (Version, error) {
	t := strings.TrimLeft(strings.TrimSpace(s), "v=")
	t = strings.TrimSpace(t)
	v, err := parseFull(t)
	if err != nil {
		return Version{}, fmt.Errorf("invalid version %q: %v", s, err)
	}
	return v, nil
}

func parseFull(s string) (Version, error) {
	p, err := parsePartial(s)
	if err != nil {
		return Version{}, err
	}
	if p.major < 0 || p.minor < 0 || p.patch < 0 {
		return Version{}, fmt.Errorf("want major.minor.patch")
	}
	return p.version(), nil
}

// String is node-semver's format: the build metadata does not take part.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if len(v.Prerelease) > 0 {
		s += "-" + strings.Join(v.Prerelease, ".")
	}
	return s
}

// Compare orders versions by semver precedence, ignoring build metadata.
func (v Version) Compare(o Version) int {
	if c := cmpUint(v.Major, o.Major); c != 0 {
		return c
	}
	if c := cmpUint(v.Minor, o.Minor); c != 0 {
		return c
	}
	if c := cmpUint(v.Patch, o.Patch); c != 0 {
		return c
	}
	switch {
	case len(v.Prerelease) == 0 && len(o.Prerelease) == 0:
		return 0
	case len(v.Prerelease) == 0:
		return 1
	case len(o.Prerelease) == 0:
		return -1
	}
	for i := 0; i < len(v.Prerelease) && i < len(o.Prerelease); i++ {
		if c := cmpIdent(v.Prerelease[i], o.Prerelease[i]); c != 0 {
			return c
		}
	}
	return cmpUint(uint64(len(v.Prerelease)), uint64(len(o.Prerelease)))
}

func (v Version) sameTuple(o Version) bool {
	return v.Major == o.Major && v.Minor == o.Minor && v.Patch == o.Patch
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpIdent compares prerelease identifiers: numbers numerically and below words, words by bytes.
func cmpIdent(a, b string) int {
	an, bn := isNumeric(a), isNumeric(b)
	switch {
	case an && bn:
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			return cmpUint(uint64(len(a)), uint64(len(b)))
		}
		return strings.Compare(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// partial is a version with wildcards: -1 stands for x, X, * or a missing part.
type partial struct {
	major, minor, patch int64
	pre, build          []string
}

func (p partial) version() Version {
	return Version{Major: uint64(p.major), Minor: uint64(p.minor), Patch: uint64(p.patch), Prerelease: p.pre, Build: p.build}
}

func parsePartial(s string) (partial, error) {
	p := partial{major: -1, minor: -1, patch: -1}
	if s == "" {
		return p, fmt.Errorf("empty version")
	}
	core := s
	if i := strings.IndexByte(core, '+'); i >= 0 {
		ids, err := parseIdents(core[i+1:])
		if err != nil {
			return p, fmt.Errorf("build metadata: %v", err)
		}
		p.build, core = ids, core[:i]
	}
	if i := strings.IndexByte(core, '-'); i >= 0 {
		ids, err := parseIdents(core[i+1:])
		if err != nil {
			return p, fmt.Errorf("prerelease: %v", err)
		}
		p.pre, core = ids, core[:i]
	}
	parts := strings.Split(core, ".")
	if len(parts) > 3 {
		return p, fmt.Errorf("more than three parts")
	}
	if (p.pre != nil || p.build != nil) && len(parts) != 3 {
		return p, fmt.Errorf("a prerelease or build needs major.minor.patch")
	}
	nums := []*int64{&p.major, &p.minor, &p.patch}
	for i, part := range parts {
		switch {
		case part == "x" || part == "X" || part == "*":
			*nums[i] = -1
		case isNumeric(part):
			n, err := strconv.ParseUint(part, 10, 64)
			if err != nil || n > maxSafeInteger {
				return p, fmt.Errorf("%s is too large", part)
			}
			*nums[i] = int64(n)
		default:
			return p, fmt.Errorf("%q is not a number or wildcard", part)
		}
	}
	return p, nil
}

func parseIdents(s string) ([]string, error) {
	ids := strings.Split(s, ".")
	for _, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("empty identifier")
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return nil, fmt.Errorf("invalid character %q", c)
			}
		}
	}
	return ids, nil
}

// Range is a node-semver range: sets of comparators joined by "||".
type Range struct {
	raw               string
	sets              [][]comparator
	includePrerelease bool
}

type comparator struct {
	op  string // "<", "<=", ">", ">=", "=", or "" for any version
	ver Version
}

func (c comparator) any() bool { return c.op == "" }

func (c comparator) test(v Version) bool {
	d := v.Compare(c.ver)
	switch c.op {
	case "":
		return true
	case "=":
		return d == 0
	case "<":
		return d < 0
	case "<=":
		return d <= 0
	case ">":
		return d > 0
	case ">=":
		return d >= 0
	}
	return false
}

// nullSet is node-semver's "<0.0.0-0", the comparator nothing satisfies.
func nullSet() comparator { return comparator{op: "<", ver: Version{Prerelease: []string{"0"}}} }

func (c comparator) isNull() bool {
	return c.op == "<" && c.ver.Major == 0 && c.ver.Minor == 0 && c.ver.Patch == 0 &&
		len(c.ver.Prerelease) == 1 && c.ver.Prerelease[0] == "0"
}

// ParseRange reads a range in npm's grammar: "^1.2", "~1.2.3", "1.x", "*", "1.2 - 2.3", ">=1 <2",
// "a || b" and plain versions. includePrerelease is node-semver's option of the same name; npm
// resolves with it off.
func ParseRange(s string, includePrerelease bool) (*Range, error) {
	r := &Range{raw: s, includePrerelease: includePrerelease}
	for _, part := range strings.Split(s, "||") {
		set, err := parseSet(strings.TrimSpace(part), includePrerelease)
		if err != nil {
			return nil, fmt.Errorf("invalid range %q: %v", s, err)
		}
		r.sets = append(r.sets, set)
	}
	// node-semver drops impossible sets when others remain, and lets a lone "*" set stand for the
	// whole range, which changes what prereleases match.
	if len(r.sets) > 1 {
		var kept [][]comparator
		for _, set := range r.sets {
			if !set[0].isNull() {
				kept = append(kept, set)
			}
		}
		if len(kept) == 0 {
			kept = r.sets[:1]
		}
		r.sets = kept
		for _, set := range r.sets {
			if len(set) == 1 && set[0].any() {
				r.sets = [][]comparator{set}
				break
			}
		}
	}
	return r, nil
}

// String is the range as written.
func (r *Range) String() string { return r.raw }

// Satisfies reports whether v is in the range.
func (r *Range) Satisfies(v Version) bool {
	for _, set := range r.sets {
		if r.testSet(set, v) {
			return true
		}
	}
	return false
}

func (r *Range) testSet(set []comparator, v Version) bool {
	for _, c := range set {
		if !c.test(v) {
			return false
		}
	}
	if len(v.Prerelease) == 0 || r.includePrerelease {
		return true
	}
	// A prerelease is in only if some comparator names a prerelease of the same tuple: asking for
	// "^1.2.3-beta.1" opts into 1.2.3's prereleases, never into 1.3.0-alpha.
	for _, c := range set {
		if !c.any() && len(c.ver.Prerelease) > 0 && c.ver.sameTuple(v) {
			return true
		}
	}
	return false
}

func parseSet(s string, incPre bool) ([]comparator, error) {
	if f := strings.Fields(s); len(f) == 3 && f[1] == "-" {
		return hyphenRange(f[0], f[2], incPre)
	}
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return []comparator{{}}, nil
	}
	var set []comparator
	for _, t := range toks {
		cs, err := desugar(t.op, t.ver, incPre)
		if err != nil {
			return nil, err
		}
		set = append(set, cs...)
	}
	for _, c := range set {
		if c.isNull() {
			return []comparator{c}, nil
		}
	}
	if len(set) > 1 {
		kept := set[:0:0]
		for _, c := range set {
			if !c.any() {
				kept = append(kept, c)
			}
		}
		if len(kept) > 0 {
			set = kept
		} else {
			set = set[:1]
		}
	}
	return set, nil
}

type token struct{ op, ver string }

// tokenize splits a set into operator and version pairs, allowing space after an operator
// (">= 1.2.3", "~ 1.2") as node-semver does.
func tokenize(s string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			return toks, nil
		}
		start := i
		for i < len(s) && strings.IndexByte("<>=~^", s[i]) >= 0 {
			i++
		}
		op := s[start:i]
		switch op {
		case "", "<", "<=", ">", ">=", "=", "~", "~>", "^":
		default:
			return nil, fmt.Errorf("unknown operator %q", op)
		}
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		start = i
		for i < len(s) && !isSpace(s[i]) {
			i++
		}
		if start == i {
			return nil, fmt.Errorf("operator %q without a version", op)
		}
		toks = append(toks, token{op: op, ver: s[start:i]})
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func readPartial(s string) (partial, error) {
	p, err := parsePartial(strings.TrimLeft(s, "v="))
	if err != nil {
		return p, fmt.Errorf("%q: %v", s, err)
	}
	return p, nil
}

func ver(major, minor, patch int64, pre ...string) Version {
	return Version{Major: uint64(major), Minor: uint64(minor), Patch: uint64(patch), Prerelease: pre}
}

// lowest is the "-0" prerelease, which puts a version below every other of its tuple.
func lowest() []string { return []string{"0"} }

func desugar(op, s string, incPre bool) ([]comparator, error) {
	p, err := readPartial(s)
	if err != nil {
		return nil, err
	}
	M, m, pt := p.major, p.minor, p.patch
	xM, xm, xp := M < 0, M < 0 || m < 0, M < 0 || m < 0 || pt < 0
	var z []string
	if incPre {
		z = lowest()
	}
	switch op {
	case "~", "~>":
		switch {
		case xM:
			return []comparator{{}}, nil
		case xm:
			return pair(ver(M, 0, 0), ver(M+1, 0, 0, lowest()...)), nil
		case xp:
			return pair(ver(M, m, 0), ver(M, m+1, 0, lowest()...)), nil
		}
		return pair(ver(M, m, pt, p.pre...), ver(M, m+1, 0, lowest()...)), nil
	case "^":
		switch {
		case xM:
			return []comparator{{}}, nil
		case xm:
			return pair(ver(M, 0, 0, z...), ver(M+1, 0, 0, lowest()...)), nil
		case xp:
			if M == 0 {
				return pair(ver(M, m, 0, z...), ver(M, m+1, 0, lowest()...)), nil
			}
			return pair(ver(M, m, 0, z...), ver(M+1, 0, 0, lowest()...)), nil
		case M == 0 && m == 0:
			return pair(ver(M, m, pt, p.pre...), ver(M, m, pt+1, lowest()...)), nil
		case M == 0:
			return pair(ver(M, m, pt, p.pre...), ver(M, m+1, 0, lowest()...)), nil
		}
		return pair(ver(M, m, pt, p.pre...), ver(M+1, 0, 0, lowest()...)), nil
	}
	if !xp {
		if op == "" {
			op = "="
		}
		return []comparator{{op: op, ver: p.version()}}, nil
	}
	// An x-range: a partial version, bare or after <, <=, >, >= or =.
	if op == "=" {
		op = ""
	}
	switch {
	case xM:
		if op == ">" || op == "<" {
			return []comparator{nullSet()}, nil
		}
		return []comparator{{}}, nil
	case op != "":
		if xm {
			m = 0
		}
		pt = 0
		pre := z
		switch op {
		case ">":
			op = ">="
			if xm {
				M, m = M+1, 0
			} else {
				m++
			}
		case "<=":
			op = "<"
			if xm {
				M++
			} else {
				m++
			}
		}
		if op == "<" {
			pre = lowest()
		}
		return []comparator{{op: op, ver: ver(M, m, pt, pre...)}}, nil
	case xm:
		return pair(ver(M, 0, 0, z...), ver(M+1, 0, 0, lowest()...)), nil
	}
	return pair(ver(M, m, 0, z...), ver(M, m+1, 0, lowest()...)), nil
}

func pair(lo, hi Version) []comparator {
	return []comparator{{op: ">=", ver: lo}, {op: "<", ver: hi}}
}

func hyphenRange(from, to string, incPre bool) ([]comparator, error) {
	f, err := readPartial(from)
	if err != nil {
		return nil, err
	}
	t, err := readPartial(to)
	if err != nil {
		return nil, err
	}
	var z []string
	if incPre {
		z = lowest()
	}
	var set []comparator
	switch {
	case f.major < 0:
	case f.minor < 0:
		set = append(set, comparator{op: ">=", ver: ver(f.major, 0, 0, z...)})
	case f.patch < 0:
		set = append(set, comparator{op: ">=", ver: ver(f.major, f.minor, 0, z...)})
	case len(f.pre) > 0:
		set = append(set, comparator{op: ">=", ver: f.version()})
	default:
		set = append(set, comparator{op: ">=", ver: ver(f.major, f.minor, f.patch, z...)})
	}
	switch {
	case t.major < 0:
	case t.minor < 0:
		set = append(set, comparator{op: "<", ver: ver(t.major+1, 0, 0, lowest()...)})
	case t.patch < 0:
		set = append(set, comparator{op: "<", ver: ver(t.major, t.minor+1, 0, lowest()...)})
	case len(t.pre) > 0:
		set = append(set, comparator{op: "<=", ver: t.version()})
	case incPre:
		set = append(set, comparator{op: "<", ver: ver(t.major, t.minor, t.patch+1, lowest()...)})
	default:
		set = append(set, comparator{op: "<=", ver: t.version()})
	}
	if len(set) == 0 {
		set = []comparator{{}}
	}
	return set, nil
}

// EnginesAccept reports whether a package's engines.node range admits the node of version v, as
// npm-install-checks decides it (prereleases included). An empty range admits every node, and so
// does one npm cannot read, which npm too lets pass.
func EnginesAccept(engines, v string) bool {
	if strings.TrimSpace(engines) == "" {
		return true
	}
	r, err := ParseRange(engines, true)
	if err != nil {
		return true
	}
	nv, err := ParseVersion(v)
	return err == nil && r.Satisfies(nv)
}
