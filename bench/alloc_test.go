package bench

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/cpukernels"
	"github.com/kvgpt/kvgpt/gpt"
)

// TestStepDoesNotAllocateOnThisBuildsBLAS checks that the ops of a training step of kvgpt's model
// allocate nothing on the CPU backend as this build sets it up: gonum tiles by default, OpenBLAS
// products split by rows under -tags openblas. The step allocates only what the trainer's batch
// table allocates to draw the batch's offsets. T spans several attention blocks, C several gemm
// tiles.
func TestStepDoesNotAllocateOnThisBuildsBLAS(t *testing.T) {
	for _, mode := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
		const B = 2
		p, err := gpt.LookupPreset("tiny")
		require.NoError(t, err)
		p.Model = gpt.Config{NLayer: 2, NHead: 2, NEmbd: 128, BlockSize: 130}
		p.Train.BatchSize = B
		cfg := Config(p, mode)
		t.Run(fmt.Sprintf("mode=%s/B=%d/T=%d/C=%d/NH=%d", mode, B, cfg.BlockSize, cfg.NEmbd, cfg.NHead), func(t *testing.T) {
			be := cpukernels.NewCPU(2)
			defer be.Close()
			tr, err := NewTrainer(be, p, mode)
			require.NoError(t, err)
			step := func() {
				if _, err := tr.Step(); err != nil {
					t.Fatal(err)
				}
			}
			// Warm up: besides the backend's buffers, the Go runtime creates the OS threads that
			// run goroutines while others are in cgo (OpenBLAS) calls during the first steps.
			for range 5 {
				step()
			}
			offs := make([]int, B)
			table := testing.AllocsPerRun(5, func() { tr.Table.Offsets(offs, 0, 0) })
			// An allocation of ours happens on every step; the runtime's own (a new M for a
			// goroutine blocked in cgo) happens now and then. So the step must measure no more
			// than the batch table's in at least one of three trials.
			var trials []float64
			for range 3 {
				allocs := testing.AllocsPerRun(5, step)
				trials = append(trials, allocs)
				if allocs == table {
					break
				}
			}
			require.Equal(t, table, trials[len(trials)-1], "heap allocations per training step in each trial %v (%s)", trials, be.Name())
		})
	}
}
