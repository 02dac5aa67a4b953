package nn

import "math"

// AdamW updates params in place as torch.optim.AdamW does (decoupled weight decay, bias
// correction), with the gradient g = GradScale·grads and weight decay where decay[i] = 1.
//
//	params, m, v, grads, decay (N)
func (c *CPU) AdamW(params, m, v View, grads, decay View, N int, h AdamWParams) {
	checkSizes("nn: AdamW negative size", N)
	if h.Step < 1 {
		panic("nn: AdamW step must be ≥ 1")
	}
	j := &c.adam
	*j = adamWJob{h: h, k: c.kernels}
	j.p = c.need(params, N, "nn: AdamW params too short")
	j.m = c.need(m, N, "nn: AdamW m too short")
	j.v = c.need(v, N, "nn: AdamW v too short")
	j.g = c.need(grads, N, "nn: AdamW grads too short")
	j.decay = c.need(decay, N, "nn: AdamW decay too short")
	// As PyTorch: step_size = lr / (1 − β1ᵗ), denom = √v / √(1 − β2ᵗ) + eps.
	j.stepSize = float32(float64(h.LR) / (1 - math.Pow(float64(h.Beta1), float64(h.Step))))
	j.bc2Sqrt = float32(math.Sqrt(1 - math.Pow(float64(h.Beta2), float64(h.Step))))
	c.pool.run(j, N, c.pool.grainFor(N, 4096))
	*j = adamWJob{}
}

// adamWJob is one AdamW step; items are elements.
type adamWJob struct {
	h                 AdamWParams
	stepSize, bc2Sqrt float32
	k                 Kernels
	p, m, v, g, decay []float32
}

func (j *adamWJob) run(lo, hi int) {
	j.k.AdamW(j.p[lo:hi], j.m[lo:hi], j.v[lo:hi], j.g[lo:hi], j.decay[lo:hi], j.h, j.stepSize, j.bc2Sqrt)
}
