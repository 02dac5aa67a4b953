package gpt

import "errors"

// GPT2Vocab names GPT-2's BPE vocabulary (r50k_base, 50,257 tokens).
const GPT2Vocab = "gpt2"

// bpePrefix starts the name of a BPE vocabulary trained by kvgpt: bpe:N.
const bpePrefix = "bpe:"

// BPETokenizer is a byte-level BPE vocabulary: GPT-2's, or one trained on the user's text.
type BPETokenizer struct{}

func (*BPETokenizer) Kind() string                        { return "" }
func (*BPETokenizer) VocabSize() int                      { return 0 }
func (*BPETokenizer) Encode(text string) ([]int32, error) { return nil, errors.New("todo") }
func (*BPETokenizer) Decode(ids []int32) string           { return "" }
func (*BPETokenizer) TextBytes(int32) int                 { return 0 }
func (*BPETokenizer) Cut(text []byte, limit int) int      { return 0 }
func (*BPETokenizer) EOT() (int32, bool)                  { return 0, false }
func (*BPETokenizer) vocabJSON() string                   { return "" }

func newBPETokenizer(kind, text string) (*BPETokenizer, error) { return nil, errors.New("todo") }
func bpeTokenizerFromMeta(kind, js string) (*BPETokenizer, error) {
	return nil, errors.New("todo")
}
