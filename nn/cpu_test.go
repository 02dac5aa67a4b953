package nn_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

func newCPU(threads int, wholeGemm bool) func(t *testing.T) nn.Backend {
	return func(t *testing.T) nn.Backend {
		c := nn.NewCPU(threads)
		c.WholeGemm = wholeGemm
		t.Cleanup(func() { require.NoError(t, c.Close()) })
		return c
	}
}

// TestConformance runs the shared suite on the CPU backend with all cores and 64×64 gemm tiles.
func TestConformance(t *testing.T) {
	nntest.Run(t, newCPU(0, false))
}

// TestConformanceVariants runs the suite on one thread, on three threads (more than the work of
// small ops splits into), and with whole-product gemm calls.
func TestConformanceVariants(t *testing.T) {
	if testing.Short() {
		t.Skip("variants of TestConformance are skipped in -short mode")
	}
	t.Run("threads=1", func(t *testing.T) { nntest.Run(t, newCPU(1, false)) })
	t.Run("threads=3", func(t *testing.T) { nntest.Run(t, newCPU(3, false)) })
	t.Run("gemm=whole", func(t *testing.T) { nntest.Run(t, newCPU(0, true)) })
}
