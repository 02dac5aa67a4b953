package nntest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The analytic backward references (the large tier's oracle) against central differences of the
// forward references (the small cases' oracle), on small odd shapes: the two agree to the
// accuracy of the differences.

const refAgree = 1e-7 // |analytic − numerical| ≤ refAgree·(1 + |analytic|)

func requireAgree(t *testing.T, name string, analytic, numerical []float64) {
	t.Helper()
	require.Len(t, numerical, len(analytic), name)
	for i := range analytic {
		d := math.Abs(analytic[i] - numerical[i])
		require.LessOrEqual(t, d, refAgree*(1+math.Abs(analytic[i])), "%s[%d]: analytic %.12g, numerical %.12g", name, i, analytic[i], numerical[i])
	}
}

func randn(r *rand.Rand, n int, mean float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = mean + r.NormFloat64()
	}
	return x
}

func TestRefEmbedBackwardMatchesDifferences(t *testing.T) {
	const B, T, C, V = 2, 5, 3, 4
	r := rand.New(rand.NewPCG(1, 2))
	tokens := []int32{0, 3, 3, 1, 0, 2, 0, 3, 1, 1} // (B, T), with repeats
	wte, wpe, dout := randn(r, V*C, 0), randn(r, T*C, 0), randn(r, B*T*C, 0)
	dwte, dwpe := make([]float64, V*C), make([]float64, T*C)
	RefEmbedBackward(dwte, dwpe, dout, tokens, B, T, C)
	y := make([]float64, B*T*C)
	loss := func() float64 { RefEmbed(y, tokens, wte, wpe, B, T, C); return dot(y, dout) }
	requireAgree(t, "dwte", dwte, numGrad(wte, loss))
	requireAgree(t, "dwpe", dwpe, numGrad(wpe, loss))
}

func TestRefLayerNormBackwardMatchesDifferences(t *testing.T) {
	const N, C = 3, 7
	r := rand.New(rand.NewPCG(3, 4))
	in, w, dout := randn(r, N*C, 0.5), randn(r, C, 1), randn(r, N*C, 0)
	din, dw := randn(r, N*C, 0), randn(r, C, 0) // pre-filled: the reference accumulates
	din0, dw0 := clone(din), clone(dw)
	RefLayerNormBackward(din, dw, dout, in, w, N, C)
	y := make([]float64, N*C)
	loss := func() float64 { RefLayerNorm(y, nil, nil, in, w, N, C); return dot(y, dout) }
	requireAgree(t, "din", din, plus(din0, numGrad(in, loss)))
	requireAgree(t, "dw", dw, plus(dw0, numGrad(w, loss)))
}

func TestRefMatmulBackwardMatchesDifferences(t *testing.T) {
	const N, C, OC = 3, 5, 4
	r := rand.New(rand.NewPCG(5, 6))
	in, w, dout := randn(r, N*C, 0), randn(r, OC*C, 0), randn(r, N*OC, 0)
	din, dw := randn(r, N*C, 0), randn(r, OC*C, 0)
	din0, dw0 := clone(din), clone(dw)
	RefMatmulBackward(din, dw, dout, in, w, N, C, OC)
	y := make([]float64, N*OC)
	loss := func() float64 { RefMatmul(y, in, w, N, C, OC); return dot(y, dout) }
	requireAgree(t, "din", din, plus(din0, numGrad(in, loss)))
	requireAgree(t, "dw", dw, plus(dw0, numGrad(w, loss)))
}

func TestRefAttentionBackwardMatchesDifferences(t *testing.T) {
	for _, mode := range modes {
		s := shape{B: 2, T: 5, C: 6, NH: 2}
		t.Run(fmt.Sprintf("mode=%s/B=%d/T=%d/C=%d/NH=%d", mode, s.B, s.T, s.C, s.NH), func(t *testing.T) {
			B, T, C, NH := s.B, s.T, s.C, s.NH
			r := rand.New(rand.NewPCG(7, 8))
			// The layout of attentionInputs without a backend: one (B, T, 3C) buffer, or (B, T, C)
			// and (B, T, 2C).
			a := &attentionInputs{}
			if mode == modeBaseline {
				a.layout = [3]attnColumn{{0, 0, 3 * C}, {0, C, 3 * C}, {0, 2 * C, 3 * C}}
				a.inputs = [][]float64{randn(r, B*T*3*C, 0)}
			} else {
				a.layout = [3]attnColumn{{0, 0, C}, {1, 0, 2 * C}, {1, C, 2 * C}}
				a.inputs = [][]float64{randn(r, B*T*C, 0), randn(r, B*T*2*C, 0)}
			}
			grads := make([][]float64, len(a.inputs))
			for i, x := range a.inputs {
				grads[i] = randn(r, len(x), 0)
				a.grads0 = append(a.grads0, clone(grads[i]))
			}
			q, k, v := a.refViews(a.inputs)
			dq, dk, dv := a.refViews(grads)
			scale := 0.7
			dout := randn(r, B*T*C, 0)
			y, att := make([]float64, B*T*C), make([]float64, B*NH*T*T)
			RefAttention(y, att, q, k, v, B, T, C, NH, scale)
			RefAttentionBackward(dq, dk, dv, dout, att, q, k, v, B, T, C, NH, scale)
			loss := func() float64 { RefAttention(y, att, q, k, v, B, T, C, NH, scale); return dot(y, dout) }
			for i, x := range a.inputs {
				requireAgree(t, fmt.Sprint("grad ", i), grads[i], plus(a.grads0[i], numGrad(x, loss)))
			}
		})
	}
}

func TestRefGELUBackwardMatchesDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	in, dout := randn(r, 41, 0), randn(r, 41, 0)
	for i := range in {
		in[i] *= 3
	}
	din := randn(r, 41, 0)
	din0 := clone(din)
	RefGELUBackward(din, dout, in)
	y := make([]float64, len(in))
	loss := func() float64 { RefGELU(y, in); return dot(y, dout) }
	requireAgree(t, "din", din, plus(din0, numGrad(in, loss)))
}

func TestRefCrossEntropyBackwardMatchesDifferences(t *testing.T) {
	const N, V = 3, 7
	r := rand.New(rand.NewPCG(11, 12))
	logits, dlosses := randn(r, N*V, 0), randn(r, N, 0)
	targets := []int32{0, 6, 3}
	dlogits := randn(r, N*V, 0)
	dlogits0 := clone(dlogits)
	RefCrossEntropyBackward(dlogits, dlosses, logits, targets, N, V)
	l := make([]float64, N)
	loss := func() float64 { RefCrossEntropy(l, logits, targets, N, V); return dot(l, dlosses) }
	requireAgree(t, "dlogits", dlogits, plus(dlogits0, numGrad(logits, loss)))
}
