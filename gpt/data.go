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

	"github.com/kvgpt/kvgpt/tokens"
)

// Dataset is the training and validation tokens of a run: a tokenized text split deterministically
// (NewDataset: the first 90% of the tokens train, the last 10% validate), or the memory-mapped token
// files of a dataset directory (OpenDataset).
type Dataset struct {
	Source     string // what the data is, for people
	Train, Val tokens.Seq
	// Mapped reports tokens that are memory-mapped, not in memory: they are checked against the
	// vocabulary batch by batch as they are read, not all at once.
	Mapped bool
	close  func() error
}

// Close releases the dataset's memory-mapped files (nothing for a dataset in memory); its tokens
// must not be read after.
func (d *Dataset) Close() error {
	if d == nil || d.close == nil {
		return nil
	}
	err := d.close()
	d.close = nil
	return err
}

// ValFraction is the share of the tokens held out for validation.
const ValFraction = 0.1

// SplitText returns the byte offset at which nanoGPT splits text into its training and validation
// parts: after the first ⌊0.9·n⌋ of its n characters (bytes that are not UTF-8 count one each).
func SplitText(text string) int {
	n := utf8.RuneCountInString(text)
	return runeOffset(text, int(float64(n)*(1-ValFraction)))
}

// runeOffset returns the byte offset of the k-th character of text.
func runeOffset(text string, k int) int {
	i := 0
	for range k {
		_, size := utf8.DecodeRuneInString(text[i:])
		i += size
	}
	return i
}

// NewDataset tokenizes text and splits it: byte and character tokens 90/10 by tokens (the last
// ⌊0.1·n⌋ of n tokens validate), subword tokens (gpt2, bpe:N) as nanoGPT splits a text for them —
// the first ⌊0.9·n⌋ of n characters train, the rest validate, each part encoded on its own — so
// that GPT-2's token counts are nanoGPT's. kvgpt prepare splits the same way. It fails if either
// split has fewer than blockSize+1 tokens (one sequence and its shifted targets).
func NewDataset(source, text string, tok Tokenizer, blockSize int) (*Dataset, error) {
	if blockSize < 1 {
		return nil, fmt.Errorf("gpt: data %s: block size must be ≥ 1, got %d", source, blockSize)
	}
	if len(text) == 0 {
		return nil, fmt.Errorf("gpt: data %s is empty", source)
	}
	var train, val []int32
	var err error
	if subword(tok) {
		cut := SplitText(text)
		if train, err = tok.Encode(text[:cut]); err == nil {
			val, err = tok.Encode(text[cut:])
		}
	} else if train, err = tok.Encode(text); err == nil {
		nVal := int(float64(len(train)) * ValFraction)
		train, val = train[:len(train)-nVal], train[len(train)-nVal:]
	}
	if err != nil {
		return nil, fmt.Errorf("gpt: data %s: %w", source, err)
	}
	d := &Dataset{Source: source, Train: tokens.Int32s(train), Val: tokens.Int32s(val)}
	if d.Train.Len() <= blockSize || d.Val.Len() <= blockSize { // each needs blockSize+1 tokens
		need := float64(blockSize) + 1
		return nil, fmt.Errorf("gpt: data %s is too short for block size %d: %d tokens give %d for training and %d for validation, each split needs at least %.0f (≥ %.0f tokens in all); use a longer file or a smaller --block-size",
			source, blockSize, len(train)+len(val), d.Train.Len(), d.Val.Len(), need, math.Floor(need/ValFraction)+need)
	}
	return d, nil
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
