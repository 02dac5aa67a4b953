package bpe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// FormatTag names the JSON format of a trained vocabulary; ParseJSON reads this version only.
const FormatTag = "kvgpt-bpe/1"

// vocabJSON is a trained vocabulary on disk: the format tag, the size (EndOfText included) and
// the merges in rank order, merge k being the pair of ids that makes token 256+k.
type vocabJSON struct {
	Format string     `json:"format"`
	Size   int        `json:"size"`
	Merges [][2]int32 `json:"merges"`
}

// MarshalJSON writes the vocabulary: GPT-2's as its name, the JSON string "gpt2"; a trained one
// as an object
//
//	{"format":"kvgpt-bpe/1","size":4096,"merges":[[32,116],[104,101],…]}
//
// with the size (EndOfText included) and the size−257 merges in rank order, merge k being the pair
// of ids that makes token 256+k (ids 0–255 are the bytes). ParseJSON reads both.
func (v *Vocab) MarshalJSON() ([]byte, error) {
	if v.name == GPT2Name {
		return json.Marshal(v.name)
	}
	merges := v.merges
	if merges == nil {
		merges = [][2]int32{} // bpe:257 has none: "merges":[]
	}
	return json.Marshal(vocabJSON{Format: FormatTag, Size: v.Size(), Merges: merges})
}

// UnmarshalJSON sets v to the vocabulary ParseJSON reads from data.
func (v *Vocab) UnmarshalJSON(data []byte) error {
	p, err := ParseJSON(data)
	if err != nil {
		return err
	}
	*v = *p
	return nil
}

// ParseJSON reads a vocabulary written by MarshalJSON. It checks everything (the format tag, the
// size, each merge's two ids, the tokens' lengths and that no two are equal) and returns a one-line
// error naming the first problem of a damaged file.
func ParseJSON(data []byte) (*Vocab, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var name string
		if err := json.Unmarshal(data, &name); err != nil {
			return nil, fmt.Errorf("bpe: vocabulary: %w", err)
		}
		if name != GPT2Name {
			return nil, fmt.Errorf("bpe: vocabulary %q: unknown (%q is the one known by name; a trained one is a JSON object)", name, GPT2Name)
		}
		return GPT2()
	}
	var f struct {
		Format *string   `json:"format"`
		Size   *int      `json:"size"`
		Merges [][]int64 `json:"merges"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("bpe: vocabulary: not %s JSON: %w", FormatTag, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("bpe: vocabulary: data after the JSON object")
	}
	switch {
	case f.Format == nil:
		return nil, fmt.Errorf("bpe: vocabulary: no format tag (want %q)", FormatTag)
	case *f.Format != FormatTag:
		return nil, fmt.Errorf("bpe: vocabulary: format %q, want %q", *f.Format, FormatTag)
	case f.Size == nil:
		return nil, errors.New("bpe: vocabulary: no size")
	case *f.Size < 257 || *f.Size > MaxTrainSize:
		return nil, fmt.Errorf("bpe: vocabulary: size %d is not in [257, %d]", *f.Size, MaxTrainSize)
	case len(f.Merges) != *f.Size-257:
		return nil, fmt.Errorf("bpe: vocabulary: %d merges for size %d, want %d", len(f.Merges), *f.Size, *f.Size-257)
	}
	tokens := make([][]byte, 256, *f.Size-1)
	for b := range tokens {
		tokens[b] = []byte{byte(b)}
	}
	merges := make([][2]int32, len(f.Merges))
	for k, m := range f.Merges {
		id := 256 + k
		if len(m) != 2 {
			return nil, fmt.Errorf("bpe: vocabulary: merge %d (token %d) has %d ids, want 2", k, id, len(m))
		}
		for _, x := range m {
			if x < 0 || x >= int64(id) {
				return nil, fmt.Errorf("bpe: vocabulary: merge %d (token %d) uses id %d, not in [0, %d)", k, id, x, id)
			}
		}
		a, b := tokens[m[0]], tokens[m[1]]
		if len(a)+len(b) > MaxTokenLen {
			return nil, fmt.Errorf("bpe: vocabulary: token %d is %d bytes long, more than %d", id, len(a)+len(b), MaxTokenLen)
		}
		merges[k] = [2]int32{int32(m[0]), int32(m[1])}
		tokens = append(tokens, append(a[:len(a):len(a)], b...))
	}
	return newVocab(BPEName(*f.Size), tokens, merges)
}
