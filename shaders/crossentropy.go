package shaders

import "github.com/kvgpt/kvgpt/nn"

// rowThreads is ROW_THREADS of common.metal: the threadgroup size of the row kernels that reduce
// over a whole threadgroup (cross-entropy, grad norm).
const rowThreads = 256

// CrossEntropyForward: losses[i] = −log softmax(logits[i,:])[targets[i]].
//
//	losses (N), logits (N, V), targets (N) with 0 ≤ target < V
//
// A target outside [0, V) gives a NaN loss.
func (o *Ops) CrossEntropyForward(losses nn.View, logits nn.View, targets nn.IntView, N, V int) {
	if N < 0 || V <= 0 {
		panic("nn: CrossEntropyForward: bad sizes")
	}
	need(losses, N, "nn: CrossEntropyForward: losses too small")
	need(logits, N*V, "nn: CrossEntropyForward: logits too small")
	needInt(targets, N, "nn: CrossEntropyForward: targets too small")
	if N == 0 {
		return
	}
	d := o.begin(KernelCrossEntForward, [3]int{N, 1, 1}, [3]int{rowThreads, 1, 1})
	d.buf(SlotCEFwdLosses, losses)
	d.buf(SlotCEFwdLogits, logits)
	d.ints(SlotCEFwdTargets, targets)
	d.u32(N)
	d.u32(V)
	o.send(SlotCEFwdParams)
}

// CrossEntropyBackward accumulates dlogits[i,:] += dlosses[i]·(softmax(logits[i,:]) − onehot(targets[i])).
//
//	dlogits (N, V), dlosses (N), logits (N, V), targets (N)
func (o *Ops) CrossEntropyBackward(dlogits nn.View, dlosses nn.View, logits nn.View, targets nn.IntView, N, V int) {
	if N < 0 || V <= 0 {
		panic("nn: CrossEntropyBackward: bad sizes")
	}
	need(dlogits, N*V, "nn: CrossEntropyBackward: dlogits too small")
	need(dlosses, N, "nn: CrossEntropyBackward: dlosses too small")
	need(logits, N*V, "nn: CrossEntropyBackward: logits too small")
	needInt(targets, N, "nn: CrossEntropyBackward: targets too small")
	if N == 0 {
		return
	}
	d := o.begin(KernelCrossEntBackward, [3]int{N, 1, 1}, [3]int{rowThreads, 1, 1})
	d.buf(SlotCEBwdDlogits, dlogits)
	d.buf(SlotCEBwdDlosses, dlosses)
	d.buf(SlotCEBwdLogits, logits)
	d.ints(SlotCEBwdTargets, targets)
	d.u32(N)
	d.u32(V)
	o.send(SlotCEBwdParams)
}
