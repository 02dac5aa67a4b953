package shaders

import "github.com/kvgpt/kvgpt/nn"

// EmbedForward: out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:].
//
//	out (B, T, C), tokens (B, T), wte (V, C), wpe (≥T, C)
//
// V is wte.N / C; a token outside [0, V) embeds as NaN.
func (o *Ops) EmbedForward(out nn.View, tokens nn.IntView, wte, wpe nn.View, B, T, C int) {
	if B < 0 || T < 0 || C <= 0 {
		panic("nn: EmbedForward: bad sizes")
	}
	need(out, B*T*C, "nn: EmbedForward: out too small")
	needInt(tokens, B*T, "nn: EmbedForward: tokens too small")
	need(wte, C, "nn: EmbedForward: wte holds no row")
	need(wpe, T*C, "nn: EmbedForward: wpe too small")
	if B*T == 0 {
		return
	}
	d := o.begin(KernelEmbedForward, eltwiseGroups(B*T*C), [3]int{eltwiseThreads, 1, 1})
	d.buf(SlotEmbFwdOut, out)
	d.ints(SlotEmbFwdTokens, tokens)
	d.buf(SlotEmbFwdWte, wte)
	d.buf(SlotEmbFwdWpe, wpe)
	d.u32(B)
	d.u32(T)
	d.u32(C)
	d.u32(wte.N / C)
	o.send(SlotEmbFwdParams)
}

// EmbedBackward accumulates dwte[tokens[b,t],:] += dout[b,t,:] and dwpe[t,:] += dout[b,t,:].
// The result does not depend on the order in which rows are processed: one threadgroup per row
// of dwte (V = dwte.N / C) and of dwpe sums its contributions in token order.
//
//	dwte (V, C), dwpe (≥T, C), dout (B, T, C), tokens (B, T)
func (o *Ops) EmbedBackward(dwte, dwpe nn.View, dout nn.View, tokens nn.IntView, B, T, C int) {
	if B < 0 || T < 0 || C <= 0 {
		panic("nn: EmbedBackward: bad sizes")
	}
	need(dwte, C, "nn: EmbedBackward: dwte holds no row")
	need(dwpe, T*C, "nn: EmbedBackward: dwpe too small")
	need(dout, B*T*C, "nn: EmbedBackward: dout too small")
	needInt(tokens, B*T, "nn: EmbedBackward: tokens too small")
	V := dwte.N / C
	if B*T == 0 {
		return
	}
	threads := min(eltwiseThreads, ceilDiv(C, 32)*32)
	d := o.begin(KernelEmbedBackward, [3]int{V + T, 1, 1}, [3]int{threads, 1, 1})
	d.buf(SlotEmbBwdDwte, dwte)
	d.buf(SlotEmbBwdDwpe, dwpe)
	d.buf(SlotEmbBwdDout, dout)
	d.ints(SlotEmbBwdTokens, tokens)
	d.u32(B)
	d.u32(T)
	d.u32(C)
	d.u32(V)
	o.send(SlotEmbBwdParams)
}
