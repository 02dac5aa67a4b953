package shaders

import "github.com/kvgpt/kvgpt/nn"

// GELUForward: out = ½·in·(1 + erf(in/√2)) (exact GELU).
//
//	out (N), in (N)
func (o *Ops) GELUForward(out, in nn.View, N int) {
	if N < 0 {
		panic("nn: GELUForward: negative size")
	}
	need(out, N, "nn: GELUForward: out too small")
	need(in, N, "nn: GELUForward: in too small")
	if N == 0 {
		return
	}
	d := o.begin(KernelGELUForward, eltwiseGroups(N), [3]int{eltwiseThreads, 1, 1})
	d.buf(SlotGELUFwdOut, out)
	d.buf(SlotGELUFwdIn, in)
	d.u32(N)
	o.send(SlotGELUFwdParams)
}

// GELUBackward accumulates din += dout·GELU'(in).
//
//	din (N), dout (N), in (N)
func (o *Ops) GELUBackward(din nn.View, dout, in nn.View, N int) {
	if N < 0 {
		panic("nn: GELUBackward: negative size")
	}
	need(din, N, "nn: GELUBackward: din too small")
	need(dout, N, "nn: GELUBackward: dout too small")
	need(in, N, "nn: GELUBackward: in too small")
	if N == 0 {
		return
	}
	d := o.begin(KernelGELUBackward, eltwiseGroups(N), [3]int{eltwiseThreads, 1, 1})
	d.buf(SlotGELUBwdDin, din)
	d.buf(SlotGELUBwdDout, dout)
	d.buf(SlotGELUBwdIn, in)
	d.u32(N)
	o.send(SlotGELUBwdParams)
}
