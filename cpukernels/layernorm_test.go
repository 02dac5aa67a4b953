//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

import (
	"fmt"
	"testing"
)

// TestKernelsLayerNorm checks layernorm.h against nn/kernels_layernorm.go.
func TestKernelsLayerNorm(t *testing.T) {
	for _, s := range []struct{ N, C int }{{67, 391}, {130, 17}, {3, 1}} {
		t.Run(fmt.Sprintf("N=%d/C=%d", s.N, s.C), func(t *testing.T) {
			p := newKernelPair(t)
			N, C := s.N, s.C
			x := p.randn(N*C, 2)
			for i := range x {
				x[i] += 0.5 // a mean away from zero
			}
			in, inC := p.up(x)
			w, wC := p.up(p.randn(C, 1))
			out, outC := p.up(make([]float32, N*C))
			mean, meanC := p.up(make([]float32, N))
			rstd, rstdC := p.up(make([]float32, N))
			p.ref.LayerNormForward(out, mean, rstd, in, w, N, C)
			p.c.LayerNormForward(outC, meanC, rstdC, inC, wC, N, C)
			p.same("out", out, outC, 1e-5, 1e-5)
			p.same("mean", mean, meanC, 1e-6, 1e-5)
			p.same("rstd", rstd, rstdC, 0, 1e-5)
			dy, dyC := p.up(p.randn(N*C, 1))
			din, dinC := p.up(p.randn(N*C, 1))
			dw, dwC := p.up(p.randn(C, 1))
			p.ref.LayerNormBackward(din, dw, dy, in, w, mean, rstd, N, C)
			p.c.LayerNormBackward(dinC, dwC, dyC, inC, wC, meanC, rstdC, N, C)
			p.same("din", din, dinC, 2e-5, 2e-5)
			p.same("dw", dw, dwC, 1e-4, 2e-5)
		})
	}
}
