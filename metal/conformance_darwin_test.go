//go:build darwin && cgo

package metal_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/metal"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

// TestConformance runs the shared backend suite on the Metal backend: every op forward and
// backward against float64 references, on the GPU.
func TestConformance(t *testing.T) {
	nntest.Run(t, func(t *testing.T) nn.Backend {
		require.True(t, metal.Available(), "this Mac has no Metal GPU that runs kvgpt's kernels")
		b, err := metal.New()
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, b.Close()) })
		return b
	})
}
