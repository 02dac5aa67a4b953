package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
)

// MeasuredPresets are the presets `kvgpt bench` and BenchmarkTrainStep measure by default. Their
// shapes must not change, so that figures compare across versions.
var MeasuredPresets = []string{"tiny", "small", "medium"}

// LookupPresets returns the presets named in names, from gpt's table.
func LookupPresets(names []string) ([]gpt.Preset, error) {
	var ps []gpt.Preset
	for _, n := range names {
		p, err := gpt.LookupPreset(n)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// Config returns the model bench trains for preset p in query mode m: its shape with byte tokens
// (V = 256), whatever the preset's vocabulary (a step's cost does not depend on the text).
func Config(p gpt.Preset, m gpt.QueryMode) gpt.Config {
	return p.ModelConfig(m, gpt.ByteTokenizer{}.VocabSize())
}

// PresetShape returns the op shape of preset p's training step in query mode m.
func PresetShape(p gpt.Preset, m gpt.QueryMode) Shape {
	c := Config(p, m)
	return Shape{B: p.Train.BatchSize, T: c.BlockSize, C: c.NEmbd, NH: c.NHead, L: c.NLayer, V: c.VocabSize,
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
	// MFU is the model FLOP/s (TokensPerSec·FLOPsPerToken) as a fraction of the backend's matmul
	// peak, at most 1 (see BackendReport.Rate).
	MFU float64 `json:"mfu"`
	// AbovePeak: the model FLOP/s exceeded the measured peak, and MFU was capped at 1.
	AbovePeak bool    `json:"above_peak,omitempty"`
	Loss      float64 `json:"loss"` // training loss of the last step, a sanity check
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

// NewTrainer returns a trainer of preset p in query mode m on be, as bench runs it: on random
// bytes, with the preset's batch size and settings, except one micro-batch per step, one
// validation batch and a warmup of 10 steps.
func NewTrainer(be nn.Backend, p gpt.Preset, m gpt.QueryMode) (*gpt.Trainer, error) {
	cfg := Config(p, m)
	model, err := gpt.New(cfg, be, 1337)
	if err != nil {
		return nil, err
	}
	d, err := randomData(dataLen(p), 1)
	if err != nil {
		return nil, err
	}
	return gpt.NewTrainer(model, trainConfig(p), d)
}

// trainConfig returns the training settings NewTrainer runs preset p with.
func trainConfig(p gpt.Preset) gpt.TrainConfig {
	tc := p.Train
	tc.GradAccum, tc.EvalBatches, tc.Warmup = 1, 1, 10
	return tc
}

// dataLen returns the bytes of random data NewTrainer trains preset p on.
func dataLen(p gpt.Preset) int { return max(1<<20, 40*p.Train.BatchSize*p.Model.BlockSize) }

// Plan returns the memory plan of NewTrainer's run of preset p in query mode m (see
// gpt.PlanTraining), its random data counted as in memory already.
func Plan(p gpt.Preset, m gpt.QueryMode) (gpt.MemoryPlan, error) {
	return gpt.PlanTraining(Config(p, m), trainConfig(p), 4*int64(dataLen(p)))
}

// MeasureSteps times training steps of preset p in mode m on be (BackendReport.Rate rates them
// against the backend's peak).
func MeasureSteps(be nn.Backend, p gpt.Preset, m gpt.QueryMode, o StepOptions) (StepResult, error) {
	cfg := Config(p, m)
	tr, err := NewTrainer(be, p, m)
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
	B := p.Train.BatchSize
	tok := float64(B * cfg.BlockSize)
	return StepResult{
		Preset: p.Name, Mode: string(m), B: B, T: cfg.BlockSize, Params: cfg.NumParams(),
		Steps: len(times), Seconds: med.Seconds(), TokensPerSec: tok / med.Seconds(),
		FLOPsPerToken: FLOPsPerToken(cfg), Loss: last.Loss,
	}, nil
}
