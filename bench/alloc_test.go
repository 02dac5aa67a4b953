package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/cpukernels"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

// TestStepDoesNotAllocateOnThisBuildsBLAS checks that a training step of the backend ops allocates
// nothing on the CPU backend as this build sets it up: gonum tiles by default, OpenBLAS products
// split by rows under -tags openblas. T spans several attention blocks, C several gemm tiles.
func TestStepDoesNotAllocateOnThisBuildsBLAS(t *testing.T) {
	for _, identity := range []bool{false, true} {
		cfg := nntest.GPTConfig{B: 2, T: 130, C: 128, NH: 2, V: 256, L: 2, Identity: identity}
		t.Run(fmt.Sprintf("identity=%v/B=%d/T=%d/C=%d/NH=%d", identity, cfg.B, cfg.T, cfg.C, cfg.NH), func(t *testing.T) {
			be := cpukernels.NewCPU(2)
			defer be.Close()
			r := rand.New(rand.NewPCG(1, 2))
			tokens, targets := make([]int32, cfg.B*cfg.T), make([]int32, cfg.B*cfg.T)
			for i := range tokens {
				tokens[i], targets[i] = int32(r.IntN(cfg.V)), int32(r.IntN(cfg.V))
			}
			g := nntest.NewMiniGPT(be, cfg, nil, tokens, targets)
			// Warm up: besides the backend's buffers, the Go runtime creates the OS threads that
			// run goroutines while others are in cgo (OpenBLAS) calls during the first steps.
			step := 0
			for range 5 {
				step++
				g.Step(step)
			}
			// An allocation of ours happens on every step; the runtime's own (a new M for a
			// goroutine blocked in cgo) happens now and then. So the step must measure zero in at
			// least one of three trials.
			var trials []float64
			for range 3 {
				allocs := testing.AllocsPerRun(5, func() {
					step++
					g.Step(step)
				})
				trials = append(trials, allocs)
				if allocs == 0 {
					break
				}
			}
			require.Zero(t, trials[len(trials)-1], "heap allocations per training step in each trial %v (%s)", trials, be.Name())
		})
	}
}
