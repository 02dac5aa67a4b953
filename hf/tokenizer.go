package hf

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// RankedVocab is a byte-level BPE vocabulary in merge-rank order, as tiktoken lists GPT-2's:
// token id r is the r-th token the merges produce (each single byte is one of them, with no
// merge), so a token of two or more bytes is the merge of two tokens of lower rank. Special
// tokens (GPT-2's <|endoftext|>) are not among them.
type RankedVocab interface {
	// NumRanked returns the number of ranked tokens: ids 0 … NumRanked−1.
	NumRanked() int
	// TokenBytes returns the bytes of ranked token id.
	TokenBytes(id int) []byte
}

// byteRunes is GPT-2's byte-to-unicode map (bytes_to_unicode of its encoder.py): the printable
// bytes '!'…'~', '¡'…'¬' and '®'…'ÿ' are their own code points; the other 68 bytes, in order,
// are U+0100 onwards. vocab.json and merges.txt spell tokens in these characters, so that no
// token contains a space, a control character or a lone UTF-8 byte.
var byteRunes = func() (m [256]rune) {
	printable := func(b int) bool { return '!' <= b && b <= '~' || '¡' <= b && b <= '¬' || '®' <= b && b <= 'ÿ' }
	n := 0
	for b := range 256 {
		if printable(b) {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}()

// byteString spells b in GPT-2's byte-to-unicode characters.
func byteString(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(byteRunes[c])
	}
	return sb.String()
}

// GPT2TokenizerFiles returns the vocab.json and merges.txt of the byte-level BPE vocabulary v with
// the special tokens special (name → id, each past the ranked ids), as GPT-2's tokenizer
// (transformers' GPT2Tokenizer, tokenizers' ByteLevel BPE) reads them: vocab.json maps every
// token, spelled in GPT-2's byte-to-unicode characters, to its id; merges.txt lists, after a
// "#version: 0.2" line, the pair of tokens each multi-byte token merges, in rank order. The pair
// is found by running BPE on the token's own bytes with the ranks below its own: the merges that
// would build it, as tiktoken would; a vocabulary where that does not end in exactly two tokens is
// not a BPE rank list, and an error.
func GPT2TokenizerFiles(v RankedVocab, special map[string]int) (vocabJSON, mergesTxt []byte, err error) {
	n := v.NumRanked()
	rank := make(map[string]int, n)
	toks := make([][]byte, n)
	for id := range n {
		b := v.TokenBytes(id)
		if len(b) == 0 {
			return nil, nil, fmt.Errorf("hf: token %d has no bytes", id)
		}
		if prev, dup := rank[string(b)]; dup {
			return nil, nil, fmt.Errorf("hf: tokens %d and %d are both %q", prev, id, b)
		}
		rank[string(b)], toks[id] = id, b
	}
	for c := range 256 {
		if _, ok := rank[string([]byte{byte(c)})]; !ok {
			return nil, nil, fmt.Errorf("hf: byte %#02x is not a token: a byte-level vocabulary has all 256", c)
		}
	}
	var merges bytes.Buffer
	merges.WriteString("#version: 0.2\n")
	for id, b := range toks {
		if len(b) < 2 {
			continue
		}
		parts := bpeParts(b, rank, id)
		if len(parts) != 2 {
			return nil, nil, fmt.Errorf("hf: token %d (%q) is not the merge of two tokens of lower rank (BPE below its rank leaves %d parts)", id, b, len(parts))
		}
		fmt.Fprintf(&merges, "%s %s\n", byteString(parts[0]), byteString(parts[1]))
	}

	type entry struct {
		name string
		id   int
	}
	entries := make([]entry, 0, n+len(special))
	for id, b := range toks {
		entries = append(entries, entry{byteString(b), id})
	}
	for name, id := range special {
		if id < n {
			return nil, nil, fmt.Errorf("hf: special token %q has id %d, a ranked token's", name, id)
		}
		entries = append(entries, entry{name, id})
	}
	// Ids in order, one per line, as GPT-2's own vocab.json; no HTML escaping of <|endoftext|>.
	var vj bytes.Buffer
	enc := json.NewEncoder(&vj)
	enc.SetEscapeHTML(false)
	out := bytes.NewBufferString("{")
	seen := map[int]bool{}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.id, b.id) })
	for i, e := range entries {
		if seen[e.id] {
			return nil, nil, fmt.Errorf("hf: id %d is given twice", e.id)
		}
		seen[e.id] = true
		vj.Reset()
		enc.Encode(e.name) // a string always encodes
		if i > 0 {
			out.WriteString(",")
		}
		fmt.Fprintf(out, "\n  %s: %d", bytes.TrimSpace(vj.Bytes()), e.id)
	}
	out.WriteString("\n}\n")
	return out.Bytes(), merges.Bytes(), nil
}

// bpeParts runs byte-level BPE on b with the tokens of rank below maxRank: starting from single
// bytes, it merges the adjacent pair whose concatenation has the lowest rank until none has one.
func bpeParts(b []byte, rank map[string]int, maxRank int) [][]byte {
	cut := make([]int, len(b)+1) // part i is b[cut[i]:cut[i+1]]
	for i := range cut {
		cut[i] = i
	}
	for len(cut) > 2 {
		best, at := maxRank, -1
		for i := 0; i+2 < len(cut); i++ {
			if r, ok := rank[string(b[cut[i]:cut[i+2]])]; ok && r < best {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		cut = append(cut[:at+1], cut[at+2:]...) // parts at and at+1 become one
	}
	parts := make([][]byte, len(cut)-1)
	for i := range parts {
		parts[i] = b[cut[i]:cut[i+1]]
	}
	return parts
}
