//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
)

// TestKernelsGELU checks gelu.h against nn/kernels_gelu.go.
func TestKernelsGELU(t *testing.T) {
	t.Run("N=100003", func(t *testing.T) {
		p := newKernelPair(t)
		x := p.randn(100003, 3)
		copy(x, []float32{0, -8, 8, -7.999, 20, -20, -100, 100, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))})
		dout := p.randn(len(x), 1)
		in, inC := p.up(x)
		out, outC := p.up(make([]float32, len(x)))
		p.ref.GELUForward(out, in, len(x))
		p.c.GELUForward(outC, inC, len(x))
		p.same("out", out, outC, 2e-6, 2e-6)
		dy, dyC := p.up(dout)
		din, dinC := p.up(p.randn(len(x), 1)) // accumulates
		p.ref.GELUBackward(din, dy, in, len(x))
		p.c.GELUBackward(dinC, dyC, inC, len(x))
		p.same("din", din, dinC, 4e-6, 4e-6)
	})
}

// TestKernelsGELUAccuracy measures the C kernels' GELU and GELU' on a dense grid of [−10, 10]
// against float64 (math.Erfc) and against the Go kernels, as |error|/(1 + |x|) for GELU and
// |error| for GELU' (the measure of nn's and shaders' TestGELUAccuracy): the C and C − Go rows of
// the table in nn/kernels_gelu.go.
func TestKernelsGELUAccuracy(t *testing.T) {
	const N = 200001
	in, ones := make([]float32, N), make([]float32, N)
	for i := range in {
		in[i] = float32(-10 + 20*float64(i)/(N-1))
		ones[i] = 1
	}
	out, din := make([]float32, N), make([]float32, N)
	goOut, goDin := make([]float32, N), make([]float32, N)
	Kernels().GELUForward(out, in)
	Kernels().GELUBackward(din, ones, in)
	nn.GoKernels{}.GELUForward(goOut, in)
	nn.GoKernels{}.GELUBackward(goDin, ones, in)
	var worst, worstD, vsGo, vsGoD float64
	for i, x := range in {
		xf := float64(x)
		cdf := 0.5 * math.Erfc(-xf/math.Sqrt2)
		worst = max(worst, math.Abs(float64(out[i])-xf*cdf)/(1+math.Abs(xf)))
		worstD = max(worstD, math.Abs(float64(din[i])-(cdf+xf*math.Exp(-0.5*xf*xf)/math.Sqrt(2*math.Pi))))
		vsGo = max(vsGo, math.Abs(float64(out[i]-goOut[i]))/(1+math.Abs(xf)))
		vsGoD = max(vsGoD, math.Abs(float64(din[i]-goDin[i])))
	}
	t.Logf("%s GELU over [−10, 10]: max |err|/(1+|x|) = %.2e, derivative max |err| = %.2e", Kernels().Name(), worst, worstD)
	t.Logf("%s − Go: GELU max |diff|/(1+|x|) = %.2e, derivative max |diff| = %.2e", Kernels().Name(), vsGo, vsGoD)
	require.Less(t, worst, 2e-7)
	require.Less(t, worstD, 4e-7)
	require.Less(t, vsGo, 4e-7)
	require.Less(t, vsGoD, 2e-6)
}
