package experiment

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/internal/atomicfile"
	"github.com/kvgpt/kvgpt/internal/inputfile"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/theory"
)

// Options configure Run.
type Options struct {
	Preset     Preset
	Data       *gpt.Dataset
	VocabSize  int
	Seeds      int                        // 0: the preset's
	Out        string                     // output directory
	NewBackend func() (nn.Backend, error) // a fresh backend per run (closed after it)
	Backend    string                     // the backend's name, for the report
	Progress   io.Writer                  // progress line; nil for none
	Fresh      bool                       // ignore finished runs of an earlier results.json in Out
	// Only, if set, keeps the variants whose names it matches (the report leaves the others out).
	Only *regexp.Regexp
	// Jobs is how many runs train at once (0: 1), each on a backend of its own; NewBackend sizes
	// each one's threads so that together they fill the machine.
	Jobs int
}

// RunResult is one training run: one variant at one seed.
type RunResult struct {
	Variant      string    `json:"variant"`
	Seed         uint64    `json:"seed"`
	Params       int       `json:"params"`
	NonEmbParams int       `json:"non_embedding_params"`
	Status       string    `json:"status"` // "done", "diverged: …" or "skipped: …"
	FinalVal     *float64  `json:"final_val_loss"`
	EvalSteps    []int     `json:"eval_steps"`
	ValLoss      []float64 `json:"val_loss"`
	MaxGradNorm  float64   `json:"max_grad_norm"`
	// MaxGradNormLate is the largest gradient norm after warmup: the early steps, the same for
	// every weight decay of a seed, do not hide what the decay does later.
	MaxGradNormLate float64 `json:"max_grad_norm_after_warmup"`
	LossSpikes      int     `json:"loss_spikes"`
	MaxAttnLogit    float64 `json:"max_attn_logit"`
	Seconds         float64 `json:"seconds"`
	Metrics         string  `json:"metrics"` // JSON-lines file, relative to the output directory
}

// Results is everything an experiment produced; it is written to results.json after every run.
type Results struct {
	Preset   Preset      `json:"preset"`
	Data     string      `json:"data"`
	Vocab    int         `json:"vocab_size"`
	Backend  string      `json:"backend"`
	Seeds    []uint64    `json:"seeds"`
	Variants []Variant   `json:"variants"`
	Runs     []RunResult `json:"runs"`
	Summary  []Summary   `json:"summary"`
	Started  time.Time   `json:"started"`
	Updated  time.Time   `json:"updated"`
}

// Files Run writes into Options.Out.
const (
	ResultsFile  = "results.json"
	ReportFile   = "report.md"
	ValPlot      = "val_loss.png"
	RelDiffPlot  = "rel_diff.png"
	WDPlot       = "weight_decay.png"
	RunsDir      = "runs"
	spikeWindow  = 20   // a loss spike is a training loss above
	spikeFactor  = 1.25 // spikeFactor × the mean of the previous spikeWindow steps
	logitSeqs    = 2    // validation sequences for the max |attention logit|
	progressTick = 500 * time.Millisecond
	reportEvery  = 20 * time.Second
)

// MaxSeeds bounds the seeds of a sweep: each one trains every variant, so even this many is a
// sweep of months; a larger number is a mistake, not a plan.
const MaxSeeds = 1000

// Run trains every variant of the preset at every seed and writes the results, the report and the
// plots into o.Out. Results are rewritten after every run, so an interrupted sweep keeps what it
// finished, and a later Run with the same preset and data skips the finished runs (unless o.Fresh).
// It returns the results so far and ctx.Err() when ctx is cancelled.
func Run(ctx context.Context, o Options) (*Results, error) {
	p := o.Preset
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if o.Seeds == 0 {
		o.Seeds = p.Seeds
	}
	if o.Seeds < 1 || o.Seeds > MaxSeeds {
		return nil, fmt.Errorf("seeds must be between 1 and %d, got %d", MaxSeeds, o.Seeds)
	}
	if o.Data == nil || o.NewBackend == nil || o.VocabSize < 2 {
		return nil, errors.New("experiment: Options need Data, VocabSize and NewBackend")
	}
	if err := os.MkdirAll(filepath.Join(o.Out, RunsDir), 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	res := &Results{Preset: p, Data: o.Data.Source, Vocab: o.VocabSize, Variants: Selected(p, o.Only), Backend: o.Backend, Started: time.Now().UTC()}
	if len(res.Variants) == 0 {
		return nil, fmt.Errorf("experiment: no variant of preset %s matches %q", p.Name, o.Only)
	}
	for s := 0; s < o.Seeds; s++ {
		res.Seeds = append(res.Seeds, p.Train.Seed+uint64(s))
	}
	done, err := reusable(o, res)
	if err != nil {
		return nil, err
	}

	type job struct {
		v    Variant
		seed uint64
	}
	// Variant by variant, every seed of one before the next: an interrupted sweep then has mean ±
	// std for the variants that matter most (original and identity come first).
	var jobs []job
	for _, v := range res.Variants {
		for _, seed := range res.Seeds {
			jobs = append(jobs, job{v, seed})
		}
	}
	pr := &progress{w: o.Progress, total: len(jobs) * p.Train.Steps, runs: len(jobs), start: time.Now()}
	if len(done) > 0 && o.Progress != nil {
		fmt.Fprintf(o.Progress, "experiment: reusing %d finished runs from %s (pass --fresh to start over)\n", len(done), filepath.Join(o.Out, ResultsFile))
	}
	// results.json is rewritten after every run; the report and the plots after a run when
	// reportEvery has passed since they were last drawn, and at the end.
	var drawn time.Time
	write := func(final bool) error {
		full := final || time.Since(drawn) >= reportEvery
		if full {
			drawn = time.Now()
		}
		return res.write(o.Out, full)
	}
	var todo []int
	for i, j := range jobs {
		if r, ok := done[runKey(j.v.Name, j.seed)]; ok {
			res.Runs = append(res.Runs, r)
			pr.skip(p.Train.Steps)
			continue
		}
		todo = append(todo, i)
	}
	// Workers take the runs in order; results, the progress line and the files are shared under mu.
	var (
		mu       sync.Mutex
		firstErr error
		next     int
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range max(1, min(o.Jobs, len(todo))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next == len(todo) || firstErr != nil {
					mu.Unlock()
					return
				}
				i := todo[next]
				next++
				j := jobs[i]
				slot := pr.begin(i+1, j.v.Name, j.seed)
				mu.Unlock()
				r, err := runOne(ctx, o, j.v, j.seed, func(mt gpt.Metrics) {
					mu.Lock()
					pr.step(slot, mt)
					mu.Unlock()
				})
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					cancel()
				} else {
					res.Runs = append(res.Runs, r)
					pr.finish(slot, r)
					if err := write(false); err != nil && firstErr == nil {
						firstErr = err
						cancel()
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	pr.end()
	if firstErr != nil {
		if werr := write(true); werr != nil {
			return res, errors.Join(firstErr, werr)
		}
		return res, firstErr
	}
	return res, write(true)
}

// fileName maps a variant name to a portable file name.
func fileName(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.=^", r) {
			return r
		}
		return '_'
	}, name)
}

func runKey(variant string, seed uint64) string { return fmt.Sprintf("%s@%d", variant, seed) }

// reusable returns the finished runs of an earlier results.json in o.Out that stand for runs of
// res (same set-up, same variant definition, an intact metrics file), by runKey, and sets
// res.Started to the earlier one's. A results.json that does not parse, or one of another
// set-up, is an error unless o.Fresh (which ignores it: it is replaced); a run whose metrics file
// is damaged is not reused but trained again, which o.Progress is told.
func reusable(o Options, res *Results) (map[string]RunResult, error) {
	done := map[string]RunResult{}
	path := filepath.Join(o.Out, ResultsFile)
	if o.Fresh {
		return done, nil
	}
	prev, err := readResults(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return done, nil
	case err != nil:
		return nil, fmt.Errorf("%w; move it away, or pass --fresh to start over in %s", err, o.Out)
	case !sameSetup(prev, res):
		return nil, fmt.Errorf("experiment: %s holds the results of another set-up (differences: %s); pass --fresh to replace them, or another --out",
			path, strings.Join(setupDiff(prev, res), ", "))
	}
	for _, r := range prev.Runs {
		if !sameVariant(prev, res, r.Variant) {
			continue
		}
		if err := checkRunFile(o.Out, r, prev.Preset.Train.Steps); err != nil {
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "experiment: not reusing run %s seed %d: %v; it is trained again\n", r.Variant, r.Seed, err)
			}
			continue
		}
		done[runKey(r.Variant, r.Seed)] = r
	}
	res.Started = prev.Started
	return done, nil
}

// checkRunFile checks the metrics file of a finished run against its result: one record per step
// from step 1 — all steps of a run that is done, its evaluations those of the result.
func checkRunFile(dir string, r RunResult, steps int) error {
	if r.Metrics == "" {
		if strings.HasPrefix(r.Status, "skipped") {
			return nil
		}
		return errors.New("its result names no metrics file")
	}
	path := filepath.Join(dir, r.Metrics)
	limit := inputfile.Limit{Bytes: int64(steps+1) * maxMetricsRecord, Why: fmt.Sprintf("%d bytes for each of %d steps", maxMetricsRecord, steps)}
	raw, err := inputfile.ReadAll("metrics file", path, limit)
	if err != nil {
		return err
	}
	var evalSteps []int
	var valLoss []float64
	n := 0
	for i, line := range bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n")) {
		var mt gpt.Metrics
		if err := json.Unmarshal(line, &mt); err != nil {
			return fmt.Errorf("metrics file %s is damaged: line %d is not a metrics record", path, i+1)
		}
		if mt.Step != i+1 {
			return fmt.Errorf("metrics file %s is damaged: line %d has step %d", path, i+1, mt.Step)
		}
		if mt.ValLoss != nil {
			evalSteps, valLoss = append(evalSteps, mt.Step), append(valLoss, *mt.ValLoss)
		}
		n++
	}
	switch {
	case r.Status == "done" && n != steps:
		return fmt.Errorf("metrics file %s has %d steps, the run %d", path, n, steps)
	case !slices.Equal(evalSteps, r.EvalSteps) || !slices.Equal(valLoss, r.ValLoss):
		return fmt.Errorf("metrics file %s does not hold the evaluations of its result", path)
	}
	return nil
}

// maxMetricsRecord bounds one record of a metrics file (about 250 bytes).
const maxMetricsRecord = 4096

// maxResultsFile bounds results.json: a sweep of MaxSeeds seeds of a few dozen variants, with
// their evaluations, is far below it.
const maxResultsFile = 256 << 20

// setupKey returns the parts of r's set-up that a finished run of an earlier results.json must
// share to be reused, by name: the preset (its description aside), the data and the vocabulary.
func setupKey(r *Results) map[string]string {
	p := r.Preset
	p.Description = ""
	var fields map[string]json.RawMessage
	j, _ := json.Marshal(p)
	json.Unmarshal(j, &fields)
	key := map[string]string{"data": r.Data, "vocab_size": fmt.Sprint(r.Vocab)}
	for k, v := range fields {
		key["preset "+k] = string(v)
	}
	return key
}

// sameSetup reports whether an earlier results file was made by the same preset and data (the
// preset's description aside).
func sameSetup(a, b *Results) bool { return len(setupDiff(a, b)) == 0 }

// setupDiff returns the names of the parts of the set-ups of a and b that differ, sorted.
func setupDiff(a, b *Results) []string {
	ka, kb := setupKey(a), setupKey(b)
	var d []string
	for k := range ka {
		if ka[k] != kb[k] {
			d = append(d, k)
		}
	}
	for k := range kb {
		if _, ok := ka[k]; !ok {
			d = append(d, k)
		}
	}
	slices.Sort(d)
	return d
}

// sameVariant reports whether the variant called name has the same definition in a and b (its
// note aside), so a finished run of a can stand for a run of b.
func sameVariant(a, b *Results, name string) bool {
	find := func(r *Results) string {
		for _, v := range r.Variants {
			if v.Name == name {
				v.Note = "" // words, not the setting
				j, _ := json.Marshal(v)
				return string(j)
			}
		}
		return ""
	}
	fa := find(a)
	return fa != "" && fa == find(b)
}

// readResults reads a results.json: an error that names the file if it is missing (fs.ErrNotExist),
// too large, or does not parse.
func readResults(path string) (*Results, error) {
	b, err := inputfile.ReadAll("results file", path, inputfile.Limit{Bytes: maxResultsFile})
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("experiment: results %s are damaged: %v", path, err)
	}
	return &r, nil
}

// runOne trains one variant at one seed. A diverged run is a result, not an error; the error is
// for the sweep as a whole (I/O, a device failure, cancellation).
func runOne(ctx context.Context, o Options, v Variant, seed uint64, onStep func(gpt.Metrics)) (RunResult, error) {
	start := time.Now()
	cfg := v.Config(o.Preset, o.VocabSize)
	r := RunResult{Variant: v.Name, Seed: seed, Params: cfg.NumParams(), NonEmbParams: NonEmbeddingParams(cfg)}
	b, err := o.NewBackend()
	if err != nil {
		return r, fmt.Errorf("opening the backend: %w", err)
	}
	defer b.Close()
	if _, ok := b.(nn.RMSNormer); v.Mode == gpt.Residual && !ok {
		r.Status = fmt.Sprintf("skipped: the residual query mode needs the RMSNorm op, which %s lacks (it runs on the cpu backend)", b.Name())
		return r, nil
	}
	m, err := gpt.New(cfg, b, seed)
	if err != nil {
		return r, fmt.Errorf("%s: %w", v.Name, err)
	}
	tc := v.TrainConfig(o.Preset, seed)
	t, err := gpt.NewTrainer(m, tc, o.Data)
	if err != nil {
		return r, fmt.Errorf("%s: %w", v.Name, err)
	}
	// The metrics go to a temporary file that becomes the run's file when the run ends (see
	// atomicfile): a run cut short leaves no metrics file, only an earlier run's temporary one,
	// removed here (the experiment holds the lock of o.Out).
	r.Metrics = filepath.Join(RunsDir, fmt.Sprintf("%s_seed%d.jsonl", fileName(v.Name), seed))
	path := filepath.Join(o.Out, r.Metrics)
	if _, err := atomicfile.RemoveTemps(path); err != nil {
		return r, err
	}
	err = atomicfile.WriteFunc(path, func(f io.Writer) error {
		w := bufio.NewWriter(f)
		enc := json.NewEncoder(w)
		var recent []float64
		err := t.Run(ctx, func(mt gpt.Metrics) error {
			r.MaxGradNorm = math.Max(r.MaxGradNorm, mt.GradNorm)
			if mt.Step > tc.Warmup {
				r.MaxGradNormLate = math.Max(r.MaxGradNormLate, mt.GradNorm)
			}
			if mt.Step > tc.Warmup && len(recent) == spikeWindow && mt.Loss > spikeFactor*mean(recent) {
				r.LossSpikes++
			}
			recent = append(recent, mt.Loss)
			if len(recent) > spikeWindow {
				recent = recent[1:]
			}
			if mt.ValLoss != nil {
				r.EvalSteps = append(r.EvalSteps, mt.Step)
				r.ValLoss = append(r.ValLoss, *mt.ValLoss)
			}
			onStep(mt)
			return enc.Encode(mt)
		})
		var nf *gpt.NonFiniteError
		switch {
		case errors.As(err, &nf):
			r.Status = "diverged: " + nf.Error()
		case err != nil:
			return err
		default:
			r.Status = "done"
			last := r.ValLoss[len(r.ValLoss)-1]
			r.FinalVal = &last
			if r.MaxAttnLogit, err = maxAttnLogit(m, o.Data); err != nil {
				return fmt.Errorf("%s: max attention logit: %w", v.Name, err)
			}
		}
		return w.Flush()
	})
	if err != nil {
		return r, err
	}
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}

// maxAttnLogit returns the largest |scale·q·k| of the trained model over the first logitSeqs
// validation sequences. kvgpt's attention op keeps only the softmax probabilities, so the logits are
// recomputed from the weights by the float64 reference model (theory.FromGPT), which the theory
// tests check against the float32 model.
func maxAttnLogit(m *gpt.Model, d *gpt.Dataset) (float64, error) {
	ref, err := theory.FromGPT(m)
	if err != nil {
		return 0, err
	}
	T := m.Config.BlockSize
	mx := 0.0
	ids := make([]int32, T)
	for s := 0; s < logitSeqs && (s+1)*T <= d.Val.Len(); s++ {
		d.Val.Read(ids, s*T)
		tok := make([]int, T)
		for i, id := range ids {
			tok[i] = int(id)
		}
		_, l := ref.Forward(tok)
		mx = math.Max(mx, l)
	}
	return mx, nil
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// progress draws one line across the whole sweep: the sweep's share done, each running run's step
// and the ETA; a line of its own for every finished run. Its methods are called under one lock.
type progress struct {
	w           io.Writer
	total, runs int // steps and runs in the sweep
	doneSteps   int // steps of finished (or skipped) runs
	slots       []*slot
	start       time.Time
	skipped     int // steps reused from an earlier results file (not timed)
	last        time.Time
	open        bool // a progress line without its newline is on screen
}

// slot is one run in progress.
type slot struct {
	run     int
	name    string
	seed    uint64
	cur     int
	steps   int
	loss    float64
	lastVal float64
}

func (p *progress) skip(steps int) { p.doneSteps += steps; p.skipped += steps }

func (p *progress) begin(run int, name string, seed uint64) *slot {
	s := &slot{run: run, name: name, seed: seed, lastVal: math.NaN()}
	p.slots = append(p.slots, s)
	return s
}

func (p *progress) step(s *slot, mt gpt.Metrics) {
	s.cur, s.steps, s.loss = mt.Step, mt.Steps, mt.Loss
	if mt.ValLoss != nil {
		s.lastVal = *mt.ValLoss
	}
	if p.w == nil || time.Since(p.last) < progressTick {
		return
	}
	p.last, p.open = time.Now(), true
	done := p.doneSteps
	for _, o := range p.slots {
		done += o.cur
	}
	eta := "?"
	if timed := done - p.skipped; timed > 0 {
		rate := time.Since(p.start).Seconds() / float64(timed)
		eta = (time.Duration(rate*float64(p.total-done)) * time.Second).Round(time.Second).String()
	}
	var b strings.Builder
	for _, o := range p.slots {
		if o.steps == 0 {
			continue // not started yet
		}
		if b.Len() > 0 {
			b.WriteString(" | ")
		}
		fmt.Fprintf(&b, "run %d/%d %s seed %d: step %d/%d loss %.4f", o.run, p.runs, o.name, o.seed, o.cur, o.steps, o.loss)
		if !math.IsNaN(o.lastVal) {
			fmt.Fprintf(&b, " val %.4f", o.lastVal)
		}
	}
	fmt.Fprintf(p.w, "\r[%3.0f%%] %s | sweep ETA %s\033[K", 100*float64(done)/float64(p.total), b.String(), eta)
}

func (p *progress) finish(s *slot, r RunResult) {
	p.doneSteps += s.cur
	p.slots = slices.DeleteFunc(p.slots, func(o *slot) bool { return o == s })
	if p.w == nil {
		return
	}
	out := r.Status
	if r.FinalVal != nil {
		out = fmt.Sprintf("val %.4f", *r.FinalVal)
	}
	p.open = false
	fmt.Fprintf(p.w, "\r[%3.0f%%] run %d/%d %s seed %d: %s (%.0fs)\033[K\n",
		100*float64(p.doneSteps)/float64(p.total), s.run, p.runs, s.name, s.seed, out, r.Seconds)
}

func (p *progress) end() {
	if p.w != nil && p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}

// Rewrite redraws report.md and the plots in dir from its results.json, without training: to look
// at a running or interrupted sweep, or at a finished one with a newer kvgpt's report. With
// results, it also rewrites results.json with the statistics an older kvgpt did not record; only
// pass it when no experiment is running in dir (which rewrites results.json itself).
func Rewrite(dir string, results bool) (*Results, error) {
	res, err := readResults(filepath.Join(dir, ResultsFile))
	if err != nil {
		return nil, err
	}
	if len(res.Variants) == 0 {
		return nil, fmt.Errorf("experiment: %s has no variants: not a kvgpt experiment's results", filepath.Join(dir, ResultsFile))
	}
	for i := range res.Runs {
		if err := res.backfill(dir, &res.Runs[i]); err != nil {
			return nil, err
		}
	}
	if !results {
		res.summarize()
		return res, res.draw(dir)
	}
	return res, res.write(dir, true)
}

// backfill fills the statistics of a run that an older kvgpt did not record
// (MaxGradNormLate) from its metrics file, if it has one.
func (r *Results) backfill(dir string, run *RunResult) error {
	if run.MaxGradNormLate != 0 || run.Metrics == "" {
		return nil
	}
	f, err := os.Open(filepath.Join(dir, run.Metrics))
	if errors.Is(err, os.ErrNotExist) {
		return nil // the metrics were not kept: the column stays empty
	} else if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var mt gpt.Metrics
		if err := json.Unmarshal(sc.Bytes(), &mt); err != nil {
			return fmt.Errorf("experiment: %s: %w", run.Metrics, err)
		}
		if mt.Step > r.Preset.Train.Warmup {
			run.MaxGradNormLate = math.Max(run.MaxGradNormLate, mt.GradNorm)
		}
	}
	return sc.Err()
}
