package nn

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGELUTables(t *testing.T) {
	worstCDF, worstGrad, worstOut := 0.0, 0.0, 0.0
	for x := float32(-12); x <= 12; x += 0.00037 {
		xf := float64(x)
		cdf := 0.5 * (1 + math.Erf(xf/math.Sqrt2))
		grad := cdf + xf*math.Exp(-0.5*xf*xf)/math.Sqrt(2*math.Pi)
		worstCDF = max(worstCDF, math.Abs(float64(geluLookup(geluCDF, x))-cdf))
		worstGrad = max(worstGrad, math.Abs(float64(geluLookup(geluGrad, x))-grad))
		// GELU itself, relative to the tolerance the conformance suite allows (1e-5 + 1e-4·|want|).
		out := float64(x * geluLookup(geluCDF, x))
		worstOut = max(worstOut, math.Abs(out-xf*cdf)/(1e-5+1e-4*math.Abs(xf*cdf)))
	}
	require.Less(t, worstCDF, 5e-7, "Φ: worst absolute error")
	require.Less(t, worstGrad, 2e-6, "GELU': worst absolute error")
	require.Less(t, worstOut, 0.1, "GELU: worst error as a fraction of the conformance tolerance")
	for _, x := range []float32{-1e30, -8.5, 8.5, 1e30} {
		want := map[bool]float32{true: 1, false: 0}[x > 0]
		require.Equal(t, want, geluLookup(geluCDF, x), fmt.Sprint(x))
		require.Equal(t, want, geluLookup(geluGrad, x), fmt.Sprint(x))
	}
	require.True(t, math.IsNaN(float64(geluLookup(geluCDF, float32(math.NaN())))))
}

// geluGrid returns n float32 points spread evenly over [−10, 10]: the grid on which the GELUs of
// Go, C and Metal are measured (shaders' TestGELUAccuracy uses 20001 of them).
func geluGrid(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(-10 + 20*float64(i)/float64(n-1))
	}
	return x
}

// TestGELUAccuracy measures the Go kernels' GELU and GELU' against float64 (math.Erfc) on a dense
// grid of [−10, 10], as |error|/(1 + |x|) for GELU and |error| for GELU' (the measure of shaders'
// TestGELUAccuracy): the Go row of the table in kernels_gelu.go.
func TestGELUAccuracy(t *testing.T) {
	in := geluGrid(200001)
	out, din, ones := make([]float32, len(in)), make([]float32, len(in)), make([]float32, len(in))
	for i := range ones {
		ones[i] = 1
	}
	GoKernels{}.GELUForward(out, in)
	GoKernels{}.GELUBackward(din, ones, in)
	worst, worstD := 0.0, 0.0
	for i, x := range in {
		xf := float64(x)
		cdf := 0.5 * math.Erfc(-xf/math.Sqrt2)
		worst = max(worst, math.Abs(float64(out[i])-xf*cdf)/(1+math.Abs(xf)))
		worstD = max(worstD, math.Abs(float64(din[i])-(cdf+xf*math.Exp(-0.5*xf*xf)/math.Sqrt(2*math.Pi))))
	}
	t.Logf("Go GELU over [−10, 10]: max |err|/(1+|x|) = %.2e, derivative max |err| = %.2e", worst, worstD)
	require.Less(t, worst, 4e-7)
	require.Less(t, worstD, 2e-6)
}
