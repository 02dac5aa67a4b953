package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/internal/lockfile"
	"github.com/kvgpt/kvgpt/tokens"
)

// prepareLockFile is the lock of a dataset directory being written.
const prepareLockFile = ".prepare.lock"

// prepareOptions are the flags of `kvgpt prepare`.
type prepareOptions struct {
	data, vocab, out     string
	shardTokens, vocabMB int64
	workers, corpusBytes int
	overwrite            bool
}

func runPrepare(args []string, stdout, stderr io.Writer) error {
	return prepare(args, os.Stdin, stdout, stderr)
}

// prepare is `kvgpt prepare`, reading standard input from stdin for --data -.
func prepare(args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("prepare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := prepareOptions{vocab: gpt.GPT2Vocab, out: "out/data", shardTokens: 100_000_000, vocabMB: 64, corpusBytes: gpt.DefaultCorpusBytes}
	fs.StringVar(&o.data, "data", "", "what to tokenize: a text `file`, a directory of text files, - for standard input, or token files made elsewhere (nanoGPT's train.bin/val.bin, llm.c's shards); default: the Go standard library sources, as kvgpt train")
	fs.IntVar(&o.corpusBytes, "corpus-bytes", o.corpusBytes, "size of the default Go corpus in bytes (without --data)")
	fs.StringVar(&o.vocab, "vocab", o.vocab, "tokens: gpt2 (GPT-2's BPE, 50,257 tokens), bpe:N (a byte-level BPE of N tokens trained on the data, e.g. bpe:4096), byte or char; for token files, what they hold")
	fs.StringVar(&o.out, "out", o.out, "dataset `dir`ectory to write: token files in llm.c's format and "+tokens.MetaFile)
	fs.Int64Var(&o.shardTokens, "shard-tokens", o.shardTokens, "tokens per token file at most")
	fs.Int64Var(&o.vocabMB, "vocab-mb", o.vocabMB, "bpe:N learns from the first this many MB of the training text")
	fs.IntVar(&o.workers, "threads", 0, "goroutines that encode (0: all cores)")
	fs.BoolVar(&o.overwrite, "overwrite", false, "replace the dataset already in --out")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kvgpt prepare --data PATH [flags]\n\nTokenizes text into a dataset directory that kvgpt train, eval and experiment read memory-mapped\n(--data DIR): token files in llm.c's format (a 256 × int32 header, then uint16 or uint32 tokens) and\na JSON file naming the vocabulary. One file splits as nanoGPT splits it (the last tenth validates);\nthe files of a directory are documents, in order, split the same way. Streaming: memory does not grow\nwith the corpus.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (all options are flags; see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["corpus-bytes"] && o.data != "":
		return fmt.Errorf("--corpus-bytes sizes the default corpus, which --data %s replaces: drop one", o.data)
	case o.corpusBytes < 1:
		return fmt.Errorf("--corpus-bytes must be ≥ 1, got %d", o.corpusBytes)
	case o.shardTokens < 1 || o.shardTokens > tokens.MaxShardTokens:
		return fmt.Errorf("--shard-tokens must be between 1 and %d, got %d", tokens.MaxShardTokens, o.shardTokens)
	case o.vocabMB < 1:
		return fmt.Errorf("--vocab-mb must be ≥ 1, got %d", o.vocabMB)
	case o.workers < 0:
		return fmt.Errorf("--threads must be ≥ 0 (0: all cores), got %d", o.workers)
	}
	if err := gpt.ParseVocab(o.vocab); err != nil {
		return fmt.Errorf("--vocab: %w", err)
	}
	if err := checkWritableDir(o.out); err != nil {
		return err
	}
	lock, err := lockfile.Acquire(filepath.Join(o.out, prepareLockFile))
	if err != nil {
		return fmt.Errorf("--out %s: %w (another kvgpt prepare writes it)", o.out, err)
	}
	defer lock.Unlock()
	if _, err := os.Stat(filepath.Join(o.out, tokens.MetaFile)); err == nil && !o.overwrite && !sameDir(o.out, o.data) {
		return fmt.Errorf("--out %s holds a dataset already (%s): pass --overwrite to replace it, or another --out", o.out, tokens.MetaFile)
	}
	// Standard input and the default corpus go to a file first: the split needs the text's length.
	var source string
	switch o.data {
	case "-":
		spool, err := spool(stdin, o.out)
		if err != nil {
			return fmt.Errorf("--data -: %w", err)
		}
		defer os.Remove(spool)
		o.data, source = spool, "standard input"
	case "":
		root, err := gpt.GoRoot()
		if err != nil {
			return err
		}
		text, desc, err := gpt.GoCorpus(root, o.corpusBytes)
		if err != nil {
			return err
		}
		spool, err := spool(strings.NewReader(text), o.out)
		if err != nil {
			return err
		}
		defer os.Remove(spool)
		o.data, source = spool, desc
	}
	bar := newProgressBar(stderr, "bytes", 1)
	pc := gpt.PrepareConfig{Vocab: o.vocab, ShardTokens: o.shardTokens, VocabBytes: o.vocabMB << 20, Workers: o.workers,
		Progress: func(stage string, done, total, n int64) {
			switch stage {
			case "vocabulary":
				bar.Done()
				fmt.Fprintf(stderr, "training the %s vocabulary on up to %d MB of the training text…\n", o.vocab, o.vocabMB)
			case "checking":
				bar.what, bar.scale = "tokens", 1
				bar.Update(float64(done), float64(total), float64(n), "tokens")
			default:
				bar.Update(float64(done), float64(total), float64(n), "tokens")
			}
		}}
	start := time.Now()
	var meta tokens.Meta
	if isTokenData(o.data) {
		tok, err := gpt.NewTokenizer(o.vocab, "")
		if err != nil || o.vocab == "char" || strings.HasPrefix(o.vocab, "bpe:") {
			return fmt.Errorf("--vocab %s: token files made elsewhere hold gpt2 or byte tokens (a character or trained vocabulary is known only from the %s kvgpt prepare writes)", o.vocab, tokens.MetaFile)
		}
		meta, err = gpt.PrepareTokens(o.data, o.out, tok, pc)
		if err != nil {
			bar.Done()
			return err
		}
	} else {
		corpus, err := gpt.OpenCorpus(o.data, o.out)
		if err != nil {
			return err
		}
		switch source {
		case "":
		case "standard input":
			corpus.Source = source + " (" + gpt.FormatBytes(corpus.Bytes()) + ")"
		default:
			corpus.Source = source // the default corpus says its size
		}
		if corpus.Skipped > 0 {
			fmt.Fprintf(stderr, "prepare: %d files under %s are not text and were left out\n", corpus.Skipped, o.data)
		}
		if meta, err = gpt.Prepare(corpus, o.out, pc); err != nil {
			bar.Done()
			return err
		}
	}
	bar.Done()
	return printPrepared(stdout, o.out, meta, time.Since(start))
}

// printPrepared prints what a dataset directory holds: tokens per split, bytes per token and the
// first tokens.
func printPrepared(w io.Writer, dir string, meta tokens.Meta, took time.Duration) error {
	d, err := tokens.OpenDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	tr, va := meta.Splits[tokens.TrainSplit], meta.Splits[tokens.ValSplit]
	n, b := tr.Tokens+va.Tokens, tr.Bytes+va.Bytes
	fmt.Fprintf(w, "prepared %s: %s tokens (V=%d) of %s\n", dir, meta.Vocab, meta.VocabSize, meta.Source)
	fmt.Fprintf(w, "  train %d tokens (%d files), val %d tokens (%d files); %d in all, %.3f bytes per token; %.1f s (%.2f MB/s)\n",
		tr.Tokens, len(tr.Files), va.Tokens, len(va.Files), n, float64(b)/float64(max(n, 1)), took.Seconds(), float64(b)/1e6/took.Seconds())
	first := d.Train.Slice(0, min(20, d.Train.Len())).Int32s()
	fmt.Fprintf(w, "  first %d train tokens: %s\n", len(first), strings.Trim(fmt.Sprint(first), "[]"))
	return nil
}

// isTokenData reports whether path holds token files: an llm.c file or a .bin, or a directory of
// .bin files and no text files but them.
func isTokenData(path string) bool {
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	if !st.IsDir() {
		return tokens.IsShard(path) || strings.HasSuffix(path, ".bin")
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return false
	}
	bins := 0
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".bin") {
			bins++
		}
	}
	return bins > 0
}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) bool {
	x, err1 := filepath.Abs(a)
	y, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && x == y
}

// spool copies r into a temporary file in dir and returns its path: prepare reads its input twice
// (the split needs its length), standard input only once.
func spool(r io.Reader, dir string) (string, error) {
	f, err := os.CreateTemp(dir, ".stdin-*.txt")
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("reading: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
