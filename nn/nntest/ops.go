package nntest

import (
	"fmt"
	"math"

	"github.com/kvgpt/kvgpt/nn"
)

// shape is a model shape the suite runs the ops on.
type shape struct {
	B, T, C, NH, V int
}

// shapes are deliberately not round: odd sequence lengths, head sizes 4, 4 and 6, one head.
var shapes = []shape{
	{B: 2, T: 7, C: 12, NH: 3, V: 19},
	{B: 1, T: 5, C: 8, NH: 2, V: 11},
	{B: 3, T: 4, C: 6, NH: 1, V: 7},
}

// matmulShapes are extra (N, C, OC) products: one odd, and two whose output, input gradient and
// weight gradient span several 64×64 and 64×128 tiles in both directions, with ragged edges.
var matmulShapes = [][3]int{{13, 9, 17}, {70, 20, 131}, {5, 130, 70}}

// Attention modes: baseline reads q, k, v from one (B, T, 3C) QKV activation; identity (the
// query-free model) reads q from the (B, T, C) LN1 output and k, v from a (B, T, 2C) KV activation.
const (
	modeBaseline = "baseline"
	modeIdentity = "identity"
)

var modes = []string{modeBaseline, modeIdentity}

func embedCase(s shape) Case {
	return Case{Op: "embed", Shape: fmt.Sprintf("B=%d/T=%d/C=%d/V=%d", s.B, s.T, s.C, s.V), run: func(e *env) {
		B, T, C, V := s.B, s.T, s.C, s.V
		Tmax := T + 2 // wpe has more rows than the sequence uses (the block size)
		tokens := e.tokens(B*T, V)
		wte, wpe := e.randn(V*C, 1), e.randn(Tmax*C, 1)
		tokV, wteV, wpeV := e.uploadInt(tokens), e.upload(wte), e.upload(wpe)
		out := e.alloc(B * T * C)
		e.be.EmbedForward(out, tokV, wteV, wpeV, B, T, C)
		y := make([]float64, B*T*C)
		RefEmbed(y, tokens, wte, wpe, B, T, C)
		e.check("out", out, y, tolForward, B, T, C)

		dout := e.randn(B*T*C, 1)
		dwte0, dwpe0 := e.randn(V*C, 1), e.randn(Tmax*C, 1)
		dwte, dwpe := e.upload(dwte0), e.upload(dwpe0)
		e.be.EmbedBackward(dwte, dwpe, e.upload(dout), tokV, B, T, C)
		loss := func() float64 { RefEmbed(y, tokens, wte, wpe, B, T, C); return dot(y, dout) }
		e.check("dwte", dwte, plus(dwte0, numGrad(wte, loss)), tolBackward, V, C)
		e.check("dwpe", dwpe, plus(dwpe0, numGrad(wpe, loss)), tolBackward, Tmax, C)
	}}
}

// layerNormInputs draws a layernorm case's input (N, C), rows with a non-zero mean, and its
// weight (C) around 1, both exact in float32.
func layerNormInputs(e *env, N, C int) (in, w []float64) {
	in = e.randn(N*C, 2)
	for i := range in {
		in[i] = float64(float32(in[i] + 0.5))
	}
	w = e.randn(C, 0.3)
	for i := range w {
		w[i] = float64(float32(w[i] + 1))
	}
	return in, w
}

func layerNormCase(N, C int) Case {
	return Case{Op: "layernorm", Shape: fmt.Sprintf("N=%d/C=%d", N, C), run: func(e *env) {
		in, w := layerNormInputs(e, N, C)
		inV, wV := e.upload(in), e.upload(w)
		out, mean, rstd := e.alloc(N*C), e.alloc(N), e.alloc(N)
		e.be.LayerNormForward(out, mean, rstd, inV, wV, N, C)
		y, m, r := make([]float64, N*C), make([]float64, N), make([]float64, N)
		RefLayerNorm(y, m, r, in, w, N, C)
		e.check("out", out, y, tolForward, N, C)
		e.check("mean", mean, m, tolForward, N)
		e.check("rstd", rstd, r, tolForward, N)

		dout := e.randn(N*C, 1)
		din0, dw0 := e.randn(N*C, 1), e.randn(C, 1)
		din, dw := e.upload(din0), e.upload(dw0)
		e.be.LayerNormBackward(din, dw, e.upload(dout), inV, wV, mean, rstd, N, C)
		loss := func() float64 { RefLayerNorm(y, nil, nil, in, w, N, C); return dot(y, dout) }
		e.check("din", din, plus(din0, numGrad(in, loss)), tolBackward, N, C)
		e.check("dw", dw, plus(dw0, numGrad(w, loss)), tolBackward, C)
	}}
}

func matmulCase(N, C, OC int) Case {
	return Case{Op: "matmul", Shape: fmt.Sprintf("N=%d/C=%d/OC=%d", N, C, OC), run: func(e *env) {
		in, w := e.randn(N*C, 1), e.randn(OC*C, 1)
		inV, wV := e.upload(in), e.upload(w)
		out := e.upload(e.randn(N*OC, 1)) // forward overwrites
		e.be.MatmulForward(out, inV, wV, N, C, OC)
		y := make([]float64, N*OC)
		RefMatmul(y, in, w, N, C, OC)
		e.check("out", out, y, tolForward, N, OC)

		dout := e.randn(N*OC, 1)
		din0, dw0 := e.randn(N*C, 1), e.randn(OC*C, 1)
		din, dw := e.upload(din0), e.upload(dw0)
		e.be.MatmulBackward(din, dw, e.upload(dout), inV, wV, N, C, OC)
		// The loss Σ dout·out restricted to what a perturbation can change: row n of out for
		// in[n, :], column o of out for w[o, :]. This keeps the larger shapes cheap.
		dIn := make([]float64, 0, N*C)
		for n := range N {
			row, dy := in[n*C:(n+1)*C], dout[n*OC:(n+1)*OC]
			yr := make([]float64, OC)
			dIn = append(dIn, numGrad(row, func() float64 { RefMatmul(yr, row, w, 1, C, OC); return dot(yr, dy) })...)
		}
		dW := make([]float64, 0, OC*C)
		for o := range OC {
			row, dy, yc := w[o*C:(o+1)*C], make([]float64, N), make([]float64, N)
			for n := range N {
				dy[n] = dout[n*OC+o]
			}
			dW = append(dW, numGrad(row, func() float64 { RefMatmul(yc, in, row, N, C, 1); return dot(yc, dy) })...)
		}
		e.check("din", din, plus(din0, dIn), tolBackward, N, C)
		e.check("dw", dw, plus(dw0, dW), tolBackward, OC, C)
	}}
}

// attentionScale is the default logit scale of each mode: 1/√dh for baseline, 1/(2√dh) for identity.
func attentionScale(mode string, dh int) float64 {
	if mode == modeIdentity {
		return 1 / (2 * math.Sqrt(float64(dh)))
	}
	return 1 / math.Sqrt(float64(dh))
}

// attentionInputs are the inputs of an attention case exactly as the gpt model lays them out, on
// the backend and for the reference, with their gradients pre-filled.
type attentionInputs struct {
	inputs, grads0 [][]float64 // baseline: qkv (B, T, 3C); identity: ln1 (B, T, C), kv (B, T, 2C)
	names          []string    // the gradients' check names
	dims           [][]int
	ins, dins      []nn.View     // inputs and gradients on the backend
	q, k, v        nn.Strided    // views of ins
	dq, dk, dv     nn.Strided    // views of dins
	rq, rk, rv     Strided       // views of inputs, for the reference
	layout         [3]attnColumn // q, k, v
}

// attnColumn is where q, k or v lives: columns off… of the (B, T, stride) buffer buf.
type attnColumn struct{ buf, off, stride int }

func newAttentionInputs(e *env, s shape, mode string) *attentionInputs {
	B, T, C := s.B, s.T, s.C
	N := B * T
	a := &attentionInputs{}
	switch mode {
	case modeBaseline: // q, k, v are columns 0, C and 2C of one (B, T, 3C) QKV activation
		a.inputs, a.names, a.dims = [][]float64{e.randn(N*3*C, 1)}, []string{"dqkv"}, [][]int{{B, T, 3 * C}}
		a.layout = [3]attnColumn{{0, 0, 3 * C}, {0, C, 3 * C}, {0, 2 * C, 3 * C}}
	case modeIdentity: // q is the (B, T, C) LN1 output; k, v are columns 0 and C of a (B, T, 2C) KV
		a.inputs, a.names, a.dims = [][]float64{e.randn(N*C, 1), e.randn(N*2*C, 1)},
			[]string{"dln1 (dq)", "dkv"}, [][]int{{B, T, C}, {B, T, 2 * C}}
		a.layout = [3]attnColumn{{0, 0, C}, {1, 0, 2 * C}, {1, C, 2 * C}}
	}
	for _, x := range a.inputs {
		a.ins = append(a.ins, e.upload(x))
		g := e.randn(len(x), 1)
		a.grads0 = append(a.grads0, g)
		a.dins = append(a.dins, e.upload(g))
	}
	a.q, a.k, a.v = a.views(a.ins)
	a.dq, a.dk, a.dv = a.views(a.dins)
	a.rq, a.rk, a.rv = a.refViews(a.inputs)
	return a
}

// views returns q, k, v (or their gradients) as strided views of the backend buffers xs.
func (a *attentionInputs) views(xs []nn.View) (q, k, v nn.Strided) {
	var s [3]nn.Strided
	for i, l := range a.layout {
		s[i] = nn.Strided{V: xs[l.buf].Slice(l.off, xs[l.buf].N-l.off), Stride: l.stride}
	}
	return s[0], s[1], s[2]
}

// refViews returns q, k, v (or their gradients) as the reference's strided views of xs.
func (a *attentionInputs) refViews(xs [][]float64) (q, k, v Strided) {
	var s [3]Strided
	for i, l := range a.layout {
		s[i] = Strided{xs[l.buf], l.off, l.stride}
	}
	return s[0], s[1], s[2]
}

func attentionCase(s shape, mode string) Case {
	return Case{Op: "attention", Mode: mode, Shape: fmt.Sprintf("B=%d/T=%d/C=%d/NH=%d", s.B, s.T, s.C, s.NH), run: func(e *env) {
		B, T, C, NH := s.B, s.T, s.C, s.NH
		N := B * T
		scale := float64(float32(attentionScale(mode, C/NH)))
		a := newAttentionInputs(e, s, mode)

		out := e.alloc(N * C)
		att := e.upload(e.randn(B*NH*T*T, 1)) // forward must also write the zeros above the diagonal
		e.be.AttentionForward(out, att, a.q, a.k, a.v, B, T, C, NH, float32(scale))
		y, p := make([]float64, N*C), make([]float64, B*NH*T*T)
		RefAttention(y, p, a.rq, a.rk, a.rv, B, T, C, NH, scale)
		e.check("out", out, y, tolForward, B, T, C)
		e.check("att", att, p, tolForward, B, NH, T, T)

		dout := e.randn(N*C, 1)
		datt := e.upload(e.randn(B*NH*T*T, 1))
		e.be.AttentionBackward(a.dq, a.dk, a.dv, datt, e.upload(dout), att, a.q, a.k, a.v, B, T, C, NH, float32(scale))
		loss := func() float64 { RefAttention(y, p, a.rq, a.rk, a.rv, B, T, C, NH, scale); return dot(y, dout) }
		for i, x := range a.inputs {
			e.check(a.names[i], a.dins[i], plus(a.grads0[i], numGrad(x, loss)), tolBackward, a.dims[i]...)
		}
	}}
}

func geluCase(N int) Case {
	return Case{Op: "gelu", Shape: fmt.Sprintf("N=%d", N), run: func(e *env) {
		in := e.uniform(N, -5, 5)
		inV, out := e.upload(in), e.alloc(N)
		e.be.GELUForward(out, inV, N)
		y := make([]float64, N)
		RefGELU(y, in)
		e.check("out", out, y, tolForward)

		dout, din0 := e.randn(N, 1), e.randn(N, 1)
		din := e.upload(din0)
		e.be.GELUBackward(din, e.upload(dout), inV, N)
		// GELU is element-wise: one perturbation per element changes one output.
		g := make([]float64, N)
		for i := range in {
			x := []float64{in[i]}
			g[i] = numGrad(x, func() float64 { var o [1]float64; RefGELU(o[:], x); return o[0] * dout[i] })[0]
		}
		e.check("din", din, plus(din0, g), tolBackward)
	}}
}

func residualCase(N int) Case {
	return Case{Op: "residual", Shape: fmt.Sprintf("N=%d", N), run: func(e *env) {
		a, b := e.randn(N, 1), e.randn(N, 1)
		out := e.alloc(N)
		e.be.ResidualForward(out, e.upload(a), e.upload(b), N)
		y := make([]float64, N)
		RefResidual(y, a, b)
		e.check("out", out, y, tolForward)

		dout, da0, db0 := e.randn(N, 1), e.randn(N, 1), e.randn(N, 1)
		da, db := e.upload(da0), e.upload(db0)
		e.be.ResidualBackward(da, db, e.upload(dout), N)
		loss := func() float64 { RefResidual(y, a, b); return dot(y, dout) }
		e.check("da", da, plus(da0, numGrad(a, loss)), tolBackward)
		e.check("db", db, plus(db0, numGrad(b, loss)), tolBackward)
	}}
}

func crossEntropyCase(N, V int) Case {
	return Case{Op: "crossentropy", Shape: fmt.Sprintf("N=%d/V=%d", N, V), run: func(e *env) {
		logits, targets := e.randn(N*V, 2), e.tokens(N, V)
		logitsV, targetsV := e.upload(logits), e.uploadInt(targets)
		losses := e.alloc(N)
		e.be.CrossEntropyForward(losses, logitsV, targetsV, N, V)
		l := make([]float64, N)
		RefCrossEntropy(l, logits, targets, N, V)
		e.check("losses", losses, l, tolForward, N)

		dlosses, dlogits0 := e.uniform(N, 0.1, 1), e.randn(N*V, 1)
		dlogits := e.upload(dlogits0)
		e.be.CrossEntropyBackward(dlogits, e.upload(dlosses), logitsV, targetsV, N, V)
		loss := func() float64 { RefCrossEntropy(l, logits, targets, N, V); return dot(l, dlosses) }
		e.check("dlogits", dlogits, plus(dlogits0, numGrad(logits, loss)), tolBackward, N, V)
	}}
}

func zeroCase(N int) Case {
	return Case{Op: "zero", Shape: fmt.Sprintf("N=%d", N), run: func(e *env) {
		x := e.upload(e.randn(N, 1))
		e.be.Zero(x)
		e.check("x", x, make([]float64, N), Tolerance{})
	}}
}

func gradNormCase(N int) Case {
	return Case{Op: "gradnorm", Shape: fmt.Sprintf("N=%d", N), run: func(e *env) {
		g := e.randn(N, 1)
		out := e.upload([]float64{-1})
		e.be.GradNorm(out, e.upload(g), N)
		e.check("norm", out, []float64{RefNorm(g)}, tolForward)
	}}
}

func adamWCase(N, step int) Case {
	return Case{Op: "adamw", Shape: fmt.Sprintf("N=%d/step=%d", N, step), run: func(e *env) {
		h := nn.AdamWParams{LR: 3e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, GradScale: 0.625, Step: step}
		p, m, g := e.randn(N, 1), e.randn(N, 0.01), e.randn(N, 0.1)
		v := e.randn(N, 1e-3)
		decay := make([]float64, N)
		for i := range v {
			v[i] = math.Abs(v[i])
			if m[i] > 0 && step > 1 {
				v[i] = float64(float32(v[i] * 1e-4)) // some tiny second moments
			}
			decay[i] = float64(e.rng.IntN(2))
		}
		pV, mV, vV := e.upload(p), e.upload(m), e.upload(v)
		e.be.AdamW(pV, mV, vV, e.upload(g), e.upload(decay), N, h)
		RefAdamW(p, m, v, g, decay, float64(h.LR), float64(h.Beta1), float64(h.Beta2), float64(h.Eps),
			float64(h.WeightDecay), float64(h.GradScale), step)
		e.check("params", pV, p, tolForward)
		e.check("m", mV, m, tolForward)
		e.check("v", vV, v, tolForward)
	}}
}
