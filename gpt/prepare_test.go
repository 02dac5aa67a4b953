package gpt

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/tokens"
)

// prepareText writes files into a directory and returns it, the concatenation of the files that
// are not hidden (in the order of their paths) and their number.
func prepareText(t *testing.T, files map[string]string) (dir, all string, n int) {
	dir = t.TempDir()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(files[name]), 0o644))
		if !strings.HasPrefix(filepath.Base(name), ".") {
			all += files[name]
			n++
		}
	}
	return dir, all, n
}

// withChunks runs f with Prepare's chunk sizes set to chunk and maxChunk.
func withChunks(t *testing.T, chunk, maxChunk int, f func()) {
	c, m := prepareChunk, maxPrepareChunk
	prepareChunk, maxPrepareChunk = chunk, maxChunk
	defer func() { prepareChunk, maxPrepareChunk = c, m }()
	f()
}

// randomText returns n characters of words, spaces, newlines and multi-byte characters.
func randomText(rng *rand.Rand, n int) string {
	alphabet := []rune("abcdefgh ijk\nlmn é€😀 ,.")
	var sb strings.Builder
	for range n {
		r := alphabet[rng.IntN(len(alphabet))]
		if r == '\\' {
			r = '\n'
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// TestPrepareMatchesNewDataset checks that a dataset directory written by Prepare holds the tokens
// LoadData makes of the same text, however the text is cut into chunks: for one file, the tokens of
// the file read whole; for a directory, those of its files concatenated (byte and character
// vocabularies), or each file's parts encoded on their own and separated by <|endoftext|> (subword
// vocabularies, whose pieces must not cross documents).
func TestPrepareMatchesNewDataset(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	one := map[string]string{"a.txt": randomText(rng, 3000)}
	many := map[string]string{"b/1.txt": randomText(rng, 700), "a.txt": randomText(rng, 1), "c.txt": randomText(rng, 2500), ".hidden": "xyz"}
	for _, vocab := range []string{"byte", "char", "gpt2", "bpe:300"} {
		for name, files := range map[string]map[string]string{"one-file": one, "directory": many} {
			for _, chunk := range []int{5, 64, 1 << 20} {
				t.Run(fmt.Sprintf("%s/%s/chunk=%d", vocab, name, chunk), func(t *testing.T) {
					dir, all, nfiles := prepareText(t, files)
					path := dir
					if name == "one-file" {
						path = filepath.Join(dir, "a.txt")
					}
					corpus, err := OpenCorpus(path, "")
					require.NoError(t, err)
					require.Len(t, corpus.Files, nfiles)
					out := filepath.Join(t.TempDir(), "out")
					var meta tokens.Meta
					withChunks(t, chunk, 4*chunk, func() {
						meta, err = Prepare(corpus, out, PrepareConfig{Vocab: vocab, ShardTokens: 777, Workers: 3})
					})
					require.NoError(t, err)
					ds, tok, err := LoadData(DataSpec{Path: out}, 1)
					require.NoError(t, err)
					defer ds.Close()
					require.True(t, ds.Mapped)
					require.Equal(t, int64(len(all)), meta.Splits[tokens.TrainSplit].Bytes+meta.Splits[tokens.ValSplit].Bytes)

					var wantTrain, wantVal []int32
					if eot, ok := tok.EOT(); ok && name == "directory" {
						wantTrain, wantVal = encodeDocuments(t, corpus, tok, eot)
					} else {
						text := filepath.Join(t.TempDir(), "all.txt")
						require.NoError(t, os.WriteFile(text, []byte(all), 0o644))
						want, wtok, err := LoadData(DataSpec{Path: text, Vocab: vocab}, 1)
						require.NoError(t, err)
						require.True(t, SameTokenizer(wtok, tok), "the vocabulary")
						wantTrain, wantVal = want.Train.Int32s(), want.Val.Int32s()
					}
					require.Equal(t, wantTrain, ds.Train.Int32s())
					require.Equal(t, wantVal, ds.Val.Int32s())
				})
			}
		}
	}
}

// encodeDocuments returns the tokens of corpus's files as Prepare defines them for a vocabulary
// with an end-of-text token: the first ⌊0.9·n⌋ of the n characters train, the rest validate; each
// file's part in each split is encoded on its own, and eot follows every file but the last.
func encodeDocuments(t *testing.T, corpus *Corpus, tok Tokenizer, eot int32) (train, val []int32) {
	var docs []string
	n := 0
	for _, f := range corpus.Files {
		b, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		docs = append(docs, string(b))
		n += utf8.RuneCountInString(string(b))
	}
	left := int(float64(n) * 0.9) // characters still to go to the training split
	for i, d := range docs {
		k := min(left, utf8.RuneCountInString(d))
		cut := runeOffset(d, k)
		left -= k
		a, err := tok.Encode(d[:cut])
		require.NoError(t, err)
		b, err := tok.Encode(d[cut:])
		require.NoError(t, err)
		train, val = append(train, a...), append(val, b...)
		if i < len(docs)-1 { // after the split in the validation split, else in the training split
			if k == utf8.RuneCountInString(d) {
				train = append(train, eot)
			} else {
				val = append(val, eot)
			}
		}
	}
	return train, val
}
