package gpt

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
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
		{"no tokenizer", Checkpoint{Config: Config{VocabSize: 256}, Meta: map[string]string{}}, `names no known tokenizer (""; want byte or char)`},
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
