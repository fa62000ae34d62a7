package main

import (
	"strconv"
	"strings"
	"testing"
)

// screen replays what programs wrote to a terminal onto a grid of cells, so that a pty test can
// check what the user sees (which line is where, where the cursor is) rather than the bytes that
// drew it. It knows the VT100 and xterm sequences that bash's readline, zsh's zle and fish draw
// with: cursor motion, erasing, inserting and deleting lines and characters, save and restore;
// colours, modes, titles and character sets are read and dropped. No terminal emulator library
// is used: the well-kept ones bring a dependency tree far larger than this test needs.
type screen struct {
	rows, cols int
	cells      [][]rune
	r, c       int
	wrap       bool // the last column was written: the next character goes on the next line
	savedR     int
	savedC     int
}

func newScreen(rows, cols int) *screen {
	s := &screen{rows: rows, cols: cols}
	for range rows {
		s.cells = append(s.cells, s.blank())
	}
	return s
}

func (s *screen) blank() []rune {
	line := make([]rune, s.cols)
	for i := range line {
		line[i] = ' '
	}
	return line
}

// render replays out on a screen of rows × cols.
func render(out string, rows, cols int) *screen {
	s := newScreen(rows, cols)
	s.write(out)
	return s
}

func (s *screen) write(out string) {
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; {
		case c == '\x1b' && i+1 < len(rs):
			i = s.escape(rs, i+1)
		case c == '\r':
			s.c, s.wrap = 0, false
		case c == '\n':
			s.lineFeed()
		case c == '\b':
			if s.c > 0 {
				s.c--
			}
			s.wrap = false
		case c == '\t':
			s.c = min(s.cols-1, (s.c/8+1)*8)
		case c < ' ' || c == 0x7f:
			// BEL and other controls draw nothing
		default:
			s.put(c)
		}
	}
}

func (s *screen) put(c rune) {
	if s.wrap {
		s.c, s.wrap = 0, false
		s.lineFeed()
	}
	s.cells[s.r][s.c] = c
	if s.c == s.cols-1 {
		s.wrap = true
	} else {
		s.c++
	}
}

func (s *screen) lineFeed() {
	s.wrap = false
	if s.r == s.rows-1 {
		s.cells = append(s.cells[1:], s.blank())
		return
	}
	s.r++
}

// escape reads the sequence after ESC at rs[i] and returns the index of its last rune.
func (s *screen) escape(rs []rune, i int) int {
	switch rs[i] {
	case '7':
		s.savedR, s.savedC = s.r, s.c
	case '8':
		s.r, s.c, s.wrap = s.savedR, s.savedC, false
	case 'M': // reverse index
		if s.r > 0 {
			s.r--
		} else {
			s.cells = append([][]rune{s.blank()}, s.cells[:s.rows-1]...)
		}
	case '(', ')', '#': // character set, line size: one more rune
		return i + 1
	case ']': // OSC, up to BEL or ST
		for j := i + 1; j < len(rs); j++ {
			if rs[j] == '\a' {
				return j
			}
			if rs[j] == '\x1b' && j+1 < len(rs) && rs[j+1] == '\\' {
				return j + 1
			}
		}
		return len(rs) - 1
	case '[':
		return s.csi(rs, i+1)
	}
	return i // ESC =, ESC >, …
}

// csi applies the control sequence whose parameters start at rs[i].
func (s *screen) csi(rs []rune, i int) int {
	j := i
	for j < len(rs) && (rs[j] < '@' || rs[j] > '~') {
		j++
	}
	if j == len(rs) {
		return j - 1
	}
	params := string(rs[i:j])
	if strings.ContainsAny(params, "?>=<") {
		return j // private modes
	}
	var n []int
	for _, p := range strings.Split(params, ";") {
		v, _ := strconv.Atoi(p)
		n = append(n, v)
	}
	arg := func(k, def int) int {
		if k < len(n) && n[k] > 0 {
			return n[k]
		}
		return def
	}
	clamp := func() {
		s.r = max(0, min(s.rows-1, s.r))
		s.c = max(0, min(s.cols-1, s.c))
		s.wrap = false
	}
	switch rs[j] {
	case 'A':
		s.r -= arg(0, 1)
	case 'B':
		s.r += arg(0, 1)
	case 'C':
		s.c += arg(0, 1)
	case 'D':
		s.c -= arg(0, 1)
	case 'G', '`':
		s.c = arg(0, 1) - 1
	case 'd':
		s.r = arg(0, 1) - 1
	case 'H', 'f':
		s.r, s.c = arg(0, 1)-1, arg(1, 1)-1
	case 'J':
		switch arg(0, 0) {
		case 0:
			s.eraseLine(s.r, s.c, s.cols)
			for r := s.r + 1; r < s.rows; r++ {
				s.cells[r] = s.blank()
			}
		case 1:
			s.eraseLine(s.r, 0, s.c+1)
			for r := 0; r < s.r; r++ {
				s.cells[r] = s.blank()
			}
		default:
			for r := range s.rows {
				s.cells[r] = s.blank()
			}
		}
	case 'K':
		switch arg(0, 0) {
		case 0:
			s.eraseLine(s.r, s.c, s.cols)
		case 1:
			s.eraseLine(s.r, 0, s.c+1)
		default:
			s.eraseLine(s.r, 0, s.cols)
		}
	case 'X':
		s.eraseLine(s.r, s.c, min(s.cols, s.c+arg(0, 1)))
	case 'L', 'M':
		k := min(arg(0, 1), s.rows-s.r)
		below := append([][]rune{}, s.cells[s.r:]...)
		fresh := make([][]rune, k)
		for x := range fresh {
			fresh[x] = s.blank()
		}
		if rs[j] == 'L' {
			below = append(fresh, below[:len(below)-k]...)
		} else {
			below = append(below[k:], fresh...)
		}
		copy(s.cells[s.r:], below)
		s.c = 0
	case 'P', '@':
		k := min(arg(0, 1), s.cols-s.c)
		line := s.cells[s.r]
		rest := append([]rune{}, line[s.c:]...)
		pad := []rune(strings.Repeat(" ", k))
		if rs[j] == 'P' {
			rest = append(rest[k:], pad...)
		} else {
			rest = append(pad, rest[:len(rest)-k]...)
		}
		copy(line[s.c:], rest)
	default:
		return j // colours (m), scrolling regions, reports: nothing to draw
	}
	clamp()
	return j
}

func (s *screen) eraseLine(r, from, to int) {
	for c := from; c < to; c++ {
		s.cells[r][c] = ' '
	}
}

// lines are the screen's rows, trailing blanks trimmed.
func (s *screen) lines() []string {
	out := make([]string, s.rows)
	for r, line := range s.cells {
		out[r] = strings.TrimRight(string(line), " ")
	}
	return out
}

// cursorLine is the row the cursor is on, up to the cursor.
func (s *screen) cursorLine() string { return string(s.cells[s.r][:s.c]) }

func (s *screen) String() string {
	var b strings.Builder
	for r, l := range s.lines() {
		mark := "  "
		if r == s.r {
			mark = "> "
		}
		b.WriteString(mark + l + "\n")
	}
	return b.String()
}

func TestScreen(t *testing.T) {
	// bash's notice (shellhook.Bash.Notify) at a prompt on the last line: the screen scrolls, the
	// line goes above the prompt, and the cursor is back after what was typed.
	s := render("a\r\nb\r\n$ echo hi", 3, 20)
	s.write("\x1b7\n\x1b[1A\r\x1b[1Lden: updating\x1b8\x1b[1B")
	want := []string{"b", "den: updating", "$ echo hi"}
	if got := s.lines(); strings.Join(got, "|") != strings.Join(want, "|") || s.cursorLine() != "$ echo hi" {
		t.Fatalf("got\n%s", s)
	}
	// Wrapping is deferred, as in xterm: zsh's PROMPT_SP fills the line, then returns.
	s = render("#   \r \r$ x", 2, 4)
	if got := s.lines(); got[0] != "$ x" || got[1] != "" {
		t.Fatalf("got\n%s", s)
	}
}
