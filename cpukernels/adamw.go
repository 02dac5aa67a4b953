//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

// #include "adamw.h"
import "C"

import "github.com/kvgpt/kvgpt/nn"

// AdamW updates the len(pa) parameters by kv_adamw (adamw.h).
//
//	pa, m, v, g, decay (n)
func (kernels) AdamW(pa, m, v, g, decay []float32, h nn.AdamWParams, stepSize, bc2Sqrt float32) {
	n := len(pa)
	if n == 0 {
		return
	}
	_, _, _, _ = m[n-1], v[n-1], g[n-1], decay[n-1]
	C.kv_adamw(p(pa), p(m), p(v), p(g), p(decay), C.long(n), C.float(h.LR), C.float(h.Beta1), C.float(h.Beta2),
		C.float(h.Eps), C.float(h.WeightDecay), C.float(h.GradScale), C.float(stepSize), C.float(bc2Sqrt))
}

// sqrtf is kv_sqrtf, for its test.
func sqrtf(x float32) float32 { return float32(C.kv_sqrtf(C.float(x))) }
