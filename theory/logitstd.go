package theory

import (
	"math"
	"math/rand/v2"
)

// InitLogitStd measures the standard deviation of the pre-softmax attention logits of one layer at
// initialisation: draws times, a (T, C) sequence of N(0, 1) rows is layer-normed (weight 1) into u,
// projection weights are drawn N(0, sigma²), and the logits scale·q·k of every head and every causal
// pair s ≤ t are pooled. In the baseline q = u·Wq; with identity, q is the head's dh-slice of u.
func InitLogitStd(rng *rand.Rand, C, NH, T int, sigma, scale float64, identity bool, draws int) float64 {
	dh := C / NH
	var sum, sumSq float64
	n := 0
	buf := make([]float64, T)
	for d := 0; d < draws; d++ {
		u := LayerNorm(Randn(rng, T, C, 1), nil)
		q := u
		if !identity {
			q = Mul(u, Randn(rng, C, C, sigma))
		}
		k := Mul(u, Randn(rng, C, C, sigma))
		for h := 0; h < NH; h++ {
			for t := 0; t < T; t++ {
				for _, v := range AttentionLogits(q.Row(t)[h*dh:(h+1)*dh], k, h*dh, t+1, scale, buf) {
					sum += v
					sumSq += v * v
					n++
				}
			}
		}
	}
	mean := sum / float64(n)
	return math.Sqrt(sumSq/float64(n) - mean*mean)
}

// PredictedLogitStd is the standard deviation of the attention logits at initialisation that
// InitLogitStd measures, to leading order. Let u be the LayerNorm output, each coordinate of unit
// variance, and let the weights be N(0, σ²).
//
// Baseline: a coordinate of q = u·Wq is a sum of C terms, so it has variance C·σ²; the same holds
// for k, independently (Wq and Wk are independent). q·k sums dh products of such coordinates, so
//
//	std(q·k) = √dh · C·σ²   and   std(logit) = scale·√dh·C·σ².
//
// Identity: q is the dh-slice of u itself and k = u·Wk, so q·k = Σ_{i<dh} Σ_{j<C} u_i·Wk[j,i]·u_j
// is linear in the C·dh independent weights, each multiplied by u_i·u_j of unit mean square:
//
//	std(q·k) = σ·√(C·dh)   and   std(logit) = scale·σ·√(C·dh).
//
// At the default scales (1/√dh for the baseline, 1/(2√dh) for identity) the ratio identity/baseline
// is σ√(C·dh)/(2√dh) / (C·σ²) = 1/(2σ√C): about 0.90 for nanoGPT's σ = 0.02 at C = 768. The smaller
// scale of the query-free model is what keeps its logits at the baseline's size at initialisation
// (with 1/√dh they would be 1.8× larger).
func PredictedLogitStd(C, NH int, sigma, scale float64, identity bool) float64 {
	dh := float64(C / NH)
	if identity {
		return scale * sigma * math.Sqrt(float64(C)*dh)
	}
	return scale * math.Sqrt(dh) * float64(C) * sigma * sigma
}
