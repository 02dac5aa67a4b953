package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/internal/atomicfile"
	"github.com/kvgpt/kvgpt/tokens"
)

// evalReport is what `kvgpt eval --json` writes.
type evalReport struct {
	Checkpoint   string  `json:"checkpoint"`
	Data         string  `json:"data"`
	Split        string  `json:"split"`
	Vocab        string  `json:"vocab"`
	Tokens       int64   `json:"tokens"` // tokens predicted
	Bytes        int64   `json:"bytes"`  // bytes of text they stand for
	Loss         float64 `json:"loss"`   // nats per token
	Perplexity   float64 `json:"perplexity"`
	BitsPerByte  float64 `json:"bits_per_byte"`
	Seconds      float64 `json:"seconds"`
	TokensPerSec float64 `json:"tokens_per_sec"`
}

// The --split values of kvgpt eval.
var evalSplits = []string{"auto", tokens.ValSplit, tokens.TrainSplit, "all"}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ckptPath := fs.String("checkpoint", filepath.Join(defaultOut, checkpointFile), "checkpoint `file` to evaluate")
	data := fs.String("data", "", "data: a dataset directory of kvgpt prepare, token files, or a text file (default: the data the checkpoint was trained on)")
	split := fs.String("split", "auto", "what of the data: val, train, all, or auto (val of a dataset directory or of the checkpoint's data, all of a file)")
	batch := fs.Int("batch-size", 8, "windows of the block size evaluated at once")
	jsonOut := fs.String("json", "", "also write the result as JSON to this `file` (- for standard output)")
	be := backendFlag{name: "auto"}
	be.define(fs, backendNames)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kvgpt eval [flags]\n\nComputes a checkpoint's loss over a whole split of a dataset — every token predicted once, with up to a\nblock of context — in nats per token, perplexity, and bits per byte of text (comparable across vocabularies).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (all options are flags; see -h)", fs.Arg(0))
	}
	if !slices.Contains(evalSplits, *split) {
		return fmt.Errorf("--split %q: want auto, val, train or all", *split)
	}
	if *batch < 1 {
		return fmt.Errorf("--batch-size must be ≥ 1, got %d", *batch)
	}
	if err := be.check(); err != nil {
		return err
	}
	if *jsonOut != "" && *jsonOut != "-" {
		if err := checkWritableDir(filepath.Dir(*jsonOut)); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	// The header first: the tokenizer, the data and the memory plan come before the tensors are read.
	ck, tok, err := readCheckpointHeader(*ckptPath)
	if err != nil {
		return err
	}
	// The data: --data, or the checkpoint's own.
	spec := dataSpec(*data, "", false, gpt.DefaultCorpusBytes)
	spec.Tokenizer = tok
	own := *data == ""
	if own {
		spec.Path = ck.Meta[metaDataPath]
		if n, err := strconv.Atoi(ck.Meta[metaCorpusBytes]); err == nil {
			spec.CorpusBytes = n
		}
	}
	ds, _, err := gpt.LoadData(spec, ck.Config.BlockSize)
	if err != nil {
		return err
	}
	defer ds.Close()
	if *split == "auto" {
		*split = tokens.ValSplit
		if st, err := os.Stat(spec.Path); !own && err == nil && !st.IsDir() {
			*split = "all"
		}
	}
	seq := map[string]tokens.Seq{tokens.ValSplit: ds.Val, tokens.TrainSplit: ds.Train, "all": tokens.Concat(ds.Train, ds.Val)}[*split]

	b, err := be.open(stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	plan, err := gpt.PlanEval(ck.Config, *batch, ds.Bytes())
	if err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	plan = withCheckpoint(plan, ck)
	avail, availErr := availableMemory(b)
	fmt.Fprintln(stderr, memoryLine(plan, avail, availErr))
	if availErr == nil && !plan.Fits(avail) {
		return tooLarge(plan, avail, "lower --batch-size, or try the other --backend")
	}
	m, err := loadModel(*ckptPath, ck, b, stderr)
	if err != nil {
		return err
	}
	ev, err := gpt.NewEvaluator(m, *batch)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "eval: %s split of %s: %d tokens\n", *split, ds.Source, seq.Len())
	bar := newProgressBar(stderr, "tokens", 1)
	start := time.Now()
	res, err := ev.Evaluate(seq, tok, func(done, total int64) { bar.Update(float64(done), float64(total), float64(done), "tokens") })
	bar.Done()
	if err != nil {
		return err
	}
	sec := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "eval: %s split, %d tokens (%d bytes) | loss %.4f nats/token | perplexity %.2f | %.4f bits/byte | %.1f s, %s tokens/s\n",
		*split, res.Tokens, res.Bytes, res.Loss, res.Perplexity(), res.BitsPerByte(), sec, humanCount(float64(res.Tokens)/sec))
	if *jsonOut == "" {
		return nil
	}
	rep := evalReport{Checkpoint: *ckptPath, Data: ds.Source, Split: *split, Vocab: tok.Kind(), Tokens: res.Tokens, Bytes: res.Bytes,
		Loss: res.Loss, Perplexity: res.Perplexity(), BitsPerByte: res.BitsPerByte(), Seconds: sec, TokensPerSec: float64(res.Tokens) / sec}
	js, _ := json.MarshalIndent(rep, "", "  ")
	js = append(js, '\n')
	if *jsonOut == "-" {
		_, err = stdout.Write(js)
		return err
	}
	if err := atomicfile.Write(*jsonOut, js); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}
