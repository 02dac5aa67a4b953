package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn/nntest"
)

// TestStepDoesNotAllocateOnThisBuildsBLAS checks that a training step of the backend ops allocates
// nothing on the CPU backend as this build sets it up: gonum tiles by default, OpenBLAS products
// split by rows under -tags openblas. T spans several attention blocks, C several gemm tiles.
func TestStepDoesNotAllocateOnThisBuildsBLAS(t *testing.T) {
	for _, identity := range []bool{false, true} {
		cfg := nntest.GPTConfig{B: 2, T: 130, C: 128, NH: 2, V: 256, L: 2, Identity: identity}
		t.Run(fmt.Sprintf("identity=%v/B=%d/T=%d/C=%d/NH=%d", identity, cfg.B, cfg.T, cfg.C, cfg.NH), func(t *testing.T) {
			be := NewCPU(2, blasInfo)
			defer be.Close()
			r := rand.New(rand.NewPCG(1, 2))
			tokens, targets := make([]int32, cfg.B*cfg.T), make([]int32, cfg.B*cfg.T)
			for i := range tokens {
				tokens[i], targets[i] = int32(r.IntN(cfg.V)), int32(r.IntN(cfg.V))
			}
			g := nntest.NewMiniGPT(be, cfg, nil, tokens, targets)
			g.Step(1)
			step := 1
			allocs := testing.AllocsPerRun(3, func() {
				step++
				g.Step(step)
			})
			require.Zero(t, allocs, "heap allocations per training step (%s)", be.Name())
		})
	}
}
