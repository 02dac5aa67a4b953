package bpe

import (
	"iter"
	"unicode"
	"unicode/utf8"
)

// class is what GPT-2's split pattern sees of a character.
type class uint8

const (
	classLetter class = iota // \p{L}
	classNumber              // \p{N}
	classOther               // neither whitespace, letter nor number; also every invalid UTF-8 byte
	classSpace               // U+0020, the one character the pattern's " ?" takes
	classWhite               // the other whitespace (unicode.IsSpace, regexp2's \s)
)

// white reports whether c is whitespace (\s).
func (c class) white() bool { return c >= classSpace }

// asciiClass holds the class of each ASCII character, from classOfRune.
var asciiClass = func() (t [utf8.RuneSelf]class) {
	for r := range rune(len(t)) {
		t[r] = classOfRune(r)
	}
	return t
}()

// classOfRune is the class of r. \s is unicode.IsSpace, \p{L} and \p{N} are Go's unicode tables:
// the definitions regexp2 uses, so the classes agree with it on every rune (TestClassesMatchRegexp2).
func classOfRune(r rune) class {
	switch {
	case r == ' ':
		return classSpace
	case unicode.IsSpace(r):
		return classWhite
	case unicode.In(r, unicode.L):
		return classLetter
	case unicode.In(r, unicode.N):
		return classNumber
	}
	return classOther
}

// classAt returns the class and byte length of the character that starts text[i:] (i < len(text)).
// An invalid UTF-8 byte is one character of classOther, as U+FFFD would be.
func classAt(text []byte, i int) (class, int) {
	if b := text[i]; b < utf8.RuneSelf {
		return asciiClass[b], 1
	}
	r, n := utf8.DecodeRune(text[i:])
	if r == utf8.RuneError && n == 1 {
		return classOther, 1
	}
	return classOfRune(r), n
}

// classBefore returns the class and byte length of the character that ends text[:i] (i > 0).
func classBefore(text []byte, i int) (class, int) {
	if b := text[i-1]; b < utf8.RuneSelf {
		return asciiClass[b], 1
	}
	r, n := utf8.DecodeLastRune(text[:i])
	if r == utf8.RuneError && n == 1 {
		return classOther, 1
	}
	return classOfRune(r), n
}

// contraction returns the length of the contraction ('s 't 're 've 'm 'll 'd) that text starts
// with, 0 if it starts with none, or -1 if text ends too soon to tell ("'r", "'v", "'l").
func contraction(text []byte) int {
	if len(text) < 2 || text[0] != '\'' {
		return 0
	}
	switch text[1] {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v', 'l':
		if len(text) < 3 {
			return -1
		}
		if text[2] == 'e' && text[1] != 'l' || text[2] == 'l' && text[1] == 'l' {
			return 3
		}
	}
	return 0
}

// pieceLen returns the length of the first piece of text (len(text) > 0): the match of GPT-2's
// pattern at the start of text, alternatives tried in order.
func pieceLen(text []byte) int {
	if n := contraction(text); n > 0 {
		return n
	}
	c, n := classAt(text, 0)
	start := 0
	if c == classSpace && n < len(text) {
		// " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": a space joins the run after it.
		if next, _ := classAt(text, 1); !next.white() {
			c, start = next, 1
		}
	}
	if !c.white() {
		i := start
		for i < len(text) {
			if b := text[i]; b < utf8.RuneSelf { // the common case, without a call
				if asciiClass[b] != c {
					break
				}
				i++
				continue
			}
			ci, ni := classAt(text, i)
			if ci != c {
				break
			}
			i += ni
		}
		return i
	}
	// "\s+(?!\S)|\s+": a run of whitespace that reaches the end of text is one piece; one followed
	// by a non-space leaves its last character to start the next piece, unless it is the only one.
	i, last := 0, 0
	for i < len(text) {
		ci, ni := classAt(text, i)
		if !ci.white() {
			break
		}
		last = i
		i += ni
	}
	if i < len(text) && last > 0 {
		return last
	}
	return i
}

// Split returns the pieces of text that GPT-2's pre-tokenizer cuts it into, in order; they
// concatenate to text exactly. The pieces are the matches of the r50k_base pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// as regexp2 (the engine of tiktoken-go) matches it: \s is unicode.IsSpace, \p{L} and \p{N} Go's
// Unicode tables, the contractions are case-sensitive. It is hand-written: no regular expression
// runs. An invalid UTF-8 byte is kept as it is and split as U+FFFD would be (a symbol, like "!");
// tiktoken-go instead replaces it by U+FFFD. One known difference on valid UTF-8: tiktoken-go
// v0.10.0's generated matcher drops U+007F (DEL) from its input (its ASCII bitmap of
// [^\s\p{L}\p{N}] lacks that bit); Split keeps it as a symbol, as the pattern, regexp2's
// interpreter and OpenAI's tiktoken do.
//
// The pieces are subslices of text.
func Split(text []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for len(text) > 0 {
			n := pieceLen(text)
			if !yield(text[:n:n]) {
				return
			}
			text = text[n:]
		}
	}
}

// CutWindow is how far back from its limit CutPoint looks for a cut.
const CutWindow = 64 << 10

// CutPoint returns the largest i ≤ limit, 0 < i < len(text), at which text can be cut without
// changing its pieces: the pieces of text[:i] followed by those of text[i:] are the pieces of text.
// It returns 0 if there is no such i in (limit−CutWindow, limit].
//
// Whether i is a cut is decided from at most 7 bytes before i and 8 after it, and a position whose
// decision needs bytes past the end of text is never returned, so a cut stays a cut however text
// continues: a stream can be split and encoded chunk by chunk, each chunk ending at the CutPoint of
// what has been read (carry the rest over to the next chunk), and a train/val split placed at
// CutPoint tokenizes as the whole does. text must start at the start of the input or at a cut.
func CutPoint(text []byte, limit int) int {
	limit = min(limit, len(text)-1)
	for i := limit; i > 0 && i > limit-CutWindow; i-- {
		if isCut(text, i) {
			return i
		}
	}
	return 0
}

// isCut reports whether a piece of text starts at i (0 < i < len(text)), from the characters
// c before i, d at i and, at most, the one after d; false where text ends too soon to tell.
func isCut(text []byte, i int) bool {
	if !utf8.FullRune(text[i:]) {
		return false // d may be the start of a character cut by the end of text
	}
	d, dn := classAt(text, i)
	c, cn := classBefore(text, i)
	switch {
	case d.white():
		if !c.white() {
			return true
		}
		// Inside a run of whitespace the only cut is before its last character, when a
		// non-space follows it (\s+(?!\S) backs off by one).
		j := i + dn
		if j >= len(text) || !utf8.FullRune(text[j:]) {
			return false
		}
		e, _ := classAt(text, j)
		return !e.white()
	case c == classSpace:
		return false // " x": the space starts x's piece
	case c == classWhite:
		// A lone whitespace character before a non-space is a piece, but text[:i] must not end
		// in a longer run: there the run would be one piece, \s+(?!\S) reaching the end.
		if i == cn {
			return true
		}
		b, _ := classBefore(text, i-cn)
		return !b.white()
	case c == classNumber:
		return d != classNumber
	case c == classLetter:
		if d != classLetter {
			return true
		}
		// Two letters: cut only after a contraction ('s, 're, …) that starts a piece.
		for _, n := range [2]int{2, 3} {
			if q := i - n; q >= 0 && contraction(text[q:i]) == n && startsPiece(text, q) {
				return true
			}
		}
		return false
	default: // classOther
		if d == classOther {
			return false
		}
		if d == classNumber || text[i-1] != '\'' {
			return true
		}
		// "'" then a letter: no cut if the "'" starts a piece that is a contraction.
		switch contraction(text[i-1:]) {
		case -1:
			return false
		case 0:
			return true
		}
		return !startsPiece(text, i-1)
	}
}

// startsPiece reports whether the "'" at text[q] starts a piece: it does unless a symbol before it
// takes it into its run, or a space before it joins it (" '").
func startsPiece(text []byte, q int) bool {
	if q == 0 {
		return true
	}
	b, _ := classBefore(text, q)
	return b != classOther && b != classSpace
}
