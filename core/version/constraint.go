package version

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/Masterminds/semver/v3"
)

// Masterminds/semver reads npm's range grammar (^, ~, x-ranges, hyphen ranges, comparators
// joined by spaces or commas). This file adds what den needs on top: Go's version spellings,
// "latest", npm's exact rule for prereleases, exact matches of versions that are not semver,
// and the nearest versions to show when nothing matches.

const examples = "examples: 1.22, ^1.22, ~1.22.3, >=1.21 <1.23, latest"

// Constraint is a parsed version constraint: an exact version, a range, alternatives joined
// by "||", or "latest". The zero Constraint matches nothing.
type Constraint struct {
	text string
	// literal is set when the constraint names a version that is not semver; it then
	// matches that exact text only.
	literal string
	alts    []alternative
}

// alternative is one side of "||": comparators that must all hold.
type alternative struct {
	set *semver.Constraints
	// pre lists the major.minor.patch of every prerelease the alternative names. As in npm,
	// a prerelease version matches only if it has one of these, so ">=1.21.0-rc.1" admits
	// 1.21.0-rc.2 but not 1.22.0-rc.1: asking for one prerelease is no opt-in to all of them.
	pre [][3]uint64
	// target is the version the alternative is about (its first comparator), for Nearest.
	target target
	exact  bool
}

// target is a version with possibly missing trailing parts ("1.22" has two).
type target struct {
	parts [3]uint64
	n     int
}

// comparatorRE finds one comparator: an operator and a version, possibly partial or with
// x-wildcards, as Masterminds accepts them.
var comparatorRE = regexp.MustCompile(
	`(!=|>=|=>|<=|=<|~>|[=<>~^])?\s*v?([0-9]+|[xX*])(?:\.([0-9]+|[xX*]))?(?:\.([0-9]+|[xX*]))?` +
		`(-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?`)

// versionTokenRE finds the words of a constraint that can be versions, to respell Go's forms.
var versionTokenRE = regexp.MustCompile(`[^\s,|<>=~^!]+`)

// literalRE is what a version that is not semver may look like when named exactly.
var literalRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._+-]*$`)

// ParseConstraint parses a constraint as written in den.toml or on the command line:
//
//	1.22.3                  exactly that version (also v1.22.3, go1.22.3)
//	1.22, 1.22.x, 1.22.*    the highest 1.22.x
//	1, 1.x                  the highest 1.x.x
//	^1.22, ~1.22.3          npm's caret and tilde ranges
//	>=1.21 <1.23            comparators, joined by spaces or commas
//	1.2 - 1.4               npm's hyphen range
//	^18 || ^20              alternatives
//	latest, *               the highest stable version
//	1.21rc2, ^2.0.0-beta.1  prereleases (Go spells 1.21.0-rc.2 as 1.21rc2)
//
// Prerelease versions match only when the constraint names a prerelease of the same
// major.minor.patch, as in npm. A single word that is no range ("nightly", "1.2.3.4") matches
// a version of exactly that text.
func ParseConstraint(s string) (Constraint, error) {
	text := strings.TrimSpace(s)
	bad := func(reason string) (Constraint, error) {
		return Constraint{}, fmt.Errorf("bad version constraint %q: %s; %s", s, reason, examples)
	}
	if text == "" {
		return bad("empty")
	}
	expr := respellGo(text)
	if text == "latest" {
		// npm's "latest" is a dist-tag that may point anywhere; den's means the highest stable
		// version, which "*" already selects.
		expr = "*"
	}
	c := Constraint{text: text}
	for part := range strings.SplitSeq(expr, "||") {
		if strings.TrimSpace(part) == "" {
			return bad("nothing on one side of ||")
		}
		alt, err := parseAlternative(part)
		if err != nil {
			if literalRE.MatchString(text) {
				return Constraint{text: text, literal: text}, nil
			}
			return bad(err.Error())
		}
		c.alts = append(c.alts, alt)
	}
	return c, nil
}

// respellGo rewrites Go's version spellings inside a constraint into semver ones
// (">=go1.21rc2" becomes ">=1.21.0-rc.2"). Only the prefix and the prerelease change: "1.20"
// stays a range over 1.20.x rather than Go's version 1.20.
func respellGo(s string) string {
	return versionTokenRE.ReplaceAllStringFunc(s, func(tok string) string {
		if rest, ok := strings.CutPrefix(tok, "go"); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			tok = rest
		}
		if m := goVersionRE.FindStringSubmatch(tok); m != nil && m[4] != "" {
			return FromGo(tok)
		}
		return tok
	})
}

func parseAlternative(s string) (alternative, error) {
	set, err := semver.NewConstraint(s)
	if err != nil {
		return alternative{}, diagnose(s)
	}
	alt := alternative{set: set}
	comparators := comparatorRE.FindAllStringSubmatch(s, -1)
	for i, m := range comparators {
		var t target
		for _, p := range m[2:5] {
			n, err := strconv.ParseUint(p, 10, 64)
			if err != nil {
				break
			}
			t.parts[t.n] = n
			t.n++
		}
		if i == 0 {
			alt.target = t
			alt.exact = len(comparators) == 1 && (m[1] == "" || m[1] == "=") && t.n == 3
		}
		if m[5] != "" {
			alt.pre = append(alt.pre, t.parts)
		}
	}
	return alt, nil
}

// diagnose says what is wrong with an alternative Masterminds rejected, naming the first
// piece that is not a comparator.
func diagnose(s string) error {
	pos := 0
	// check looks at the text between two comparators, which may only separate them.
	check := func(end int) error {
		gap := strings.TrimFunc(s[pos:end], isSeparator)
		switch {
		case gap == "":
			return nil
		case strings.Trim(gap, "<>=!~^") == "":
			return fmt.Errorf("%q needs a version after it", strings.TrimSpace(gap))
		}
		// Quote the whole word the stray text starts, not just the part between matches.
		return fmt.Errorf("unexpected %q", strings.Fields(strings.TrimLeftFunc(s[pos:], isSeparator))[0])
	}
	for _, loc := range comparatorRE.FindAllStringIndex(s, -1) {
		if err := check(loc[0]); err != nil {
			return err
		}
		pos = loc[1]
	}
	if err := check(len(s)); err != nil {
		return err
	}
	return errors.New("cannot read " + strconv.Quote(strings.TrimSpace(s)))
}

func isSeparator(r rune) bool { return unicode.IsSpace(r) || r == ',' }

// String returns the constraint as it was written.
func (c Constraint) String() string { return c.text }

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

func (c Constraint) check(v string, sv *semver.Version, ok bool) bool {
	if c.literal != "" {
		return strings.TrimSpace(v) == c.literal
	}
	if !ok {
		return false
	}
	for _, alt := range c.alts {
		if alt.set.Check(sv) && (sv.Prerelease() == "" || slices.Contains(alt.pre, tuple(sv))) {
			return true
		}
	}
	return false
}

func tuple(sv *semver.Version) [3]uint64 {
	return [3]uint64{sv.Major(), sv.Minor(), sv.Patch()}
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
	sv   *semver.Version
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
		if ok && sv.Prerelease() == "" {
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
func (t target) compare(sv *semver.Version) int {
	parts := tuple(sv)
	return slices.Compare(parts[:t.n], t.parts[:t.n])
}
