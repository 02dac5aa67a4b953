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
// NewDataset makes of the same text, however the text is cut into chunks and files.
func TestPrepareMatchesNewDataset(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	one := map[string]string{"a.txt": randomText(rng, 3000)}
	many := map[string]string{"b/1.txt": randomText(rng, 700), "a.txt": randomText(rng, 1), "c.txt": randomText(rng, 2500), ".hidden": "xyz"}
	for _, vocab := range []string{"byte", "char"} {
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
					if name == "directory" {
						require.Len(t, corpus.Files, nfiles)
					}
					out := filepath.Join(t.TempDir(), "out")
					var meta tokens.Meta
					withChunks(t, chunk, 4*chunk, func() {
						meta, err = Prepare(corpus, out, PrepareConfig{Vocab: vocab, ShardTokens: 777, Workers: 3})
					})
					require.NoError(t, err)
					tok, err := NewTokenizer(vocab, all)
					require.NoError(t, err)
					want, err := NewDataset("x", all, tok, 1)
					require.NoError(t, err)
					ds, got, err := LoadData(DataSpec{Path: out}, 1)
					require.NoError(t, err)
					defer ds.Close()
					require.True(t, SameTokenizer(tok, got))
					require.Equal(t, want.Train.Int32s(), ds.Train.Int32s())
					require.Equal(t, want.Val.Int32s(), ds.Val.Int32s())
					require.Equal(t, int64(len(all)), meta.Splits[tokens.TrainSplit].Bytes+meta.Splits[tokens.ValSplit].Bytes)
					require.True(t, ds.Mapped)
				})
			}
		}
	}
}
