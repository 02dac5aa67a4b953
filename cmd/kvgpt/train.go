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
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/internal/atomicfile"
	"github.com/kvgpt/kvgpt/internal/inputfile"
	"github.com/kvgpt/kvgpt/internal/lockfile"
	"github.com/kvgpt/kvgpt/nn"
)

// Files a training run writes into --out, and the --out of a bare `kvgpt train` (and `make
// train`), where a bare `kvgpt sample` looks for the checkpoint.
const (
	defaultOut     = "out/train"
	checkpointFile = "ckpt.safetensors"
	metricsFile    = "metrics.jsonl"
	plotFile       = "loss.png"
)

// Checkpoint metadata of the run's data, read back on --resume (the tokenizer's is gpt's:
// gpt.TokenizerMeta).
const (
	metaData            = "data"             // what the text is, for people
	metaDataPath        = "data_path"        // --data ("": the default corpus)
	metaCorpusBytes     = "corpus_bytes"     // --corpus-bytes
	metaLogEvery        = "log_every"        // --log-every
	metaCheckpointEvery = "checkpoint_every" // --checkpoint-every
)

// trainOptions are the flags of `kvgpt train`.
type trainOptions struct {
	preset, data, vocab, mode, out   string
	cfg                              gpt.Config
	tc                               gpt.TrainConfig
	be                               backendFlag
	logEvery, ckptEvery, corpusBytes int
	resume, overwrite                bool
	autoBatch                        bool // --batch-size auto
}

// presetOptions returns the options of a run of preset p: its model, training and data settings,
// the query-free mode, and the CLI's own output settings.
func presetOptions(p gpt.Preset) trainOptions {
	return trainOptions{preset: p.Name, vocab: p.Vocab, mode: string(gpt.Identity), out: defaultOut,
		cfg: p.Model, tc: p.Train, be: backendFlag{name: "auto"},
		logEvery: 10, ckptEvery: 200, corpusBytes: p.CorpusBytes}
}

// checkpointOptions returns the options of the run that wrote ck, as far as the checkpoint records
// them (model, training, data, how often it logged and saved); the rest are the default preset's.
func checkpointOptions(ck *gpt.Checkpoint) trainOptions {
	p, _ := gpt.LookupPreset(gpt.DefaultPreset)
	o := presetOptions(p)
	o.preset, o.resume = "", true
	o.cfg, o.tc, o.mode = ck.Config, ck.Train, string(ck.Config.QueryMode)
	o.vocab, o.data = ck.Meta[gpt.TokenizerKey], ck.Meta[metaDataPath]
	for _, m := range []struct {
		key string
		v   *int
	}{{metaCorpusBytes, &o.corpusBytes}, {metaLogEvery, &o.logEvery}, {metaCheckpointEvery, &o.ckptEvery}} {
		if n, err := strconv.Atoi(ck.Meta[m.key]); err == nil {
			*m.v = n
		}
	}
	return o
}

func (o *trainOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.preset, "preset", o.preset, "model, training and data settings to start from, which the other flags override: "+gpt.PresetNames())
	fs.StringVar(&o.data, "data", o.data, "training text `file` (default: the Go standard library sources under `go env GOROOT`)")
	fs.StringVar(&o.vocab, "vocab", o.vocab, "tokens: byte (256) or char (the characters of the data)")
	fs.StringVar(&o.mode, "mode", o.mode, "query mode: baseline (W_Q, W_K, W_V), identity (query-free, W_Q = I) or residual")
	fs.IntVar(&o.cfg.NLayer, "n-layer", o.cfg.NLayer, "transformer blocks")
	fs.IntVar(&o.cfg.NHead, "n-head", o.cfg.NHead, "attention heads (must divide n-embd)")
	fs.IntVar(&o.cfg.NEmbd, "n-embd", o.cfg.NEmbd, "model width C")
	fs.IntVar(&o.cfg.BlockSize, "block-size", o.cfg.BlockSize, "sequence length T")
	fs.IntVar(&o.cfg.MLPHidden, "mlp-hidden", o.cfg.MLPHidden, "MLP hidden width (0: 4·n-embd)")
	fs.Float64Var(&o.cfg.AttnScale, "attn-scale", o.cfg.AttnScale, "attention logit scale (0: 1/√dh baseline, 1/(2√dh) identity)")
	fs.Var(batchSizeFlag{&o.tc.BatchSize, &o.autoBatch}, "batch-size", "sequences per micro-batch B, or auto: the largest that fits in memory, with --grad-accum raised to keep the sequences per step")
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
	o.be.define(fs, backendNames)
	fs.StringVar(&o.out, "out", o.out, "output `dir`ectory: checkpoint, metrics.jsonl, loss.png")
	fs.IntVar(&o.logEvery, "log-every", o.logEvery, "print a progress line every N steps")
	fs.IntVar(&o.ckptEvery, "checkpoint-every", o.ckptEvery, "write a checkpoint every N steps (and at the end; 0: at the end only)")
	fs.IntVar(&o.corpusBytes, "corpus-bytes", o.corpusBytes, "size of the default Go corpus in bytes")
	fs.BoolVar(&o.resume, "resume", o.resume, "continue the run whose checkpoint is in --out, with its settings (flags given override them; model flags must agree)")
	fs.BoolVar(&o.overwrite, "overwrite", o.overwrite, "start a new run in an --out that holds one, replacing its checkpoint, metrics and loss curve (without it, such an --out is refused)")
}

// parseTrainFlags parses args over the options o and returns them with the names of the flags
// args set.
func parseTrainFlags(args []string, o trainOptions, output io.Writer) (trainOptions, map[string]bool, error) {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(output)
	o.flags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: kvgpt train [flags]\n\nTrains a model from a preset (--preset), with the flags given overriding it, and writes the\ncheckpoint, metrics and loss curve into --out. --resume continues the run in --out; --overwrite\nreplaces it.")
		printPresets(fs.Output())
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, nil, err
	}
	if fs.NArg() > 0 {
		return o, nil, fmt.Errorf("unexpected argument %q (all options are flags; see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return o, set, nil
}

// interruptedError reports a run stopped after its checkpoint was saved (runTrain turns it into a
// signalError that names the signal).
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
	ctx, stop := signalContext(context.Background())
	defer stop()
	err := train(ctx, args, stdout, stderr)
	if ie := (*interruptedError)(nil); errors.As(err, &ie) {
		return &signalError{sig: stoppedBy(ctx), msg: fmt.Sprintf("stopped after step %d; checkpoint saved to %s (continue with --resume)", ie.step, ie.path)}
	}
	return err
}

// train is `kvgpt train`; it stops at the next step boundary, saves and returns an
// *interruptedError when ctx is cancelled.
func train(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	r, err := resolveTrain(args, stderr)
	if err != nil {
		return err
	}
	defer r.lock.Unlock()
	defer r.ds.Close()
	be, tr, err := r.open(stdout, stderr)
	if err != nil {
		return err
	}
	defer be.Close()
	return r.run(ctx, tr, be.Name(), stdout, stderr)
}

// trainRun is a resolved `kvgpt train`: its options, the checkpoint it continues (nil for a new
// run; its header until open loads it), its data, and the lock of its --out (Unlock it when done).
type trainRun struct {
	o        trainOptions
	ck       *gpt.Checkpoint
	ckptPath string
	tok      gpt.Tokenizer
	ds       *gpt.Dataset
	lock     *lockfile.Lock
}

// resolveTrain locks --out, parses args over their starting point — the preset, or on --resume
// the settings of the checkpoint in --out — checks them, and reads and tokenizes the data.
func resolveTrain(args []string, stderr io.Writer) (_ *trainRun, err error) {
	def, _ := gpt.LookupPreset(gpt.DefaultPreset)
	o, set, err := parseTrainFlags(args, presetOptions(def), stderr)
	if err != nil {
		return nil, err
	}
	r := &trainRun{ckptPath: filepath.Join(o.out, checkpointFile)}
	if r.lock, err = lockOut(o.out, o.resume); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.lock.Unlock()
		}
	}()
	if !o.resume && !o.overwrite {
		if run := existingRun(o.out); run != "" {
			return nil, fmt.Errorf("output directory %s holds a run (%s): pass --resume to continue it, --overwrite to replace it, or another --out", o.out, run)
		}
	}
	var p gpt.Preset
	switch {
	case o.resume && set["preset"]:
		return nil, errors.New("--preset and --resume conflict: a resumed run continues with the settings of its checkpoint (drop --preset, or use another --out for a new run)")
	case o.resume && o.overwrite:
		return nil, errors.New("--resume and --overwrite conflict: --resume continues the run in --out, --overwrite replaces it (pass one)")
	case o.resume: // the header now, the tensors once the memory plan is checked (see open)
		if r.ck, err = gpt.ReadCheckpointHeader(r.ckptPath); err != nil {
			return nil, err
		}
		o = checkpointOptions(r.ck)
	default:
		if p, err = gpt.LookupPreset(o.preset); err != nil {
			return nil, fmt.Errorf("--preset: %w", err)
		}
		o = presetOptions(p)
	}
	// The flags given override the starting point (args parsed once already: no error here).
	if r.o, _, err = parseTrainFlags(args, o, io.Discard); err != nil {
		return nil, err
	}
	if err := r.o.check(); err != nil {
		return nil, err
	}
	if set["corpus-bytes"] && r.o.data != "" {
		return nil, fmt.Errorf("--corpus-bytes %d sizes the default Go corpus, which --data %s replaces: drop one of them", r.o.corpusBytes, r.o.data)
	}
	if r.o.data == "" && p.DataHint != "" {
		return nil, fmt.Errorf("preset %s needs --data FILE: %s", p.Name, p.DataHint)
	}
	if err := r.readData(set["vocab"] || o.resume); err != nil {
		return nil, err
	}
	return r, nil
}

// check reports the first bad option that the model and trainer do not check themselves, and
// sets the query mode.
func (o *trainOptions) check() error {
	if o.logEvery < 1 {
		return fmt.Errorf("--log-every must be ≥ 1, got %d", o.logEvery)
	}
	if o.ckptEvery < 0 {
		return fmt.Errorf("--checkpoint-every must be ≥ 0, got %d", o.ckptEvery)
	}
	if err := o.be.check(); err != nil {
		return err
	}
	if err := checkWritableDir(o.out); err != nil {
		return err
	}
	mode, err := gpt.ParseQueryMode(o.mode)
	if err != nil {
		return err
	}
	o.cfg.QueryMode = mode
	// Everything but the vocabulary, which the data decides, is checked before the data is read.
	c := o.cfg
	c.VocabSize = max(c.VocabSize, 256)
	if err := c.Validate(); err != nil {
		return err
	}
	return o.tc.Validate()
}

// readData opens the data — a text file or the default corpus read and tokenized, token files
// memory-mapped — with its tokenizer (on --resume: the checkpoint's), and checks the configuration
// against the checkpoint. vocabSet reports --vocab given.
func (r *trainRun) readData(vocabSet bool) error {
	o := &r.o
	spec := dataSpec(o.data, o.vocab, vocabSet, o.corpusBytes)
	if r.ck != nil {
		var err error
		if spec.Tokenizer, err = r.ck.Tokenizer(); err != nil {
			return fmt.Errorf("checkpoint %s: %w", r.ckptPath, err)
		}
		if spec.Tokenizer.Kind() != o.vocab {
			return fmt.Errorf("checkpoint %s is from another configuration: its tokens are %s, --vocab says %s; drop the flag or use another --out",
				r.ckptPath, spec.Tokenizer.Kind(), o.vocab)
		}
	}
	ds, tok, err := gpt.LoadData(spec, o.cfg.BlockSize)
	if err != nil {
		return err
	}
	r.ds, r.tok = ds, tok
	o.vocab, o.cfg.VocabSize = tok.Kind(), tok.VocabSize()
	if r.ck != nil {
		if d := gpt.ConfigDiff(r.ck.Config, o.cfg); d != "" {
			return fmt.Errorf("checkpoint %s is from another configuration (checkpoint vs flags: %s); drop the model flags that differ or use another --out",
				r.ckptPath, d)
		}
	}
	if err := o.cfg.Validate(); err != nil {
		return err
	}
	return o.tc.Validate()
}

// dataSpec returns the gpt.DataSpec of --data path with --vocab vocab (vocabSet: given, not the
// preset's) and --corpus-bytes: text is read whole only if it fits in memory.
func dataSpec(path, vocab string, vocabSet bool, corpusBytes int) gpt.DataSpec {
	spec := gpt.DataSpec{Path: path, DefaultVocab: vocab, CorpusBytes: corpusBytes}
	if vocabSet {
		spec.Vocab = vocab
	}
	if avail, err := nn.SystemAvailableMemory(); err == nil {
		spec.MaxTextBytes = gpt.TextLimit(avail)
	}
	return spec
}

// open opens the backend (and prints it), checks the run's memory plan (see planMemory) and builds
// the model and its trainer, restored from the checkpoint on --resume, which it loads.
func (r *trainRun) open(stdout, stderr io.Writer) (_ nn.Backend, tr *gpt.Trainer, err error) {
	be, err := r.o.be.open(stdout)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			be.Close()
		}
	}()
	if err := r.planMemory(be, stdout); err != nil {
		return nil, nil, err
	}
	model, err := gpt.New(r.o.cfg, be, r.o.tc.Seed)
	if err != nil {
		return nil, nil, err
	}
	if tr, err = gpt.NewTrainer(model, r.o.tc, r.ds); err != nil {
		return nil, nil, err
	}
	if r.ck != nil {
		if r.ck, err = loadCheckpoint(r.ckptPath, r.ck, stderr); err != nil {
			return nil, nil, err
		}
		err = r.ck.Restore(tr)
	}
	return be, tr, err
}

// run prints the set-up, trains to the last step with progress lines, metrics and checkpoints,
// and plots the loss curve.
func (r *trainRun) run(ctx context.Context, tr *gpt.Trainer, backend string, stdout, stderr io.Writer) error {
	if r.o.overwrite {
		if err := r.removeRun(stdout); err != nil {
			return err
		}
	}
	r.describe(tr, backend, stdout)
	log, err := r.openLog(tr, stdout, stderr)
	if err != nil {
		return err
	}
	defer log.f.Close()
	if tr.StepsDone() == 0 {
		v, err := tr.Evaluate()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "step 0 | val loss %.4f (ln V = %.4f)\n", v, math.Log(float64(r.tok.VocabSize())))
	}
	start := time.Now()
	runErr := tr.Run(ctx, log.record)
	if err := log.w.Flush(); err != nil && runErr == nil {
		runErr = fmt.Errorf("writing metrics: %w", err)
	}
	var nf *gpt.NonFiniteError
	switch {
	case runErr == nil:
	case errors.As(runErr, &nf):
		if log.lastSaved >= 0 {
			return fmt.Errorf("%w\nthe last good checkpoint (step %d) is %s", runErr, log.lastSaved, r.ckptPath)
		}
		return fmt.Errorf("%w\nno checkpoint was written", runErr)
	case ctx.Err() != nil && errors.Is(runErr, ctx.Err()):
		if err := log.save(); err != nil {
			return fmt.Errorf("interrupted, and saving the checkpoint failed: %w", err)
		}
		return &interruptedError{step: tr.StepsDone(), path: r.ckptPath}
	default:
		return runErr
	}
	if err := log.save(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done: %d steps in %s; checkpoint %s\n", tr.StepsDone(), time.Since(start).Round(time.Second), r.ckptPath)
	c, metrics, plot := r.o.cfg, filepath.Join(r.o.out, metricsFile), filepath.Join(r.o.out, plotFile)
	if err := plotLoss(metrics, plot, fmt.Sprintf("%s, %d params", c.QueryMode, c.NumParams())); err != nil {
		fmt.Fprintf(stderr, "kvgpt train: warning: no loss plot: %v\n", err)
	} else {
		fmt.Fprintf(stdout, "loss curve: %s, metrics: %s\n", plot, metrics)
	}
	return nil
}

// describe prints the data, the model and the training settings.
func (r *trainRun) describe(tr *gpt.Trainer, backend string, w io.Writer) {
	c, tc, tok, ds := r.o.cfg, tr.Config, r.tok, r.ds
	fmt.Fprintf(w, "data: %s\n", ds.Source)
	fmt.Fprintf(w, "      %s tokens (V=%d): %d train, %d validation\n", tok.Kind(), tok.VocabSize(), ds.Train.Len(), ds.Val.Len())
	fmt.Fprintf(w, "model: %s, L=%d C=%d NH=%d T=%d H=%d, attention scale %.4g, %d parameters\n",
		c.QueryMode, c.NLayer, c.NEmbd, c.NHead, c.BlockSize, c.Hidden(), c.Scale(), c.NumParams())
	fmt.Fprintf(w, "train: %d steps × %d tokens (B=%d × T=%d × accum %d), lr %g → %g, warmup %d, weight decay %g, backend %s\n",
		tc.Steps, tr.TokensPerStep(), tc.BatchSize, c.BlockSize, tc.GradAccum, tc.LR, tc.MinLR, tc.Warmup, tc.WeightDecay, backend)
	if r.ck != nil {
		fmt.Fprintf(w, "resumed from %s at step %d\n", r.ckptPath, r.ck.Step)
	}
}

// trainLog receives every step's metrics: it appends them to the metrics file, prints the
// progress lines and writes the checkpoints.
type trainLog struct {
	r         *trainRun
	tr        *gpt.Trainer
	f         *os.File
	w         *bufio.Writer
	enc       *json.Encoder
	stdout    io.Writer
	meta      map[string]string // the checkpoint's extra metadata
	lastSaved int               // step of the last checkpoint written or resumed from; -1: none
}

// openLog opens the metrics file: a new one, or on --resume the old one without the records
// after the checkpoint (a crash after it), which are redone.
func (r *trainRun) openLog(tr *gpt.Trainer, stdout, stderr io.Writer) (*trainLog, error) {
	path := filepath.Join(r.o.out, metricsFile)
	mode := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	lastSaved := -1
	if r.ck != nil {
		missing, err := truncateMetrics(path, r.ck.Step, r.o.tc.Steps)
		if err != nil {
			return nil, err
		}
		if missing != "" {
			fmt.Fprintf(stderr, "kvgpt train: warning: %s lacks the records of steps %s, which are not redone (a kvgpt older than this one could lose them in a crash)\n", path, missing)
		}
		mode, lastSaved = os.O_CREATE|os.O_WRONLY|os.O_APPEND, r.ck.Step
	}
	f, err := os.OpenFile(path, mode, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot write metrics: %w", err)
	}
	meta := gpt.TokenizerMeta(r.tok)
	meta[metaData], meta[metaDataPath], meta[metaCorpusBytes] = r.ds.Source, r.o.data, strconv.Itoa(r.o.corpusBytes)
	meta[metaLogEvery], meta[metaCheckpointEvery] = strconv.Itoa(r.o.logEvery), strconv.Itoa(r.o.ckptEvery)
	w := bufio.NewWriter(f)
	return &trainLog{r: r, tr: tr, f: f, w: w, enc: json.NewEncoder(w), stdout: stdout, meta: meta, lastSaved: lastSaved}, nil
}

// save writes the metrics so far to disk, then the checkpoint: a checkpoint at step N comes with
// the metrics of steps 1 to N, which a resumed run keeps.
func (l *trainLog) save() error {
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("writing metrics: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("writing metrics: %w", err)
	}
	if err := saveCheckpoint(l.tr, l.r.ckptPath, l.meta); err != nil {
		return err
	}
	l.lastSaved = l.tr.StepsDone()
	return nil
}

// record is the trainer's metrics sink.
func (l *trainLog) record(m gpt.Metrics) error {
	if err := l.enc.Encode(m); err != nil {
		return fmt.Errorf("writing metrics: %w", err)
	}
	o := l.r.o
	if m.Step%o.logEvery == 0 || m.Step == m.Steps || m.ValLoss != nil {
		line := fmt.Sprintf("step %*d/%d | loss %.4f | lr %.2e | %.0f tok/s | ETA %s",
			len(strconv.Itoa(m.Steps)), m.Step, m.Steps, m.Loss, m.LR, m.TokensPerSec,
			(time.Duration(m.ETASec) * time.Second).Round(time.Second))
		if m.ValLoss != nil {
			line += fmt.Sprintf(" | val loss %.4f", *m.ValLoss)
		}
		fmt.Fprintln(l.stdout, line)
		if err := l.w.Flush(); err != nil {
			return fmt.Errorf("writing metrics: %w", err)
		}
	}
	if o.ckptEvery > 0 && m.Step%o.ckptEvery == 0 && m.Step != m.Steps {
		return l.save()
	}
	return nil
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

// truncateMetrics drops the records of a metrics file past step (missing file: nothing to do),
// atomically, and returns the steps up to step that it lacks, a range as "a–b" each ("" if none).
// The file must hold at most a run of steps records (maxMetricsRecord bytes each).
func truncateMetrics(path string, step, steps int) (missing string, err error) {
	limit := inputfile.Limit{Bytes: int64(steps+1) * maxMetricsRecord, Why: fmt.Sprintf("%d bytes for each of the run's %d steps", maxMetricsRecord, steps)}
	raw, err := inputfile.ReadAll("metrics file", path, limit)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var keep []byte
	next, gaps := 1, []string{}
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		var m gpt.Metrics
		if json.Unmarshal(line, &m) != nil || m.Step > step || m.Step < next {
			continue
		}
		if m.Step > next {
			gaps = append(gaps, stepRange(next, m.Step-1))
		}
		keep, next = append(keep, line...), m.Step+1
	}
	if next <= step {
		gaps = append(gaps, stepRange(next, step))
	}
	if err := atomicfile.Write(path, keep); err != nil {
		return "", fmt.Errorf("rewriting metrics: %w", err)
	}
	return strings.Join(gaps, ", "), nil
}

// maxMetricsRecord bounds one record of a metrics file (about 250 bytes).
const maxMetricsRecord = 4096

// stepRange returns "a" or "a–b".
func stepRange(a, b int) string {
	if a == b {
		return strconv.Itoa(a)
	}
	return fmt.Sprintf("%d–%d", a, b)
}
