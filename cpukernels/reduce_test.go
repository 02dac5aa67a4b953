//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

import "testing"

// TestKernelsGradNorm checks reduce.h against nn/kernels_reduce.go.
func TestKernelsGradNorm(t *testing.T) {
	t.Run("N=300007", func(t *testing.T) {
		p := newKernelPair(t)
		g, gC := p.up(p.randn(300007, 0.01))
		out, outC := p.up(make([]float32, 1))
		p.ref.GradNorm(out, g, g.N)
		p.c.GradNorm(outC, gC, gC.N)
		p.same("norm", out, outC, 0, 1e-6)
	})
}
