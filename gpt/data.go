package gpt

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Tokenizer maps text to token ids and back.
type Tokenizer interface {
	// Kind reports "byte" or "char".
	Kind() string
	// VocabSize reports V.
	VocabSize() int
	// Encode returns the token ids of text.
	Encode(text string) ([]int32, error)
	// Decode returns the text of ids.
	Decode(ids []int32) string
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

// NewTokenizer returns the tokenizer of kind "byte" or "char" (built from text).
func NewTokenizer(kind, text string) (Tokenizer, error) {
	switch kind {
	case "byte":
		return ByteTokenizer{}, nil
	case "char":
		return NewCharTokenizer(text)
	}
	return nil, fmt.Errorf("gpt: unknown vocabulary %q (want byte or char)", kind)
}

// Dataset is a tokenized text split deterministically into training and validation tokens: the
// first 90% of the tokens train, the last 10% validate (as nanoGPT's prepare scripts do).
type Dataset struct {
	Source string // what the text is, for people
	Train  []int32
	Val    []int32
}

// ValFraction is the share of the tokens held out for validation.
const ValFraction = 0.1

// NewDataset tokenizes text and splits it. It fails if either split has fewer than
// blockSize+1 tokens (one sequence and its shifted targets).
func NewDataset(source, text string, tok Tokenizer, blockSize int) (*Dataset, error) {
	if blockSize < 1 {
		return nil, fmt.Errorf("gpt: data %s: block size must be ≥ 1, got %d", source, blockSize)
	}
	if len(text) == 0 {
		return nil, fmt.Errorf("gpt: data %s is empty", source)
	}
	ids, err := tok.Encode(text)
	if err != nil {
		return nil, fmt.Errorf("gpt: data %s: %w", source, err)
	}
	nVal := int(float64(len(ids)) * ValFraction)
	d := &Dataset{Source: source, Train: ids[:len(ids)-nVal], Val: ids[len(ids)-nVal:]}
	if len(d.Train) <= blockSize || len(d.Val) <= blockSize { // each needs blockSize+1 tokens
		need := float64(blockSize) + 1
		return nil, fmt.Errorf("gpt: data %s is too short for block size %d: %d tokens give %d for training and %d for validation, each split needs at least %.0f (≥ %.0f tokens in all); use a longer file or a smaller --block-size",
			source, blockSize, len(ids), len(d.Train), len(d.Val), need, math.Floor(need/ValFraction)+need)
	}
	return d, nil
}

// ReadTextFile reads a data file for training, with errors that name the problem.
func ReadTextFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("gpt: data file %s does not exist", path)
		}
		return "", fmt.Errorf("gpt: data file: %w", err)
	}
	if st.IsDir() {
		return "", fmt.Errorf("gpt: data file %s is a directory", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("gpt: data file: %w", err)
	}
	if len(b) == 0 {
		return "", fmt.Errorf("gpt: data file %s is empty", path)
	}
	return string(b), nil
}

// DefaultCorpusBytes is the size of the default corpus.
const DefaultCorpusBytes = 4 << 20

// GoRoot returns the Go installation directory: `go env GOROOT`, else $GOROOT.
func GoRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" {
			return dir, nil
		}
	}
	if dir := os.Getenv("GOROOT"); dir != "" {
		return dir, nil
	}
	return "", errors.New("gpt: cannot find the Go standard library for the default corpus (`go env GOROOT` failed and $GOROOT is unset); pass --data FILE")
}

// generated reports whether a Go file says it is generated or is mostly numeric tables (hex
// constants): neither is code a person wrote, and both teach a small model little.
func generated(src []byte) bool {
	head := string(src[:min(len(src), 1024)])
	if strings.Contains(head, "Code generated") && strings.Contains(head, "DO NOT EDIT") {
		return true
	}
	return 100*strings.Count(string(src), "0x") > len(src)
}

// GoCorpus reads the default corpus: hand-written, non-test .go files of the Go standard library
// under goroot/src (skipping cmd/, vendor/ and testdata/ directories, generated files and numeric
// tables), in a fixed pseudo-random order (by FNV-1a hash of the path, so every package area is
// represented), concatenated until maxBytes (files are taken whole; the last one is cut). It
// returns the text and a description of what was used.
func GoCorpus(goroot string, maxBytes int) (text, source string, err error) {
	src := filepath.Join(goroot, "src")
	var files []string
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "testdata", "vendor":
				return filepath.SkipDir
			}
			if path == filepath.Join(src, "cmd") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			rel, _ := filepath.Rel(src, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return "", "", fmt.Errorf("gpt: reading the default corpus under %s: %w; pass --data FILE", src, err)
	}
	hash := func(s string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(s))
		return h.Sum64()
	}
	slices.SortFunc(files, func(a, b string) int { return cmp.Compare(hash(a), hash(b)) })
	var sb strings.Builder
	used := 0
	for _, rel := range files {
		b, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(rel)))
		if err != nil {
			return "", "", fmt.Errorf("gpt: reading the default corpus: %w; pass --data FILE", err)
		}
		if generated(b) {
			continue
		}
		if room := maxBytes - sb.Len(); len(b) > room {
			b = b[:room]
		}
		sb.Write(b)
		used++
		if sb.Len() >= maxBytes {
			break
		}
	}
	if sb.Len() == 0 {
		return "", "", fmt.Errorf("gpt: no Go sources found under %s for the default corpus; pass --data FILE", src)
	}
	source = fmt.Sprintf("Go standard library sources: %.1f MB from %d of %d files under %s (no tests, generated files or tables; fixed order by path hash)",
		float64(sb.Len())/1e6, used, len(files), src)
	return sb.String(), source, nil
}
