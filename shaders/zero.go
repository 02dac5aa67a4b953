package shaders

import "github.com/kvgpt/kvgpt/nn"

// Zero sets every element of x to 0.
func (o *Ops) Zero(x nn.View) {
	if x.N == 0 {
		return
	}
	need(x, x.N, "nn: Zero: nil buffer")
	d := o.begin(KernelZeroForward, eltwiseGroups(x.N), [3]int{eltwiseThreads, 1, 1})
	d.buf(SlotZeroX, x)
	d.u32(x.N)
	o.send(SlotZeroParams)
}
