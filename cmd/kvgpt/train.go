package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"

	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/kvgpt/kvgpt/gpt"
)

// Files a training run writes into --out.
const (
	checkpointFile = "ckpt.safetensors"
	metricsFile    = "metrics.jsonl"
	plotFile       = "loss.png"
)

// trainOptions are the flags of `kvgpt train`.
type trainOptions struct {
	data, vocab, mode, backend, out string
	cfg                             gpt.Config
	tc                              gpt.TrainConfig
	threads, logEvery, ckptEvery    int
	corpusBytes                     int
	resume                          bool
	set                             map[string]bool // flags given on the command line
}

// Defaults of `kvgpt train` (and so of `make train`): a query-free model small enough to reach
// < 3 nats/byte on the default corpus in a few minutes on two CPU cores.
func defaultTrainOptions() trainOptions {
	tc := gpt.DefaultTrainConfig()
	tc.BatchSize, tc.Steps, tc.LR, tc.MinLR, tc.Warmup = 16, 400, 3e-3, 3e-4, 30
	tc.EvalEvery, tc.EvalBatches = 100, 8
	return trainOptions{
		vocab: "byte", mode: "identity", backend: "auto", out: "out",
		cfg:      gpt.Config{NLayer: 3, NHead: 4, NEmbd: 96, BlockSize: 128},
		tc:       tc,
		logEvery: 10, ckptEvery: 200, corpusBytes: gpt.DefaultCorpusBytes,
	}
}

func (o *trainOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.data, "data", o.data, "training text `file` (default: the Go standard library sources under `go env GOROOT`)")
	fs.StringVar(&o.vocab, "vocab", o.vocab, "tokens: byte (256) or char (the characters of the data)")
	fs.StringVar(&o.mode, "mode", o.mode, "query mode: baseline (W_Q, W_K, W_V) or identity (query-free, W_Q = I)")
	fs.IntVar(&o.cfg.NLayer, "n-layer", o.cfg.NLayer, "transformer blocks")
	fs.IntVar(&o.cfg.NHead, "n-head", o.cfg.NHead, "attention heads (must divide n-embd)")
	fs.IntVar(&o.cfg.NEmbd, "n-embd", o.cfg.NEmbd, "model width C")
	fs.IntVar(&o.cfg.BlockSize, "block-size", o.cfg.BlockSize, "sequence length T")
	fs.IntVar(&o.cfg.MLPHidden, "mlp-hidden", o.cfg.MLPHidden, "MLP hidden width (0: 4·n-embd)")
	fs.Float64Var(&o.cfg.AttnScale, "attn-scale", o.cfg.AttnScale, "attention logit scale (0: 1/√dh baseline, 1/(2√dh) identity)")
	fs.IntVar(&o.tc.BatchSize, "batch-size", o.tc.BatchSize, "sequences per micro-batch B")
	fs.IntVar(&o.tc.GradAccum, "grad-accum", o.tc.GradAccum, "micro-batches per optimizer step")
	fs.IntVar(&o.tc.Steps, "steps", o.tc.Steps, "optimizer steps")
	fs.Float64Var(&o.tc.LR, "lr", o.tc.LR, "peak learning rate")
	fs.Float64Var(&o.tc.MinLR, "min-lr", o.tc.MinLR, "learning rate at the end of the cosine decay")
	fs.IntVar(&o.tc.Warmup, "warmup", o.tc.Warmup, "linear warmup steps")
	fs.Float64Var(&o.tc.WeightDecay, "weight-decay", o.tc.WeightDecay, "AdamW weight decay of matrices (<0: the mode's default, 0.1 baseline, 0.03125 identity)")
	fs.Float64Var(&o.tc.GradClip, "grad-clip", o.tc.GradClip, "clip the global gradient norm to this (0: off)")
	fs.IntVar(&o.tc.EvalEvery, "eval-every", o.tc.EvalEvery, "evaluate the validation loss every N steps (and at the end; 0: at the end only)")
	fs.IntVar(&o.tc.EvalBatches, "eval-batches", o.tc.EvalBatches, "validation micro-batches per evaluation")
	fs.Uint64Var(&o.tc.Seed, "seed", o.tc.Seed, "seed of the initialisation and the batch order")
	fs.StringVar(&o.backend, "backend", o.backend, "compute backend: "+backendNames)
	fs.IntVar(&o.threads, "threads", o.threads, "CPU threads (0: all cores)")
	fs.StringVar(&o.out, "out", o.out, "output `dir`ectory: checkpoint, metrics.jsonl, loss.png")
	fs.IntVar(&o.logEvery, "log-every", o.logEvery, "print a progress line every N steps")
	fs.IntVar(&o.ckptEvery, "checkpoint-every", o.ckptEvery, "write a checkpoint every N steps (and at the end; 0: at the end only)")
	fs.IntVar(&o.corpusBytes, "corpus-bytes", o.corpusBytes, "size of the default Go corpus in bytes")
	fs.BoolVar(&o.resume, "resume", o.resume, "continue the run whose checkpoint is in --out")
}

// modelFlags are the flags that define the model; on --resume they must agree with the checkpoint.
var modelFlags = []string{"mode", "n-layer", "n-head", "n-embd", "block-size", "mlp-hidden", "attn-scale", "vocab"}

// interruptedError reports a run stopped by a signal after its checkpoint was saved.
type interruptedError struct {
	step int
	path string
}

func (e *interruptedError) Error() string {
	return fmt.Sprintf("interrupted after step %d; checkpoint saved to %s (continue with --resume)", e.step, e.path)
}

// ExitCode is the shell's code for a process stopped by SIGINT.
func (e *interruptedError) ExitCode() int { return 130 }

func runTrain(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return train(ctx, args, stdout, stderr)
}

// train is `kvgpt train`; it stops at the next step boundary, saves and returns an
// *interruptedError when ctx is cancelled.
func train(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := defaultTrainOptions()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (all options are flags; see -h)", fs.Arg(0))
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if o.logEvery < 1 {
		return fmt.Errorf("--log-every must be ≥ 1, got %d", o.logEvery)
	}
	if o.ckptEvery < 0 {
		return fmt.Errorf("--checkpoint-every must be ≥ 0, got %d", o.ckptEvery)
	}
	if err := checkWritableDir(o.out); err != nil {
		return err
	}
	ckptPath := filepath.Join(o.out, checkpointFile)

	// Resolve the model and the data, from the flags or from the checkpoint.
	var ck *gpt.Checkpoint
	dataPath, vocab := o.data, o.vocab
	mode, err := gpt.ParseQueryMode(o.mode)
	if err != nil {
		return err
	}
	o.cfg.QueryMode = mode
	if o.resume {
		if ck, err = gpt.LoadCheckpoint(ckptPath); err != nil {
			return err
		}
		if err := checkResumeFlags(&o, ck); err != nil {
			return err
		}
		if !o.set["data"] {
			dataPath = ck.Meta["data_path"]
		}
		if n, err := strconv.Atoi(ck.Meta["corpus_bytes"]); err == nil && !o.set["corpus-bytes"] {
			o.corpusBytes = n
		}
		vocab = ck.Meta["tokenizer"]
	}
	text, source, err := readData(dataPath, o.corpusBytes)
	if err != nil {
		return err
	}
	var tok gpt.Tokenizer
	if ck != nil && vocab == "char" {
		tok, err = gpt.CharTokenizerFromChars(ck.Meta["chars"])
	} else {
		tok, err = gpt.NewTokenizer(vocab, text)
	}
	if err != nil {
		return err
	}
	o.cfg.VocabSize = tok.VocabSize()
	if ck != nil {
		if d := gpt.ConfigDiff(ck.Config, o.cfg); d != "" {
			return fmt.Errorf("checkpoint %s is from another configuration (checkpoint vs now: %s)", ckptPath, d)
		}
	}
	if err := o.cfg.Validate(); err != nil {
		return err
	}
	if err := o.tc.Validate(); err != nil {
		return err
	}
	ds, err := gpt.NewDataset(source, text, tok, o.cfg.BlockSize)
	if err != nil {
		return err
	}

	be, err := openBackend(o.backend, o.threads, stdout)
	if err != nil {
		return err
	}
	defer be.Close()
	model, err := gpt.New(o.cfg, be, o.tc.Seed)
	if err != nil {
		return err
	}
	tr, err := gpt.NewTrainer(model, o.tc, ds)
	if err != nil {
		return err
	}
	if ck != nil {
		if err := ck.Restore(tr); err != nil {
			return err
		}
	}

	c := o.cfg
	fmt.Fprintf(stdout, "data: %s\n", ds.Source)
	fmt.Fprintf(stdout, "      %s tokens (V=%d): %d train, %d validation\n", tok.Kind(), tok.VocabSize(), len(ds.Train), len(ds.Val))
	fmt.Fprintf(stdout, "model: %s, L=%d C=%d NH=%d T=%d H=%d, attention scale %.4g, %d parameters\n",
		c.QueryMode, c.NLayer, c.NEmbd, c.NHead, c.BlockSize, c.Hidden(), c.Scale(), c.NumParams())
	fmt.Fprintf(stdout, "train: %d steps × %d tokens (B=%d × T=%d × accum %d), lr %g → %g, warmup %d, weight decay %g, backend %s\n",
		tr.Config.Steps, tr.TokensPerStep(), tr.Config.BatchSize, c.BlockSize, tr.Config.GradAccum,
		tr.Config.LR, tr.Config.MinLR, tr.Config.Warmup, tr.Config.WeightDecay, be.Name())
	if ck != nil {
		fmt.Fprintf(stdout, "resumed from %s at step %d\n", ckptPath, ck.Step)
	}

	meta := map[string]string{"tokenizer": tok.Kind(), "data": ds.Source, "data_path": dataPath,
		"corpus_bytes": strconv.Itoa(o.corpusBytes)}
	if ct, ok := tok.(*gpt.CharTokenizer); ok {
		meta["chars"] = string(ct.Chars)
	}
	flagsMode := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if ck != nil {
		// Keep the records up to the checkpoint; later ones (a crash after it) are redone.
		if err := truncateMetrics(filepath.Join(o.out, metricsFile), ck.Step); err != nil {
			return err
		}
		flagsMode = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	mf, err := os.OpenFile(filepath.Join(o.out, metricsFile), flagsMode, 0o644)
	if err != nil {
		return fmt.Errorf("cannot write metrics: %w", err)
	}
	defer mf.Close()
	mw := bufio.NewWriter(mf)
	enc := json.NewEncoder(mw)

	lastSaved := -1
	if ck != nil {
		lastSaved = ck.Step
	}
	save := func() error {
		if err := tr.Save(ckptPath, meta); err != nil {
			return err
		}
		lastSaved = tr.StepsDone()
		return nil
	}
	sink := func(m gpt.Metrics) error {
		if err := enc.Encode(m); err != nil {
			return fmt.Errorf("writing metrics: %w", err)
		}
		if m.Step%o.logEvery == 0 || m.Step == m.Steps || m.ValLoss != nil {
			line := fmt.Sprintf("step %*d/%d | loss %.4f | lr %.2e | %.0f tok/s | ETA %s",
				len(strconv.Itoa(m.Steps)), m.Step, m.Steps, m.Loss, m.LR, m.TokensPerSec,
				(time.Duration(m.ETASec) * time.Second).Round(time.Second))
			if m.ValLoss != nil {
				line += fmt.Sprintf(" | val loss %.4f", *m.ValLoss)
			}
			fmt.Fprintln(stdout, line)
			if err := mw.Flush(); err != nil {
				return fmt.Errorf("writing metrics: %w", err)
			}
		}
		if o.ckptEvery > 0 && m.Step%o.ckptEvery == 0 && m.Step != m.Steps {
			return save()
		}
		return nil
	}

	if tr.StepsDone() == 0 {
		v, err := tr.Evaluate()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "step 0 | val loss %.4f (ln V = %.4f)\n", v, math.Log(float64(tok.VocabSize())))
	}
	start := time.Now()
	runErr := tr.Run(ctx, sink)
	if err := mw.Flush(); err != nil && runErr == nil {
		runErr = fmt.Errorf("writing metrics: %w", err)
	}
	var nf *gpt.NonFiniteError
	switch {
	case runErr == nil:
	case errors.As(runErr, &nf):
		if lastSaved >= 0 {
			return fmt.Errorf("%w\nthe last good checkpoint (step %d) is %s", runErr, lastSaved, ckptPath)
		}
		return fmt.Errorf("%w\nno checkpoint was written", runErr)
	case ctx.Err() != nil && errors.Is(runErr, ctx.Err()):
		if err := save(); err != nil {
			return fmt.Errorf("interrupted, and saving the checkpoint failed: %w", err)
		}
		return &interruptedError{step: tr.StepsDone(), path: ckptPath}
	default:
		return runErr
	}
	if err := save(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done: %d steps in %s; checkpoint %s\n", tr.StepsDone(), time.Since(start).Round(time.Second), ckptPath)
	if err := plotLoss(filepath.Join(o.out, metricsFile), filepath.Join(o.out, plotFile), fmt.Sprintf("%s, %d params", c.QueryMode, c.NumParams())); err != nil {
		fmt.Fprintf(stderr, "kvgpt train: warning: no loss plot: %v\n", err)
	} else {
		fmt.Fprintf(stdout, "loss curve: %s, metrics: %s\n", filepath.Join(o.out, plotFile), filepath.Join(o.out, metricsFile))
	}
	return nil
}

// checkResumeFlags refuses model flags that disagree with the checkpoint and takes the training
// settings from it, except those given on the command line.
func checkResumeFlags(o *trainOptions, ck *gpt.Checkpoint) error {
	for _, name := range modelFlags {
		if !o.set[name] {
			continue
		}
		var differ bool
		switch name {
		case "mode":
			differ = o.cfg.QueryMode != ck.Config.QueryMode
		case "n-layer":
			differ = o.cfg.NLayer != ck.Config.NLayer
		case "n-head":
			differ = o.cfg.NHead != ck.Config.NHead
		case "n-embd":
			differ = o.cfg.NEmbd != ck.Config.NEmbd
		case "block-size":
			differ = o.cfg.BlockSize != ck.Config.BlockSize
		case "mlp-hidden":
			differ = o.cfg.Hidden() != ck.Config.Hidden()
		case "attn-scale":
			differ = o.cfg.AttnScale != ck.Config.AttnScale
		case "vocab":
			differ = o.vocab != ck.Meta["tokenizer"]
		}
		if differ {
			return fmt.Errorf("checkpoint is from another configuration: --%s does not match the checkpoint (%s); drop the flag or use another --out",
				name, gpt.ConfigDiff(ck.Config, o.cfg))
		}
	}
	cfg := ck.Config
	o.cfg = cfg
	tc := ck.Train
	override := map[string]func(){
		"batch-size": func() { tc.BatchSize = o.tc.BatchSize }, "grad-accum": func() { tc.GradAccum = o.tc.GradAccum },
		"steps": func() { tc.Steps = o.tc.Steps }, "lr": func() { tc.LR = o.tc.LR }, "min-lr": func() { tc.MinLR = o.tc.MinLR },
		"warmup": func() { tc.Warmup = o.tc.Warmup }, "weight-decay": func() { tc.WeightDecay = o.tc.WeightDecay },
		"grad-clip": func() { tc.GradClip = o.tc.GradClip }, "eval-every": func() { tc.EvalEvery = o.tc.EvalEvery },
		"eval-batches": func() { tc.EvalBatches = o.tc.EvalBatches }, "seed": func() { tc.Seed = o.tc.Seed },
	}
	for name, f := range override {
		if o.set[name] {
			f()
		}
	}
	o.tc = tc
	return nil
}

// readData returns the training text and what it is: the file at path, or the default Go corpus.
func readData(path string, corpusBytes int) (text, source string, err error) {
	if path != "" {
		text, err := gpt.ReadTextFile(path)
		if err != nil {
			return "", "", err
		}
		return text, fmt.Sprintf("%s (%.2f MB)", path, float64(len(text))/1e6), nil
	}
	if corpusBytes < 1 {
		return "", "", fmt.Errorf("--corpus-bytes must be ≥ 1, got %d", corpusBytes)
	}
	root, err := gpt.GoRoot()
	if err != nil {
		return "", "", err
	}
	return gpt.GoCorpus(root, corpusBytes)
}

// checkWritableDir creates dir if needed and proves a file can be written in it.
func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create output directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".kvgpt-write-test*")
	if err != nil {
		return fmt.Errorf("output directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return nil
}

// truncateMetrics drops the records of a metrics file past step (missing file: nothing to do).
func truncateMetrics(path string, step int) error {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading metrics: %w", err)
	}
	var keep []byte
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		var m gpt.Metrics
		if json.Unmarshal(line, &m) == nil && m.Step <= step {
			keep = append(keep, line...)
		}
	}
	if err := os.WriteFile(path, keep, 0o644); err != nil {
		return fmt.Errorf("rewriting metrics: %w", err)
	}
	return nil
}
