package bpe

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTrainByHand(t *testing.T) {
	// "aaabdaaabac" is one piece. Pair counts: aa 4, ab 2, and 1 each for bd da ba ac. Merge
	// aa → 256: [aa a b d aa a b a c]; then ab (97,98) and (aa,a) (256,97) occur twice, and the
	// smaller pair wins: ab → 257: [aa ab d aa ab a c]; then (aa,ab) twice → 258; then every pair
	// occurs once, and the smallest is (97,99): ac → 259.
	v, err := Train([]byte("aaabdaaabac"), 261, nil)
	require.NoError(t, err)
	require.Equal(t, [][2]int32{{97, 97}, {97, 98}, {256, 257}, {97, 99}}, v.merges)
	require.Equal(t, "bpe:261", v.Name())
	require.Equal(t, 261, v.Size())
	require.Equal(t, int32(260), v.EOT())
	require.Equal(t, "aaab", string(v.TokenBytes(258)))
	require.Equal(t, []int32{258, 'd', 258, 259}, v.Encode(nil, []byte("aaabdaaabac")))
}

func TestTrainKeepsPiecesApart(t *testing.T) {
	// "a b" occurs often, but "a" and " b" are pieces: the merges are " b" and " a", no more.
	v, err := Train([]byte(strings.Repeat("a b ", 100)), 259, nil)
	require.NoError(t, err)
	require.Equal(t, " b", string(v.TokenBytes(256)))
	require.Equal(t, " a", string(v.TokenBytes(257)))
	_, err = Train([]byte(strings.Repeat("a b ", 100)), 260, nil)
	require.ErrorContains(t, err, "merges possible 2,")
}

// slowTrain is Train written plainly: count every pair of every distinct piece afresh at each step.
func slowTrain(text []byte, size int) [][2]int32 {
	counts := map[string]int64{}
	for p := range Split(text) {
		counts[string(p)]++
	}
	var words [][]int32
	var n []int64
	for p, c := range counts {
		var w []int32
		for _, b := range []byte(p) {
			w = append(w, int32(b))
		}
		words, n = append(words, w), append(n, c)
	}
	tokens := map[string]bool{}
	var bytesOf [][]byte
	for b := range 256 {
		bytesOf = append(bytesOf, []byte{byte(b)})
		tokens[string(bytesOf[b])] = true
	}
	var merges [][2]int32
	banned := map[[2]int32]bool{}
	for len(merges) < size-257 {
		pairs := map[[2]int32]int64{}
		for w, s := range words {
			for i := 0; i+1 < len(s); i++ {
				pairs[[2]int32{s[i], s[i+1]}] += n[w]
			}
		}
		var best [2]int32
		var bestN int64
		for p, c := range pairs {
			if !banned[p] && (c > bestN || c == bestN && (p[0] < best[0] || p[0] == best[0] && p[1] < best[1])) {
				best, bestN = p, c
			}
		}
		if bestN == 0 {
			return merges
		}
		tok := slices.Concat(bytesOf[best[0]], bytesOf[best[1]])
		if len(tok) > MaxTokenLen || tokens[string(tok)] {
			banned[best] = true
			continue
		}
		id := int32(len(bytesOf))
		bytesOf, tokens[string(tok)] = append(bytesOf, tok), true
		merges = append(merges, best)
		for w, s := range words {
			var out []int32
			for i := 0; i < len(s); i++ {
				if i+1 < len(s) && s[i] == best[0] && s[i+1] == best[1] {
					out, i = append(out, id), i+1
				} else {
					out = append(out, s[i])
				}
			}
			words[w] = out
		}
	}
	return merges
}

// TestTrainMatchesSlowTrain checks the incremental pair counts of Train against counting afresh
// at each step, on texts with runs that overlap ("aaaa", "    ") and repeated merges.
func TestTrainMatchesSlowTrain(t *testing.T) {
	texts := map[string][]byte{
		"own source": ownSource(t)[:16<<10],
		"runs":       []byte(strings.Repeat("aaaa aaa a  \t\t\t\n\n\n\n xxxxxxxx ", 20) + strings.Repeat("=", 700)),
		"unicode":    []byte(strings.Repeat("東京 東京東京 ٣٤٣٤ café\xff\xfe\xff ", 30)),
	}
	for name, text := range texts {
		for _, size := range []int{257, 300, 420} {
			t.Run(fmt.Sprintf("text=%s/size=%d", name, size), func(t *testing.T) {
				want := slowTrain(text, size)
				v, err := Train(text, size, nil)
				if len(want) < size-257 {
					require.ErrorContains(t, err, fmt.Sprintf("merges possible %d,", len(want)))
					return
				}
				require.NoError(t, err)
				require.Equal(t, want, v.merges)
			})
		}
	}
}

func TestTrainDeterministic(t *testing.T) {
	text := ownSource(t)
	a, err := Train(text, 700, nil)
	require.NoError(t, err)
	for range 3 { // Go randomizes map order: a run that depended on it would differ
		b, err := Train(text, 700, nil)
		require.NoError(t, err)
		require.Equal(t, a.merges, b.merges)
	}
}

func TestTrainProgress(t *testing.T) {
	var calls [][2]int
	_, err := Train(ownSource(t), 300, func(done, total int) { calls = append(calls, [2]int{done, total}) })
	require.NoError(t, err)
	require.Len(t, calls, 43)
	for i, c := range calls {
		require.Equal(t, [2]int{i + 1, 43}, c)
	}
}

func TestTrainLongTokens(t *testing.T) {
	// One long piece repeated: merging doubles the token, up to MaxTokenLen bytes and no further.
	v, err := Train([]byte(strings.Repeat(strings.Repeat("=", 4*MaxTokenLen)+"\n", 8)), 257+8, nil)
	require.NoError(t, err)
	longest := 0
	for id := range v.EOT() {
		longest = max(longest, len(v.TokenBytes(id)))
	}
	require.Equal(t, MaxTokenLen, longest)
}

func TestTrainErrors(t *testing.T) {
	cases := []struct {
		name, text string
		size       int
		want       string
	}{
		{"size below 257", "abc", 256, "257 to 1048576 tokens"},
		{"size too large", "abc", MaxTrainSize + 1, "not 1048577"},
		{"no text", "", 300, "no text"},
		{"too few pairs", "ab ab", 300, "merges possible 2, bpe:300 needs 43"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Train([]byte(c.text), c.size, nil)
			require.ErrorContains(t, err, c.want)
		})
	}
}

// BenchmarkTrain trains a vocabulary of 4096 tokens on 4 MB of Go standard library sources and
// on tiny Shakespeare, and reports the bytes per token of its encoding of that text.
func BenchmarkTrain(b *testing.B) {
	texts := []struct {
		name string
		text func(testing.TB) []byte
	}{
		{"go-4MB", func(tb testing.TB) []byte { return goSource(tb, 4<<20) }},
		{"shakespeare", readShakespeare},
	}
	for _, tx := range texts {
		b.Run(fmt.Sprintf("size=4096/text=%s", tx.name), func(b *testing.B) {
			text := tx.text(b)
			b.SetBytes(int64(len(text)))
			var v *Vocab
			for b.Loop() {
				var err error
				v, err = Train(text, 4096, nil)
				require.NoError(b, err)
			}
			b.ReportMetric(float64(len(text))/float64(len(v.Encode(nil, text))), "bytes/token")
		})
	}
}
