package gpt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/internal/atomicfile"
	"github.com/kvgpt/kvgpt/internal/faultio"
)

func TestCheckpointTokenizer(t *testing.T) {
	chars, err := NewCharTokenizer("to be or not")
	require.NoError(t, err)
	for _, tok := range []Tokenizer{ByteTokenizer{}, chars} {
		t.Run(fmt.Sprintf("%s/V=%d", tok.Kind(), tok.VocabSize()), func(t *testing.T) {
			ck := &Checkpoint{Config: Config{VocabSize: tok.VocabSize()}, Meta: TokenizerMeta(tok)}
			got, err := ck.Tokenizer()
			require.NoError(t, err)
			require.Equal(t, tok.Kind(), got.Kind())
			require.Equal(t, tok.VocabSize(), got.VocabSize())
			ids, err := tok.Encode("to be")
			require.NoError(t, err)
			require.Equal(t, "to be", got.Decode(ids))
		})
	}
	for _, c := range []struct {
		name string
		ck   Checkpoint
		want string
	}{
		{"no tokenizer", Checkpoint{Config: Config{VocabSize: 256}, Meta: map[string]string{}}, `names no known tokenizer (""; want byte, char, gpt2 or bpe:N)`},
		{"unknown tokenizer", Checkpoint{Config: Config{VocabSize: 256}, Meta: map[string]string{TokenizerKey: "word"}}, `names no known tokenizer ("word"`},
		{"byte/V=65", Checkpoint{Config: Config{VocabSize: 65}, Meta: TokenizerMeta(ByteTokenizer{})}, "tokenizer has 256 tokens, the model 65"},
		{"char without chars", Checkpoint{Config: Config{VocabSize: 9}, Meta: map[string]string{TokenizerKey: "char"}}, "needs at least 2 characters"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.ck.Tokenizer()
			require.ErrorContains(t, err, c.want)
		})
	}
}

// TestCheckpointWriteFailureKeepsThePrevious: a checkpoint write that fails after n bytes — in the
// length, the header, the data, one byte short — returns the error and leaves the previous
// checkpoint byte-identical, with no temporary file beside it. The failing writer sits where Save
// puts the temporary file (atomicfile.WriteFunc around WriteCheckpoint).
func TestCheckpointWriteFailureKeepsThePrevious(t *testing.T) {
	tr := newTestTrainer(t, Identity, 4)
	for range 2 {
		_, err := tr.Step()
		require.NoError(t, err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	require.NoError(t, tr.Save(path, nil))
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, tr.WriteCheckpoint(&buf, nil))
	require.Equal(t, before, buf.Bytes(), "WriteCheckpoint writes what Save writes")

	_, err = tr.Step()
	require.NoError(t, err)
	var next bytes.Buffer
	require.NoError(t, tr.WriteCheckpoint(&next, nil))
	size := next.Len()
	hl := 8 + int(binary.LittleEndian.Uint64(next.Bytes()))
	for _, n := range []int{0, 3, 8, hl / 2, hl, hl + 1, (hl + size) / 2, size - 1} {
		t.Run(fmt.Sprintf("fail-after=%d/of=%d", n, size), func(t *testing.T) {
			err := atomicfile.WriteFunc(path, func(w io.Writer) error { return tr.WriteCheckpoint(&faultio.Writer{W: w, N: n}, nil) })
			require.ErrorIs(t, err, faultio.ErrInjected)
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, before, after)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, entries, 1, "no temporary file left")
			ck, err := LoadCheckpoint(path)
			require.NoError(t, err)
			require.Equal(t, 2, ck.Step)
		})
	}
	require.NoError(t, tr.Save(path, nil))
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, next.Bytes(), after, "a write that succeeds replaces the checkpoint")
}
