package version

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/semver"
)

// The constraint language is npm's range grammar (^, ~, x-ranges, hyphen ranges, comparators
// joined by spaces or commas, ||) with what den needs on top: Go's version spellings, "latest",
// npm's rule for prereleases, exact matches of versions that are not semver, and the nearest
// versions to show when nothing matches. Each comparator desugars into plain bounds, as npm
// does. Unlike npm, upper bounds carry no "-0": the prerelease rule already keeps other lines'
// prereleases out, and ">=1.21rc2 <1.21" then means what a Go user means by it.

const examples = "versions look like 1.22, ^1.22, ~1.22.3, >=1.21 <1.23, latest"

// BadConstraintError is a constraint that cannot be read.
type BadConstraintError struct {
	Text, Reason string
}

func (e *BadConstraintError) Error() string {
	return fmt.Sprintf("bad version constraint %q: %s", e.Text, e.Reason)
}

// Hints shows what constraints look like.
func (e *BadConstraintError) Hints() []string { return []string{examples} }

// Constraint is a parsed version constraint: an exact version, a range, alternatives joined
// by "||", or "latest". The zero Constraint matches nothing.
type Constraint struct {
	text string
	// literal is set when the constraint names a version that is not semver; it then
	// matches that exact text only.
	literal string
	alts    []alternative
}

// alternative is one side of "||": bounds that must all hold.
type alternative struct {
	bounds []bound
	// pre lists the major.minor.patch of every prerelease the alternative names. As in npm,
	// a prerelease version matches only if it has one of these, so ">=1.21.0-rc.1" admits
	// 1.21.0-rc.2 but not 1.22.0-rc.1: asking for one prerelease is no opt-in to all of them.
	pre [][3]uint64
	// target is the version the alternative is about (its first comparator), for Nearest.
	target target
	exact  bool
}

// bound is one plain comparison a version must pass.
type bound struct {
	op string // ">=", ">", "<", "<=", "=", "!=", or "out" (outside [v, hi))
	v  semVersion
	hi semVersion
}

func (b bound) holds(v semVersion) bool {
	d := v.compare(b.v)
	switch b.op {
	case ">=":
		return d >= 0
	case ">":
		return d > 0
	case "<":
		return d < 0
	case "<=":
		return d <= 0
	case "=":
		return d == 0
	case "!=":
		return d != 0
	}
	return d < 0 || v.compare(b.hi) >= 0 // "out"
}

// never returns the bound no version passes: 0.0.0-0 is the lowest version there is.
func never() bound { return bound{op: "<", v: semVersion{canon: "v0.0.0-0"}} }

// target is a version with possibly missing trailing parts ("1.22" has two).
type target struct {
	parts [3]uint64
	n     int
}

// ParseConstraint parses a constraint as written in den.toml or on the command line:
//
//	1.22.3                  exactly that version (also v1.22.3, go1.22.3)
//	1.22, 1.22.x, 1.22.*    the highest 1.22.x
//	1, 1.x                  the highest 1.x.x
//	^1.22, ~1.22.3          npm's caret and tilde ranges
//	>=1.21 <1.23            comparators, joined by spaces or commas
//	1.2 - 1.4               npm's hyphen range
//	^18 || ^20              alternatives
//	latest, *               the highest stable version (latest: npm's latest dist-tag, for npm)
//	1.21rc2, ^2.0.0-beta.1  prereleases (Go spells 1.21.0-rc.2 as 1.21rc2)
//
// Prerelease versions match only when the constraint names a prerelease of the same
// major.minor.patch, as in npm. A single word that is no range ("nightly", "1.2.3.4") matches
// a version of exactly that text.
func ParseConstraint(s string) (Constraint, error) {
	text := strings.TrimSpace(s)
	bad := func(reason string) (Constraint, error) {
		return Constraint{}, &BadConstraintError{Text: s, Reason: reason}
	}
	if text == "" {
		return bad("empty")
	}
	expr := respellGo(text)
	if text == "latest" {
		// The highest stable version, which "*" selects. npm's "latest" is a dist-tag that may
		// point anywhere; the npm backends follow it (IsLatest), the Go ones take the highest.
		expr = "*"
	}
	c := Constraint{text: text}
	for part := range strings.SplitSeq(expr, "||") {
		if strings.TrimSpace(part) == "" {
			return bad("nothing on one side of ||")
		}
		alt, err := parseAlternative(part)
		if err != nil {
			if isLiteral(text) && !misspeltNumber(text) {
				return Constraint{text: text, literal: text}, nil
			}
			if fixed := strings.NewReplacer("O", "0", "o", "0", "l", "1", "I", "1").Replace(text); fixed != text {
				if _, ferr := ParseConstraint(fixed); ferr == nil {
					return bad(fmt.Sprintf("%v; did you mean %q?", err, fixed))
				}
			}
			return bad(err.Error())
		}
		c.alts = append(c.alts, alt)
	}
	return c, nil
}

// isLiteral reports whether s may be a version that is not semver, named exactly: a letter or
// digit, then letters, digits and "._+-".
func isLiteral(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && (i == 0 || c != '.' && c != '_' && c != '+' && c != '-') {
			return false
		}
	}
	return s != ""
}

// misspeltNumber reports a word that starts as a number and goes on with letters, as "2O" (the
// letter O for a zero) does: a version of that shape is a typo, not a name. Versions that are
// no semver but start with a digit go on with a dot (1.2.3.4, 3.12.0a1).
func misspeltNumber(s string) bool {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i > 0 && i < len(s) && s[i] != '.'
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// isIdentChar reports whether c may appear in a semver prerelease or build identifier.
func isIdentChar(c byte) bool { return isAlnum(c) || c == '-' }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// isSeparator reports whether c may separate two comparators.
func isSeparator(c byte) bool { return isSpace(c) || c == ',' }

// respellGo rewrites Go's version spellings inside a constraint into semver ones
// (">=go1.21rc2" becomes ">=1.21.0-rc.2"). Only the prefix and the prerelease change: "1.20"
// stays a range over 1.20.x rather than Go's version 1.20.
func respellGo(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		// A word is what lies between separators and operators.
		end := strings.IndexFunc(s, func(r rune) bool {
			return r < 0x80 && (isSeparator(byte(r)) || strings.ContainsRune("|<>=~^!", r))
		})
		if end < 0 {
			end = len(s)
		}
		if end == 0 {
			b.WriteByte(s[0])
			s = s[1:]
			continue
		}
		word := s[:end]
		if rest, ok := strings.CutPrefix(word, "go"); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			word = rest
		}
		if g, ok := parseGo(word); ok && g.kind != "" {
			word = FromGo(word)
		}
		b.WriteString(word)
		s = s[end:]
	}
	return b.String()
}

// partial is a version in a comparator, perhaps with missing or wildcard parts: "1.22" and
// "1.22.x" have n = 2.
type partial struct {
	parts [3]uint64
	n     int
	pre   string // "-rc.1" or ""
}

// full fills the missing parts with zeros.
func (p partial) full() semVersion { return newSemVersion(p.parts, p.pre) }

// next is the first version after every version p covers: 1.23.0 for "1.22", 2.0.0 for "1".
func (p partial) next() semVersion {
	var parts [3]uint64
	copy(parts[:p.n], p.parts[:p.n])
	parts[p.n-1]++
	return newSemVersion(parts, "")
}

// comparator is an operator and a version as written.
type comparator struct {
	op string
	v  partial
}

// bounds desugars a comparator into plain bounds, npm's way: partial versions are ranges, so
// ">1.22" is ">=1.23.0" and "<=1.22" is "<1.23.0".
func (c comparator) bounds() []bound {
	p := c.v
	if p.n == 0 { // "*": any version, and none is above or below it
		switch c.op {
		case ">", "<", "!=":
			return []bound{never()}
		}
		return nil
	}
	lo := p.full()
	switch c.op {
	case ">=":
		return []bound{{op: ">=", v: lo}}
	case "<":
		return []bound{{op: "<", v: lo}}
	case ">":
		if p.n == 3 {
			return []bound{{op: ">", v: lo}}
		}
		return []bound{{op: ">=", v: p.next()}}
	case "<=":
		if p.n == 3 {
			return []bound{{op: "<=", v: lo}}
		}
		return []bound{{op: "<", v: p.next()}}
	case "!=":
		if p.n == 3 {
			return []bound{{op: "!=", v: lo}}
		}
		return []bound{{op: "out", v: lo, hi: p.next()}}
	case "~":
		// ~1.2.3 and ~1.2 stay within 1.2; ~1 within 1.
		p.n = min(p.n, 2)
		return []bound{{op: ">=", v: lo}, {op: "<", v: p.next()}}
	case "^":
		// The leftmost part that is not zero (or the last one written) may not change.
		switch {
		case p.parts[0] > 0 || p.n == 1:
			p.n = 1
		case p.parts[1] > 0 || p.n == 2:
			p.n = 2
		}
		return []bound{{op: ">=", v: lo}, {op: "<", v: p.next()}}
	}
	// "" or "=".
	if p.n == 3 {
		return []bound{{op: "=", v: lo}}
	}
	return []bound{{op: ">=", v: lo}, {op: "<", v: p.next()}}
}

// hyphenBounds desugars npm's "a - b": from a (zero-filled) up to everything b covers.
func hyphenBounds(a, b partial) []bound {
	var bs []bound
	if a.n > 0 {
		bs = append(bs, bound{op: ">=", v: a.full()})
	}
	switch {
	case b.n == 3:
		bs = append(bs, bound{op: "<=", v: b.full()})
	case b.n > 0:
		bs = append(bs, bound{op: "<", v: b.next()})
	}
	return bs
}

// canonicalOp maps the operators' other spellings to one.
func canonicalOp(op string) string {
	switch op {
	case "=>":
		return ">="
	case "=<":
		return "<="
	case "~>":
		return "~"
	}
	return op
}

// scanPartial reads a version at s[i:] (v?N[.N[.N]] with x, X or * for any part, then a
// prerelease and build metadata). ok is false when no version starts there.
func scanPartial(s string, i int) (p partial, end int, ok bool, err error) {
	start := i
	if i < len(s) && s[i] == 'v' {
		i++
	}
	wild := false
	for k := 0; k < 3; k++ {
		j := i
		if k > 0 {
			if j >= len(s) || s[j] != '.' {
				break
			}
			j++
		}
		if j < len(s) && (s[j] == 'x' || s[j] == 'X' || s[j] == '*') {
			wild = true
			i = j + 1
			continue
		}
		digits, _ := leadingDigits(s[j:])
		if digits == "" {
			break
		}
		i = j + len(digits)
		if wild {
			continue // npm reads 1.x.3 as 1.x
		}
		n, perr := strconv.ParseUint(digits, 10, 63)
		if perr != nil {
			return p, i, false, fmt.Errorf("bad version %q", s[start:i])
		}
		p.parts[k] = n
		p.n++
	}
	if !wild && p.n == 0 {
		return p, start, false, nil
	}
	extra := i
	for _, mark := range []byte{'-', '+'} {
		if i+1 < len(s) && s[i] == mark && isIdentChar(s[i+1]) {
			i++
			for i < len(s) && (isIdentChar(s[i]) || s[i] == '.' && i+1 < len(s) && isIdentChar(s[i+1])) {
				i++
			}
			if mark == '-' {
				p.pre = s[extra:i]
			}
		}
	}
	if !semver.IsValid("v0.0.0" + s[extra:i]) {
		return p, i, false, fmt.Errorf("bad version %q", s[start:i])
	}
	return p, i, true, nil
}

// scanOp reads an operator at s[i:], if there is one.
func scanOp(s string, i int) (op string, end int) {
	// Longest first, so that ">=" is not read as ">".
	for _, op := range [...]string{"!=", ">=", "=>", "<=", "=<", "~>", "=", "<", ">", "~", "^"} {
		if strings.HasPrefix(s[i:], op) {
			return op, i + len(op)
		}
	}
	return "", i
}

func skipSpaces(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// unexpected quotes the word at s[i:] that no comparator can start with.
func unexpected(s string, i int) error {
	j := i + 1
	for j < len(s) && !isSeparator(s[j]) {
		j++
	}
	return fmt.Errorf("unexpected %q", s[i:j])
}

// parseAlternative reads one side of "||": comparators separated by spaces or commas, each an
// optional operator and a version, or a hyphen range "a - b".
func parseAlternative(s string) (alternative, error) {
	var alt alternative
	var written []partial // every version as written, for target, exact and pre
	op1 := ""
	for i := 0; ; {
		for i < len(s) && isSeparator(s[i]) {
			i++
		}
		if i == len(s) {
			break
		}
		op, j := scanOp(s, i)
		p, end, ok, err := scanPartial(s, skipSpaces(s, j))
		switch {
		case err != nil:
			return alternative{}, err
		case !ok && op != "":
			return alternative{}, fmt.Errorf("%q needs a version after it", op)
		case !ok:
			return alternative{}, unexpected(s, i)
		}
		if len(written) == 0 {
			op1 = op
		}
		written = append(written, p)
		i = end
		// npm's hyphen range: "a - b", with spaces around the hyphen.
		if h := skipSpaces(s, i); op == "" && h > i && h+1 < len(s) && s[h] == '-' && isSpace(s[h+1]) {
			if q, qend, ok, err := scanPartial(s, skipSpaces(s, h+1)); err != nil {
				return alternative{}, err
			} else if ok && (qend == len(s) || isSeparator(s[qend])) {
				written = append(written, q)
				alt.bounds = append(alt.bounds, hyphenBounds(p, q)...)
				i = qend
				continue
			}
		}
		if i < len(s) && !isSeparator(s[i]) {
			return alternative{}, unexpected(s, i)
		}
		alt.bounds = append(alt.bounds, comparator{canonicalOp(op), p}.bounds()...)
	}
	if len(written) == 0 {
		return alternative{}, errors.New("cannot read " + strconv.Quote(strings.TrimSpace(s)))
	}
	first := written[0]
	alt.target = target{parts: first.parts, n: first.n}
	alt.exact = len(written) == 1 && (op1 == "" || op1 == "=") && first.n == 3
	for _, p := range written {
		if p.pre != "" {
			alt.pre = append(alt.pre, p.parts)
		}
	}
	return alt, nil
}

// ParseNamed parses expr as ParseConstraint does under the name text, which String returns: an
// alias a package defines (node's "lts/iron") is locked, compared and shown as it was written.
func ParseNamed(text, expr string) (Constraint, error) {
	c, err := ParseConstraint(expr)
	if err != nil {
		return Constraint{}, err
	}
	c.text = text
	return c, nil
}

// String returns the constraint as it was written.
func (c Constraint) String() string { return c.text }

// IsLatest reports whether the constraint is "latest", which a registry with dist-tags (npm's)
// answers with its own "latest" tag rather than the highest version.
func (c Constraint) IsLatest() bool { return c.text == "latest" }

// IsExact reports whether the constraint names a single version, so that no version list
// needs to be consulted to know what it selects.
func (c Constraint) IsExact() bool {
	return c.literal != "" || len(c.alts) == 1 && c.alts[0].exact
}

// Check reports whether version v satisfies the constraint.
func (c Constraint) Check(v string) bool {
	sv, ok := parse(v)
	return c.check(v, sv, ok)
}

func (c Constraint) check(v string, sv semVersion, ok bool) bool {
	if c.literal != "" {
		return strings.TrimSpace(v) == c.literal
	}
	if !ok {
		return false
	}
	for _, alt := range c.alts {
		if alt.holds(sv) {
			return true
		}
	}
	return false
}

func (alt alternative) holds(sv semVersion) bool {
	if sv.prerelease() != "" && !slices.Contains(alt.pre, sv.parts) {
		return false
	}
	for _, b := range alt.bounds {
		if !b.holds(sv) {
			return false
		}
	}
	return true
}

// namesPrerelease reports whether any alternative asks for a prerelease.
func (c Constraint) namesPrerelease() bool {
	for _, alt := range c.alts {
		if len(alt.pre) > 0 {
			return true
		}
	}
	return false
}

// NoMatchError is returned by Select when no available version satisfies the constraint.
type NoMatchError struct {
	Constraint Constraint
	// Nearest holds up to five available versions closest to what was asked, newest first,
	// so that the user can correct the constraint.
	Nearest []string
}

func (e *NoMatchError) Error() string {
	if len(e.Nearest) == 0 {
		return fmt.Sprintf("no version matches %q (no versions available)", e.Constraint.String())
	}
	return fmt.Sprintf("no version matches %q (nearest: %s)", e.Constraint.String(), strings.Join(e.Nearest, ", "))
}

// candidate is a version from a list, parsed once.
type candidate struct {
	text string
	sv   semVersion
	ok   bool
}

// Select returns the highest version in versions that satisfies c, spelled as in the list.
// When none does, it returns a *NoMatchError.
func Select(c Constraint, versions []string) (string, error) {
	var best *candidate
	for _, v := range versions {
		sv, ok := parse(v)
		if !c.check(v, sv, ok) {
			continue
		}
		cand := candidate{v, sv, ok}
		if best == nil || newestFirst(cand, *best) < 0 {
			best = &cand
		}
	}
	if best == nil {
		return "", &NoMatchError{Constraint: c, Nearest: nearest(c, versions)}
	}
	return best.text, nil
}

// newestFirst orders candidates as Sort does: newest first, spellings of one version by text.
func newestFirst(a, b candidate) int {
	if d := compareParsed(b.sv, b.ok, b.text, a.sv, a.ok, a.text); d != 0 {
		return d
	}
	return strings.Compare(a.text, b.text)
}

const maxNearest = 5

// nearest picks the versions closest to what c asks for: it places the version each
// alternative starts from ("1.99" of "^1.99", the whole 1.99.x for "1.99") among the available
// versions and takes its neighbours on both sides, so that "21" shows both 22.0.0 and
// 20.18.1. Prereleases are offered only when c asks for one, or when there is nothing else.
func nearest(c Constraint, versions []string) []string {
	var stable, all []candidate
	for _, v := range versions {
		sv, ok := parse(v)
		cand := candidate{v, sv, ok}
		all = append(all, cand)
		if ok && sv.prerelease() == "" {
			stable = append(stable, cand)
		}
	}
	pool := stable
	if c.namesPrerelease() || len(pool) == 0 {
		pool = all
	}
	slices.SortFunc(pool, newestFirst)
	rank := make([]int, len(pool))
	for _, alt := range c.alts {
		if alt.target.n == 0 {
			continue
		}
		for i, r := range alt.target.ranks(pool) {
			if rank[i] == 0 || r < rank[i] {
				rank[i] = r
			}
		}
	}
	// Stable sorting by rank keeps the newest first among equally near versions; with no
	// target (latest, *) every rank is 0 and the newest are nearest.
	order := make([]int, len(pool))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return rank[a] - rank[b] })
	order = order[:min(len(order), maxNearest)]
	slices.Sort(order)
	out := make([]string, len(order))
	for i, j := range order {
		out[i] = pool[j].text
	}
	return out
}

// ranks says how near each version of pool (sorted newest first) is to t: 1 for the
// versions within t's parts ("1.22.0-rc.1" for "1.22"), then 2, 3, … counting away from t
// in both directions; versions that are not semver come last.
func (t target) ranks(pool []candidate) []int {
	ranks := make([]int, len(pool))
	// pool is newest first: the versions above t come first, then those within, then below.
	firstBelow := len(pool)
	firstWithin := -1
	for i, cand := range pool {
		if !cand.ok {
			ranks[i] = len(pool) + 2
			firstBelow = min(firstBelow, i)
			continue
		}
		switch d := t.compare(cand.sv); {
		case d > 0:
			continue
		case d == 0:
			ranks[i] = 1
			if firstWithin < 0 {
				firstWithin = i
			}
		default:
			firstBelow = min(firstBelow, i)
		}
	}
	aboveEnd := firstBelow
	if firstWithin >= 0 {
		aboveEnd = firstWithin
	}
	for i := range aboveEnd {
		ranks[i] = aboveEnd - i + 1
	}
	for i := firstBelow; i < len(pool) && pool[i].ok; i++ {
		ranks[i] = i - firstBelow + 2
	}
	return ranks
}

// compare compares sv with t on the parts t has: -1 if sv is older, 1 if newer, 0 if within.
func (t target) compare(sv semVersion) int {
	return slices.Compare(sv.parts[:t.n], t.parts[:t.n])
}
