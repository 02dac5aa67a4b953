package gpt

import (
	"fmt"
	"strings"
)

// Preset is a named model shape with its training settings and data: the one table behind
// `kvgpt train --preset`, `kvgpt bench`, `kvgpt experiment` and (as JSON from bench)
// bench/torch_train.py. A name means the same shape everywhere.
type Preset struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Model is the shape. QueryMode and VocabSize are set per run (VocabSize by the tokenizer).
	Model Config      `json:"model"`
	Train TrainConfig `json:"train"` // Train.BatchSize is the B of the shape
	Vocab string      `json:"vocab"` // "byte" or "char"
	// DataHint, if set, says what to pass as --data: the preset has no default data.
	DataHint    string `json:"data_hint"`
	CorpusBytes int    `json:"corpus_bytes"` // size of the default Go corpus when --data is not given
	Backend     string `json:"backend"`      // the --backend it is meant for ("": auto)
}

// DefaultPreset names the preset of a bare `kvgpt train` (and so of `make train`).
const DefaultPreset = "default"

// adamW completes tc with the settings every preset shares: one micro-batch per step, AdamW
// (0.9, 0.95, eps 1e-8) with the query mode's weight decay, clipping at 1.0 and seed 1337.
func adamW(tc TrainConfig) TrainConfig {
	tc.GradAccum, tc.WeightDecay, tc.Beta1, tc.Beta2, tc.Eps, tc.GradClip, tc.Seed = 1, -1, 0.9, 0.95, 1e-8, 1.0, 1337
	return tc
}

// Presets returns the preset table, smallest first (a fresh copy: callers may change it).
//
//	name              L×C   NH  T    B   steps  lr → min-lr     data
//	micro             2×32   2  32    8     30  3e-3 → 3e-4     100 kB of Go source
//	tiny              2×64   4  64   16   1000  1e-3 → 1e-4     4 MB of Go source
//	default           3×96   4  128  16    400  3e-3 → 3e-4     4 MB of Go source
//	small             4×128  4  128  16   1000  1e-3 → 1e-4     4 MB of Go source
//	shakespeare-char  4×128  4  64   16    250  2e-3 → 2e-4     tiny Shakespeare (--data), characters
//	dh64              4×128  2  128   8   2000  4e-3 → 4e-4     4 MB of Go source or --data, characters
//	shakespeare-gpt2  4×128  2  128   8    400  4e-3 → 4e-4     tiny Shakespeare (--data), GPT-2 tokens
//	medium            6×384  6  256   8   1000  1e-3 → 1e-4     4 MB of Go source
//	mac               6×384  6  256  32   2000  1e-3 → 1e-4     20 MB of Go source, Metal
//
// tiny, small and medium are the shapes `kvgpt bench` measures (its figures compare across
// versions: do not change them); micro, shakespeare-char, dh64, shakespeare-gpt2 and mac are `kvgpt experiment`'s set-ups
// (their results are published); default is `kvgpt train`'s.
func Presets() []Preset {
	return []Preset{
		{
			Name: "micro", Description: "2 layers, C=32, 2 heads, T=32, B=8, 30 steps on 100 kB of Go source: a smoke test of seconds on a CPU",
			Model: Config{NLayer: 2, NHead: 2, NEmbd: 32, BlockSize: 32},
			Train: adamW(TrainConfig{BatchSize: 8, Steps: 30, LR: 3e-3, MinLR: 3e-4, Warmup: 5, EvalEvery: 10, EvalBatches: 2}),
			Vocab: "byte", CorpusBytes: 100_000, Backend: "cpu",
		},
		{
			Name: "tiny", Description: "2 layers, C=64, 4 heads, T=64, B=16: kvgpt bench's smallest shape",
			Model: Config{NLayer: 2, NHead: 4, NEmbd: 64, BlockSize: 64},
			Train: adamW(TrainConfig{BatchSize: 16, Steps: 1000, LR: 1e-3, MinLR: 1e-4, Warmup: 100, EvalEvery: 100, EvalBatches: 8}),
			Vocab: "byte", CorpusBytes: DefaultCorpusBytes,
		},
		{
			Name: DefaultPreset, Description: "3 layers, C=96, 4 heads, T=128, B=16, 400 steps on 4 MB of Go source: kvgpt train's default, minutes on 2 CPU cores",
			Model: Config{NLayer: 3, NHead: 4, NEmbd: 96, BlockSize: 128},
			Train: adamW(TrainConfig{BatchSize: 16, Steps: 400, LR: 3e-3, MinLR: 3e-4, Warmup: 30, EvalEvery: 100, EvalBatches: 8}),
			Vocab: "byte", CorpusBytes: DefaultCorpusBytes,
		},
		{
			Name: "small", Description: "4 layers, C=128, 4 heads, T=128, B=16: kvgpt bench's middle shape",
			Model: Config{NLayer: 4, NHead: 4, NEmbd: 128, BlockSize: 128},
			Train: adamW(TrainConfig{BatchSize: 16, Steps: 1000, LR: 1e-3, MinLR: 1e-4, Warmup: 100, EvalEvery: 100, EvalBatches: 8}),
			Vocab: "byte", CorpusBytes: DefaultCorpusBytes,
		},
		{
			Name: "shakespeare-char", Description: "4 layers, C=128, 4 heads, T=64, B=16, 250 steps, characters of tiny Shakespeare: the paper's comparison on a CPU (kvgpt experiment: about 30 minutes on 2 cores)",
			Model: Config{NLayer: 4, NHead: 4, NEmbd: 128, BlockSize: 64},
			Train: adamW(TrainConfig{BatchSize: 16, Steps: 250, LR: 2e-3, MinLR: 2e-4, Warmup: 25, EvalEvery: 25, EvalBatches: 8}),
			Vocab: "char", DataHint: "tiny Shakespeare (input.txt of nanoGPT's shakespeare_char, ~1.1 MB)", Backend: "cpu",
		},
		{
			Name: "dh64", Description: "4 layers, C=128, 2 heads (dh=64 as in the paper), T=128, B=8, 2000 steps, characters: kvgpt experiment's replication on a CPU (learning-rate, scale and weight-decay sweeps, 3 seeds: about 70 minutes on 2 cores with --jobs 2)",
			Model: Config{NLayer: 4, NHead: 2, NEmbd: 128, BlockSize: 128},
			Train: adamW(TrainConfig{BatchSize: 8, Steps: 2000, LR: 4e-3, MinLR: 4e-4, Warmup: 100, EvalEvery: 200, EvalBatches: 16}),
			Vocab: "char", CorpusBytes: DefaultCorpusBytes, Backend: "cpu",
		},
		{
			Name: "shakespeare-gpt2", Description: "4 layers, C=128, 2 heads (dh=64 as in the paper), T=128, B=8, 400 steps, GPT-2 tokens of tiny Shakespeare: kvgpt experiment's comparison on subword tokens (3 seeds: about an hour on 2 cores with --jobs 2)",
			Model: Config{NLayer: 4, NHead: 2, NEmbd: 128, BlockSize: 128},
			Train: adamW(TrainConfig{BatchSize: 8, Steps: 400, LR: 4e-3, MinLR: 4e-4, Warmup: 40, EvalEvery: 50, EvalBatches: 8}),
			Vocab: GPT2Vocab, DataHint: "tiny Shakespeare (input.txt, ~1.1 MB), or the directory `kvgpt prepare --data input.txt --vocab gpt2` writes", Backend: "cpu",
		},
		{
			Name: "medium", Description: "6 layers, C=384, 6 heads, T=256, B=8: kvgpt bench's largest shape",
			Model: Config{NLayer: 6, NHead: 6, NEmbd: 384, BlockSize: 256},
			Train: adamW(TrainConfig{BatchSize: 8, Steps: 1000, LR: 1e-3, MinLR: 1e-4, Warmup: 100, EvalEvery: 100, EvalBatches: 8}),
			Vocab: "byte", CorpusBytes: DefaultCorpusBytes,
		},
		{
			Name: "mac", Description: "6 layers, C=384, 6 heads (dh=64 as in the paper), T=256, B=32, 2000 steps on 20 MB of Go source: for an M-series GPU (kvgpt experiment: about an hour)",
			Model: Config{NLayer: 6, NHead: 6, NEmbd: 384, BlockSize: 256},
			Train: adamW(TrainConfig{BatchSize: 32, Steps: 2000, LR: 1e-3, MinLR: 1e-4, Warmup: 100, EvalEvery: 100, EvalBatches: 16}),
			Vocab: "byte", CorpusBytes: 20_000_000, Backend: "metal",
		},
	}
}

// PresetNames returns the preset names, comma-separated, in the order of Presets.
func PresetNames() string {
	var n []string
	for _, p := range Presets() {
		n = append(n, p.Name)
	}
	return strings.Join(n, ", ")
}

// LookupPreset returns the preset called name.
func LookupPreset(name string) (Preset, error) {
	for _, p := range Presets() {
		if p.Name == name {
			return p, nil
		}
	}
	return Preset{}, fmt.Errorf("gpt: unknown preset %q (want one of %s)", name, PresetNames())
}

// ModelConfig returns p's model in query mode m with vocabulary size v.
func (p Preset) ModelConfig(m QueryMode, v int) Config {
	c := p.Model
	c.QueryMode, c.VocabSize = m, v
	return c
}
