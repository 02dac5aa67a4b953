//go:build fakemetal && cgo

package metal

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
	"github.com/kvgpt/kvgpt/tokens"
)

// TestAllocRefusedByTheDevice: a buffer Metal refuses (newBufferWithLength returns nil, here the
// fake device's FAKEMETAL_MAX_BUFFER_BYTES) is an *nn.AllocError, which gpt's New, NewTrainer
// and Forward return as errors; the backend goes on working.
func TestAllocRefusedByTheDevice(t *testing.T) {
	be, err := New()
	require.NoError(t, err)
	defer func() { require.NoError(t, be.Close()) }()
	t.Setenv("FAKEMETAL_MAX_BUFFER_BYTES", "1000000")

	ae := nntest.AllocErrorOf(t, func() { be.Alloc(250001) })
	require.NotNil(t, ae)
	require.EqualError(t, ae, "nn: metal (fakemetal (CPU)): cannot allocate 1.0 MB (4.5 kB allocated already): Metal returned no buffer (out of memory)")
	require.Nil(t, nntest.AllocErrorOf(t, func() { be.Alloc(250000) }))

	var want *nn.AllocError
	big := gpt.Config{NLayer: 2, NHead: 4, NEmbd: 128, BlockSize: 64, VocabSize: 256, QueryMode: gpt.Identity}
	_, err = gpt.New(big, be, 1)
	require.ErrorContains(t, err, "gpt: the model's weights, gradients and AdamW state (5 × 402048 floats) do not fit: nn: metal (fakemetal (CPU)): cannot allocate 1.6 MB (1.0 MB allocated already): Metal returned no buffer (out of memory)")
	require.True(t, errors.As(err, &want))

	small := gpt.Config{NLayer: 1, NHead: 2, NEmbd: 16, BlockSize: 16, VocabSize: 256, QueryMode: gpt.Identity}
	m, err := gpt.New(small, be, 1)
	require.NoError(t, err)
	ds := &gpt.Dataset{Source: "zeros", Train: tokens.Int32s(make([]int32, 1000)), Val: tokens.Int32s(make([]int32, 1000))}
	tc := gpt.DefaultTrainConfig()
	tc.BatchSize = 200
	_, err = gpt.NewTrainer(m, tc, ds)
	require.ErrorContains(t, err, "gpt: the activations and batches of a B=200 × T=16 micro-batch (grad-accum 1, eval-batches 8) do not fit")
	require.True(t, errors.As(err, &want))
	in := make([]int32, 200*16)
	_, err = m.Forward(in, in, 200, 16)
	require.ErrorContains(t, err, "gpt: the activations of a forward pass of B=200 × T=16 tokens do not fit")

	tc.BatchSize, tc.EvalBatches = 2, 1
	tr, err := gpt.NewTrainer(m, tc, ds)
	require.NoError(t, err)
	r, err := tr.Step()
	require.NoError(t, err, "the backend still trains")
	require.False(t, math.IsNaN(r.Loss), "loss %v", r.Loss)
}
