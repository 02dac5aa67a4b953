package nn

import "math"

// AdamW updates the len(p) parameters as CPU.AdamW does: with the gradient gᵢ = GradScale·g[i],
//
//	p ← p·(1 − lr·wd·decay) − stepSize·m/(√v/bc2Sqrt + eps),  m ← β1·m + (1−β1)·gᵢ,  v ← β2·v + (1−β2)·gᵢ²,
//
// stepSize = lr/(1 − β1ᵗ) and bc2Sqrt = √(1 − β2ᵗ) computed by the caller.
func (GoKernels) AdamW(p, m, v, g, decay []float32, h AdamWParams, stepSize, bc2Sqrt float32) {
	for i := range p {
		gi := h.GradScale * g[i]
		pi := p[i] * (1 - h.LR*h.WeightDecay*decay[i])
		mi := h.Beta1*m[i] + (1-h.Beta1)*gi
		vi := h.Beta2*v[i] + (1-h.Beta2)*gi*gi
		denom := float32(math.Sqrt(float64(vi)))/bc2Sqrt + h.Eps
		p[i] = pi - stepSize*mi/denom
		m[i], v[i] = mi, vi
	}
}
