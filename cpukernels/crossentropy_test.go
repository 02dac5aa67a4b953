//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

import (
	"fmt"
	"testing"
)

// TestKernelsCrossEntropy checks crossentropy.h against nn/kernels_crossentropy.go.
func TestKernelsCrossEntropy(t *testing.T) {
	for _, s := range []struct{ N, V int }{{45, 259}, {9, 3}} {
		t.Run(fmt.Sprintf("N=%d/V=%d", s.N, s.V), func(t *testing.T) {
			p := newKernelPair(t)
			N, V := s.N, s.V
			logits, logitsC := p.up(p.randn(N*V, 8))
			tg := make([]int32, N)
			for i := range tg {
				tg[i] = int32(p.rng.IntN(V))
			}
			tgt, tgtC := p.ref.AllocInt(N), p.c.AllocInt(N)
			p.ref.UploadInt(tgt, tg)
			p.c.UploadInt(tgtC, tg)
			loss, lossC := p.up(make([]float32, N))
			p.ref.CrossEntropyForward(loss, logits, tgt, N, V)
			p.c.CrossEntropyForward(lossC, logitsC, tgtC, N, V)
			p.same("losses", loss, lossC, 1e-5, 1e-5)
			dl, dlC := p.up(p.randn(N, 1))
			dx, dxC := p.up(p.randn(N*V, 1))
			p.ref.CrossEntropyBackward(dx, dl, logits, tgt, N, V)
			p.c.CrossEntropyBackward(dxC, dlC, logitsC, tgtC, N, V)
			p.same("dlogits", dx, dxC, 1e-6, 1e-5)
		})
	}
}
