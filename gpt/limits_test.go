package gpt

import (
	"errors"
	"github.com/kvgpt/kvgpt/tokens"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
)

// limitedCPU returns a CPU backend whose buffers may hold at most limit bytes.
func limitedCPU(t *testing.T, limit int64) *nn.CPU {
	b := nn.NewCPUWith(nn.CPUOptions{Threads: 2, MemoryLimit: limit})
	t.Cleanup(func() { b.Close() })
	return b
}

// requireAllocError checks that err reports the backend's *nn.AllocError.
func requireAllocError(t *testing.T, err error, want string) {
	t.Helper()
	require.ErrorContains(t, err, want)
	var ae *nn.AllocError
	require.True(t, errors.As(err, &ae), "not an *nn.AllocError: %v", err)
	require.Equal(t, "cpu", ae.Backend)
}

// TestAllocErrorsAreErrors: where the backend cannot allocate, New, NewTrainer, Forward and
// Backward return its *nn.AllocError, and the model stays usable. Each case has a backend of its
// own, so that no garbage buffer counts against the limit.
func TestAllocErrorsAreErrors(t *testing.T) {
	tok, err := NewTokenizer("char", testText())
	require.NoError(t, err)
	cfg := Config{NLayer: 2, NHead: 2, NEmbd: 16, BlockSize: 16, VocabSize: tok.VocabSize(), QueryMode: Identity}
	ds, err := NewDataset("test text", testText(), tok, cfg.BlockSize)
	require.NoError(t, err)
	P := int64(cfg.NumParams())
	model := int64(5 * 4 * P) // the five slabs of New

	t.Run("New", func(t *testing.T) {
		_, err := New(cfg, limitedCPU(t, 4*P), 1)
		requireAllocError(t, err, "the model's weights, gradients and AdamW state (5 × 6224 floats) do not fit: nn: cpu: cannot allocate 24.9 kB (24.9 kB allocated already): more than the backend's memory limit, 24.9 kB")
	})
	t.Run("NewTrainer", func(t *testing.T) {
		m, err := New(cfg, limitedCPU(t, model+1<<20), 1)
		require.NoError(t, err)
		tc := DefaultTrainConfig()
		tc.BatchSize = 1000
		_, err = NewTrainer(m, tc, ds)
		requireAllocError(t, err, "the activations and batches of a B=1000 × T=16 micro-batch (grad-accum 1, eval-batches 8) do not fit; lower --batch-size (or --grad-accum, --eval-batches): nn: cpu: cannot allocate")
		tc.BatchSize, tc.EvalBatches = 2, 1<<40 // the device refuses before the host copies are made
		_, err = NewTrainer(m, tc, ds)
		requireAllocError(t, err, "(grad-accum 1, eval-batches 1099511627776) do not fit")
		tc.EvalBatches = 2
		_, err = NewTrainer(m, tc, ds)
		require.NoError(t, err, "a smaller batch fits")
	})
	t.Run("Forward", func(t *testing.T) {
		m, err := New(cfg, limitedCPU(t, model+1<<20), 1)
		require.NoError(t, err)
		in := make([]int32, 1000*16)
		_, err = m.Forward(in, in, 1000, 16)
		requireAllocError(t, err, "the activations of a forward pass of B=1000 × T=16 tokens do not fit")
		_, err = m.Forward(in[:16], in[:16], 1, 16)
		require.NoError(t, err, "a smaller batch fits")
	})
	t.Run("Backward", func(t *testing.T) {
		const B, T = 4, 16
		acts := int64(4 * (numActs(cfg, B, T) + 2*B*T)) // the activations and the tokens
		m, err := New(cfg, limitedCPU(t, model+acts+64), 1)
		require.NoError(t, err)
		in := make([]int32, B*T)
		_, err = m.Forward(in, in, B, T)
		require.NoError(t, err)
		requireAllocError(t, m.Backward(), "the activation gradients of B=4 × T=16 tokens do not fit")
		_, err = m.Forward(in, in, B, T)
		require.NoError(t, err, "the model still runs")
	})
}

// countingBackend counts the allocations made through it.
type countingBackend struct {
	nn.Backend
	allocs int
}

func (c *countingBackend) Alloc(n int) nn.View {
	c.allocs++
	return c.Backend.Alloc(n)
}

func (c *countingBackend) AllocInt(n int) nn.IntView {
	c.allocs++
	return c.Backend.AllocInt(n)
}

// TestTrainerAllocatesUpFront: NewTrainer allocates everything, so that running out of memory
// shows there; Step and Evaluate allocate nothing on the backend.
func TestTrainerAllocatesUpFront(t *testing.T) {
	for _, mode := range []QueryMode{Baseline, Identity} {
		t.Run(string(mode), func(t *testing.T) {
			tok, err := NewTokenizer("char", testText())
			require.NoError(t, err)
			cfg := Config{NLayer: 2, NHead: 2, NEmbd: 16, BlockSize: 16, VocabSize: tok.VocabSize(), QueryMode: mode}
			ds, err := NewDataset("test text", testText(), tok, cfg.BlockSize)
			require.NoError(t, err)
			b := &countingBackend{Backend: newCPU(t)}
			m, err := New(cfg, b, 1)
			require.NoError(t, err)
			tc := DefaultTrainConfig()
			tc.BatchSize, tc.GradAccum, tc.EvalBatches = 3, 2, 2
			tr, err := NewTrainer(m, tc, ds)
			require.NoError(t, err)
			before := b.allocs
			for range 2 {
				_, err = tr.Step()
				require.NoError(t, err)
			}
			_, err = tr.Evaluate()
			require.NoError(t, err)
			require.Equal(t, before, b.allocs, "allocations after NewTrainer")
		})
	}
}

// TestBatchLimits: micro-batches that no machine could hold are refused before any allocation,
// where an int product would overflow or an op would take more than 2³²−1 elements; so is data
// with a token outside the vocabulary.
func TestBatchLimits(t *testing.T) {
	cfg := tinyConfig(Identity)
	b := &countingBackend{Backend: newCPU(t)}
	m, err := New(cfg, b, 1)
	require.NoError(t, err)
	ds := &Dataset{Source: "test", Train: tokens.Int32s(make([]int32, 100)), Val: tokens.Int32s(make([]int32, 100))}
	tc := DefaultTrainConfig()
	before := b.allocs
	for _, c := range []struct {
		name string
		edit func(*TrainConfig)
		want string
	}{
		{"B=99999999", func(tc *TrainConfig) { tc.BatchSize = 99999999 }, "a micro-batch of B=99999999 sequences of T=8 tokens is too large: one layer's activations would be 1.48e+11 floats (592 GB), and an op takes at most 2³²−1"},
		{"B=MaxInt", func(tc *TrainConfig) { tc.BatchSize = math.MaxInt }, "one layer's activations would be"},
		{"grad-accum=MaxInt", func(tc *TrainConfig) { tc.GradAccum = math.MaxInt }, "grad-accum 9223372036854775807 × batch size 16 × block size 8 tokens are more than any machine holds"},
		{"eval-batches=2⁵⁸", func(tc *TrainConfig) { tc.EvalBatches = 1 << 58 }, "eval-batches"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc := tc
			c.edit(&tc)
			_, err := NewTrainer(m, tc, ds)
			require.ErrorContains(t, err, c.want)
		})
	}
	val := make([]int32, 100)
	val[42] = int32(cfg.VocabSize)
	bad := &Dataset{Source: "bad.txt", Train: tokens.Int32s(make([]int32, 100)), Val: tokens.Int32s(val)}
	_, err = NewTrainer(m, tc, bad)
	require.EqualError(t, err, "gpt: data bad.txt: validation token[42] = 11 is outside the vocabulary [0, 11)")
	_, err = m.Forward(nil, nil, math.MaxInt/4, 8)
	require.ErrorContains(t, err, "one layer's activations would be")
	require.Equal(t, before, b.allocs, "nothing allocated")
}
