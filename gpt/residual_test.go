package gpt

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/stretchr/testify/require"
)

// TestResidualModeTrainsAndCheckpoints trains a Residual-mode model for a few steps on the CPU
// backend (the loss falls), and round-trips it through a checkpoint. The gradients themselves are
// checked against a float64 reference in package theory (TestResidualModeGradients).
func TestResidualModeTrainsAndCheckpoints(t *testing.T) {
	cfg := Config{NLayer: 2, NHead: 2, NEmbd: 16, BlockSize: 16, VocabSize: 256, QueryMode: Residual}
	b := nn.NewCPU(0)
	defer b.Close()
	m, err := New(cfg, b, 1)
	require.NoError(t, err)
	text := strings.Repeat("abcabcabd abcabcabd\n", 200)
	data, err := NewDataset("test", text, ByteTokenizer{}, cfg.BlockSize)
	require.NoError(t, err)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.Steps, tc.Warmup, tc.LR, tc.MinLR, tc.EvalBatches = 4, 40, 5, 3e-3, 3e-3, 1
	tr, err := NewTrainer(m, tc, data)
	require.NoError(t, err)
	first, err := tr.Step()
	require.NoError(t, err)
	var last StepResult
	for range tc.Steps - 1 {
		last, err = tr.Step()
		require.NoError(t, err)
	}
	require.Less(t, last.Loss, first.Loss-1, "a residual-query model must learn a repetitive text")

	path := filepath.Join(t.TempDir(), "ck.safetensors")
	require.NoError(t, tr.Save(path, nil))
	ck, err := LoadCheckpoint(path)
	require.NoError(t, err)
	require.Equal(t, Residual, ck.Config.QueryMode)
	m2, err := New(ck.Config, b, 2)
	require.NoError(t, err)
	require.NoError(t, ck.LoadWeights(m2))
	in := data.Val.Slice(0, cfg.BlockSize).Int32s()
	_, err = m.Forward(in, nil, 1, len(in))
	require.NoError(t, err)
	want := m.Logits()
	_, err = m2.Forward(in, nil, 1, len(in))
	require.NoError(t, err)
	require.Equal(t, want, m2.Logits())
}

// backendOnly hides every method of a backend but those of nn.Backend.
type backendOnly struct{ nn.Backend }

func TestResidualModeNeedsRMSNorm(t *testing.T) {
	b := nn.NewCPU(1)
	defer b.Close()
	cfg := Config{NLayer: 1, NHead: 2, NEmbd: 8, BlockSize: 4, VocabSize: 10, QueryMode: Residual}
	_, err := New(cfg, backendOnly{b}, 1)
	require.ErrorContains(t, err, "needs a backend with the RMSNorm op")

	cfg.NEmbd, cfg.NHead = 9, 3
	require.ErrorContains(t, cfg.Validate(), "even n-embd")
	mode, err := ParseQueryMode("residual")
	require.NoError(t, err)
	require.Equal(t, Residual, mode)
}
