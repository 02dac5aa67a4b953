package shaders

import (
	"math"

	"github.com/kvgpt/kvgpt/nn"
)

// AdamW updates params in place as PyTorch's torch.optim.AdamW does, at step t ≥ 1, using the
// gradient g = gradScale·grads:
//
//	p ← p − lr·wd·decay·p;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//	p ← p − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + eps)
//
// evaluated as PyTorch does, p ← p − (lr/(1−β1ᵗ))·m / (√v/√(1−β2ᵗ) + eps), with the bias
// corrections computed here in float64. decay is a per-element mask.
//
//	params, grads, m, v, decay (N)
func (o *Ops) AdamW(params, m, v nn.View, grads, decay nn.View, N int, h nn.AdamWParams) {
	if N < 0 {
		panic("nn: AdamW: negative size")
	}
	if h.Step < 1 {
		panic("nn: AdamW: step must be ≥ 1")
	}
	need(params, N, "nn: AdamW: params too small")
	need(m, N, "nn: AdamW: m too small")
	need(v, N, "nn: AdamW: v too small")
	need(grads, N, "nn: AdamW: grads too small")
	need(decay, N, "nn: AdamW: decay too small")
	if N == 0 {
		return
	}
	bc1 := 1 - math.Pow(float64(h.Beta1), float64(h.Step))
	bc2 := 1 - math.Pow(float64(h.Beta2), float64(h.Step))
	d := o.begin(KernelAdamWForward, eltwiseGroups(N), [3]int{eltwiseThreads, 1, 1})
	d.buf(SlotAdamWParams, params)
	d.buf(SlotAdamWM, m)
	d.buf(SlotAdamWV, v)
	d.buf(SlotAdamWGrads, grads)
	d.buf(SlotAdamWDecay, decay)
	d.u32(N)
	d.f32(h.LR)
	d.f32(h.Beta1)
	d.f32(h.Beta2)
	d.f32(h.Eps)
	d.f32(h.WeightDecay)
	d.f32(h.GradScale)
	d.f32(float32(float64(h.LR) / bc1))
	d.f32(float32(math.Sqrt(bc2)))
	o.send(SlotAdamWHyper)
}
