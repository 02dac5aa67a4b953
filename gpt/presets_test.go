package gpt

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPresets(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Presets() {
		m := p.Model
		t.Run(fmt.Sprintf("%s/L=%d/C=%d/NH=%d/T=%d/B=%d", p.Name, m.NLayer, m.NEmbd, m.NHead, m.BlockSize, p.Train.BatchSize), func(t *testing.T) {
			require.False(t, seen[p.Name], "a name means one preset")
			seen[p.Name] = true
			require.NotEmpty(t, p.Description)
			require.Zero(t, m.QueryMode, "set per run")
			require.Zero(t, m.VocabSize, "set by the tokenizer")
			for _, mode := range []QueryMode{Baseline, Identity, Residual} {
				require.NoError(t, p.ModelConfig(mode, 65).Validate(), mode)
			}
			require.NoError(t, p.Train.Validate())
			_, err := NewTokenizer(p.Vocab, "ab")
			require.NoError(t, err)
			require.True(t, p.DataHint != "" || p.CorpusBytes > 0, "data: a hint or a corpus size")
			got, err := LookupPreset(p.Name)
			require.NoError(t, err)
			require.Equal(t, p, got)
		})
	}
	_, err := LookupPreset("huge")
	require.EqualError(t, err, `gpt: unknown preset "huge" (want one of micro, tiny, default, small, shakespeare-char, dh64, shakespeare-gpt2, medium, mac)`)
}

// TestPresetShapesArePinned: kvgpt bench's shapes (its figures compare across versions) and
// kvgpt experiment's set-ups (their results are published) do not move.
func TestPresetShapesArePinned(t *testing.T) {
	for _, c := range []struct {
		name              string
		L, NH, C, T, B, S int // S: steps
		lr                float64
	}{
		{"micro", 2, 2, 32, 32, 8, 30, 3e-3},
		{"tiny", 2, 4, 64, 64, 16, 1000, 1e-3},
		{"default", 3, 4, 96, 128, 16, 400, 3e-3},
		{"small", 4, 4, 128, 128, 16, 1000, 1e-3},
		{"shakespeare-char", 4, 4, 128, 64, 16, 250, 2e-3},
		{"dh64", 4, 2, 128, 128, 8, 2000, 4e-3},            // experiment/RESULTS.md
		{"shakespeare-gpt2", 4, 2, 128, 128, 8, 400, 4e-3}, // experiment/RESULTS.md
		{"medium", 6, 6, 384, 256, 8, 1000, 1e-3},
		{"mac", 6, 6, 384, 256, 32, 2000, 1e-3},
	} {
		t.Run(fmt.Sprintf("%s/L=%d/C=%d/NH=%d/T=%d/B=%d", c.name, c.L, c.C, c.NH, c.T, c.B), func(t *testing.T) {
			p, err := LookupPreset(c.name)
			require.NoError(t, err)
			require.Equal(t, Config{NLayer: c.L, NHead: c.NH, NEmbd: c.C, BlockSize: c.T}, p.Model)
			require.Equal(t, c.B, p.Train.BatchSize)
			require.Equal(t, c.S, p.Train.Steps)
			require.Equal(t, c.lr, p.Train.LR)
		})
	}
}

func TestDefaultTrainConfigIsTheDefaultPreset(t *testing.T) {
	p, err := LookupPreset(DefaultPreset)
	require.NoError(t, err)
	tc := DefaultTrainConfig()
	require.Equal(t, p.Train, tc)
	require.Equal(t, TrainConfig{BatchSize: 16, GradAccum: 1, Steps: 400, LR: 3e-3, MinLR: 3e-4, Warmup: 30, WeightDecay: -1,
		Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, GradClip: 1, EvalEvery: 100, EvalBatches: 8, Seed: 1337}, tc)
}
