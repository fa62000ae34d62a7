package npm

import "strings"

// localeCompare orders strings as npm's tree builder does with Intl.Collator("en"), for the
// ASCII that package names and node_modules paths are made of: punctuation before digits before
// letters, letters without regard to case, and only then lower case before upper case. Sorting
// the work queue and the edges this way keeps den's placement order the same as npm's.
func localeCompare(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		if wa, wb := primaryWeight(a[i]), primaryWeight(b[i]); wa != wb {
			return cmpInt(wa, wb)
		}
	}
	if len(a) != len(b) {
		return cmpInt(len(a), len(b))
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] {
			// Same letter, different case: lower case sorts first.
			if a[i] > b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// collationOrder is ICU's root order of printable ASCII, case folded.
const collationOrder = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"

func primaryWeight(c byte) int {
	switch {
	case c >= 'a' && c <= 'z':
		return len(collationOrder) - 26 + int(c-'a')
	case c >= 'A' && c <= 'Z':
		return len(collationOrder) - 26 + int(c-'A')
	case c >= '0' && c <= '9':
		return len(collationOrder) - 36 + int(c-'0')
	}
	if i := strings.IndexByte(collationOrder, c); i >= 0 {
		return i
	}
	return int(c) + len(collationOrder) // anything else after, by byte
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
