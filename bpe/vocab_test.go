package bpe

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

var trained struct {
	once  sync.Once
	vocab *Vocab
	err   error
}

// trainedVocab is bpe:1024 trained on ownSource, made once per test binary.
func trainedVocab(tb testing.TB) *Vocab {
	tb.Helper()
	trained.once.Do(func() { trained.vocab, trained.err = Train(ownSource(tb), 1024, nil) })
	require.NoError(tb, trained.err)
	return trained.vocab
}

func gpt2Vocab(tb testing.TB) *Vocab {
	tb.Helper()
	v, err := GPT2()
	require.NoError(tb, err)
	return v
}

// vocabs returns the vocabularies every encoding test runs on.
func vocabs(tb testing.TB) []*Vocab { return []*Vocab{gpt2Vocab(tb), trainedVocab(tb)} }

// slowMerge is tiktoken's rule written plainly: parts start as single bytes; while some adjacent
// pair concatenates to a token, merge the pair whose token has the lowest id, the leftmost on ties.
func slowMerge(v *Vocab, piece []byte) []int32 {
	var parts [][]byte
	for i := range piece {
		parts = append(parts, piece[i:i+1])
	}
	for {
		best, at := int32(noMerge), -1
		for i := 0; i+1 < len(parts); i++ {
			if id, ok := v.whole[string(parts[i])+string(parts[i+1])]; ok && id < best {
				best, at = id, i
			}
		}
		if at < 0 {
			break
		}
		parts[at] = v.TokenBytes(best)
		parts = append(parts[:at+1], parts[at+2:]...)
	}
	ids := make([]int32, len(parts))
	for i, p := range parts {
		ids[i] = v.whole[string(p)]
	}
	return ids
}

// checkEncode checks Encode on text against tiktoken's rule written plainly (each piece its own
// token, or slowMerge), mergeScan and mergeHeap against slowMerge on each piece, and that Decode
// gives text back. (Plain checks, not require, in the loops: fuzzing runs this often.)
func checkEncode(t testing.TB, v *Vocab, text []byte) {
	t.Helper()
	var want []int32
	for p := range Split(text) {
		merged := slowMerge(v, p)
		if parts := byteIDs(v, p); !slices.Equal(merged, parts[:v.mergeHeap(parts)]) {
			t.Fatalf("%s: mergeHeap(%q) = %v, want %v", v.Name(), p, parts, merged)
		}
		if parts := byteIDs(v, p); len(p) <= scanPieceLen && !slices.Equal(merged, parts[:v.mergeScan(parts)]) {
			t.Fatalf("%s: mergeScan(%q) = %v, want %v", v.Name(), p, parts, merged)
		}
		if id, ok := v.whole[string(p)]; ok {
			merged = []int32{id}
		}
		want = append(want, merged...)
	}
	ids := v.Encode(nil, text)
	if !slices.Equal(want, ids) {
		t.Fatalf("%s: Encode(%q) = %v, want %v", v.Name(), text, ids, want)
	}
	if again := v.Encode(nil, text); !slices.Equal(ids, again) {
		t.Fatalf("%s: Encode(%q) = %v a second time (from the piece cache), %v the first", v.Name(), text, again, ids)
	}
	if back := v.Decode(nil, ids); !bytes.Equal(text, back) {
		t.Fatalf("%s: Decode(Encode(%q)) = %q", v.Name(), text, back)
	}
	for _, id := range ids {
		if id < 0 || id >= v.EOT() {
			t.Fatalf("%s: Encode(%q) gave id %d", v.Name(), text, id)
		}
	}
}

// byteIDs returns the token of each byte of piece.
func byteIDs(v *Vocab, piece []byte) []int32 {
	ids := make([]int32, len(piece))
	for i, b := range piece {
		ids[i] = v.byteID[b]
	}
	return ids
}

func TestEncode(t *testing.T) {
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	cases := map[string]string{
		"words":                   "Hello world, it's a test of the encoder.",
		"go":                      "func (v *Vocab) Encode(dst []int32, text []byte) []int32 {\n\tfor i := range 10 {\n\t\tx += 0x7f\n\t}\n}\n",
		"unicode":                 "naïve café 東京 ٣٤ 😀 \u00a0\u3000 done",
		"invalid UTF-8":           "a\xffb\xe2\x82 \xc3(\xf0\x9f\x98",
		"long space run":          long(" ", 1000) + "x",
		"long letter run":         long("ab", 300),
		"long digit run":          long("1234567890", 30),
		"long symbol run":         long("=-", 200),
		"long piece of one byte":  long("\xff", 150),
		"long repeated letter":    long("a", 257),
		"DEL":                     "a\x7fb\x7f\x7f",
		"end of text is not text": "<|endoftext|>",
	}
	for _, v := range vocabs(t) {
		for name, text := range cases {
			t.Run(fmt.Sprintf("vocab=%s/%s", v.Name(), name), func(t *testing.T) {
				checkEncode(t, v, []byte(text))
			})
		}
	}
}

// FuzzRoundTrip checks, for gpt2 and a trained vocabulary, that any byte string decodes back from
// its tokens, that Encode follows tiktoken's rule (against slowEncode) and that the two merge
// loops agree with it.
func FuzzRoundTrip(f *testing.F) {
	fuzzSeeds(f)
	f.Add([]byte("\x01" + strings.Repeat("  ", 50) + "\xff\xfe" + strings.Repeat("ab", 40)))
	f.Fuzz(func(t *testing.T, data []byte) {
		text := fuzzText(data[:min(len(data), 64)])
		for _, v := range vocabs(t) {
			checkEncode(t, v, text)
		}
	})
}

func TestEncodeConcurrent(t *testing.T) {
	text := ownSource(t)
	for _, v := range vocabs(t) {
		t.Run("vocab="+v.Name(), func(t *testing.T) {
			checkEncode(t, v, text)
			want := v.Encode(nil, text)
			got := make([][]int32, 4)
			var wg sync.WaitGroup
			for g := range got {
				wg.Go(func() { got[g] = v.Encode(nil, text) })
			}
			wg.Wait()
			for _, ids := range got {
				require.Equal(t, want, ids)
			}
		})
	}
}

func TestEncodeAppends(t *testing.T) {
	v := gpt2Vocab(t)
	dst := v.Encode([]int32{-7}, []byte("Hello"))
	require.Equal(t, []int32{-7, 15496}, dst) // "Hello" is GPT-2's token 15496
	require.Empty(t, v.Encode(nil, nil))
	require.Equal(t, []byte("x!"), v.Decode([]byte("x"), []int32{0}))
}

func TestTokenBytes(t *testing.T) {
	for _, v := range vocabs(t) {
		t.Run("vocab="+v.Name(), func(t *testing.T) {
			require.Equal(t, EndOfText, string(v.TokenBytes(v.EOT())))
			require.Equal(t, v.Size()-1, int(v.EOT()))
			seen := map[string]bool{}
			for id := range int32(v.EOT()) {
				b := v.TokenBytes(id)
				require.NotEmpty(t, b)
				require.False(t, seen[string(b)], "token %d repeats %q", id, b)
				seen[string(b)] = true
				if pieceLen(b) == len(b) {
					require.Equal(t, []int32{id}, v.Encode(nil, b), "token %d (%q) is one piece", id, b)
				}
			}
			require.PanicsWithValue(t, fmt.Sprintf("bpe: token id %d out of range [0, %d)", v.Size(), v.Size()), func() { v.TokenBytes(int32(v.Size())) })
			require.Panics(t, func() { v.Decode(nil, []int32{-1}) })
			b := v.TokenBytes(300)
			_ = append(b, 'x') // capped: cannot write into the next token
			require.Equal(t, string(b), string(v.TokenBytes(300)))
			require.True(t, bytes.Equal(v.TokenBytes(301), v.Decode(nil, []int32{301})))
		})
	}
}

// BenchmarkEncode measures Encode on one goroutine: MB/s of text. tiktoken-go's row is the same
// text through tiktoken-go's r50k_base, for comparison.
func BenchmarkEncode(b *testing.B) {
	texts := []struct {
		name string
		text []byte
	}{{"shakespeare", readShakespeare(b)}, {"go-1MB", goSource(b, 1<<20)}}
	for _, tx := range texts {
		for _, v := range []*Vocab{gpt2Vocab(b), trainedVocab(b)} {
			b.Run(fmt.Sprintf("vocab=%s/text=%s", v.Name(), tx.name), func(b *testing.B) {
				b.SetBytes(int64(len(tx.text)))
				var ids []int32
				for b.Loop() {
					ids = v.Encode(ids[:0], tx.text)
				}
				b.ReportMetric(float64(len(tx.text))/float64(len(ids)), "bytes/token")
			})
		}
	}
}
