//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

import (
	"math"
	"testing"
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
