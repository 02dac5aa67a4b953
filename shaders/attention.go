package shaders

import "github.com/kvgpt/kvgpt/nn"

// attnRowThreads is the threadgroup size of the attention row kernels: one simdgroup per row.
const attnRowThreads = 32

// stridedOK reports whether s holds rows rows of cols columns.
func stridedOK(s nn.Strided, rows, cols int) bool {
	return s.Stride >= cols && (rows == 0 || s.V.Buf != nil && s.V.N >= (rows-1)*s.Stride+cols)
}

// checkAttention panics unless the views of an attention op fit its sizes. The messages are
// constants so that the check allocates nothing.
func checkAttention(out, att nn.View, q, k, v nn.Strided, B, T, C, NH int) {
	switch {
	case B < 0 || T < 0 || C < 0 || NH <= 0 || C%NH != 0:
		panic("nn: Attention: bad sizes (need C a multiple of NH > 0)")
	case out.N < B*T*C || out.Buf == nil && B*T*C > 0:
		panic("nn: Attention: out/dout too small")
	case att.N < B*NH*T*T || att.Buf == nil && B*T > 0:
		panic("nn: Attention: att/datt too small")
	case !stridedOK(q, B*T, C):
		panic("nn: Attention: q/dq too small or stride < C")
	case !stridedOK(k, B*T, C):
		panic("nn: Attention: k/dk too small or stride < C")
	case !stridedOK(v, B*T, C):
		panic("nn: Attention: v/dv too small or stride < C")
	}
}

// attnRow dispatches one of the attention row kernels: B·NH·T threadgroups of one simdgroup.
func (o *Ops) attnRow(kernel string, rows, T int, scale float32) *Dispatch {
	d := o.begin(kernel, [3]int{rows, 1, 1}, [3]int{attnRowThreads, 1, 1})
	d.u32(T)
	d.f32(scale)
	return d
}

// AttentionForward is causal multi-head self-attention over rows read from q, k, v (see
// nn.Strided): for head h with dh = C/NH,
//
//	att[b,h,t,s] = softmax_s≤t(scale · q[b,t,h]·k[b,s,h]), zero for s > t,
//	out[b,t,h]   = Σ_s att[b,h,t,s] · v[b,s,h].
//	out (B, T, C), att (B, NH, T, T)
//
// Three dispatches: the batched product Q·Kᵀ into att, the row softmax in place, then att·V.
func (o *Ops) AttentionForward(out, att nn.View, q, k, v nn.Strided, B, T, C, NH int, scale float32) {
	checkAttention(out, att, q, k, v, B, T, C, NH)
	if B == 0 || T == 0 || C == 0 {
		return
	}
	dh := C / NH
	qs, ks, vs := q.Stride, k.Stride, v.Stride
	o.gemm(KernelAttnForwardScores, att, q.V, k.V, gemmParams{
		M: T, N: T, K: dh, lda: qs, ldb: ks, ldc: T, nh: NH,
		sa0: T * qs, sa1: dh, sb0: T * ks, sb1: dh, sc0: NH * T * T, sc1: T * T, causal: gemmLowerC,
	}, B*NH)
	d := o.attnRow(KernelAttnForwardSoftmax, B*NH*T, T, scale)
	d.buf(SlotAttnSoftAtt, att)
	o.send(SlotAttnSoftParams)
	o.gemm(KernelAttnForwardValues, out, att, v.V, gemmParams{
		M: T, N: dh, K: T, lda: T, ldb: vs, ldc: C, nh: NH,
		sa0: NH * T * T, sa1: T * T, sb0: T * vs, sb1: dh, sc0: T * C, sc1: dh, causal: gemmLowerA,
	}, B*NH)
}

// AttentionBackward accumulates dq, dk and dv (strided like q, k, v; in the query-free model dq
// is the gradient of the LN1 output itself). datt (B, NH, T, T) is scratch.
//
//	dout (B, T, C), att (B, NH, T, T) as saved by AttentionForward
//
// Five dispatches: datt = dout·Vᵀ, dv += attᵀ·dout, the softmax backward in place
// (datt becomes the gradient of the unscaled scores, times scale), dq += datt·K, dk += dattᵀ·Q.
func (o *Ops) AttentionBackward(dq, dk, dv nn.Strided, datt nn.View, dout, att nn.View, q, k, v nn.Strided, B, T, C, NH int, scale float32) {
	checkAttention(dout, att, q, k, v, B, T, C, NH)
	checkAttention(dout, datt, dq, dk, dv, B, T, C, NH)
	if B == 0 || T == 0 || C == 0 {
		return
	}
	dh := C / NH
	qs, ks, vs := q.Stride, k.Stride, v.Stride
	o.gemm(KernelAttnBackwardDatt, datt, dout, v.V, gemmParams{
		M: T, N: T, K: dh, lda: C, ldb: vs, ldc: T, nh: NH,
		sa0: T * C, sa1: dh, sb0: T * vs, sb1: dh, sc0: NH * T * T, sc1: T * T, causal: gemmLowerC,
	}, B*NH)
	o.gemm(KernelAttnBackwardDV, dv.V, att, dout, gemmParams{
		M: T, N: dh, K: T, lda: T, ldb: C, ldc: dv.Stride, nh: NH,
		sa0: NH * T * T, sa1: T * T, sb0: T * C, sb1: dh, sc0: T * dv.Stride, sc1: dh, causal: gemmUpperA,
	}, B*NH)
	d := o.attnRow(KernelAttnBackwardSoft, B*NH*T, T, scale)
	d.buf(SlotAttnSoftBwdDatt, datt)
	d.buf(SlotAttnSoftBwdAtt, att)
	o.send(SlotAttnSoftBwdParams)
	o.gemm(KernelAttnBackwardDQ, dq.V, datt, k.V, gemmParams{
		M: T, N: dh, K: T, lda: T, ldb: ks, ldc: dq.Stride, nh: NH,
		sa0: NH * T * T, sa1: T * T, sb0: T * ks, sb1: dh, sc0: T * dq.Stride, sc1: dh, causal: gemmLowerA,
	}, B*NH)
	o.gemm(KernelAttnBackwardDK, dk.V, datt, q.V, gemmParams{
		M: T, N: dh, K: T, lda: T, ldb: qs, ldc: dk.Stride, nh: NH,
		sa0: NH * T * T, sa1: T * T, sb0: T * qs, sb1: dh, sc0: T * dk.Stride, sc1: dh, causal: gemmUpperA,
	}, B*NH)
}
