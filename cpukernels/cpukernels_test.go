package cpukernels

import (
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/kvgpt/kvgpt/cpublas"
	"github.com/kvgpt/kvgpt/nn"
)

// TestNewCPU checks the backend NewCPU sets up for this build's BLAS: the Go kernels on gemm
// tiles on gonum; the C kernels on products split by rows on OpenBLAS, left at one thread; the C
// kernels on whole products on Accelerate.
func TestNewCPU(t *testing.T) {
	old := blas32.Implementation()
	defer blas32.Use(old)
	c := NewCPU(2)
	defer c.Close()
	info := cpublas.Describe()
	require.Equal(t, cpublas.Implementation(), blas32.Implementation())
	require.Equal(t, 2, c.Threads())
	if !info.CBLAS {
		require.Nil(t, Kernels())
		require.Equal(t, nn.GoKernels{}, c.Kernels())
		require.Equal(t, nn.GemmTiles, c.Gemm())
		return
	}
	require.NotNil(t, Kernels())
	require.Equal(t, Kernels(), c.Kernels())
	if info.Threads > 0 {
		require.Equal(t, 1, info.Threads, "the library left at one thread per product block")
		require.Equal(t, nn.GemmSplit, c.Gemm())
	} else {
		require.Equal(t, nn.GemmWhole, c.Gemm())
	}
}
