package gpt

import (
	"fmt"

	"github.com/kvgpt/kvgpt/nn"
)

// residualState is what a Residual-mode model adds: the backend's RMSNorm op and the activations
// of the query path, in a slab of their own (and a gradient slab of the same layout).
type residualState struct {
	rms         nn.RMSNormer
	acts, dacts nn.View // capacity, see residualActViews
}

// residualActViews are the activations of the residual query path of all layers for a B×T
// micro-batch (N = B·T rows).
type residualActViews struct {
	Norm  nn.View // (L, N, C) RMSNorm(u)
	RRms  nn.View // (L, N) 1/rms(u)
	H     nn.View // (L, N, C/2) RMSNorm(u)·W₁ᵀ
	Z     nn.View // (L, N, C/2) GELU(H)
	Y     nn.View // (L, N, C) Z·W₂ᵀ
	F     nn.View // (L, N, C) f(u) = LN(Y)
	FMean nn.View // (L, N)
	FRstd nn.View // (L, N)
	Q2    nn.View // (L, N, C) u + f(u) = 2·Q; the ½ of Q goes into the attention scale
}

func residualActSizes(c Config, N int) [9]int {
	C, L := c.NEmbd, c.NLayer
	return [9]int{L * N * C, L * N, L * N * C / 2, L * N * C / 2, L * N * C, L * N * C, L * N, L * N, L * N * C}
}

// residualActsCap returns the length of each of the query path's two slabs (activations and
// gradients) for a B×T micro-batch: sized for the full block, as actsCap.
func residualActsCap(c Config, B, T int) int {
	n := 0
	for _, s := range residualActSizes(c, B*max(T, c.BlockSize)) {
		n += s
	}
	return n
}

func newResidualActViews(c Config, slab nn.View, N int) residualActViews {
	var v [9]nn.View
	off := 0
	for i, n := range residualActSizes(c, N) {
		v[i] = slab.Slice(off, n)
		off += n
	}
	return residualActViews{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]}
}

// initResidual checks that the backend has the RMSNorm op the Residual mode needs.
func (m *Model) initResidual() error {
	if m.Config.QueryMode != Residual {
		return nil
	}
	rms, ok := m.b.(nn.RMSNormer)
	if !ok {
		return fmt.Errorf("gpt: the residual query mode needs a backend with the RMSNorm op; %s has none (use the cpu backend)", m.b.Name())
	}
	m.rq.rms = rms
	return nil
}

// residualViews returns the activation and gradient views of the query path for B×T rows,
// allocating the slabs (for the full block size) on first use.
func (m *Model) residualViews(B, T int) (a, d residualActViews) {
	n := 0
	for _, s := range residualActSizes(m.Config, B*T) {
		n += s
	}
	if m.rq.acts.N < n {
		capN := residualActsCap(m.Config, B, T)
		m.rq.acts, m.rq.dacts = m.b.Alloc(capN), m.b.Alloc(capN)
	}
	return newResidualActViews(m.Config, m.rq.acts, B*T), newResidualActViews(m.Config, m.rq.dacts, B*T)
}

// residualQueryForward computes the query operand of layer l from u = LN1(x) (N, C): it returns
// u + f(u) = 2·Q as a (N, C) Strided view; the caller halves the attention scale.
func (m *Model) residualQueryForward(l int, u nn.View, B, T int) nn.Strided {
	b, p, c := m.b, m.Params, m.Config
	C, C2, N := c.NEmbd, c.NEmbd/2, B*T
	a, _ := m.residualViews(B, T)
	norm, rrms := a.Norm.Slice(l*N*C, N*C), a.RRms.Slice(l*N, N)
	h, z := a.H.Slice(l*N*C2, N*C2), a.Z.Slice(l*N*C2, N*C2)
	y, f := a.Y.Slice(l*N*C, N*C), a.F.Slice(l*N*C, N*C)
	fMean, fRstd := a.FMean.Slice(l*N, N), a.FRstd.Slice(l*N, N)
	q2 := a.Q2.Slice(l*N*C, N*C)

	m.rq.rms.RMSNormForward(norm, rrms, u, p.QNormW.Slice(l*C, C), N, C)
	b.MatmulForward(h, norm, p.QFcW.Slice(l*C2*C, C2*C), N, C, C2)
	b.GELUForward(z, h, N*C2)
	b.MatmulForward(y, z, p.QProjW.Slice(l*C*C2, C*C2), N, C2, C)
	b.LayerNormForward(f, fMean, fRstd, y, p.QLNW.Slice(l*C, C), N, C)
	b.ResidualForward(q2, u, f, N*C)
	return nn.Strided{V: q2, Stride: C}
}

// residualQueryOperands returns the query operand of layer l saved by the forward pass and its
// gradient view, zeroed (the attention backward accumulates into it).
func (m *Model) residualQueryOperands(l, B, T int) (q, dq nn.Strided) {
	C, N := m.Config.NEmbd, B*T
	a, d := m.residualViews(B, T)
	dq2 := d.Q2.Slice(l*N*C, N*C)
	m.b.Zero(dq2)
	return nn.Strided{V: a.Q2.Slice(l*N*C, N*C), Stride: C}, nn.Strided{V: dq2, Stride: C}
}

// residualQueryBackward accumulates into du (the gradient of LN1's output) and into the query
// path's parameter gradients the gradient that the attention backward left in layer l's dQ2.
func (m *Model) residualQueryBackward(l int, u, du nn.View, B, T int) {
	b, p, g, c := m.b, m.Params, m.Grads, m.Config
	C, C2, N := c.NEmbd, c.NEmbd/2, B*T
	a, d := m.residualViews(B, T)
	sl := func(v nn.View, w int) nn.View { return v.Slice(l*N*w, N*w) }
	dnorm, dh, dz, dy, df := sl(d.Norm, C), sl(d.H, C2), sl(d.Z, C2), sl(d.Y, C), sl(d.F, C)
	for _, v := range []nn.View{dnorm, dh, dz, dy, df} {
		b.Zero(v)
	}
	// q2 = u + f
	b.ResidualBackward(du, df, sl(d.Q2, C), N*C)
	// f = LN(y), y = z·W₂ᵀ, z = GELU(h), h = norm·W₁ᵀ, norm = RMSNorm(u)
	b.LayerNormBackward(dy, g.QLNW.Slice(l*C, C), df, sl(a.Y, C), p.QLNW.Slice(l*C, C), sl(a.FMean, 1), sl(a.FRstd, 1), N, C)
	b.MatmulBackward(dz, g.QProjW.Slice(l*C*C2, C*C2), dy, sl(a.Z, C2), p.QProjW.Slice(l*C*C2, C*C2), N, C2, C)
	b.GELUBackward(dh, dz, sl(a.H, C2), N*C2)
	b.MatmulBackward(dnorm, g.QFcW.Slice(l*C2*C, C2*C), dh, sl(a.Norm, C), p.QFcW.Slice(l*C2*C, C2*C), N, C, C2)
	m.rq.rms.RMSNormBackward(du, g.QNormW.Slice(l*C, C), dnorm, u, p.QNormW.Slice(l*C, C), sl(a.RRms, 1), N, C)
}
