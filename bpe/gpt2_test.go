package bpe

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"github.com/tiktoken-go/tokenizer/codec"
)

var tiktoken = sync.OnceValue(codec.NewR50kBase)

// tiktokenIDs encodes text with tiktoken-go's r50k_base.
func tiktokenIDs(t testing.TB, text []byte) []int32 {
	t.Helper()
	ids, _, err := tiktoken().Encode(string(text))
	require.NoError(t, err)
	var out []int32 // nil for none, as Encode(nil, …)
	for _, id := range ids {
		out = append(out, int32(id))
	}
	return out
}

func TestGPT2(t *testing.T) {
	v := gpt2Vocab(t)
	require.Equal(t, "gpt2", v.Name())
	require.Equal(t, 50257, v.Size())
	require.Equal(t, int32(50256), v.EOT())
	require.Equal(t, "!", string(v.TokenBytes(0)))
	require.Equal(t, "First", string(v.TokenBytes(5962)))
	require.Equal(t, "\n", string(v.TokenBytes(198)))
	again, err := GPT2()
	require.NoError(t, err)
	require.Same(t, v, again)
}

// TestGPT2Shakespeare checks GPT-2's public counts for tiny Shakespeare: 338,025 tokens, and
// 301,966 / 36,059 for nanoGPT's split (the first 90% of the characters, the rest), the first 20
// ids, and every id against tiktoken-go.
func TestGPT2Shakespeare(t *testing.T) {
	text := readShakespeare(t)
	v := gpt2Vocab(t)
	ids := v.Encode(nil, text)
	require.Len(t, ids, 338025)
	require.Equal(t, []int32{5962, 22307, 25, 198, 8421, 356, 5120, 597, 2252, 11, 3285, 502, 2740, 13, 198, 198, 3237, 25, 198, 5248}, ids[:20])
	require.Equal(t, tiktokenIDs(t, text), ids)
	chars := []rune(string(text))
	cut := len(string(chars[:len(chars)*9/10]))
	require.Len(t, v.Encode(nil, text[:cut]), 301966)
	require.Len(t, v.Encode(nil, text[cut:]), 36059)
}

func TestGPT2MatchesTiktokenGo(t *testing.T) {
	v := gpt2Vocab(t)
	cases := map[string]string{
		"go source":         string(goSource(t, 256<<10)),
		"unicode":           "naïve café 東京 ٣٤ 😀 \u00a0\u3000 Ελληνικά русский 中文 日本語 한국어 \u2028x",
		"whitespace":        "a  b\n\n\nc \n d\t\t\te\r\n\r\nf   ",
		"contractions":      "I'm you'll we'd they're it's can't we've IT'S o'clock ''s '",
		"long pieces":       strings.Repeat(" ", 300) + "x" + strings.Repeat("ab", 200) + strings.Repeat("9", 150) + strings.Repeat("=-", 120),
		"end of text token": "<|endoftext|> and <|endoftext|>",
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tiktokenIDs(t, []byte(text)), v.Encode(nil, []byte(text)))
		})
	}
}

// FuzzGPT2MatchesTiktokenGo compares Encode with tiktoken-go's r50k_base on valid UTF-8 (the
// fuzzer's text with invalid bytes as U+FFFD, and U+007F removed: tiktoken-go drops it).
func FuzzGPT2MatchesTiktokenGo(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		text := []byte(string([]rune(string(fuzzText(data[:min(len(data), 256)])))))
		text = bytes.ReplaceAll(text, []byte{0x7f}, nil)
		require.True(t, utf8.Valid(text))
		require.Equal(t, tiktokenIDs(t, text), gpt2Vocab(t).Encode(nil, text), "%q", text)
	})
}

// BenchmarkTiktokenGo is tiktoken-go's r50k_base on tiny Shakespeare, beside BenchmarkEncode.
func BenchmarkTiktokenGo(b *testing.B) {
	text := string(readShakespeare(b))
	c := tiktoken()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		_, _, err := c.Encode(text)
		require.NoError(b, err)
	}
}
