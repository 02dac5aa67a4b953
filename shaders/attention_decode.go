package shaders

import "github.com/kvgpt/kvgpt/nn"

// AttentionDecodeForward is attention for the newest of T positions of one sequence against its
// KV cache (see nn.Backend): the query q at position T−1 attends to rows 0 … T−1 of k and v,
//
//	att[h,s] = softmax_s<T(scale · q[h]·k[s,h]),   out[h] = Σ_s att[h,s] · v[s,h].
//	out (C), att (NH, T), q (C), k, v (T rows of C)
//
// One dispatch, a threadgroup of rowThreads per head (attention_decode.metal).
func (o *Ops) AttentionDecodeForward(out, att, q nn.View, k, v nn.Strided, T, C, NH int, scale float32) {
	switch {
	case T < 1 || C < 0 || NH <= 0 || C%NH != 0:
		panic("nn: AttentionDecodeForward: bad sizes (need T ≥ 1, C a multiple of NH > 0)")
	case !stridedOK(k, T, C):
		panic("nn: AttentionDecodeForward: k too small or stride < C")
	case !stridedOK(v, T, C):
		panic("nn: AttentionDecodeForward: v too small or stride < C")
	}
	need(out, C, "nn: AttentionDecodeForward: out too small")
	need(att, NH*T, "nn: AttentionDecodeForward: att too small")
	need(q, C, "nn: AttentionDecodeForward: q too small")
	if C == 0 {
		return
	}
	d := o.begin(KernelAttnDecodeForward, [3]int{NH, 1, 1}, [3]int{rowThreads, 1, 1})
	d.buf(SlotAttnDecOut, out)
	d.buf(SlotAttnDecAtt, att)
	d.buf(SlotAttnDecQ, q)
	d.buf(SlotAttnDecK, k.V)
	d.buf(SlotAttnDecV, v.V)
	d.u32(T)
	d.u32(C / NH)
	d.u32(k.Stride)
	d.u32(v.Stride)
	d.f32(scale)
	o.send(SlotAttnDecParams)
}
