package bpe

import (
	"fmt"
	"sync"

	"github.com/tiktoken-go/tokenizer/codec"
)

// GPT2Name is the name of GPT-2's vocabulary.
const GPT2Name = "gpt2"

// gpt2Size is the number of tokens of r50k_base, EndOfText (id 50256) included.
const gpt2Size = 50257

var gpt2 struct {
	once  sync.Once
	vocab *Vocab
	err   error
}

// GPT2 returns GPT-2's vocabulary, r50k_base: 50,257 tokens, id 50256 EndOfText. Its ranks are
// read from the table tiktoken-go carries (no download); the first call builds it (about 0.1 s),
// later calls return the same Vocab. Encode gives tiktoken's ids for any valid
// UTF-8 text (see Split for the one exception, U+007F).
func GPT2() (*Vocab, error) {
	gpt2.once.Do(func() { gpt2.vocab, gpt2.err = loadGPT2() })
	return gpt2.vocab, gpt2.err
}

// loadGPT2 decodes each id of tiktoken-go's r50k_base to its bytes.
func loadGPT2() (*Vocab, error) {
	c := codec.NewR50kBase()
	tokens := make([][]byte, gpt2Size-1)
	for id := range tokens {
		s, err := c.Decode([]uint{uint(id)})
		if err != nil {
			return nil, fmt.Errorf("bpe: gpt2: tiktoken-go's r50k_base has no token %d: %w", id, err)
		}
		tokens[id] = []byte(s)
	}
	return newVocab(GPT2Name, tokens, nil)
}
