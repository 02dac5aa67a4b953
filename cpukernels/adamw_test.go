//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
)

// TestKernelsAdamW checks adamw.h against nn/kernels_adamw.go.
func TestKernelsAdamW(t *testing.T) {
	t.Run("N=10007", func(t *testing.T) {
		p := newKernelPair(t)
		N := 10007
		par, parC := p.up(p.randn(N, 1))
		mv := p.randn(N, 0.01)
		m, mC := p.up(mv)
		vv := p.randn(N, 1e-3)
		for i := range vv {
			vv[i] *= vv[i]
		}
		v, vC := p.up(vv)
		g, gC := p.up(p.randn(N, 0.1))
		dec := make([]float32, N)
		for i := range dec {
			dec[i] = float32(i % 2)
		}
		decay, decayC := p.up(dec)
		h := nn.AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, GradScale: 0.5, Step: 7}
		p.ref.AdamW(par, m, v, g, decay, N, h)
		p.c.AdamW(parC, mC, vC, gC, decayC, N, h)
		p.same("params", par, parC, 1e-7, 1e-6)
		// m = β1·m + (1−β1)·g can cancel; C contracts it to an FMA: absolute tolerances at the
		// scale of the terms.
		p.same("m", m, mC, 1e-9, 1e-6)
		p.same("v", v, vC, 1e-12, 1e-6)
	})
}

// TestKernelsSqrtf checks kv_sqrtf, AdamW's vectorisable square root, against math.Sqrt rounded to
// float32: within 2 ulp from 1e-30 to 1e30, and exact at 0, +∞ and NaN.
func TestKernelsSqrtf(t *testing.T) {
	worst := 0.0
	for e := -30.0; e <= 30; e += 0.0137 {
		x := float32(math.Pow(10, e))
		want := float32(math.Sqrt(float64(x)))
		got := sqrtf(x)
		ulp := float64(math.Nextafter32(want, float32(math.Inf(1))) - want)
		worst = max(worst, math.Abs(float64(got-want))/ulp)
	}
	t.Logf("worst error %.2f ulp", worst)
	require.LessOrEqual(t, worst, 2.0)
	require.Equal(t, float32(0), sqrtf(0))
	require.Equal(t, float32(math.Inf(1)), sqrtf(float32(math.Inf(1))))
	require.True(t, math.IsNaN(float64(sqrtf(float32(math.NaN())))))
}
