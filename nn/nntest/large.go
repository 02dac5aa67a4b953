package nntest

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// The large-shape tier: the ops at the widths of real models and with sequences several
// attention tiles long, where a kernel's tiling, grid and reductions meet shapes the small cases
// never reach. Finite differences would take hours at these sizes, so the backward passes are
// checked against the analytic float64 gradients of ref.go, and the tolerances are derived from
// float32 rounding:
//
// A float32 computation rounds intermediate values x_j, each with a relative error δ_j, |δ_j| ≤
// u = 2⁻²⁴, which moves an output by δ_j·m_j, m_j = x_j·∂out/∂x_j, to first order. With the δ_j
// modelled as independent and of mean zero (Higham and Mary, "A new approach to probabilistic
// rounding error analysis", SIAM J. Sci. Comput. 41(5), 2019), Azuma–Hoeffding bounds the error
// of the output by λ·u·√(Σ_j m_j²) except with probability 2·exp(−λ²/2), 2.5e-14 at λ = 8. For
// a group of K roundings with every |m_j| ≤ S that is
//
//	|got − want| ≤ e(K)·S,   e(K) = λ·√K·u   (roundingBound(K, S))
//
// and the bounds of the groups on an output's path add up (a sum of K terms rounds K partial
// sums, each at most Σ|terms|; for a dot product a·b that is at most ‖a‖·‖b‖, Cauchy–Schwarz).
// Matmul, embedding and cross-entropy's loss take S from the largest norms or elements of their
// data, one tolerance per output; attention, LayerNorm and the cross-entropy gradient, whose
// elements' masses differ by orders of magnitude (a softmax weight, a normalised row), get a
// bound per element that follows the reference with absolute values (attentionBounds,
// layerNormBounds, crossEntropyBounds). None was adjusted to make a backend pass;
// Options.TolScale still multiplies them, for fast-math GPU kernels.

const (
	unitRoundoff = 0x1p-24 // u: float32 rounds to nearest with relative error at most 2⁻²⁴
	lambda       = 8       // λ: the bound fails with probability 2·exp(−λ²/2) per element
)

// roundingBound returns e(K)·S = λ·√K·u·S: the error bound of K roundings, each moving the output
// by at most S·u.
func roundingBound(K int, S float64) float64 {
	return lambda * math.Sqrt(float64(K)) * unitRoundoff * S
}

// roundingTol is the absolute tolerance roundingBound(K, S).
func roundingTol(K int, S float64) Tolerance { return Tolerance{Abs: roundingBound(K, S)} }

// LargeCases lists the large-shape tier, in a fixed order: real model widths (C = 768, the MLP's
// 4C = 3072, the QKV projection's 3C = 2304), attention over T = 300 (five 64-row tiles, the last
// ragged) and over T = 130 with batch 2, element-wise ops over a whole (300, 3072) activation, and
// cross-entropy over rows of 1031 logits (four row-reduction threadgroups and a ragged end). The
// matmuls have N = 65 rows (one full 64-row tile and a ragged one) and N = 33 (a partial tile):
// more rows would cover no other tile and cost the shader harness about a second per row.
//
// The float64 references take seconds (computed once per process, see reference) and the
// buffers tens of megabytes.
func LargeCases() []Case {
	var cs []Case
	cs = append(cs, largeEmbedCase(shape{B: 2, T: 150, C: 768, V: 256}))
	cs = append(cs, largeLayerNormCase(300, 768), largeLayerNormCase(64, 1536))
	cs = append(cs, largeMatmulCase(65, 768, 2304), largeMatmulCase(33, 3072, 768))
	for _, s := range []shape{{B: 1, T: 300, C: 768, NH: 12}, {B: 2, T: 130, C: 128, NH: 2}} {
		for _, mode := range modes {
			cs = append(cs, largeAttentionCase(s, mode))
		}
	}
	cs = append(cs, largeGELUCase(300*3072), largeCrossEntropyCase(300, 1031))
	return cs
}

// largeRefs holds the float64 references of the large cases (with their rounding bounds) and of
// the whole-model cases (gpt.go) by case name. A case draws its inputs from a random source
// seeded by its name, so its reference is a function of the name; it costs up to a second (a
// large matmul's is hundreds of millions of multiply-adds, a model's thousands of forward passes),
// and one test process may run the suite on several backends (nn's TestConformanceVariants runs
// it four more times, a shader harness once per thread order). The whole large tier's references
// hold about 150 MB.
var largeRefs = struct {
	sync.Mutex
	m map[string]any
}{m: map[string]any{}}

// reference returns the reference of the case running in e: compute() the first time in this
// process, the same value (not to be modified) after that.
func reference[R any](e *env, compute func() R) R {
	largeRefs.Lock()
	defer largeRefs.Unlock()
	if r, ok := largeRefs.m[e.name]; ok {
		return r.(R)
	}
	r := compute()
	largeRefs.m[e.name] = r
	return r
}

func largeEmbedCase(s shape) Case {
	return Case{Op: "embed", Shape: fmt.Sprintf("B=%d/T=%d/C=%d/V=%d", s.B, s.T, s.C, s.V), run: func(e *env) {
		B, T, C, V := s.B, s.T, s.C, s.V
		Tmax := T + 2
		tokens := e.tokens(B*T, V) // 300 rows over 256 ids: many ids repeat
		wte, wpe := e.randn(V*C, 1), e.randn(Tmax*C, 1)
		dout := e.randn(B*T*C, 1)
		dwte0, dwpe0 := e.randn(V*C, 1), e.randn(Tmax*C, 1)
		type want struct{ out, dwte, dwpe []float64 }
		ref := reference(e, func() (r want) {
			r.out, r.dwte, r.dwpe = make([]float64, B*T*C), clone(dwte0), clone(dwpe0)
			RefEmbed(r.out, tokens, wte, wpe, B, T, C)
			RefEmbedBackward(r.dwte, r.dwpe, dout, tokens, B, T, C)
			return r
		})
		tokV, wteV, wpeV := e.uploadInt(tokens), e.upload(wte), e.upload(wpe)
		out := e.alloc(B * T * C)
		e.be.EmbedForward(out, tokV, wteV, wpeV, B, T, C)
		// out: one rounding of wte + wpe.
		e.check("out", out, ref.out, roundingTol(1, maxAbs(wte)+maxAbs(wpe)), B, T, C)

		dwte, dwpe := e.upload(dwte0), e.upload(dwpe0)
		e.be.EmbedBackward(dwte, dwpe, e.upload(dout), tokV, B, T, C)
		// dwte[v]: dwte0 plus the rows of token v, one rounding per row; partial sums at most
		// |dwte0| + rows·max|dout|. dwpe[t]: the same over the B rows of position t.
		rows := 0
		for _, n := range tokenCounts(tokens, V) {
			rows = max(rows, n)
		}
		D := maxAbs(dout)
		e.check("dwte", dwte, ref.dwte, roundingTol(rows+1, maxAbs(dwte0)+float64(rows)*D), V, C)
		e.check("dwpe", dwpe, ref.dwpe, roundingTol(B+1, maxAbs(dwpe0)+float64(B)*D), Tmax, C)
	}}
}

func largeLayerNormCase(N, C int) Case {
	return Case{Op: "layernorm", Shape: fmt.Sprintf("N=%d/C=%d", N, C), run: func(e *env) {
		in, w := layerNormInputs(e, N, C)
		dout := e.randn(N*C, 1)
		din0, dw0 := e.randn(N*C, 1), e.randn(C, 1)
		ref := reference(e, func() (r struct{ want, bound layerNormOutputs }) {
			r.want = layerNormOutputs{out: make([]float64, N*C), mean: make([]float64, N), rstd: make([]float64, N),
				din: clone(din0), dw: clone(dw0)}
			RefLayerNorm(r.want.out, r.want.mean, r.want.rstd, in, w, N, C)
			RefLayerNormBackward(r.want.din, r.want.dw, dout, in, w, N, C)
			r.bound = layerNormBounds(in, w, dout, din0, dw0, N, C)
			return r
		})
		want, bound := ref.want, ref.bound
		inV, wV := e.upload(in), e.upload(w)
		out, mean, rstd := e.alloc(N*C), e.alloc(N), e.alloc(N)
		e.be.LayerNormForward(out, mean, rstd, inV, wV, N, C)
		e.checkBound("out", out, want.out, bound.out, N, C)
		e.checkBound("mean", mean, want.mean, bound.mean, N)
		e.checkBound("rstd", rstd, want.rstd, bound.rstd, N)

		din, dw := e.upload(din0), e.upload(dw0)
		e.be.LayerNormBackward(din, dw, e.upload(dout), inV, wV, mean, rstd, N, C)
		e.checkBound("din", din, want.din, bound.din, N, C)
		e.checkBound("dw", dw, want.dw, bound.dw, C)
	}}
}

// layerNormOutputs are LayerNorm's outputs and gradients, or their rounding bounds.
type layerNormOutputs struct {
	out, mean, rstd []float64 // (N, C), (N), (N)
	din, dw         []float64 // (N, C), (C)
}

// layerNormBounds returns the rounding bounds of LayerNorm's outputs and of its gradients
// accumulated into din0 and dw0. Per row, with a = mean|x| and
// κ² = mean(x²)·rstd² (the variance's sum relative to the variance, in its one-pass form):
//
//	mean: e(C)·a                          (C partial sums of at most Σ|x|)
//	rstd: rel = e(C)·κ² + e(3)            (relative: the variance's sum, then +ε, √ and 1/x)
//	x̂ = (x − mean)·rstd errs by δx̂ = e(C)·a·rstd + (rel + e(2))·|x̂|
//	out = w·x̂: |w|·δx̂ + e(1)·|out|
//	din = din0 + rstd·(g − ḡ − x̂·ρ), g = dout·w, ḡ = mean(g), ρ = mean(g·x̂), where ḡ rounds C
//	  partial sums of at most Σ|g| and ρ errs by δρ = e(C)·mean|g·x̂| + mean(|g|·δx̂):
//	  rstd·(e(C)·mean|g| + δx̂·|ρ| + |x̂|·δρ) + (rel + e(5))·rstd·(|g| + |ḡ| + |x̂·ρ|) + e(1)·|din0|
//	dw = dw0 + Σ_rows dout·x̂: e(N)·Σ|dout·x̂| + Σ|dout|·δx̂ + e(N+1)·|dw0|
func layerNormBounds(in, w, dout, din0, dw0 []float64, N, C int) layerNormOutputs {
	out, mean, rstd := make([]float64, N*C), make([]float64, N), make([]float64, N)
	din, dw := make([]float64, N*C), make([]float64, C)
	fn := float64(C)
	xhat, dxhat := make([]float64, C), make([]float64, C)
	var m, r [1]float64
	ones := make([]float64, C)
	for c := range ones {
		ones[c] = 1
	}
	dwMass, dwXhat := make([]float64, C), make([]float64, C) // Σ|dout·x̂| and Σ|dout|·δx̂ per column
	for row := range N {
		x, dy := in[row*C:(row+1)*C], dout[row*C:(row+1)*C]
		RefLayerNorm(xhat, m[:], r[:], x, ones, 1, C)
		var a, sq float64
		for _, v := range x {
			a += math.Abs(v)
			sq += v * v
		}
		a /= fn
		kappa2 := sq / fn * r[0] * r[0]
		rel := roundingBound(C, kappa2) + roundingBound(3, 1)
		mean[row], rstd[row] = roundingBound(C, a), rel*r[0]
		var gMean, gAbs, rho, gxAbs, gdx float64 // ḡ, mean|g|, ρ, mean|g·x̂|, mean(|g|·δx̂)
		for c := range C {
			dxhat[c] = roundingBound(C, a*r[0]) + (rel+roundingBound(2, 1))*math.Abs(xhat[c])
			out[row*C+c] = math.Abs(w[c])*dxhat[c] + roundingBound(1, math.Abs(w[c]*xhat[c]))
			g := dy[c] * w[c]
			gMean += g / fn
			gAbs += math.Abs(g) / fn
			rho += g * xhat[c] / fn
			gxAbs += math.Abs(g*xhat[c]) / fn
			gdx += math.Abs(g) * dxhat[c] / fn
			dwMass[c] += math.Abs(dy[c] * xhat[c])
			dwXhat[c] += math.Abs(dy[c]) * dxhat[c]
		}
		drho := roundingBound(C, gxAbs) + gdx
		for c := range C {
			g := dy[c] * w[c]
			din[row*C+c] = r[0]*(roundingBound(C, gAbs)+dxhat[c]*math.Abs(rho)+math.Abs(xhat[c])*drho) +
				(rel+roundingBound(5, 1))*r[0]*(math.Abs(g)+math.Abs(gMean)+math.Abs(xhat[c]*rho)) +
				roundingBound(1, math.Abs(din0[row*C+c]))
		}
	}
	for c := range C {
		dw[c] = roundingBound(N, dwMass[c]) + dwXhat[c] + roundingBound(N+1, math.Abs(dw0[c]))
	}
	return layerNormOutputs{out: out, mean: mean, rstd: rstd, din: din, dw: dw}
}

func largeMatmulCase(N, C, OC int) Case {
	return Case{Op: "matmul", Shape: fmt.Sprintf("N=%d/C=%d/OC=%d", N, C, OC), run: func(e *env) {
		in, w := e.randn(N*C, 1), e.randn(OC*C, 1)
		out0 := e.randn(N*OC, 1) // forward overwrites
		dout := e.randn(N*OC, 1)
		din0, dw0 := e.randn(N*C, 1), e.randn(OC*C, 1)
		type want struct{ out, din, dw []float64 }
		ref := reference(e, func() (r want) {
			r.out, r.din, r.dw = make([]float64, N*OC), clone(din0), clone(dw0)
			RefMatmul(r.out, in, w, N, C, OC)
			RefMatmulBackward(r.din, r.dw, dout, in, w, N, C, OC)
			return r
		})
		inV, wV, out := e.upload(in), e.upload(w), e.upload(out0)
		e.be.MatmulForward(out, inV, wV, N, C, OC)
		// out[n,o] = in[n,:]·w[o,:]: K = C, S = ‖in[n,:]‖·‖w[o,:]‖.
		e.check("out", out, ref.out, roundingTol(C, maxRowNorm(in, N, C)*maxRowNorm(w, OC, C)), N, OC)

		din, dw := e.upload(din0), e.upload(dw0)
		e.be.MatmulBackward(din, dw, e.upload(dout), inV, wV, N, C, OC)
		// din[n,c] = din0 + dout[n,:]·w[:,c]: K = OC + 1, S = ‖dout[n,:]‖·‖w[:,c]‖ + |din0|.
		// dw[o,c] = dw0 + dout[:,o]·in[:,c]: K = N + 1, S = ‖dout[:,o]‖·‖in[:,c]‖ + |dw0|.
		e.check("din", din, ref.din, roundingTol(OC+1, maxRowNorm(dout, N, OC)*maxColNorm(w, OC, C)+maxAbs(din0)), N, C)
		e.check("dw", dw, ref.dw, roundingTol(N+1, maxColNorm(dout, N, OC)*maxColNorm(in, N, C)+maxAbs(dw0)), OC, C)
	}}
}

func largeAttentionCase(s shape, mode string) Case {
	return Case{Op: "attention", Mode: mode, Shape: fmt.Sprintf("B=%d/T=%d/C=%d/NH=%d", s.B, s.T, s.C, s.NH), run: func(e *env) {
		B, T, C, NH := s.B, s.T, s.C, s.NH
		N, dh := B*T, C/NH
		scale := float64(float32(attentionScale(mode, dh)))
		a := newAttentionInputs(e, s, mode)
		att0 := e.randn(B*NH*T*T, 1) // forward must also write the zeros above the diagonal
		dout := e.randn(N*C, 1)
		datt0 := e.randn(B*NH*T*T, 1)
		ref := reference(e, func() (r struct{ want, bound attentionOutputs }) {
			r.want.out, r.want.att = make([]float64, N*C), make([]float64, B*NH*T*T)
			RefAttention(r.want.out, r.want.att, a.rq, a.rk, a.rv, B, T, C, NH, scale)
			for _, g := range a.grads0 {
				r.want.grads = append(r.want.grads, clone(g))
				r.bound.grads = append(r.bound.grads, make([]float64, len(g)))
			}
			dq, dk, dv := a.refViews(r.want.grads)
			RefAttentionBackward(dq, dk, dv, dout, r.want.att, a.rq, a.rk, a.rv, B, T, C, NH, scale)
			bq, bk, bv := a.refViews(r.bound.grads)
			r.bound.out, r.bound.att = attentionBounds(bq, bk, bv, r.want.att, dout, a.rq, a.rk, a.rv, B, T, C, NH, scale)
			for i, g := range a.grads0 {
				// A backend may sum into the pre-filled gradient: T partial sums that hold it too.
				for j := range g {
					r.bound.grads[i][j] += roundingBound(T+1, math.Abs(g[j]))
				}
			}
			return r
		})
		want, bound := ref.want, ref.bound

		out, att := e.alloc(N*C), e.upload(att0)
		e.be.AttentionForward(out, att, a.q, a.k, a.v, B, T, C, NH, float32(scale))
		e.checkBound("out", out, want.out, bound.out, B, T, C)
		e.checkBound("att", att, want.att, bound.att, B, NH, T, T)

		e.be.AttentionBackward(a.dq, a.dk, a.dv, e.upload(datt0), e.upload(dout), att, a.q, a.k, a.v, B, T, C, NH, float32(scale))
		for i, g := range want.grads {
			e.checkBound(a.names[i], a.dins[i], g, bound.grads[i], a.dims[i]...)
		}
	}}
}

// attentionOutputs are attention's outputs and gradients, or their rounding bounds.
type attentionOutputs struct {
	out   []float64   // (B, T, C)
	att   []float64   // (B, NH, T, T)
	grads [][]float64 // laid out as attentionInputs.inputs
}

// attentionBounds returns the rounding bounds of attention's out (B, T, C) and att (B, NH, T, T),
// and adds the bounds of the increments of dq, dk, dv into bq, bk, bv (strided like q, k, v). It
// follows RefAttention and RefAttentionBackward with absolute values; per (b, h) and query row t:
//
//	att: the logits scale·q_t·k_s round dh partial sums of at most L = max_s scale·Σ|q_t·k_s|
//	  (elementwise), which moves log att by up to 2L (through the logit and the log-sum); the
//	  softmax sum rounds ≤ T partial sums of at most the sum, and −max, exp, ·scale and / one
//	  each: att_s errs by at most relAtt·att_s, relAtt = e(dh + T + 4)·(2L + 1).
//	out = Σ_s att_s·v_s: ≤ T partial sums of at most Σ_s att_s·|v_s|, which att's errors move by
//	  relAtt times the same: (e(T) + relAtt)·Σ_s att_s·|v_s|.
//	dp_s = dout_t·v_s: dh partial sums of at most π_s = Σ|dout_t·v_s|; their mean Σ_s att_s·dp_s:
//	  T of at most Π = Σ_s att_s·π_s; dl_s = scale·att_s·(dp_s − mean): 3 more, and att's error:
//	  |Δdl_s| ≤ eDl·ν_s, eDl = e(dh) + e(T) + e(3) + relAtt, ν_s = scale·att_s·(π_s + Π) ≥ |dl_s|.
//	dq_t += Σ_s dl_s·k_s, dk_s += dl_s·q_t: (eDl + e(T))·Σ ν_s·|k_s| and ·|q_t| (T partial sums).
//	dv_s += att_s·dout_t: (relAtt + e(T))·Σ att_s·|dout_t|.
func attentionBounds(bq, bk, bv Strided, att, dout []float64, q, k, v Strided, B, T, C, NH int, scale float64) (out, batt []float64) {
	dh := C / NH
	out, batt = make([]float64, B*T*C), make([]float64, B*NH*T*T)
	eT := roundingBound(T, 1)
	pi := make([]float64, T)
	for b := range B {
		for h := range NH {
			for t := range T {
				a := att[((b*NH+h)*T+t)*T:][:t+1]
				g := dout[(b*T+t)*C+h*dh:][:dh]
				var L, Pi float64
				for s := range t + 1 {
					var m float64
					pi[s] = 0
					for i := range dh {
						m += math.Abs(q.At(b*T+t, h*dh+i) * k.At(b*T+s, h*dh+i))
						pi[s] += math.Abs(g[i] * v.At(b*T+s, h*dh+i))
					}
					L = math.Max(L, scale*m)
					Pi += a[s] * pi[s]
				}
				rel := roundingBound(dh+T+4, 2*L+1)
				eDl := roundingBound(dh, 1) + eT + roundingBound(3, 1) + rel
				for s := range t + 1 {
					batt[((b*NH+h)*T+t)*T+s] = rel * a[s] // the masked zeros are exact
					nu := scale * a[s] * (pi[s] + Pi)
					for i := range dh {
						c := h*dh + i
						out[(b*T+t)*C+c] += (eT + rel) * a[s] * math.Abs(v.At(b*T+s, c))
						bq.Add(b*T+t, c, (eDl+eT)*nu*math.Abs(k.At(b*T+s, c)))
						bk.Add(b*T+s, c, (eDl+eT)*nu*math.Abs(q.At(b*T+t, c)))
						bv.Add(b*T+s, c, (rel+eT)*a[s]*math.Abs(g[i]))
					}
				}
			}
		}
	}
	return out, batt
}

func largeGELUCase(N int) Case {
	return Case{Op: "gelu", Shape: fmt.Sprintf("N=%d", N), run: func(e *env) {
		in := e.uniform(N, -5, 5)
		dout, din0 := e.randn(N, 1), e.randn(N, 1)
		type want struct{ out, din []float64 }
		ref := reference(e, func() (r want) {
			r.out, r.din = make([]float64, N), clone(din0)
			RefGELU(r.out, in)
			RefGELUBackward(r.din, dout, in)
			return r
		})
		inV, out := e.upload(in), e.alloc(N)
		e.be.GELUForward(out, inV, N)
		// An element-wise op has no sum that grows with the shape: the error of each element is
		// that of the backend's erf (or of the CPU's table), which the small cases' tolerance
		// bounds. This case checks that every element of a large grid is computed.
		e.check("out", out, ref.out, tolForward)
		din := e.upload(din0)
		e.be.GELUBackward(din, e.upload(dout), inV, N)
		e.check("din", din, ref.din, tolBackward)
	}}
}

func largeCrossEntropyCase(N, V int) Case {
	return Case{Op: "crossentropy", Shape: fmt.Sprintf("N=%d/V=%d", N, V), run: func(e *env) {
		logits, targets := e.randn(N*V, 2), e.tokens(N, V)
		dlosses, dlogits0 := e.uniform(N, 0.1, 1), e.randn(N*V, 1)
		type outputs struct{ losses, dlogits []float64 }
		ref := reference(e, func() (r struct{ want, bound outputs }) {
			r.want.losses, r.want.dlogits = make([]float64, N), clone(dlogits0)
			RefCrossEntropy(r.want.losses, logits, targets, N, V)
			RefCrossEntropyBackward(r.want.dlogits, dlosses, logits, targets, N, V)
			r.bound.losses, r.bound.dlogits = crossEntropyBounds(logits, targets, dlosses, dlogits0, N, V)
			return r
		})
		logitsV, targetsV := e.upload(logits), e.uploadInt(targets)
		losses := e.alloc(N)
		e.be.CrossEntropyForward(losses, logitsV, targetsV, N, V)
		e.checkBound("losses", losses, ref.want.losses, ref.bound.losses, N)

		dlogits := e.upload(dlogits0)
		e.be.CrossEntropyBackward(dlogits, e.upload(dlosses), logitsV, targetsV, N, V)
		e.checkBound("dlogits", dlogits, ref.want.dlogits, ref.bound.dlogits, N, V)
	}}
}

// crossEntropyBounds returns the rounding bounds of the losses (N) and of dlogits (N, V) for the
// pre-filled dlogits0. Per row, with p = softmax(x), m = max x and lse = m + log Σ exp(x − m):
//
//	lse: the V subtractions x_v − m move it by p_v·|x_v − m|, the V exps (relative) by p_v and
//	  the sum's V partial sums by at most 1, then log and +m: δlse = e(V)·(max_v p_v·|x_v − m| + 2)
//	  + e(2)·(|lse − m| + |lse|).
//	loss = lse − x_target: δlse + e(1)·|loss|.
//	dlogits_v = dlogits0_v + dloss·(p_v − onehot_v), p_v = exp(x_v − lse): the subtraction and
//	  exp and lse's error move p_v relatively: |dloss|·p_v·(δlse + e(2)·(|x_v − lse| + 1)),
//	  and −onehot, ·dloss and the accumulation: e(3)·(|dlogits0_v| + |dloss|·(p_v + 1)).
func crossEntropyBounds(logits []float64, targets []int32, dlosses, dlogits0 []float64, N, V int) (losses, dlogits []float64) {
	losses, dlogits = make([]float64, N), make([]float64, N*V)
	for r := range N {
		x := logits[r*V : (r+1)*V]
		m := slices.Max(x)
		var sum float64
		for _, v := range x {
			sum += math.Exp(v - m)
		}
		lse := m + math.Log(sum)
		var spread float64 // max_v p_v·|x_v − m|
		for _, v := range x {
			spread = math.Max(spread, math.Exp(v-lse)*(m-v))
		}
		dlse := roundingBound(V, spread+2) + roundingBound(2, math.Abs(lse-m)+math.Abs(lse))
		losses[r] = dlse + roundingBound(1, math.Abs(lse-x[targets[r]]))
		g := math.Abs(dlosses[r])
		for i, v := range x {
			p := math.Exp(v - lse)
			dlogits[r*V+i] = g*p*(dlse+roundingBound(2, math.Abs(v-lse)+1)) +
				roundingBound(3, math.Abs(dlogits0[r*V+i])+g*(p+1))
		}
	}
	return losses, dlogits
}

// Scales of the data, for the tolerances.

func maxAbs(x []float64) float64 {
	var m float64
	for _, v := range x {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

// maxRowNorm returns the largest Euclidean norm of a row of x (rows, cols).
func maxRowNorm(x []float64, rows, cols int) float64 {
	var m float64
	for r := range rows {
		m = math.Max(m, norm(x[r*cols:(r+1)*cols]))
	}
	return m
}

// maxColNorm returns the largest Euclidean norm of a column of x (rows, cols).
func maxColNorm(x []float64, rows, cols int) float64 {
	sq := make([]float64, cols)
	for r := range rows {
		for c := range cols {
			sq[c] += x[r*cols+c] * x[r*cols+c]
		}
	}
	return math.Sqrt(slices.Max(sq))
}

// tokenCounts returns how often each id in [0, V) occurs in tokens.
func tokenCounts(tokens []int32, V int) []int {
	n := make([]int, V)
	for _, t := range tokens {
		n[t]++
	}
	return n
}

func norm(x []float64) float64 { return math.Sqrt(dot(x, x)) }
