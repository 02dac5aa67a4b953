//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

import (
	"fmt"
	"math"
	"testing"

	"github.com/kvgpt/kvgpt/nn"
)

// TestKernelsAttention checks attention.h against nn/kernels_attention.go.
func TestKernelsAttention(t *testing.T) {
	for _, s := range []struct{ B, T, C, NH int }{{2, 150, 48, 2}, {1, 65, 16, 4}, {1, 70, 128, 2}, {2, 64, 64, 2}, {3, 1, 16, 2}, {2, 2, 8, 2}} {
		t.Run(fmt.Sprintf("B=%d/T=%d/C=%d/NH=%d", s.B, s.T, s.C, s.NH), func(t *testing.T) {
			p := newKernelPair(t)
			B, T, C, NH := s.B, s.T, s.C, s.NH
			N := B * T
			qkv, qkvC := p.up(p.randn(N*3*C, 1))
			col := func(v nn.View, c int) nn.Strided { return nn.Strided{V: v.Slice(c, v.N-c), Stride: 3 * C} }
			out, outC := p.up(make([]float32, N*C))
			att, attC := p.up(make([]float32, B*NH*T*T))
			scale := float32(1 / math.Sqrt(float64(C/NH)))
			p.ref.AttentionForward(out, att, col(qkv, 0), col(qkv, C), col(qkv, 2*C), B, T, C, NH, scale)
			p.c.AttentionForward(outC, attC, col(qkvC, 0), col(qkvC, C), col(qkvC, 2*C), B, T, C, NH, scale)
			p.same("out", out, outC, 1e-5, 1e-5)
			p.same("att", att, attC, 1e-6, 1e-5)
			dy, dyC := p.up(p.randn(N*C, 1))
			dqkv, dqkvC := p.up(p.randn(N*3*C, 1))
			datt, dattC := p.up(p.randn(B*NH*T*T, 1)) // scratch
			p.ref.AttentionBackward(col(dqkv, 0), col(dqkv, C), col(dqkv, 2*C), datt, dy, att, col(qkv, 0), col(qkv, C), col(qkv, 2*C), B, T, C, NH, scale)
			p.c.AttentionBackward(col(dqkvC, 0), col(dqkvC, C), col(dqkvC, 2*C), dattC, dyC, attC, col(qkvC, 0), col(qkvC, C), col(qkvC, 2*C), B, T, C, NH, scale)
			p.same("dqkv", dqkv, dqkvC, 2e-5, 2e-5)
		})
	}
}
