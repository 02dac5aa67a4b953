package shaders

import "github.com/kvgpt/kvgpt/nn"

// GradNorm geometry: pass 1 uses at most gradNormMaxGroups threadgroups, each summing a chunk of
// at least gradNormMinChunk elements.
const (
	gradNormMaxGroups = 1024
	gradNormMinChunk  = 4 * rowThreads
)

// GradNorm writes the Euclidean norm of grads into out[0], in two deterministic passes through
// o.Scratch: per-chunk sums of squares, then their sum and square root.
//
//	out (≥1), grads (N)
func (o *Ops) GradNorm(out nn.View, grads nn.View, N int) {
	if N < 0 {
		panic("nn: GradNorm: negative size")
	}
	need(out, 1, "nn: GradNorm: out too small")
	need(grads, N, "nn: GradNorm: grads too small")
	if N == 0 {
		o.Zero(out.Slice(0, 1))
		return
	}
	groups := max(1, min(gradNormMaxGroups, ceilDiv(N, gradNormMinChunk)))
	chunk := ceilDiv(max(N, 1), groups)
	partial := o.Scratch
	need(partial, groups, "nn: GradNorm: Ops.Scratch smaller than shaders.ScratchLen")
	partial = partial.Slice(0, groups)

	d := o.begin(KernelGradNormPartial, [3]int{groups, 1, 1}, [3]int{rowThreads, 1, 1})
	d.buf(SlotGNPartPartial, partial)
	d.buf(SlotGNPartGrads, grads)
	d.u32(N)
	d.u32(chunk)
	d.u32(groups)
	o.send(SlotGNPartParams)

	d = o.begin(KernelGradNormFinal, [3]int{1, 1, 1}, [3]int{rowThreads, 1, 1})
	d.buf(SlotGNFinalOut, out)
	d.buf(SlotGNFinalPartial, partial)
	d.u32(N)
	d.u32(chunk)
	d.u32(groups)
	o.send(SlotGNFinalParams)
}
