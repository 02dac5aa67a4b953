package bpe

import (
	"testing"

	"github.com/dlclark/regexp2/v2"
	"github.com/stretchr/testify/require"
	_ "github.com/tiktoken-go/tokenizer/codec" // registers the generated matcher of the pattern
)

// pattern is GPT-2's (r50k_base's) pre-tokenizer pattern, as tiktoken-go compiles it.
const pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

var (
	// generated is the pattern as tiktoken-go runs it: importing its codec package registers
	// code generated for this exact pattern (regexp2cg), which regexp2 then uses.
	generated = regexp2.MustCompile(pattern, regexp2.None)
	// interpreted is the same pattern run by regexp2's interpreter: the group around it makes a
	// pattern string that has no generated code.
	interpreted = regexp2.MustCompile("(?:"+pattern+")", regexp2.None)
)

// regexpPieces returns the matches of re in text, in order. regexp2 matches runes: each invalid
// UTF-8 byte of text is one U+FFFD in the matches.
func regexpPieces(t testing.TB, re *regexp2.Regexp, text string) []string {
	t.Helper()
	var pieces []string
	m, err := re.FindStringMatch(text)
	for ; m != nil && err == nil; m, err = re.FindNextMatch(m) {
		pieces = append(pieces, m.String())
	}
	require.NoError(t, err)
	return pieces
}

// splitPieces returns the pieces of Split(text) as strings.
func splitPieces(text []byte) []string {
	var pieces []string
	for p := range Split(text) {
		pieces = append(pieces, string(p))
	}
	return pieces
}

// asRunes returns pieces with each invalid UTF-8 byte replaced by U+FFFD, as regexp2 sees them.
func asRunes(pieces []string) []string {
	var out []string
	for _, p := range pieces {
		out = append(out, string([]rune(p)))
	}
	return out
}
