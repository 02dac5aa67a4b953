//go:build (darwin || fakemetal) && cgo

package metal

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

// conformance is the outcome of TestConformance (the fake device's TestMain prints it).
var conformance nntest.Summary

// TestConformance runs the shared backend suite on the Metal backend: every op forward and
// backward against float64 references, on the GPU.
func TestConformance(t *testing.T) {
	conformance = nntest.Run(t, func(t *testing.T) nn.Backend {
		require.True(t, Available(), "this Mac has no Metal GPU that runs kvgpt's kernels")
		b, err := New()
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, b.Close()) })
		return b
	})
}

// TestTrainingMatchesCPU trains a small model of each query mode for a few steps on the GPU and on
// the CPU, from the same initialisation and batches, and compares the losses step by step.
func TestTrainingMatchesCPU(t *testing.T) {
	for _, mode := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
		t.Run("mode="+string(mode)+"/L=2/NH=3/C=48/T=33/B=4", func(t *testing.T) {
			cfg := gpt.Config{NLayer: 2, NHead: 3, NEmbd: 48, BlockSize: 33, VocabSize: 256, QueryMode: mode}
			be, err := New()
			require.NoError(t, err)
			defer func() { require.NoError(t, be.Close()) }()
			cpu := nn.NewCPU(0)
			defer cpu.Close()
			got, want := trainLosses(t, be, cfg), trainLosses(t, cpu, cfg)
			for i := range want {
				require.InEpsilon(t, want[i], got[i], 1e-3, "step %d: metal %v, cpu %v", i+1, got[i], want[i])
			}
		})
	}
}

// trainLosses returns the losses of 4 training steps of cfg on be.
func trainLosses(t *testing.T, be nn.Backend, cfg gpt.Config) []float64 {
	t.Helper()
	var text strings.Builder
	rng := rand.New(rand.NewPCG(3, 4))
	for text.Len() < 20000 {
		text.WriteByte(byte('a' + rng.IntN(26)))
		if rng.IntN(6) == 0 {
			text.WriteByte(' ')
		}
	}
	m, err := gpt.New(cfg, be, 1)
	require.NoError(t, err)
	data, err := gpt.NewDataset("random letters", text.String(), gpt.ByteTokenizer{}, cfg.BlockSize)
	require.NoError(t, err)
	tc := gpt.DefaultTrainConfig()
	tc.BatchSize, tc.Steps, tc.Warmup, tc.EvalBatches = 4, 4, 0, 1
	tr, err := gpt.NewTrainer(m, tc, data)
	require.NoError(t, err)
	var losses []float64
	for range tc.Steps {
		r, err := tr.Step()
		require.NoError(t, err)
		losses = append(losses, r.Loss)
	}
	return losses
}
