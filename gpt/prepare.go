package gpt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/kvgpt/kvgpt/tokens"
)

// Corpus is text to tokenize into a dataset directory (Prepare): files read in order, each a
// document.
type Corpus struct {
	Source  string // what the text is, for people
	Files   []CorpusFile
	Skipped int // files of a directory left out because they are not text
}

// CorpusFile is one document of a Corpus.
type CorpusFile struct {
	Path string
	Size int64
}

// Bytes returns the corpus's size.
func (c *Corpus) Bytes() int64 {
	var n int64
	for _, f := range c.Files {
		n += f.Size
	}
	return n
}

// OpenCorpus lists the text at path: a text file, or every text file under a directory (in
// lexical order of their paths; hidden files and directories and files that are not text — a
// NUL byte in their first 64 KiB — are left out, and so is the directory exclude, a dataset being
// written into it). Nothing is read but the start of each file.
func OpenCorpus(path, exclude string) (*Corpus, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("gpt: data %s does not exist", path)
		}
		return nil, fmt.Errorf("gpt: data: %w", err)
	}
	c := &Corpus{}
	if !st.IsDir() {
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("gpt: data %s is not a regular file (a device, pipe or socket)", path)
		}
		if err := checkText(path); err != nil {
			return nil, err
		}
		c.Files = []CorpusFile{{path, st.Size()}}
		c.Source = fmt.Sprintf("%s (%s)", path, FormatBytes(st.Size()))
		return c, nil
	}
	exclude, _ = filepath.Abs(exclude)
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if abs, _ := filepath.Abs(p); exclude != "" && abs == exclude {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() == 0 {
			return nil
		}
		if checkText(p) != nil {
			c.Skipped++
			return nil
		}
		c.Files = append(c.Files, CorpusFile{p, info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gpt: reading %s: %w", path, err)
	}
	if len(c.Files) == 0 {
		return nil, fmt.Errorf("gpt: data %s holds no text files (%d not text)", path, c.Skipped)
	}
	c.Source = fmt.Sprintf("%s (%d text files, %s)", path, len(c.Files), FormatBytes(c.Bytes()))
	return c, nil
}

// checkText reports a file that is not text: a NUL byte in its first 64 KiB.
func checkText(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("gpt: data: %w", err)
	}
	defer f.Close()
	b := make([]byte, sniffBytes)
	n, err := io.ReadFull(f, b)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return fmt.Errorf("gpt: data: %w", err)
	}
	if i := bytes.IndexByte(b[:n], 0); i >= 0 {
		return fmt.Errorf("gpt: data file %s is not text (a NUL byte at offset %d)", path, i)
	}
	return nil
}

// PrepareConfig configures Prepare.
type PrepareConfig struct {
	Vocab       string // byte, char, gpt2 or bpe:N
	ShardTokens int64  // tokens per token file at most
	// VocabBytes bounds the training text a bpe:N vocabulary learns from: the first VocabBytes
	// bytes (0: BPESampleBytes). It is read into memory.
	VocabBytes int64
	Workers    int // goroutines that encode (0: GOMAXPROCS)
	// Progress, if not nil, is called now and then with the stage ("counting", "vocabulary",
	// "encoding"), the bytes of text done and in all, and the tokens written.
	Progress func(stage string, done, total, tokens int64)
}

// BPESampleBytes is how much of the training text a bpe:N vocabulary learns from: its first 64 MiB
// (in kvgpt prepare, --vocab-mb), read into memory. The merges of a small vocabulary are settled
// long before; it bounds the time and memory of learning them.
const BPESampleBytes = 64 << 20

// prepareChunk is the text encoded at a time: pieces of about this size are cut where the
// tokenizer allows (Tokenizer.Cut) and encoded in parallel.
var prepareChunk = 1 << 20

// maxPrepareChunk bounds a piece of text with no place to cut: beyond it, it is cut at a character
// boundary anyway (a text with no whitespace for 16 MiB; the tokens around that cut may differ
// from encoding the whole).
var maxPrepareChunk = 16 << 20

// Prepare tokenizes corpus into the dataset directory out (tokens.DirWriter) and returns its
// description. It splits the text as NewDataset does — byte tokens by bytes, the other
// vocabularies by characters, the last tenth (⌊0.1·n⌋ of n units; for subword vocabularies
// the rest after the first ⌊0.9·n⌋, as nanoGPT) validates — and encodes the two parts of the text
// separately, so that training on out sees the tokens training on the text would. Documents (the
// files of a directory) are separated by the vocabulary's end-of-text token, where it has one.
// The text is streamed: memory does not grow with the corpus (a character vocabulary is built in
// a first pass, a bpe:N one from the first VocabBytes of the training text).
func Prepare(corpus *Corpus, out string, pc PrepareConfig) (_ tokens.Meta, err error) {
	if pc.ShardTokens < 1 {
		return tokens.Meta{}, fmt.Errorf("gpt: tokens per file must be ≥ 1, got %d", pc.ShardTokens)
	}
	if pc.Workers < 1 {
		pc.Workers = runtime.GOMAXPROCS(0)
	}
	if pc.VocabBytes < 1 {
		pc.VocabBytes = BPESampleBytes
	}
	progress := func(stage string, done, total, n int64) {
		if pc.Progress != nil {
			pc.Progress(stage, done, total, n)
		}
	}
	// The split: the unit (byte or character) at which validation starts, and the tokenizer.
	byUnits := pc.Vocab == "byte"
	var units int64
	var chars map[rune]bool
	if byUnits {
		units = corpus.Bytes()
	} else {
		if pc.Vocab == "char" {
			chars = map[rune]bool{}
		}
		if units, err = countRunes(corpus, chars, func(done int64) { progress("counting", done, corpus.Bytes(), 0) }); err != nil {
			return tokens.Meta{}, err
		}
	}
	if units == 0 {
		return tokens.Meta{}, fmt.Errorf("gpt: data %s is empty", corpus.Source)
	}
	trainUnits := units - int64(float64(units)*ValFraction)
	if pc.Vocab != "byte" && pc.Vocab != "char" {
		trainUnits = int64(float64(units) * (1 - ValFraction))
	}
	var tok Tokenizer
	switch pc.Vocab {
	case "byte":
		tok = ByteTokenizer{}
	case "char":
		cs := slices.Sorted(func(yield func(rune) bool) {
			for r := range chars {
				if !yield(r) {
					return
				}
			}
		})
		if tok, err = CharTokenizerFromChars(string(cs)); err != nil {
			return tokens.Meta{}, fmt.Errorf("gpt: data %s: %w", corpus.Source, err)
		}
	default:
		if strings.HasPrefix(pc.Vocab, bpePrefix) {
			progress("vocabulary", 0, 0, 0)
		}
		var sample []byte
		if strings.HasPrefix(pc.Vocab, bpePrefix) {
			if sample, err = readUnits(corpus, trainUnits, byUnits, pc.VocabBytes); err != nil {
				return tokens.Meta{}, err
			}
		}
		if tok, err = NewTokenizer(pc.Vocab, string(sample)); err != nil {
			return tokens.Meta{}, fmt.Errorf("gpt: data %s: %s", corpus.Source, strings.TrimPrefix(err.Error(), "gpt: "))
		}
	}
	w, err := tokens.CreateDir(out, tokens.Meta{Vocab: tok.Kind(), VocabSize: tok.VocabSize(), Tokenizer: TokenizerMeta(tok), Source: corpus.Source}, pc.ShardTokens)
	if err != nil {
		return tokens.Meta{}, err
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	e := &prepareEncoder{tok: tok, w: w, workers: pc.Workers, total: corpus.Bytes(),
		progress: func(done, n int64) { progress("encoding", done, corpus.Bytes(), n) }}
	var unit int64 // units of the corpus before the current file
	eot, hasEOT := tok.EOT()
	for i, f := range corpus.Files {
		split := tokens.TrainSplit
		if unit >= trainUnits {
			split = tokens.ValSplit
		}
		fileUnits, err := e.file(f, split, trainUnits-unit, byUnits)
		if err != nil {
			return tokens.Meta{}, err
		}
		unit += fileUnits
		if hasEOT && i < len(corpus.Files)-1 {
			split = tokens.TrainSplit
			if unit > trainUnits {
				split = tokens.ValSplit
			}
			if err := e.w.Write(split, []int32{eot}, 0); err != nil {
				return tokens.Meta{}, err
			}
		}
	}
	meta := w.Meta()
	if err := w.Close(); err != nil {
		return tokens.Meta{}, err
	}
	return meta, nil
}

// countRunes returns the characters of corpus (bytes that are not UTF-8 count one each), adding
// each to chars if not nil.
func countRunes(corpus *Corpus, chars map[rune]bool, progress func(done int64)) (int64, error) {
	var n, done int64
	buf := make([]byte, prepareChunk+utf8.UTFMax)
	for _, f := range corpus.Files {
		err := readFileChunks(f.Path, buf, func(b []byte) {
			n += int64(utf8.RuneCount(b))
			if chars != nil {
				for _, r := range string(b) {
					chars[r] = true
				}
			}
			done += int64(len(b))
			progress(done)
		})
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// readFileChunks calls fn with the content of the file at path in pieces cut at character
// boundaries, each at most len(buf) bytes.
func readFileChunks(path string, buf []byte, fn func([]byte)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("gpt: data: %w", err)
	}
	defer f.Close()
	carry := 0
	for {
		n, err := io.ReadFull(f, buf[carry:len(buf)-utf8.UTFMax])
		n += carry
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			return fmt.Errorf("gpt: reading %s: %w", path, err)
		}
		cut := n
		if !eof {
			if cut = runeCut(buf[:n], n); cut == 0 {
				cut = n
			}
		}
		fn(buf[:cut])
		carry = copy(buf, buf[cut:n])
		if eof {
			if carry > 0 {
				fn(buf[:carry])
			}
			return nil
		}
	}
}

// readUnits returns the first min(units, limit bytes) of the corpus's text (units are bytes if
// byUnits, else characters; limit 0: no limit), the documents joined by newlines.
func readUnits(corpus *Corpus, units int64, byUnits bool, limit int64) ([]byte, error) {
	var out []byte
	buf := make([]byte, prepareChunk+utf8.UTFMax)
	for _, f := range corpus.Files {
		if units <= 0 || limit > 0 && int64(len(out)) >= limit {
			break
		}
		if len(out) > 0 {
			out = append(out, '\n')
		}
		err := readFileChunks(f.Path, buf, func(b []byte) {
			if units <= 0 || limit > 0 && int64(len(out)) >= limit {
				return
			}
			k := int64(len(b))
			if !byUnits {
				k = int64(utf8.RuneCount(b))
			}
			if k > units {
				if byUnits {
					b = b[:units]
				} else {
					b = b[:runeOffset(string(b), int(units))]
				}
				k = units
			}
			if limit > 0 && int64(len(out)+len(b)) > limit {
				b = b[:runeCut(b, int(limit)-len(out))]
			}
			out = append(out, b...)
			units -= k
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// prepareEncoder encodes the files of a corpus into a DirWriter, in chunks encoded in parallel.
type prepareEncoder struct {
	tok      Tokenizer
	w        *tokens.DirWriter
	workers  int
	done     int64 // bytes encoded
	total    int64
	tokens   int64
	progress func(done, tokens int64)
	pending  []prepareJob
}

// prepareJob is one chunk of text of a split, and its tokens once encoded.
type prepareJob struct {
	split string
	text  []byte
	ids   []int32
	err   error
}

// file encodes the file f: its units (bytes if byUnits, else characters) up to trainLeft into
// split (and beyond it into the validation split), and returns the file's units.
func (e *prepareEncoder) file(f CorpusFile, split string, trainLeft int64, byUnits bool) (int64, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return 0, fmt.Errorf("gpt: data: %w", err)
	}
	defer fh.Close()
	var units int64
	var text []byte // read, not yet encoded
	buf := make([]byte, prepareChunk)
	eof := false
	read := func() error { // appends the next piece of the file to text
		n, err := io.ReadFull(fh, buf)
		text = append(text, buf[:n]...)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			eof = true
		} else if err != nil {
			return fmt.Errorf("gpt: reading %s: %w", f.Path, err)
		}
		return nil
	}
	for {
		for !eof && len(text) < prepareChunk {
			if err := read(); err != nil {
				return 0, err
			}
		}
		if len(text) == 0 {
			break
		}
		// The end of the chunk: the split point if it lies within the text read, else all of the
		// text at the end of the file, else the last place the tokenizer may cut — reading on
		// while there is none, up to maxPrepareChunk.
		var end int
		atSplit := false
		for {
			if split == tokens.TrainSplit {
				whole := text // the characters read in full
				if !eof && !byUnits {
					whole = text[:runeCut(text, len(text))]
				}
				if k := unitsOffset(whole, trainLeft-units, byUnits); k >= 0 {
					end, atSplit = k, true
					break
				}
			}
			if eof {
				end = len(text)
				break
			}
			if end = e.tok.Cut(text, len(text)); end > 0 {
				break
			}
			if len(text) >= maxPrepareChunk {
				end = max(runeCut(text, len(text)-1), 1)
				break
			}
			if err := read(); err != nil {
				return 0, err
			}
		}
		chunk := text[:end]
		if byUnits {
			units += int64(len(chunk))
		} else {
			units += int64(utf8.RuneCount(chunk))
		}
		if err := e.add(split, append([]byte(nil), chunk...)); err != nil {
			return 0, err
		}
		text = text[end:]
		if atSplit {
			split = tokens.ValSplit
		}
	}
	return units, e.flush()
}

// unitsOffset returns the byte offset in text after its first n ≥ 0 units (bytes if byUnits, else
// characters), or -1 if n < 0 or text has fewer than n units.
func unitsOffset(text []byte, n int64, byUnits bool) int {
	if n < 0 {
		return -1
	}
	if byUnits {
		if n <= int64(len(text)) {
			return int(n)
		}
		return -1
	}
	i := 0
	for ; n > 0 && i < len(text); n-- {
		_, size := utf8.DecodeRune(text[i:])
		i += size
	}
	if n > 0 {
		return -1
	}
	return i
}

// add queues a chunk and encodes the queue once it holds a chunk per worker.
func (e *prepareEncoder) add(split string, text []byte) error {
	if len(text) == 0 {
		return nil
	}
	e.pending = append(e.pending, prepareJob{split: split, text: text})
	if len(e.pending) >= e.workers {
		return e.flush()
	}
	return nil
}

// flush encodes the queued chunks in parallel and writes their tokens in order.
func (e *prepareEncoder) flush() error {
	var wg sync.WaitGroup
	for i := range e.pending {
		wg.Go(func() {
			j := &e.pending[i]
			j.ids, j.err = e.tok.Encode(string(j.text))
		})
	}
	wg.Wait()
	for _, j := range e.pending {
		if j.err != nil {
			return fmt.Errorf("gpt: %w", j.err)
		}
		if err := e.w.Write(j.split, j.ids, int64(len(j.text))); err != nil {
			return err
		}
		e.done += int64(len(j.text))
		e.tokens += int64(len(j.ids))
	}
	e.pending = e.pending[:0]
	e.progress(e.done, e.tokens)
	return nil
}

// PrepareTokens makes a dataset directory of token files made elsewhere, whose tokens are in tok's
// vocabulary: src is a directory of llm.c or nanoGPT token files (*train*.bin and *val*.bin) or
// one token file (split 90/10 by tokens, as LoadData splits it). Every token is checked against
// the vocabulary and the bytes of text the tokens stand for are counted. If out is the directory
// src, only the description is written beside its files; else the tokens are copied into llm.c
// token files in out.
func PrepareTokens(src, out string, tok Tokenizer, pc PrepareConfig) (_ tokens.Meta, err error) {
	st, err := os.Stat(src)
	if err != nil {
		return tokens.Meta{}, fmt.Errorf("gpt: data: %w", err)
	}
	meta := tokens.Meta{Vocab: tok.Kind(), VocabSize: tok.VocabSize(), Tokenizer: TokenizerMeta(tok), Source: src + " (token files)"}
	splits := map[string][]*tokens.Shard{}
	var files map[string][]string
	if st.IsDir() {
		d, err := tokens.OpenDir(src)
		if err != nil {
			return tokens.Meta{}, fmt.Errorf("gpt: data %s: %s", src, strings.TrimPrefix(err.Error(), "tokens: "))
		}
		defer d.Close()
		if d.Meta != nil {
			return tokens.Meta{}, fmt.Errorf("gpt: data %s is a dataset directory already (%s, %s tokens): train on it as it is", src, tokens.MetaFile, d.Meta.Vocab)
		}
		splits, files = d.Shards, d.Files
	} else {
		s, err := tokens.Open(src)
		if err != nil {
			return tokens.Meta{}, fmt.Errorf("gpt: data %s", strings.TrimPrefix(err.Error(), "tokens: "))
		}
		defer s.Close()
		splits[tokens.TrainSplit] = []*tokens.Shard{s}
	}
	inPlace := false
	if st.IsDir() {
		a, _ := filepath.Abs(src)
		b, _ := filepath.Abs(out)
		inPlace = a == b
	}
	var w *tokens.DirWriter
	if !inPlace {
		if w, err = tokens.CreateDir(out, meta, pc.ShardTokens); err != nil {
			return tokens.Meta{}, err
		}
		defer func() {
			if err != nil {
				w.Abort()
			}
		}()
	}
	// A single file: its last tenth of tokens validates.
	var trainLeft int64 = -1
	if !st.IsDir() {
		n := int64(splits[tokens.TrainSplit][0].Seq.Len())
		trainLeft = n - int64(float64(n)*ValFraction)
	}
	var total, done int64
	for _, ss := range splits {
		for _, s := range ss {
			total += int64(s.Seq.Len())
		}
	}
	meta.Splits = map[string]tokens.Split{}
	V := tok.VocabSize()
	for _, split := range []string{tokens.TrainSplit, tokens.ValSplit} {
		for _, s := range splits[split] {
			var pos int64
			err := s.Scan(func(ids []int32) error {
				if err := tokens.CheckRange("gpt: data "+s.Path+": token", ids, int(pos), V); err != nil {
					return err
				}
				for len(ids) > 0 {
					part, to := ids, split
					if trainLeft >= 0 {
						if trainLeft > 0 {
							part = ids[:min(int64(len(ids)), trainLeft)]
							to = tokens.TrainSplit
							trainLeft -= int64(len(part))
						} else {
							to = tokens.ValSplit
						}
					}
					var nb int64
					for _, id := range part {
						nb += int64(tok.TextBytes(id))
					}
					sp := meta.Splits[to]
					sp.Tokens, sp.Bytes = sp.Tokens+int64(len(part)), sp.Bytes+nb
					meta.Splits[to] = sp
					if w != nil {
						if err := w.Write(to, part, nb); err != nil {
							return err
						}
					}
					ids, pos, done = ids[len(part):], pos+int64(len(part)), done+int64(len(part))
				}
				if pc.Progress != nil {
					pc.Progress("checking", done, total, done)
				}
				return nil
			})
			if err != nil {
				return tokens.Meta{}, err
			}
		}
	}
	if !inPlace {
		m := w.Meta()
		if err := w.Close(); err != nil {
			return tokens.Meta{}, err
		}
		return m, nil
	}
	for _, split := range []string{tokens.TrainSplit, tokens.ValSplit} {
		sp := meta.Splits[split]
		sp.Files = files[split]
		meta.Splits[split] = sp
	}
	return meta, tokens.Describe(out, meta)
}
