package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
)

// Preset is a model shape and batch size whose training throughput bench measures. Its QueryMode
// is set per run.
type Preset struct {
	Name   string
	Config gpt.Config
	Batch  int // B, sequences per step
}

// Presets are the shapes measured by `kvgpt bench` and bench/torch_train.py (which must agree).
var Presets = []Preset{
	{"tiny", gpt.Config{NLayer: 2, NHead: 4, NEmbd: 64, BlockSize: 64, VocabSize: 256}, 16},
	{"small", gpt.Config{NLayer: 4, NHead: 4, NEmbd: 128, BlockSize: 128, VocabSize: 256}, 16},
	{"medium", gpt.Config{NLayer: 6, NHead: 6, NEmbd: 384, BlockSize: 256, VocabSize: 256}, 8},
}

// PresetByName returns the preset called name.
func PresetByName(name string) (Preset, error) {
	for _, p := range Presets {
		if p.Name == name {
			return p, nil
		}
	}
	names := make([]string, len(Presets))
	for i, p := range Presets {
		names[i] = p.Name
	}
	return Preset{}, fmt.Errorf("bench: unknown preset %q (want one of %v)", name, names)
}

// With returns p's config in query mode m.
func (p Preset) With(m gpt.QueryMode) gpt.Config {
	c := p.Config
	c.QueryMode = m
	return c
}

// Shape returns the op shape of p's training step in query mode m.
func (p Preset) Shape(m gpt.QueryMode) Shape {
	c := p.With(m)
	return Shape{B: p.Batch, T: c.BlockSize, C: c.NEmbd, NH: c.NHead, L: c.NLayer, V: c.VocabSize,
		H: c.Hidden(), Identity: m == gpt.Identity}
}

// FLOPsPerToken is the training cost of one token of cfg at sequence length T: 6N for the forward
// and backward matrix products of the N parameters, plus 12·L·T·C for attention (PaLM's estimate,
// as nanoGPT's MFU).
func FLOPsPerToken(cfg gpt.Config) float64 {
	return 6*float64(cfg.NumParams()) + 12*float64(cfg.NLayer)*float64(cfg.BlockSize)*float64(cfg.NEmbd)
}

// StepResult is the measured training throughput of one preset in one mode.
type StepResult struct {
	Preset        string  `json:"preset"`
	Mode          string  `json:"mode"`
	B             int     `json:"B"`
	T             int     `json:"T"`
	Params        int     `json:"params"`
	Steps         int     `json:"steps"`          // timed steps
	Seconds       float64 `json:"seconds"`        // median time of one step
	TokensPerSec  float64 `json:"tokens_per_sec"` // B·T / Seconds
	FLOPsPerToken float64 `json:"flops_per_token"`
	// MFU is the model FLOP/s (TokensPerSec·FLOPsPerToken) as a fraction of the backend's matmul peak.
	MFU  float64 `json:"mfu"`
	Loss float64 `json:"loss"` // training loss of the last step, a sanity check
}

// StepOptions say how many training steps to time.
type StepOptions struct {
	Warmup  int           // untimed steps first (buffers, caches, branch predictors)
	MinStep int           // timed steps at least
	MinTime time.Duration // and at least this much time
	// LongStep, if > 0: when the last warm-up step took longer than this, one timed step is
	// enough (a long step averages out the machine's noise by itself).
	LongStep time.Duration
}

// randomData returns a dataset of n uniform random bytes: a step's cost does not depend on the text.
func randomData(n int, seed uint64) (*gpt.Dataset, error) {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return gpt.NewDataset("random bytes", string(b), gpt.ByteTokenizer{}, 1)
}

// NewTrainer returns a trainer of cfg with batch size B on random bytes, as bench runs it (AdamW
// defaults, one micro-batch per step).
func NewTrainer(be nn.Backend, cfg gpt.Config, B int) (*gpt.Trainer, error) {
	m, err := gpt.New(cfg, be, 1337)
	if err != nil {
		return nil, err
	}
	tc := gpt.DefaultTrainConfig()
	tc.BatchSize, tc.GradAccum, tc.EvalBatches, tc.Steps, tc.Warmup = B, 1, 1, 1000, 10
	d, err := randomData(max(1<<20, 40*B*cfg.BlockSize), 1)
	if err != nil {
		return nil, err
	}
	return gpt.NewTrainer(m, tc, d)
}

// MeasureSteps times training steps of preset p in mode m on be and rates them against peak.
func MeasureSteps(be nn.Backend, p Preset, m gpt.QueryMode, peak Peak, o StepOptions) (StepResult, error) {
	cfg := p.With(m)
	tr, err := NewTrainer(be, cfg, p.Batch)
	if err != nil {
		return StepResult{}, fmt.Errorf("bench: preset %s %s: %w", p.Name, m, err)
	}
	var last gpt.StepResult
	minStep, minTime := max(o.MinStep, 1), o.MinTime
	for range o.Warmup {
		t0 := time.Now()
		if last, err = tr.Step(); err != nil {
			return StepResult{}, fmt.Errorf("bench: preset %s %s: %w", p.Name, m, err)
		}
		if o.LongStep > 0 && time.Since(t0) > o.LongStep {
			minStep, minTime = 1, 0
		}
	}
	var times []time.Duration
	start := time.Now()
	for len(times) < minStep || time.Since(start) < minTime {
		t0 := time.Now()
		if last, err = tr.Step(); err != nil { // Step waits for the device (it reads the loss)
			return StepResult{}, fmt.Errorf("bench: preset %s %s: %w", p.Name, m, err)
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	med := times[len(times)/2]
	if len(times)%2 == 0 {
		med = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	tok := float64(p.Batch * cfg.BlockSize)
	r := StepResult{
		Preset: p.Name, Mode: string(m), B: p.Batch, T: cfg.BlockSize, Params: cfg.NumParams(),
		Steps: len(times), Seconds: med.Seconds(), TokensPerSec: tok / med.Seconds(),
		FLOPsPerToken: FLOPsPerToken(cfg), Loss: last.Loss,
	}
	if peak.GFLOPS > 0 {
		r.MFU = r.TokensPerSec * r.FLOPsPerToken / (peak.GFLOPS * 1e9)
	}
	return r, nil
}
