package hf

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/bpe"
	"github.com/kvgpt/kvgpt/gpt"
)

// listVocab is a RankedVocab given as its tokens in rank order.
type listVocab [][]byte

func (v listVocab) NumRanked() int           { return len(v) }
func (v listVocab) TokenBytes(id int) []byte { return v[id] }

// toyVocab is a byte-level BPE vocabulary: the 256 bytes (in reverse order, as GPT-2's ranks are
// not in byte order either), then "th", "he", "the" (th + e), " the" (space + the) and "ee".
func toyVocab() listVocab {
	var v listVocab
	for b := 255; b >= 0; b-- {
		v = append(v, []byte{byte(b)})
	}
	for _, s := range []string{"th", "he", "the", " the", "ee"} {
		v = append(v, []byte(s))
	}
	return v
}

// hfTokenizer is byte-level BPE as GPT-2's tokenizer runs it from vocab.json and merges.txt: a
// word's bytes spelled in byte-to-unicode characters, merged pair by pair in the order of
// merges.txt (the earliest listed pair first), then looked up in vocab.json.
type hfTokenizer struct {
	vocab map[string]int
	prio  map[[2]string]int
}

func newHFTokenizer(t *testing.T, vocabJSON, mergesTxt []byte) *hfTokenizer {
	t.Helper()
	h := &hfTokenizer{vocab: map[string]int{}, prio: map[[2]string]int{}}
	require.NoError(t, json.Unmarshal(vocabJSON, &h.vocab))
	sc := bufio.NewScanner(bytes.NewReader(mergesTxt))
	sc.Scan()
	require.Equal(t, "#version: 0.2", sc.Text())
	for i := 0; sc.Scan(); i++ {
		a, b, ok := strings.Cut(sc.Text(), " ")
		require.True(t, ok, sc.Text())
		h.prio[[2]string{a, b}] = i
	}
	return h
}

// encode returns the ids of one word (a piece of GPT-2's pre-splitting).
func (h *hfTokenizer) encode(t *testing.T, word string) []int {
	t.Helper()
	var parts []string
	for _, r := range byteString([]byte(word)) {
		parts = append(parts, string(r))
	}
	for {
		best, at := -1, -1
		for i := 0; i+1 < len(parts); i++ {
			if p, ok := h.prio[[2]string{parts[i], parts[i+1]}]; ok && (best < 0 || p < best) {
				best, at = p, i
			}
		}
		if at < 0 {
			break
		}
		parts = append(parts[:at], append([]string{parts[at] + parts[at+1]}, parts[at+2:]...)...)
	}
	ids := make([]int, len(parts))
	for i, p := range parts {
		id, ok := h.vocab[p]
		require.True(t, ok, "%q is not in vocab.json", p)
		ids[i] = id
	}
	return ids
}

// hfEncode encodes one word with the tokenizer of vocab.json and merges.txt (see hfTokenizer).
func hfEncode(t *testing.T, vocabJSON, mergesTxt []byte, word string) []int {
	return newHFTokenizer(t, vocabJSON, mergesTxt).encode(t, word)
}

// TestGPT2TokenizerFiles: merges.txt lists each multi-byte token's two parts in rank order,
// vocab.json every token by id in GPT-2's byte-to-unicode spelling, special tokens included; and
// the BPE a GPT-2 tokenizer runs from the two files tokenizes words as BPE on the ranks does.
func TestGPT2TokenizerFiles(t *testing.T) {
	v := toyVocab()
	vj, merges, err := GPT2TokenizerFiles(v, map[string]int{"<|endoftext|>": 261})
	require.NoError(t, err)
	require.Equal(t, "#version: 0.2\nt h\nh e\nth e\nĠ the\ne e\n", string(merges), "Ġ is the space byte")
	vocab := map[string]int{}
	require.NoError(t, json.Unmarshal(vj, &vocab))
	require.Len(t, vocab, 262)
	require.Equal(t, 255-int(' '), vocab["Ġ"])
	require.Equal(t, 255-int('a'), vocab["a"])
	require.Equal(t, 255-0x0a, vocab["Ċ"], "newline")
	require.Equal(t, 255-0xff, vocab["ÿ"])
	require.Equal(t, 259, vocab["Ġthe"])
	require.Equal(t, 261, vocab["<|endoftext|>"])
	require.Contains(t, string(vj), `"<|endoftext|>": 261`, "not HTML-escaped")
	require.True(t, strings.HasPrefix(string(vj), "{\n  \"ÿ\": 0,\n  \"þ\": 1,"), "ids in order")

	rank := map[string]int{}
	for id, b := range v {
		rank[string(b)] = id
	}
	for _, word := range []string{"the", " the", "thee", "heathen", "athe", " thethe", "\xff\x00 the\n"} {
		parts := bpeParts([]byte(word), rank, len(v))
		want := make([]int, len(parts))
		for i, p := range parts {
			want[i] = rank[string(p)]
		}
		require.Equal(t, want, hfEncode(t, vj, merges, word), "%q", word)
	}

	// GPT-2's byte-to-unicode map: 188 printable bytes as themselves, the other 68 from U+0100.
	require.Equal(t, 'Ā', byteRunes[0])
	require.Equal(t, 'Ġ', byteRunes[' '])
	require.Equal(t, '!', byteRunes['!'])
	require.Equal(t, 'Ń', byteRunes[0xad], "the soft hyphen, the last of the 68")
	seen := map[rune]bool{}
	for _, r := range byteRunes {
		require.False(t, seen[r])
		seen[r] = true
	}
}

// TestGPT2TokenizerFilesRefuses: a list that is not byte-level BPE ranks is an error.
func TestGPT2TokenizerFilesRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		v       listVocab
		special map[string]int
		want    string
	}{
		"a token not made of two lower ranks": {append(toyVocab()[:256], []byte("abc")), nil, `hf: token 256 ("abc") is not the merge of two tokens of lower rank (BPE below its rank leaves 3 parts)`},
		"a merge before its parts":            {append(toyVocab()[:256], []byte("the"), []byte("th")), nil, `hf: token 256 ("the") is not the merge of two tokens of lower rank`},
		"a missing byte":                      {toyVocab()[1:], nil, "hf: byte 0xff is not a token"},
		"a repeated token":                    {append(toyVocab(), []byte("th")), nil, `hf: tokens 256 and 261 are both "th"`},
		"a special token among the ranks":     {toyVocab(), map[string]int{"<|endoftext|>": 3}, "a ranked token's"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := GPT2TokenizerFiles(c.v, c.special)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// TestTokenizerFilesEncodeAsKvgpt: the vocab.json and merges.txt of GPT-2's vocabulary and of a
// vocabulary kvgpt trains (bpe:N), read as transformers' GPT2Tokenizer reads them, encode text to
// the ids kvgpt's tokenizer gives.
func TestTokenizerFilesEncodeAsKvgpt(t *testing.T) {
	root, err := gpt.GoRoot()
	require.NoError(t, err)
	text, _, err := gpt.GoCorpus(root, 300_000)
	require.NoError(t, err)
	gpt2, err := bpe.GPT2()
	require.NoError(t, err)
	trained, err := bpe.Train([]byte(text[:200_000]), 1000, nil)
	require.NoError(t, err)
	for _, v := range []*bpe.Vocab{gpt2, trained} {
		t.Run(v.Name(), func(t *testing.T) {
			vj, mt, err := GPT2TokenizerFiles(rankedBPE{v}, map[string]int{GPT2EndOfText: int(v.EOT())})
			require.NoError(t, err)
			h := newHFTokenizer(t, vj, mt)
			sample := []byte(text[200_000:])
			var got []int32
			for piece := range bpe.Split(sample) {
				for _, id := range h.encode(t, string(piece)) {
					got = append(got, int32(id))
				}
			}
			require.Equal(t, v.Encode(nil, sample), got)
		})
	}
}
