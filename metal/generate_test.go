//go:build (darwin || fakemetal) && cgo

package metal

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
)

// TestGenerateOnDevice: greedy generation past the block size on the GPU — a window that slides
// every 9 tokens — chooses the same tokens with the KV cache and without, and the same as on the
// CPU, in both query modes; a decoded token costs one command buffer and one host wait, and the
// dispatches the generator's one-row pass makes (embedding; per layer two LayerNorms, the Q (in
// baseline) and K, V projections, the cached attention, three more products, GELU, two residual
// adds; the final LayerNorm and the head).
func TestGenerateOnDevice(t *testing.T) {
	for _, mode := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
		const T, L = 12, 2
		t.Run(fmt.Sprintf("mode=%s/L=%d/NH=3/C=24/T=%d/keep=4", mode, L, T), func(t *testing.T) {
			cfg := gpt.Config{NLayer: L, NHead: 3, NEmbd: 24, BlockSize: T, VocabSize: 41, QueryMode: mode}
			be, err := New()
			require.NoError(t, err)
			defer func() { require.NoError(t, be.Close()) }()
			cpu := nn.NewCPU(0)
			defer cpu.Close()
			model := func(b nn.Backend) *gpt.Model {
				m, err := gpt.New(cfg, b, 1)
				require.NoError(t, err)
				// Weights far from the initialisation, for decisive greedy choices (internal/gpttest's
				// RandomWeights, which darwincheck's copy of this package may not import).
				rng := rand.New(rand.NewPCG(5, 99))
				for _, ts := range m.ParamTensors() {
					w := make([]float32, ts.Len())
					for i := range w {
						w[i] = float32(0.3 * rng.NormFloat64())
						if len(ts.Shape) == 1 {
							w[i] = float32(1 + 0.1*rng.NormFloat64())
						}
					}
					require.NoError(t, m.SetParam(ts.Name, w))
				}
				return m
			}
			prompt := []int32{7, 3, 40, 0, 12}
			sc := gpt.SampleConfig{Tokens: 30, Keep: 4}
			onGPU := model(be)
			cached, err := onGPU.Generate(prompt, sc, nil)
			require.NoError(t, err)
			sc.NoCache = true
			full, err := onGPU.Generate(prompt, sc, nil)
			require.NoError(t, err)
			require.Equal(t, full, cached, "KV cache vs none, on the GPU")
			onCPU, err := model(cpu).Generate(prompt, gpt.SampleConfig{Tokens: 30, Keep: 4}, nil)
			require.NoError(t, err)
			require.Equal(t, onCPU, cached, "GPU vs CPU")

			g, err := onGPU.NewGenerator(4, false)
			require.NoError(t, err)
			_, err = g.Start(prompt)
			require.NoError(t, err)
			before := be.(StatsReporter).Stats()
			_, err = g.Next(cached[0])
			require.NoError(t, err)
			after := be.(StatsReporter).Stats()
			perLayer := 10
			if mode == gpt.Baseline {
				perLayer = 11
			}
			d, cb, w := after.Dispatches-before.Dispatches, after.CommandBuffers-before.CommandBuffers, after.Waits-before.Waits
			t.Logf("generate on %s, %s: a decoded token is %d dispatches, %d command buffer, %d host wait", be.Name(), mode, d, cb, w)
			require.Equal(t, 1+L*perLayer+2, d)
			require.Equal(t, 1, cb)
			require.Equal(t, 1, w)
			require.Equal(t, before.Buffers, after.Buffers, "no buffer allocated per token")
		})
	}
}
