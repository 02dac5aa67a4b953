// Package gpttest holds what the tests of several packages do to a gpt.Model.
package gpttest

import (
	"math/rand/v2"

	"github.com/kvgpt/kvgpt/gpt"
)

// RandomWeights sets every parameter of m, from a random stream seeded by seed, far from the
// initialisation's N(0, 0.02): matrices and embeddings N(0, 0.3), LayerNorm weights N(1, 0.1). The
// attention of such a model is far from uniform, and its greedy choices are far from ties.
func RandomWeights(m *gpt.Model, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, ts := range m.ParamTensors() {
		w := make([]float32, ts.Len())
		for i := range w {
			if len(ts.Shape) == 1 {
				w[i] = float32(1 + 0.1*rng.NormFloat64())
			} else {
				w[i] = float32(0.3 * rng.NormFloat64())
			}
		}
		if err := m.SetParam(ts.Name, w); err != nil {
			return err
		}
	}
	return nil
}
