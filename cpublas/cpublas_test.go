package cpublas

import (
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/blas/blas32"
)

func TestUseInstallsImplementation(t *testing.T) {
	old := blas32.Implementation()
	defer blas32.Use(old)

	info := Use()
	require.Equal(t, Implementation(), blas32.Implementation())
	require.Equal(t, Describe(), info)
	require.NotEmpty(t, info.String())

	// A product through blas32 after Use gives the right answer: (2×3)·(3×2)ᵀ… written out by hand.
	a := blas32.General{Rows: 2, Cols: 3, Stride: 3, Data: []float32{1, 2, 3, 4, 5, 6}}
	b := blas32.General{Rows: 2, Cols: 3, Stride: 3, Data: []float32{1, 0, -1, 2, 1, 0}}
	c := blas32.General{Rows: 2, Cols: 2, Stride: 2, Data: make([]float32, 4)}
	blas32.Gemm('N', 'T', 1, a, b, 0, c)
	require.Equal(t, []float32{1 - 3, 2 + 2, 4 - 6, 8 + 5}, c.Data)
}

func TestInfoString(t *testing.T) {
	require.Equal(t, "gonum (pure Go)", Info{Name: "gonum (pure Go)"}.String())
	require.Equal(t, "OpenBLAS 0.3.21 (cgo, core SkylakeX, 2 threads)",
		Info{Name: "OpenBLAS 0.3.21", CBLAS: true, Core: "SkylakeX", Threads: 2}.String())
	require.Equal(t, "OpenBLAS 0.3.21 (cgo, core SkylakeX, 1 thread)",
		Info{Name: "OpenBLAS 0.3.21", CBLAS: true, Core: "SkylakeX", Threads: 1}.String())
	require.Equal(t, "Apple Accelerate (cgo)", Info{Name: "Apple Accelerate", CBLAS: true}.String())
	require.Equal(t, "gonum (pure Go); no cgo", Info{Name: "gonum (pure Go)", Note: "no cgo"}.String())
}
