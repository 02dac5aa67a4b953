package gpt

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// Tokenizer maps text to token ids and back.
type Tokenizer interface {
	// Kind names the vocabulary as --vocab does: "byte", "char", "gpt2" or "bpe:N".
	Kind() string
	// VocabSize reports V.
	VocabSize() int
	// Encode returns the token ids of text.
	Encode(text string) ([]int32, error)
	// Decode returns the text of ids.
	Decode(ids []int32) string
	// TextBytes returns the bytes of text token id stands for: 0 for a special token such as
	// <|endoftext|>, which marks a boundary between documents and is no text. Bits per byte are
	// counted with it.
	TextBytes(id int32) int
	// Cut returns the largest i in (0, limit] at which text can be cut so that encoding text[:i]
	// and text[i:] gives the tokens of text, or 0 if there is none. Text is encoded in pieces
	// cut there when it is streamed (kvgpt prepare).
	Cut(text []byte, limit int) int
	// EOT returns the token that separates documents, if the vocabulary has one.
	EOT() (id int32, ok bool)
}

// ByteTokenizer is the byte-level tokenizer: token i is byte i, V = 256.
type ByteTokenizer struct{}

func (ByteTokenizer) Kind() string   { return "byte" }
func (ByteTokenizer) VocabSize() int { return 256 }

func (ByteTokenizer) Encode(text string) ([]int32, error) {
	ids := make([]int32, len(text))
	for i := range len(text) {
		ids[i] = int32(text[i])
	}
	return ids, nil
}

func (ByteTokenizer) Decode(ids []int32) string {
	b := make([]byte, len(ids))
	for i, id := range ids {
		b[i] = byte(id)
	}
	return string(b)
}

func (ByteTokenizer) TextBytes(int32) int            { return 1 }
func (ByteTokenizer) Cut(text []byte, limit int) int { return min(limit, len(text)) }
func (ByteTokenizer) EOT() (int32, bool)             { return 0, false }

// CharTokenizer is a character vocabulary: token i is the i-th distinct character of the text it
// was built from, in code-point order (nanoGPT's 65 characters for tinyshakespeare).
type CharTokenizer struct {
	Chars []rune
	index map[rune]int32
}

// NewCharTokenizer returns the character vocabulary of text.
func NewCharTokenizer(text string) (*CharTokenizer, error) {
	if err := checkUTF8(text); err != nil {
		return nil, fmt.Errorf("gpt: --vocab char needs UTF-8 text: %w", err)
	}
	seen := map[rune]bool{}
	for _, r := range text {
		seen[r] = true
	}
	chars := make([]rune, 0, len(seen))
	for r := range seen {
		chars = append(chars, r)
	}
	slices.Sort(chars)
	return CharTokenizerFromChars(string(chars))
}

// checkUTF8 reports where s is not UTF-8, or nil.
func checkUTF8(s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return fmt.Errorf("byte %#02x at offset %d is not UTF-8", s[i], i)
			}
		}
	}
	return nil
}

// CharTokenizerFromChars returns the vocabulary whose i-th token is the i-th character of chars
// (as stored in a checkpoint).
func CharTokenizerFromChars(chars string) (*CharTokenizer, error) {
	if err := checkUTF8(chars); err != nil {
		return nil, fmt.Errorf("gpt: character vocabulary: %w", err)
	}
	t := &CharTokenizer{Chars: []rune(chars), index: map[rune]int32{}}
	for i, r := range t.Chars {
		if _, dup := t.index[r]; dup {
			return nil, fmt.Errorf("gpt: character vocabulary repeats %q", r)
		}
		t.index[r] = int32(i)
	}
	if len(t.Chars) < 2 {
		return nil, fmt.Errorf("gpt: character vocabulary needs at least 2 characters, got %d", len(t.Chars))
	}
	return t, nil
}

func (t *CharTokenizer) Kind() string   { return "char" }
func (t *CharTokenizer) VocabSize() int { return len(t.Chars) }

func (t *CharTokenizer) Encode(text string) ([]int32, error) {
	ids := make([]int32, 0, len(text))
	for _, r := range text {
		id, ok := t.index[r]
		if !ok {
			return nil, fmt.Errorf("gpt: character %q is not in the vocabulary", r)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (t *CharTokenizer) Decode(ids []int32) string {
	var sb strings.Builder
	for _, id := range ids {
		if id >= 0 && int(id) < len(t.Chars) {
			sb.WriteRune(t.Chars[id])
		}
	}
	return sb.String()
}

func (t *CharTokenizer) TextBytes(id int32) int {
	if id < 0 || int(id) >= len(t.Chars) {
		return 0
	}
	return utf8.RuneLen(t.Chars[id])
}

// Cut returns the last character boundary in (0, limit].
func (t *CharTokenizer) Cut(text []byte, limit int) int { return runeCut(text, limit) }

func (t *CharTokenizer) EOT() (int32, bool) { return 0, false }

// runeCut returns the largest i in (0, min(limit, len(text))] that does not fall inside a UTF-8
// character of text (a character cut short by the end of text counts as inside), or 0 if there
// is none.
func runeCut(text []byte, limit int) int {
	i := min(limit, len(text))
	if i == len(text) {
		// Back off from a last character that the end of text may have cut short.
		for j := i - 1; j >= 0 && j >= i-utf8.UTFMax; j-- {
			if utf8.RuneStart(text[j]) {
				if !utf8.FullRune(text[j:]) {
					return j
				}
				break
			}
		}
		return i
	}
	for ; i > 0 && i > limit-utf8.UTFMax; i-- {
		if utf8.RuneStart(text[i]) {
			return i
		}
	}
	return 0
}

// NewTokenizer returns the tokenizer of kind "byte", "char" (the characters of text), "gpt2"
// (GPT-2's BPE) or "bpe:N" (a byte-level BPE vocabulary of N tokens trained on text).
func NewTokenizer(kind, text string) (Tokenizer, error) {
	switch {
	case kind == "byte":
		return ByteTokenizer{}, nil
	case kind == "char":
		return NewCharTokenizer(text)
	case kind == GPT2Vocab || strings.HasPrefix(kind, bpePrefix):
		return newBPETokenizer(kind, text)
	}
	return nil, ParseVocab(kind)
}

// subword reports whether tok's tokens are BPE subwords (gpt2, bpe:N), not bytes or characters.
func subword(tok Tokenizer) bool {
	_, ok := tok.(*BPETokenizer)
	return ok
}

// Metadata keys under which a checkpoint (and a dataset directory's description) records its
// tokenizer (see TokenizerMeta).
const (
	TokenizerKey = "tokenizer" // the tokenizer's Kind: byte, char, gpt2 or bpe:N
	CharsKey     = "chars"     // a character vocabulary's characters, in token order
	BPEKey       = "bpe"       // a trained BPE vocabulary (bpe:N), as bpe.Vocab's JSON
)

// TokenizerMeta returns the metadata that records tok in a checkpoint, for Trainer.Save's extra:
// its kind and, for a character vocabulary, its characters, for a trained BPE vocabulary, its
// merges. TokenizerFromMeta reads it back.
func TokenizerMeta(tok Tokenizer) map[string]string {
	meta := map[string]string{TokenizerKey: tok.Kind()}
	switch t := tok.(type) {
	case *CharTokenizer:
		meta[CharsKey] = string(t.Chars)
	case *BPETokenizer:
		if t.Kind() != GPT2Vocab {
			meta[BPEKey] = t.vocabJSON()
		}
	}
	return meta
}

// TokenizerFromMeta returns the tokenizer that metadata records (see TokenizerMeta), checked
// against vocabSize, the model's or the data's number of tokens; what names the metadata's file in
// errors.
func TokenizerFromMeta(what string, meta map[string]string, vocabSize int) (Tokenizer, error) {
	var tok Tokenizer
	switch kind := meta[TokenizerKey]; {
	case kind == "byte":
		tok = ByteTokenizer{}
	case kind == "char":
		ct, err := CharTokenizerFromChars(meta[CharsKey])
		if err != nil {
			return nil, fmt.Errorf("gpt: %s tokenizer: %w", what, err)
		}
		tok = ct
	case kind == GPT2Vocab || strings.HasPrefix(kind, bpePrefix):
		bt, err := bpeTokenizerFromMeta(kind, meta[BPEKey])
		if err != nil {
			return nil, fmt.Errorf("gpt: %s tokenizer: %w", what, err)
		}
		tok = bt
	default:
		return nil, fmt.Errorf("gpt: %s names no known tokenizer (%q; want byte, char, gpt2 or bpe:N)", what, kind)
	}
	if tok.VocabSize() != vocabSize {
		return nil, fmt.Errorf("gpt: %s tokenizer has %d tokens, the model %d", what, tok.VocabSize(), vocabSize)
	}
	return tok, nil
}

// Tokenizer returns the tokenizer the checkpoint's metadata records (see TokenizerMeta), checked
// against the model's vocabulary size.
func (ck *Checkpoint) Tokenizer() (Tokenizer, error) {
	return TokenizerFromMeta("checkpoint", ck.Meta, ck.Config.VocabSize)
}

// SameTokenizer reports whether a and b encode and decode alike.
func SameTokenizer(a, b Tokenizer) bool {
	return maps.Equal(TokenizerMeta(a), TokenizerMeta(b))
}
