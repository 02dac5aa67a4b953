package shaders

import "github.com/kvgpt/kvgpt/nn"

// ResidualForward: out = a + b.
//
//	out (N), a (N), b (N)
func (o *Ops) ResidualForward(out, a, b nn.View, N int) {
	if N < 0 {
		panic("nn: ResidualForward: negative size")
	}
	need(out, N, "nn: ResidualForward: out too small")
	need(a, N, "nn: ResidualForward: a too small")
	need(b, N, "nn: ResidualForward: b too small")
	if N == 0 {
		return
	}
	d := o.begin(KernelResidualForward, eltwiseGroups(N), [3]int{eltwiseThreads, 1, 1})
	d.buf(SlotResFwdOut, out)
	d.buf(SlotResFwdA, a)
	d.buf(SlotResFwdB, b)
	d.u32(N)
	o.send(SlotResFwdParams)
}

// ResidualBackward accumulates da += dout and db += dout.
//
//	da (N), db (N), dout (N)
func (o *Ops) ResidualBackward(da, db nn.View, dout nn.View, N int) {
	if N < 0 {
		panic("nn: ResidualBackward: negative size")
	}
	need(da, N, "nn: ResidualBackward: da too small")
	need(db, N, "nn: ResidualBackward: db too small")
	need(dout, N, "nn: ResidualBackward: dout too small")
	if N == 0 {
		return
	}
	d := o.begin(KernelResidualBackward, eltwiseGroups(N), [3]int{eltwiseThreads, 1, 1})
	d.buf(SlotResBwdDa, da)
	d.buf(SlotResBwdDb, db)
	d.buf(SlotResBwdDout, dout)
	d.u32(N)
	o.send(SlotResBwdParams)
}
