package gpt

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kvgpt/kvgpt/bpe"
)

// GPT2Vocab names GPT-2's BPE vocabulary (r50k_base, 50,257 tokens).
const GPT2Vocab = bpe.GPT2Name

// bpePrefix starts the name of a BPE vocabulary trained by kvgpt: bpe:N.
const bpePrefix = "bpe:"

// BPETokenizer is a byte-level BPE vocabulary: GPT-2's (gpt2), or one of N tokens trained on the
// user's text (bpe:N). Its last token, <|endoftext|>, separates documents; Encode never makes it.
type BPETokenizer struct {
	v *bpe.Vocab
}

// Vocab returns the vocabulary.
func (t *BPETokenizer) Vocab() *bpe.Vocab { return t.v }

func (t *BPETokenizer) Kind() string   { return t.v.Name() }
func (t *BPETokenizer) VocabSize() int { return t.v.Size() }

func (t *BPETokenizer) Encode(text string) ([]int32, error) {
	return t.v.Encode(make([]int32, 0, len(text)/3+1), []byte(text)), nil
}

// Decode returns the text of ids; ids outside the vocabulary are left out.
func (t *BPETokenizer) Decode(ids []int32) string {
	var b []byte
	for _, id := range ids {
		if id >= 0 && int(id) < t.v.Size() {
			b = append(b, t.v.TokenBytes(id)...)
		}
	}
	return string(b)
}

// TextBytes returns the length of the token's bytes; 0 for <|endoftext|> and ids outside the
// vocabulary.
func (t *BPETokenizer) TextBytes(id int32) int {
	if id < 0 || int(id) >= t.v.Size() || id == t.v.EOT() {
		return 0
	}
	return len(t.v.TokenBytes(id))
}

// Cut returns GPT-2's pre-splitting's last cut at or before limit (bpe.CutPoint): the tokens
// merge only within the pieces it makes.
func (t *BPETokenizer) Cut(text []byte, limit int) int {
	if limit >= len(text) {
		// bpe.CutPoint never cuts at the end of the text it sees: more text could change the
		// last piece. The caller knows the text ends there only when it passes all of it.
		limit = len(text) - 1
	}
	return bpe.CutPoint(text, limit)
}

func (t *BPETokenizer) EOT() (int32, bool) { return t.v.EOT(), true }

// vocabJSON returns a trained vocabulary as the JSON a checkpoint records under BPEKey.
func (t *BPETokenizer) vocabJSON() string {
	b, err := t.v.MarshalJSON()
	if err != nil {
		panic(err) // a vocabulary that exists marshals
	}
	return string(b)
}

// ParseVocab checks the name of a vocabulary (--vocab): byte, char, gpt2 or bpe:N with N tokens
// that bpe.Train can make.
func ParseVocab(name string) error {
	switch {
	case name == "byte" || name == "char" || name == GPT2Vocab:
		return nil
	case strings.HasPrefix(name, bpePrefix):
		if _, err := bpeSize(name); err != nil {
			return err
		}
		return nil
	}
	return fmt.Errorf("gpt: unknown vocabulary %q (want byte, char, gpt2 or bpe:N, e.g. bpe:4096)", name)
}

// bpeSize returns N of bpe:N.
func bpeSize(name string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(name, bpePrefix))
	if err != nil || n < 257 || n > bpe.MaxTrainSize {
		return 0, fmt.Errorf("gpt: vocabulary %q: bpe:N needs a number of tokens N from 257 (the 256 bytes and <|endoftext|>) to %d", name, bpe.MaxTrainSize)
	}
	return n, nil
}

// newBPETokenizer returns GPT-2's vocabulary, or trains bpe:N on text.
func newBPETokenizer(kind, text string) (*BPETokenizer, error) {
	if kind == GPT2Vocab {
		v, err := bpe.GPT2()
		if err != nil {
			return nil, fmt.Errorf("gpt: %w", err)
		}
		return &BPETokenizer{v}, nil
	}
	n, err := bpeSize(kind)
	if err != nil {
		return nil, err
	}
	v, err := bpe.Train([]byte(text), n, nil)
	if err != nil {
		return nil, fmt.Errorf("gpt: %s", strings.TrimPrefix(err.Error(), "bpe: "))
	}
	return &BPETokenizer{v}, nil
}

// bpeTokenizerFromMeta returns the vocabulary a checkpoint records: GPT-2's by its name, a trained
// one from its JSON.
func bpeTokenizerFromMeta(kind, js string) (*BPETokenizer, error) {
	if kind == GPT2Vocab {
		return newBPETokenizer(kind, "")
	}
	if _, err := bpeSize(kind); err != nil {
		return nil, err
	}
	v, err := bpe.ParseJSON([]byte(js))
	if err != nil {
		return nil, err
	}
	if v.Name() != kind {
		return nil, fmt.Errorf("its vocabulary is %s, the metadata says %s", v.Name(), kind)
	}
	return &BPETokenizer{v}, nil
}
