package nn_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

// batch returns B·T random tokens and targets below V.
func batch(B, T, V int) (tokens, targets []int32) {
	r := rand.New(rand.NewPCG(1, 2))
	tokens, targets = make([]int32, B*T), make([]int32, B*T)
	for i := range tokens {
		tokens[i], targets[i] = int32(r.IntN(V)), int32(r.IntN(V))
	}
	return tokens, targets
}

// TestStepDoesNotAllocate proves that a whole training step — embedding, LayerNorm, matmuls
// larger than one 64×128 tile, attention, GELU, residuals, cross-entropy, gradient norm and AdamW —
// allocates nothing on the CPU backend once its buffers exist, in both attention modes. (With
// GemmWhole, gonum's own parallel Sgemm allocates; that mode is for a cgo BLAS.)
func TestStepDoesNotAllocate(t *testing.T) {
	for _, identity := range []bool{false, true} {
		cfg := nntest.GPTConfig{B: 4, T: 64, C: 128, NH: 4, V: 256, L: 2, Identity: identity}
		name := fmt.Sprintf("identity=%v/B=%d/T=%d/C=%d/NH=%d/V=%d/L=%d",
			identity, cfg.B, cfg.T, cfg.C, cfg.NH, cfg.V, cfg.L)
		t.Run(name, func(t *testing.T) {
			be := nn.NewCPU(4) // more workers than cores: the pool path runs even on one core
			defer be.Close()
			tokens, targets := batch(cfg.B, cfg.T, cfg.V)
			g := nntest.NewMiniGPT(be, cfg, nil, tokens, targets)
			g.Step(1)
			step := 1
			allocs := testing.AllocsPerRun(3, func() {
				step++
				g.Step(step)
			})
			require.Zero(t, allocs, "heap allocations per training step")
		})
	}
}

// TestMiniGPTLearns checks that the ops compose into a working training step: repeated steps on
// one batch drive its loss well below the loss of uniform guessing.
func TestMiniGPTLearns(t *testing.T) {
	for _, identity := range []bool{false, true} {
		t.Run(fmt.Sprintf("identity=%v", identity), func(t *testing.T) {
			cfg := nntest.GPTConfig{B: 2, T: 16, C: 32, NH: 4, V: 17, L: 1, Identity: identity}
			be := nn.NewCPU(0)
			defer be.Close()
			tokens, targets := batch(cfg.B, cfg.T, cfg.V)
			g := nntest.NewMiniGPT(be, cfg, nil, tokens, targets)
			g.Forward()
			first := g.Loss()
			for step := 1; step <= 300; step++ {
				g.Step(step)
			}
			g.Forward()
			last := g.Loss()
			require.Less(t, last, first/4, "loss after 300 steps on one batch (first %.3f)", first)
		})
	}
}

// TestStepIsReproducible checks that training steps give bit-identical parameters on 1, 2 and 3
// threads: every op splits its work so that no sum depends on how the work is shared.
func TestStepIsReproducible(t *testing.T) {
	cfg := nntest.GPTConfig{B: 2, T: 70, C: 96, NH: 3, V: 200, L: 1, Identity: true}
	tokens, targets := batch(cfg.B, cfg.T, cfg.V)
	var results [][]float32
	for _, threads := range []int{1, 2, 3} {
		be := nn.NewCPU(threads)
		g := nntest.NewMiniGPT(be, cfg, nil, tokens, targets)
		g.Step(1)
		g.Step(2)
		results = append(results, g.Params())
		be.Close()
	}
	require.Equal(t, results[0], results[1], "1 and 2 threads")
	require.Equal(t, results[0], results[2], "1 and 3 threads")
}
