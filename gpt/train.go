package gpt

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/tokens"
)

// TrainConfig holds the optimisation settings of a training run. The sequence length is the
// model's BlockSize.
type TrainConfig struct {
	BatchSize   int     // B, sequences per micro-batch
	GradAccum   int     // micro-batches per optimizer step
	Steps       int     // optimizer steps in all
	LR          float64 // peak learning rate
	MinLR       float64 // floor of the cosine decay
	Warmup      int     // steps of linear warmup from LR/Warmup to LR
	WeightDecay float64 // AdamW decay of rank ≥ 2 tensors; < 0 means the mode's default
	Beta1       float64
	Beta2       float64
	Eps         float64
	GradClip    float64 // global gradient-norm clip; 0 turns clipping off
	EvalEvery   int     // evaluate every EvalEvery steps and after the last; 0: after the last only
	EvalBatches int     // validation micro-batches (of BatchSize sequences) per evaluation
	Seed        uint64  // seeds the batch order (and, by convention, the initialisation)
}

// DefaultTrainConfig returns the training settings of the default preset, which are `kvgpt
// train`'s defaults: AdamW (0.9, 0.95, eps 1e-8) with the mode's weight decay, clipping at 1.0,
// B = 16, 400 steps at 3e-3 with 30 warmup steps, cosine to 3e-4, seed 1337.
func DefaultTrainConfig() TrainConfig {
	p, err := LookupPreset(DefaultPreset)
	if err != nil {
		panic(err) // the table lacks its own default: a bug
	}
	return p.Train
}

// Validate reports the first problem with tc, or nil.
func (tc TrainConfig) Validate() error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case tc.BatchSize < 1:
		return fmt.Errorf("gpt: batch-size must be ≥ 1, got %d", tc.BatchSize)
	case tc.GradAccum < 1:
		return fmt.Errorf("gpt: grad-accum must be ≥ 1, got %d", tc.GradAccum)
	case tc.Steps < 1:
		return fmt.Errorf("gpt: steps must be ≥ 1, got %d", tc.Steps)
	case !finite(tc.LR) || tc.LR <= 0:
		return fmt.Errorf("gpt: lr must be a finite number > 0, got %v", tc.LR)
	case !finite(tc.MinLR) || tc.MinLR < 0 || tc.MinLR > tc.LR:
		return fmt.Errorf("gpt: min-lr must be between 0 and lr (%v), got %v", tc.LR, tc.MinLR)
	case tc.Warmup < 0:
		return fmt.Errorf("gpt: warmup must be ≥ 0, got %d", tc.Warmup)
	case !finite(tc.WeightDecay):
		return fmt.Errorf("gpt: weight-decay must be finite, got %v", tc.WeightDecay)
	case !(tc.Beta1 >= 0 && tc.Beta1 < 1) || !(tc.Beta2 >= 0 && tc.Beta2 < 1):
		return fmt.Errorf("gpt: AdamW betas must be in [0, 1), got %v, %v", tc.Beta1, tc.Beta2)
	case !finite(tc.Eps) || tc.Eps <= 0:
		return fmt.Errorf("gpt: AdamW eps must be > 0, got %v", tc.Eps)
	case !finite(tc.GradClip) || tc.GradClip < 0:
		return fmt.Errorf("gpt: grad-clip must be ≥ 0, got %v", tc.GradClip)
	case tc.EvalEvery < 0:
		return fmt.Errorf("gpt: eval-every must be ≥ 0, got %d", tc.EvalEvery)
	case tc.EvalBatches < 1:
		return fmt.Errorf("gpt: eval-batches must be ≥ 1, got %d", tc.EvalBatches)
	}
	return nil
}

// LR returns the learning rate of step s (0-based): linear warmup over Warmup steps, then cosine
// decay from LR to MinLR at the last step.
func (tc TrainConfig) LRAt(s int) float64 {
	if s < tc.Warmup {
		return tc.LR * float64(s+1) / float64(tc.Warmup)
	}
	span := tc.Steps - tc.Warmup
	if span <= 1 {
		return tc.LR
	}
	ratio := float64(s-tc.Warmup) / float64(span-1)
	ratio = min(max(ratio, 0), 1)
	return tc.MinLR + 0.5*(1+math.Cos(math.Pi*ratio))*(tc.LR-tc.MinLR)
}

// BatchTable is the seeded batch order: the B start offsets of micro-batch j of step s depend only
// on (Seed, s, j) and the length of the training split, so every model trained on the same data
// with the same seed and batch shape sees the same batches, and a resumed run continues the order.
type BatchTable struct {
	Seed    uint64
	NTokens int // length of the training split
	B, T    int
}

// Offsets writes into dst (len B) the start offsets of the sequences of micro-batch micro of step
// step; sequence i is tokens [dst[i], dst[i]+T] (T inputs and the T shifted targets).
func (bt BatchTable) Offsets(dst []int, step, micro int) {
	rng := rand.New(rand.NewPCG(bt.Seed, uint64(step)<<16|uint64(micro)))
	n := bt.NTokens - bt.T // offsets 0 … n-1 leave room for the targets
	for i := range dst {
		dst[i] = rng.IntN(n)
	}
}

// Trainer runs AdamW steps of a Model over a Dataset.
type Trainer struct {
	Model  *Model
	Config TrainConfig
	Data   *Dataset
	Table  BatchTable

	step int // optimizer steps completed

	inputs, targets nn.IntView // (GradAccum, B, T) tokens of one step
	stepBuf         nn.View    // (1 + GradAccum·B·T) gradient norm, then the per-token losses
	host            []float32  // host copy of stepBuf
	hostIn, hostTg  []int32    // (GradAccum, B, T)
	offs            []int      // (B)
	seq             []int32    // (T+1) one sequence and its last target, as read from the data

	valIn, valTg nn.IntView // (EvalBatches, B, T) fixed validation batches
	valLosses    nn.View    // (EvalBatches·B·T)
}

// StepResult is what one optimizer step reports.
type StepResult struct {
	Step     int     // steps completed, counting this one (1-based)
	Loss     float64 // mean training loss of the step's tokens, nats per token
	LR       float64
	GradNorm float64 // global gradient norm before clipping
}

// NonFiniteError reports a NaN or Inf training loss or gradient norm (the step that produced it
// did not update the parameters), or a NaN or Inf validation loss after step Step.
type NonFiniteError struct {
	Step       int
	Loss       float64
	GradNorm   float64
	Validation bool // the validation loss, not the training step, is not finite
}

func (e *NonFiniteError) Error() string {
	if e.Validation {
		return fmt.Sprintf("gpt: training diverged at step %d: validation loss %v (lower --lr or raise --warmup)", e.Step, e.Loss)
	}
	return fmt.Sprintf("gpt: training diverged at step %d: loss %v, gradient norm %v (the parameters were not updated; lower --lr or raise --warmup)", e.Step, e.Loss, e.GradNorm)
}

// NewTrainer prepares training of m on d with tc. The sequence length is m.Config.BlockSize.
//
// NewTrainer allocates everything Step and Evaluate use (they allocate nothing more): a backend
// that cannot (nn.AllocError) makes it return that error.
func NewTrainer(m *Model, tc TrainConfig, d *Dataset) (_ *Trainer, err error) {
	if err := tc.Validate(); err != nil {
		return nil, err
	}
	T, B := m.Config.BlockSize, tc.BatchSize
	if d.Train.Len() < T+1 || d.Val.Len() < T+1 {
		return nil, fmt.Errorf("gpt: data %s is too short for block size %d (%d training and %d validation tokens; each split needs ≥ %d)",
			d.Source, T, d.Train.Len(), d.Val.Len(), T+1)
	}
	// A token outside the vocabulary would index past wte: the CPU backend panics, a GPU reads
	// whatever lies there. Tokens in memory are checked here; memory-mapped ones as each batch
	// reads them (loadBatch), so that a large corpus is not read whole.
	if !d.Mapped {
		if err := m.checkTokens("data "+d.Source+": training token", d.Train.Int32s()); err != nil {
			return nil, err
		}
		if err := m.checkTokens("data "+d.Source+": validation token", d.Val.Int32s()); err != nil {
			return nil, err
		}
	}
	if err := m.Config.checkBatch(B, T); err != nil {
		return nil, err
	}
	if err := checkStepTokens("grad-accum", tc.GradAccum, B, T); err != nil {
		return nil, err
	}
	if err := checkStepTokens("eval-batches", tc.EvalBatches, B, T); err != nil {
		return nil, err
	}
	if tc.WeightDecay < 0 {
		tc.WeightDecay = m.Config.DefaultWeightDecay()
	}
	b := m.b
	n, nval := stepTokens(m.Config, tc)
	defer nn.RecoverAllocError(&err, "gpt: the activations and batches of a B=%d × T=%d micro-batch (grad-accum %d, eval-batches %d) do not fit; lower --batch-size (or --grad-accum, --eval-batches)",
		B, T, tc.GradAccum, tc.EvalBatches)
	m.ensureActs(B, T)
	m.ensureGradActs(B, T)
	m.setDLoss(1/float32(n), B*T) // Step's value
	if m.Config.QueryMode == Residual {
		m.residualViews(B, T)
	}
	t := &Trainer{
		Model: m, Config: tc, Data: d,
		Table: BatchTable{Seed: tc.Seed, NTokens: d.Train.Len(), B: B, T: T},
	}
	nv := tc.EvalBatches * B
	// The device's buffers before their host copies: what the device refuses is not made here.
	t.inputs, t.targets, t.stepBuf = b.AllocInt(n), b.AllocInt(n), b.Alloc(1+n)
	t.valIn, t.valTg, t.valLosses = b.AllocInt(nval), b.AllocInt(nval), b.Alloc(nval)
	t.host, t.hostIn, t.hostTg, t.offs = make([]float32, 1+n), make([]int32, n), make([]int32, n), make([]int, B)
	t.seq = make([]int32, T+1)
	// Fixed validation batches: EvalBatches·B sequences at evenly spaced offsets.
	vin, vtg := make([]int32, nval), make([]int32, nval)
	span := d.Val.Len() - T - 1
	seq := make([]int32, T+1)
	for i := range nv {
		off := 0
		if nv > 1 {
			off = i * span / (nv - 1)
		}
		d.Val.Read(seq, off)
		if d.Mapped {
			if err := tokens.CheckRange("gpt: data "+d.Source+": validation token", seq, off, m.Config.VocabSize); err != nil {
				return nil, err
			}
		}
		copy(vin[i*T:], seq[:T])
		copy(vtg[i*T:], seq[1:])
	}
	b.UploadInt(t.valIn, vin)
	b.UploadInt(t.valTg, vtg)
	return t, nil
}

// stepTokens returns the lengths of the trainer's token buffers: the tokens of one optimizer step
// (GradAccum micro-batches of BatchSize×BlockSize) and of the fixed validation batches
// (EvalBatches of them).
func stepTokens(c Config, tc TrainConfig) (step, val int) {
	n := tc.BatchSize * c.BlockSize
	return tc.GradAccum * n, tc.EvalBatches * n
}

// StepsDone returns the number of optimizer steps completed.
func (t *Trainer) StepsDone() int { return t.step }

// TokensPerStep returns the number of training tokens one step processes.
func (t *Trainer) TokensPerStep() int {
	return t.Config.GradAccum * t.Config.BatchSize * t.Model.Config.BlockSize
}

// loadBatch uploads the tokens of step s. Memory-mapped tokens are checked against the vocabulary
// as they are read.
func (t *Trainer) loadBatch(s int) error {
	B, T := t.Config.BatchSize, t.Model.Config.BlockSize
	for j := range t.Config.GradAccum {
		t.Table.Offsets(t.offs, s, j)
		for i, off := range t.offs {
			t.Data.Train.Read(t.seq, off)
			if t.Data.Mapped {
				if err := tokens.CheckRange("gpt: data "+t.Data.Source+": training token", t.seq, off, t.Model.Config.VocabSize); err != nil {
					return err
				}
			}
			row := (j*B + i) * T
			copy(t.hostIn[row:row+T], t.seq[:T])
			copy(t.hostTg[row:row+T], t.seq[1:])
		}
	}
	t.Model.b.UploadInt(t.inputs, t.hostIn)
	t.Model.b.UploadInt(t.targets, t.hostTg)
	return nil
}

// Step runs one optimizer step: forward and backward over GradAccum micro-batches, the global
// gradient norm, clipping and AdamW. It reads the loss and gradient norm back from the device
// once. A NaN or Inf loss or norm returns a *NonFiniteError and leaves the parameters unchanged.
func (t *Trainer) Step() (StepResult, error) {
	m, b, tc := t.Model, t.Model.b, t.Config
	B, T := tc.BatchSize, m.Config.BlockSize
	n := B * T
	s := t.step
	if err := t.loadBatch(s); err != nil {
		return StepResult{}, err
	}

	m.ZeroGrad()
	dloss := 1 / float32(n*tc.GradAccum) // gradient of the mean over the whole step
	for j := range tc.GradAccum {
		in, tg := t.inputs.Slice(j*n, n), t.targets.Slice(j*n, n)
		m.forward(in, tg, t.stepBuf.Slice(1+j*n, n), B, T)
		m.backward(dloss, B, T)
	}
	b.GradNorm(t.stepBuf.Slice(0, 1), m.grads, m.grads.N)
	b.Download(t.host, t.stepBuf) // the one wait for the device in a step
	if err := b.Sync(); err != nil {
		return StepResult{}, fmt.Errorf("gpt: step %d: %w", s+1, err)
	}
	norm := float64(t.host[0])
	loss := float64(meanLoss(t.host[1:]))
	if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return StepResult{}, &NonFiniteError{Step: s + 1, Loss: loss, GradNorm: norm}
	}
	scale := 1.0
	if tc.GradClip > 0 && norm > tc.GradClip {
		scale = tc.GradClip / (norm + 1e-6) // as torch.nn.utils.clip_grad_norm_
	}
	lr := tc.LRAt(s)
	b.AdamW(m.params, m.m, m.v, m.grads, m.decay, m.params.N, nn.AdamWParams{
		LR: float32(lr), Beta1: float32(tc.Beta1), Beta2: float32(tc.Beta2), Eps: float32(tc.Eps),
		WeightDecay: float32(tc.WeightDecay), GradScale: float32(scale), Step: s + 1,
	})
	t.step++
	return StepResult{Step: t.step, Loss: loss, LR: lr, GradNorm: norm}, nil
}

// Evaluate returns the mean loss over the fixed validation batches, in nats per token.
func (t *Trainer) Evaluate() (float64, error) {
	m, b := t.Model, t.Model.b
	B, T := t.Config.BatchSize, m.Config.BlockSize
	n := B * T
	for j := range t.Config.EvalBatches {
		m.forward(t.valIn.Slice(j*n, n), t.valTg.Slice(j*n, n), t.valLosses.Slice(j*n, n), B, T)
	}
	host := make([]float32, t.valLosses.N)
	b.Download(host, t.valLosses)
	if err := b.Sync(); err != nil {
		return 0, fmt.Errorf("gpt: evaluation: %w", err)
	}
	m.haveTargets = false // the activations no longer belong to a training micro-batch
	return float64(meanLoss(host)), nil
}

// Metrics is one record of a training run, as written to the JSON-lines metrics file.
type Metrics struct {
	Step         int      `json:"step"`  // steps completed
	Steps        int      `json:"steps"` // steps in the run
	Loss         float64  `json:"loss"`  // training loss of this step, nats per token
	ValLoss      *float64 `json:"val_loss,omitempty"`
	LR           float64  `json:"lr"`
	GradNorm     float64  `json:"grad_norm"`
	Tokens       int64    `json:"tokens"`         // training tokens processed, all steps
	TokensPerSec float64  `json:"tokens_per_sec"` // over this run (since Run started)
	ElapsedSec   float64  `json:"elapsed_sec"`    // since Run started
	ETASec       float64  `json:"eta_sec"`        // estimated time to the last step
}

// Run trains until Config.Steps steps are done, evaluating every EvalEvery steps and after the
// last, and calls sink after every step (sink may be nil). It returns ctx.Err() if ctx is cancelled
// (it checks between steps, so the model is then at a step boundary and can be checkpointed), a
// *NonFiniteError if training diverges, or the first error of sink.
func (t *Trainer) Run(ctx context.Context, sink func(Metrics) error) error {
	start := time.Now()
	first := t.step
	for t.step < t.Config.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := t.Step()
		if err != nil {
			return err
		}
		el := time.Since(start).Seconds()
		done := t.step - first
		rate := float64(done*t.TokensPerStep()) / max(el, 1e-9)
		mt := Metrics{
			Step: r.Step, Steps: t.Config.Steps, Loss: r.Loss, LR: r.LR, GradNorm: r.GradNorm,
			Tokens:       int64(t.step) * int64(t.TokensPerStep()),
			TokensPerSec: rate, ElapsedSec: el,
			ETASec: el / float64(done) * float64(t.Config.Steps-t.step),
		}
		if (t.Config.EvalEvery > 0 && t.step%t.Config.EvalEvery == 0) || t.step == t.Config.Steps {
			v, err := t.Evaluate()
			if err != nil {
				return err
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return &NonFiniteError{Step: t.step, Loss: v, GradNorm: r.GradNorm, Validation: true}
			}
			mt.ValLoss = &v
		}
		if sink != nil {
			if err := sink(mt); err != nil {
				return err
			}
		}
	}
	return nil
}
