package nn_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
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

// newTrainer returns kvgpt's trainer of a model of cfg on be, with batches of B sequences of
// random bytes (V = 256).
func newTrainer(t *testing.T, be nn.Backend, cfg gpt.Config, B int) *gpt.Trainer {
	t.Helper()
	m, err := gpt.New(cfg, be, 1)
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(3, 4))
	text := make([]byte, 40*B*cfg.BlockSize)
	for i := range text {
		text[i] = byte(r.IntN(256))
	}
	data, err := gpt.NewDataset("random bytes", string(text), gpt.ByteTokenizer{}, cfg.BlockSize)
	require.NoError(t, err)
	tc := gpt.DefaultTrainConfig()
	tc.BatchSize, tc.EvalBatches = B, 1
	tr, err := gpt.NewTrainer(m, tc, data)
	require.NoError(t, err)
	return tr
}

// TestStepDoesNotAllocate proves that the ops of a whole training step of kvgpt's model
// (gpt.Trainer.Step: embedding, LayerNorm, matmuls larger than one 64×128 tile, attention, GELU,
// residuals, cross-entropy, gradient norm and AdamW) allocate nothing on the CPU backend once its
// buffers exist, in both attention modes: the step allocates only what the trainer's batch table
// allocates on the host to draw the batch's offsets. (With GemmWhole, gonum's own parallel Sgemm
// allocates; that mode is for a cgo BLAS.)
func TestStepDoesNotAllocate(t *testing.T) {
	for _, mode := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
		cfg := gpt.Config{NLayer: 2, NHead: 4, NEmbd: 128, BlockSize: 64, VocabSize: 256, QueryMode: mode}
		const B = 4
		t.Run(fmt.Sprintf("mode=%s/B=%d/T=%d/C=%d/NH=%d/V=%d/L=%d", mode, B, cfg.BlockSize, cfg.NEmbd, cfg.NHead, cfg.VocabSize, cfg.NLayer), func(t *testing.T) {
			be := nn.NewCPU(4) // more workers than cores: the pool path runs even on one core
			defer be.Close()
			tr := newTrainer(t, be, cfg, B)
			_, err := tr.Step()
			require.NoError(t, err)
			allocs := testing.AllocsPerRun(3, func() {
				if _, err := tr.Step(); err != nil {
					t.Fatal(err)
				}
			})
			require.Equal(t, tableAllocs(tr), allocs, "heap allocations per training step")
		})
	}
}

// TestStepIsReproducible checks that training steps give bit-identical parameters on 1, 2 and 3
// threads: every op splits its work so that no sum depends on how the work is shared.
func TestStepIsReproducible(t *testing.T) {
	cfg := gpt.Config{NLayer: 1, NHead: 3, NEmbd: 96, BlockSize: 70, VocabSize: 256, QueryMode: gpt.Identity}
	const B = 2
	var results [][]float32
	for _, threads := range []int{1, 2, 3} {
		be := nn.NewCPU(threads)
		tr := newTrainer(t, be, cfg, B)
		for range 2 {
			_, err := tr.Step()
			require.NoError(t, err)
		}
		var params []float32
		for _, ts := range tr.Model.ParamTensors() {
			p, err := tr.Model.Param(ts.Name)
			require.NoError(t, err)
			params = append(params, p...)
		}
		results = append(results, params)
		be.Close()
	}
	require.Equal(t, results[0], results[1], "1 and 2 threads")
	require.Equal(t, results[0], results[2], "1 and 3 threads")
}

// tableAllocs returns the heap allocations per step of tr's batch table (gpt.BatchTable.Offsets,
// once per micro-batch): the allocations of a training step that are not the backend's.
func tableAllocs(tr *gpt.Trainer) float64 {
	offs := make([]int, tr.Config.BatchSize)
	return float64(tr.Config.GradAccum) * testing.AllocsPerRun(3, func() { tr.Table.Offsets(offs, 0, 0) })
}
