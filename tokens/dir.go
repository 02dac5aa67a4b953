package tokens

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/kvgpt/kvgpt/internal/atomicfile"
)

// MetaFile is the name of the JSON file that describes a dataset directory written by DirWriter.
const MetaFile = "kvgpt-data.json"

// MetaFormat names the layout of MetaFile.
const MetaFormat = "kvgpt-tokens-1"

// The splits of a dataset directory.
const (
	TrainSplit = "train"
	ValSplit   = "val"
)

// Meta is the content of a dataset directory's MetaFile.
type Meta struct {
	Format    string `json:"format"`     // MetaFormat
	Vocab     string `json:"vocab"`      // the vocabulary's name: byte, char, gpt2, bpe:N
	VocabSize int    `json:"vocab_size"` // every token id is below it
	// Tokenizer is the vocabulary itself, in the metadata strings a checkpoint records it with
	// (gpt.TokenizerMeta): what decodes the tokens exactly.
	Tokenizer map[string]string `json:"tokenizer"`
	Source    string            `json:"source"` // what was tokenized, for people
	Splits    map[string]Split  `json:"splits"` // TrainSplit and ValSplit
}

// Split is one split of a dataset directory.
type Split struct {
	Files  []string `json:"files"`  // its token files, in order, relative to the directory
	Tokens int64    `json:"tokens"` // tokens in all
	Bytes  int64    `json:"bytes"`  // bytes of text they encode
}

// Dir is an open dataset directory: the memory-mapped token files of its training and validation
// splits. It is either one that DirWriter wrote (Meta says what it holds) or token files made
// elsewhere — llm.c's (*train*.bin and *val*.bin with llm.c headers) or nanoGPT's (train.bin and
// val.bin, headerless uint16) — and then Meta is nil: their vocabulary must be given by the user.
type Dir struct {
	Path       string
	Meta       *Meta
	Train, Val Seq
	Files      map[string][]string // the token files of each split, in order
	Shards     map[string][]*Shard // the open token files of each split, in order
}

// Close unmaps every token file.
func (d *Dir) Close() error {
	var errs []error
	for _, ss := range d.Shards {
		for _, s := range ss {
			errs = append(errs, s.Close())
		}
	}
	d.Shards = nil
	return errors.Join(errs...)
}

// OpenDir opens the dataset directory path (see Dir). The token files' sizes are checked against
// their headers and Meta; their tokens are not read.
func OpenDir(path string) (_ *Dir, err error) {
	d := &Dir{Path: path, Files: map[string][]string{}, Shards: map[string][]*Shard{}}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	raw, err := os.ReadFile(filepath.Join(path, MetaFile))
	switch {
	case err == nil:
		if d.Meta, err = ParseMeta(raw); err != nil {
			return nil, fmt.Errorf("tokens: %s: %w", filepath.Join(path, MetaFile), err)
		}
		for _, split := range []string{TrainSplit, ValSplit} {
			d.Files[split] = d.Meta.Splits[split].Files
		}
	case errors.Is(err, fs.ErrNotExist):
		if d.Files, err = findTokenFiles(path); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("tokens: %w", err)
	}
	for _, split := range []string{TrainSplit, ValSplit} {
		var seqs []Seq
		for _, name := range d.Files[split] {
			s, err := Open(filepath.Join(path, name))
			if err != nil {
				return nil, err
			}
			d.Shards[split] = append(d.Shards[split], s)
			seqs = append(seqs, s.Seq)
		}
		seq := Concat(seqs...)
		if d.Meta != nil {
			if want := d.Meta.Splits[split].Tokens; int64(seq.Len()) != want {
				return nil, fmt.Errorf("tokens: %s: the %s files hold %d tokens, %s says %d: damaged or changed since it was written",
					path, split, seq.Len(), MetaFile, want)
			}
		}
		if split == TrainSplit {
			d.Train = seq
		} else {
			d.Val = seq
		}
	}
	return d, nil
}

// findTokenFiles returns the token files of a directory without MetaFile: the .bin files whose
// names contain "train", and those whose names contain "val", each sorted by name.
func findTokenFiles(path string) (map[string][]string, error) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	files := map[string][]string{}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".bin") || strings.HasPrefix(name, ".") {
			continue
		}
		switch {
		case strings.Contains(name, TrainSplit):
			files[TrainSplit] = append(files[TrainSplit], name)
		case strings.Contains(name, ValSplit):
			files[ValSplit] = append(files[ValSplit], name)
		}
	}
	if len(files[TrainSplit]) == 0 || len(files[ValSplit]) == 0 {
		return nil, fmt.Errorf("tokens: %s has no %s and no token files of a training and a validation split (*train*.bin and *val*.bin, as llm.c and nanoGPT write them); make one with `kvgpt prepare`",
			path, MetaFile)
	}
	for _, f := range files {
		slices.Sort(f)
	}
	return files, nil
}

// ParseMeta decodes and checks the content of a MetaFile.
func ParseMeta(raw []byte) (*Meta, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var m Meta
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a dataset description: %v", err)
	}
	if m.Format != MetaFormat {
		return nil, fmt.Errorf("format is %q, want %q", m.Format, MetaFormat)
	}
	if m.Vocab == "" || m.VocabSize < 2 {
		return nil, fmt.Errorf("vocabulary %q of %d tokens: want a name and at least 2 tokens", m.Vocab, m.VocabSize)
	}
	for _, split := range []string{TrainSplit, ValSplit} {
		s, ok := m.Splits[split]
		if !ok || len(s.Files) == 0 {
			return nil, fmt.Errorf("no %s split", split)
		}
		for _, f := range s.Files {
			if f == "" || filepath.Base(f) != f || strings.HasPrefix(f, ".") {
				return nil, fmt.Errorf("%s file %q is not a file name in the directory", split, f)
			}
		}
		if s.Tokens < 0 || s.Bytes < 0 {
			return nil, fmt.Errorf("%s split counts %d tokens and %d bytes", split, s.Tokens, s.Bytes)
		}
	}
	return &m, nil
}

// DirWriter writes a dataset directory: the token files of each split, cut every ShardTokens
// tokens, then MetaFile. The token files are written under temporary names and MetaFile last, so a
// crash leaves no directory that OpenDir takes for complete.
type DirWriter struct {
	path        string
	meta        Meta
	shardTokens int64
	open        map[string]*ShardWriter
	count       map[string]int
	written     []string // token files completed, under their temporary names
}

// CreateDir starts writing the dataset directory path (created if needed) with meta's vocabulary
// and source, shardTokens tokens per file at most.
func CreateDir(path string, meta Meta, shardTokens int64) (*DirWriter, error) {
	if shardTokens < 1 || shardTokens > MaxShardTokens {
		return nil, fmt.Errorf("tokens: %d tokens per file: want 1 to %d", shardTokens, MaxShardTokens)
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("tokens: cannot create %s: %w", path, err)
	}
	meta.Format = MetaFormat
	meta.Splits = map[string]Split{TrainSplit: {}, ValSplit: {}}
	return &DirWriter{path: path, meta: meta, shardTokens: shardTokens,
		open: map[string]*ShardWriter{}, count: map[string]int{}}, nil
}

// pendingPrefix starts the names of token files not yet renamed into place.
const pendingPrefix = ".pending-"

// Write appends ids, which encode textBytes bytes of text, to split.
func (w *DirWriter) Write(split string, ids []int32, textBytes int64) error {
	s, ok := w.meta.Splits[split]
	if !ok {
		return fmt.Errorf("tokens: unknown split %q", split)
	}
	s.Bytes += textBytes
	for len(ids) > 0 {
		sw := w.open[split]
		if sw == nil {
			name := fmt.Sprintf("%s_%06d.bin", split, w.count[split])
			var err error
			if sw, err = CreateShard(filepath.Join(w.path, pendingPrefix+name), w.meta.VocabSize); err != nil {
				return err
			}
			w.open[split], w.count[split] = sw, w.count[split]+1
			s.Files = append(s.Files, name)
		}
		n := min(int64(len(ids)), w.shardTokens-sw.Len())
		if err := sw.Write(ids[:n]); err != nil {
			return err
		}
		ids, s.Tokens = ids[n:], s.Tokens+n
		if sw.Len() == w.shardTokens {
			if err := w.closeShard(split); err != nil {
				return err
			}
		}
	}
	w.meta.Splits[split] = s
	return nil
}

func (w *DirWriter) closeShard(split string) error {
	sw := w.open[split]
	delete(w.open, split)
	if err := sw.Close(); err != nil {
		return err
	}
	w.written = append(w.written, sw.path)
	return nil
}

// Meta returns the description the directory gets (so far).
func (w *DirWriter) Meta() Meta { return w.meta }

// Close completes the directory: it closes the open token files, renames them into place,
// removes the token files of an earlier dataset that the new one does not have, and writes
// MetaFile. Each split must have at least one token.
func (w *DirWriter) Close() error {
	for _, split := range []string{TrainSplit, ValSplit} {
		if w.open[split] != nil {
			if err := w.closeShard(split); err != nil {
				w.Abort()
				return err
			}
		}
		if w.meta.Splits[split].Tokens == 0 {
			w.Abort()
			return fmt.Errorf("tokens: the %s split of %s has no tokens", split, w.path)
		}
	}
	// The old description goes first: a crash between the renames leaves no MetaFile, never one
	// that describes files of two datasets.
	if err := os.Remove(filepath.Join(w.path, MetaFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.Abort()
		return fmt.Errorf("tokens: %w", err)
	}
	keep := map[string]bool{}
	for _, p := range w.written {
		name := strings.TrimPrefix(filepath.Base(p), pendingPrefix)
		keep[name] = true
		if err := os.Rename(p, filepath.Join(w.path, name)); err != nil {
			w.Abort()
			return fmt.Errorf("tokens: %w", err)
		}
	}
	w.written = nil
	if err := removeStale(w.path, keep); err != nil {
		return err
	}
	return Describe(w.path, w.meta)
}

// removeStale removes the split token files (train_NNNNNN.bin, val_NNNNNN.bin) of dir not in keep.
func removeStale(dir string, keep map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	for _, e := range entries {
		if name := e.Name(); !keep[name] && splitFileName.MatchString(name) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("tokens: %w", err)
			}
		}
	}
	return nil
}

// splitFileName matches the names DirWriter gives token files.
var splitFileName = regexp.MustCompile(`^(train|val)_[0-9]{6,}\.bin$`)

// Abort removes the token files written so far; an earlier dataset in the directory is left as it was.
func (w *DirWriter) Abort() {
	for split, sw := range w.open {
		sw.Abort()
		delete(w.open, split)
	}
	for _, p := range w.written {
		os.Remove(p)
	}
	w.written = nil
}

// Describe writes the MetaFile of the directory path, whose token files meta lists (made
// elsewhere: llm.c's or nanoGPT's), atomically. The files must be there with the tokens meta counts.
func Describe(path string, meta Meta) error {
	meta.Format = MetaFormat
	raw, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if _, err := ParseMeta(raw); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(path, MetaFile), raw, []byte("\n")); err != nil {
		return fmt.Errorf("tokens: writing %s: %w", MetaFile, err)
	}
	d, err := OpenDir(path)
	if err != nil {
		os.Remove(filepath.Join(path, MetaFile))
		return err
	}
	return d.Close()
}
