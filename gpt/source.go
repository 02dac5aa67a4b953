package gpt

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kvgpt/kvgpt/internal/inputfile"
	"github.com/kvgpt/kvgpt/tokens"
)

// DataSpec says what a run trains or evaluates on: the --data and --vocab of a command.
type DataSpec struct {
	// Path is a text file, a token file (llm.c's, or nanoGPT's .bin), a dataset directory
	// (kvgpt prepare's, or token files made elsewhere), or "" for the default corpus.
	Path string
	// Vocab names the vocabulary that text is tokenized with, or that token files without a
	// description hold; "" takes a dataset directory's own, and DefaultVocab for text.
	Vocab string
	// DefaultVocab is the vocabulary of text when Vocab is "" (a preset's); "" is byte.
	DefaultVocab string
	// Tokenizer, if not nil, is the vocabulary the data must have: a resumed run's or an evaluated
	// checkpoint's. Text is tokenized with it.
	Tokenizer Tokenizer
	// CorpusBytes is the size of the default corpus (Path "").
	CorpusBytes int
	// MaxTextBytes is the largest text read into memory (0: no limit; see TextLimit): a larger file
	// is refused with the advice to tokenize it once with kvgpt prepare.
	MaxTextBytes int64
}

// TextLimit returns the largest text file that fits in available bytes of memory when it is read
// and tokenized whole: the file, a copy of it as a string and up to 4 bytes of token ids per byte.
func TextLimit(available int64) int64 { return available / textMemoryFactor }

const textMemoryFactor = 6

// LoadData returns the dataset spec names and its tokenizer: a dataset directory or a token file
// memory-mapped (Dataset.Mapped; a token file alone is split 90/10 by tokens), a text file or the
// default corpus read, tokenized and split (NewDataset). Close the dataset when done.
func LoadData(spec DataSpec, blockSize int) (*Dataset, Tokenizer, error) {
	if spec.Path == "" {
		return loadText(spec, blockSize)
	}
	st, err := os.Stat(spec.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("gpt: data %s does not exist", spec.Path)
	case err != nil:
		return nil, nil, fmt.Errorf("gpt: data: %w", err)
	case st.IsDir():
		return loadDir(spec, blockSize)
	case !st.Mode().IsRegular():
		return nil, nil, fmt.Errorf("gpt: data %s is not a regular file (a device, pipe or socket); pass a text file, a token file or a dataset directory", spec.Path)
	case tokens.IsShard(spec.Path) || strings.HasSuffix(spec.Path, ".bin"):
		return loadTokenFile(spec, blockSize)
	}
	return loadText(spec, blockSize)
}

// loadDir opens a dataset directory.
func loadDir(spec DataSpec, blockSize int) (_ *Dataset, _ Tokenizer, err error) {
	d, err := tokens.OpenDir(spec.Path)
	if err != nil {
		return nil, nil, fmt.Errorf("gpt: data %s: %s", spec.Path, strings.TrimPrefix(err.Error(), "tokens: "))
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	var tok Tokenizer
	if d.Meta != nil {
		if spec.Vocab != "" && spec.Vocab != d.Meta.Vocab {
			return nil, nil, fmt.Errorf("gpt: data %s holds %s tokens, --vocab says %s: drop --vocab or prepare the data again with it", spec.Path, d.Meta.Vocab, spec.Vocab)
		}
		if tok, err = TokenizerFromMeta("data "+filepath.Join(spec.Path, tokens.MetaFile), d.Meta.Tokenizer, d.Meta.VocabSize); err != nil {
			return nil, nil, err
		}
	} else if tok, err = describedVocab(spec, "directory"); err != nil {
		return nil, nil, err
	}
	if err := sameVocab(spec, tok); err != nil {
		return nil, nil, err
	}
	source := fmt.Sprintf("%s (%s tokens, memory-mapped: %d files)", spec.Path, tok.Kind(), len(d.Files[tokens.TrainSplit])+len(d.Files[tokens.ValSplit]))
	ds := &Dataset{Source: source, Train: d.Train, Val: d.Val, Mapped: true, close: d.Close}
	return ds, tok, checkSplits(ds, blockSize)
}

// loadTokenFile opens one token file, split 90/10 by tokens.
func loadTokenFile(spec DataSpec, blockSize int) (_ *Dataset, _ Tokenizer, err error) {
	s, err := tokens.Open(spec.Path)
	if err != nil {
		return nil, nil, fmt.Errorf("gpt: data %s", strings.TrimPrefix(err.Error(), "tokens: "))
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	tok, err := describedVocab(spec, "file")
	if err != nil {
		return nil, nil, err
	}
	if err := sameVocab(spec, tok); err != nil {
		return nil, nil, err
	}
	n := s.Seq.Len()
	nVal := int(float64(n) * ValFraction)
	ds := &Dataset{Source: fmt.Sprintf("%s (%s tokens, memory-mapped)", spec.Path, tok.Kind()),
		Train: s.Seq.Slice(0, n-nVal), Val: s.Seq.Slice(n-nVal, nVal), Mapped: true, close: s.Close}
	return ds, tok, checkSplits(ds, blockSize)
}

// describedVocab returns the tokenizer of token files that do not say what they hold: the run's
// (spec.Tokenizer), or the one --vocab names if it needs nothing more than its name.
func describedVocab(spec DataSpec, what string) (Tokenizer, error) {
	if spec.Tokenizer != nil && (spec.Vocab == "" || spec.Vocab == spec.Tokenizer.Kind()) {
		return spec.Tokenizer, nil
	}
	switch spec.Vocab {
	case "byte", GPT2Vocab:
		return NewTokenizer(spec.Vocab, "")
	case "":
		return nil, fmt.Errorf("gpt: data %s: the token %s does not say which vocabulary it holds (no %s): pass --vocab gpt2 for GPT-2 tokens (as nanoGPT's and llm.c's), or --vocab byte",
			spec.Path, what, tokens.MetaFile)
	}
	return nil, fmt.Errorf("gpt: data %s: token files of a %s vocabulary need the %s that kvgpt prepare writes beside them (it holds the vocabulary); --vocab alone can name only gpt2 or byte",
		spec.Path, spec.Vocab, tokens.MetaFile)
}

// sameVocab reports data whose tokenizer is not the run's.
func sameVocab(spec DataSpec, tok Tokenizer) error {
	if spec.Tokenizer != nil && !SameTokenizer(spec.Tokenizer, tok) {
		return fmt.Errorf("gpt: data %s holds %s tokens of another vocabulary than the model's (%s)", spec.Path, tok.Kind(), spec.Tokenizer.Kind())
	}
	return nil
}

// checkSplits reports a dataset too short for blockSize.
func checkSplits(d *Dataset, blockSize int) error {
	if d.Train.Len() <= blockSize || d.Val.Len() <= blockSize {
		return fmt.Errorf("gpt: data %s is too short for block size %d: %d training and %d validation tokens, each split needs at least %d",
			d.Source, blockSize, d.Train.Len(), d.Val.Len(), blockSize+1)
	}
	return nil
}

// loadText reads and tokenizes a text file or the default corpus.
func loadText(spec DataSpec, blockSize int) (*Dataset, Tokenizer, error) {
	var text, source string
	var err error
	if spec.Path != "" {
		if text, err = ReadTextFile(spec.Path, spec.MaxTextBytes); err != nil {
			return nil, nil, err
		}
		source = fmt.Sprintf("%s (%.2f MB)", spec.Path, float64(len(text))/1e6)
	} else {
		if spec.CorpusBytes < 1 {
			return nil, nil, fmt.Errorf("gpt: the default corpus needs a size of at least 1 byte (--corpus-bytes), got %d", spec.CorpusBytes)
		}
		if spec.MaxTextBytes > 0 && int64(spec.CorpusBytes) > spec.MaxTextBytes {
			return nil, nil, fmt.Errorf("gpt: a default corpus of %s (--corpus-bytes) does not fit in memory when tokenized: at most %s here",
				FormatBytes(int64(spec.CorpusBytes)), FormatBytes(spec.MaxTextBytes))
		}
		root, err := GoRoot()
		if err != nil {
			return nil, nil, err
		}
		if text, source, err = GoCorpus(root, spec.CorpusBytes); err != nil {
			return nil, nil, err
		}
	}
	tok := spec.Tokenizer
	switch {
	case tok != nil && spec.Vocab != "" && spec.Vocab != tok.Kind():
		return nil, nil, fmt.Errorf("gpt: the model's tokens are %s, --vocab says %s", tok.Kind(), spec.Vocab)
	case tok == nil:
		kind := cmp.Or(spec.Vocab, spec.DefaultVocab, "byte")
		if strings.HasPrefix(kind, bpePrefix) { // learnt from the training text only, as kvgpt prepare does
			text := text[:SplitText(text)]
			if tok, err = NewTokenizer(kind, text[:runeCut([]byte(text), BPESampleBytes)]); err != nil {
				return nil, nil, fmt.Errorf("gpt: data %s: %s", source, strings.TrimPrefix(err.Error(), "gpt: "))
			}
		} else if tok, err = NewTokenizer(kind, text); err != nil {
			return nil, nil, fmt.Errorf("gpt: data %s: %s", source, strings.TrimPrefix(err.Error(), "gpt: "))
		}
	}
	ds, err := NewDataset(source, text, tok, blockSize)
	return ds, tok, err
}

// sniffBytes is how much of a text file is looked at to tell it from binary data.
const sniffBytes = 64 << 10

// ReadTextFile reads a text file for training, with errors that name the problem: a path that is
// not a regular file, a file larger than limit bytes (if limit > 0), an empty file, or one that
// is not text (a NUL byte in its first 64 KiB).
func ReadTextFile(path string, limit int64) (string, error) {
	why := fmt.Sprintf("read and tokenized in memory, text needs up to %d bytes a byte, more than this machine has: tokenize it once with `kvgpt prepare --data %s --out DIR` and train on DIR, memory-mapped",
		textMemoryFactor, path)
	b, err := inputfile.ReadAll("data file", path, inputfile.Limit{Bytes: limit, Why: why})
	if err != nil {
		return "", fmt.Errorf("gpt: %w", err)
	}
	if len(b) == 0 {
		return "", fmt.Errorf("gpt: data file %s is empty", path)
	}
	if i := bytes.IndexByte(b[:min(len(b), sniffBytes)], 0); i >= 0 {
		return "", fmt.Errorf("gpt: data file %s is not text (a NUL byte at offset %d); token files are llm.c's (with a header) or nanoGPT's (.bin)", path, i)
	}
	return string(b), nil
}
