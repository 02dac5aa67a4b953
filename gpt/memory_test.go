package gpt

import (
	"fmt"
	"github.com/kvgpt/kvgpt/tokens"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/internal/alloccount"
)

func newCountingCPU(t *testing.T) *alloccount.CPU {
	c := alloccount.New(2)
	t.Cleanup(func() { c.Close() })
	return c
}

// relDiff returns |got − want| / want.
func relDiff(got, want int64) float64 { return math.Abs(float64(got-want)) / float64(want) }

// TestPlanMatchesAllocations checks the plans of training and sampling against the bytes the
// backend actually allocates — for New, NewTrainer, an evaluation, two steps and a checkpoint
// write, or New and two generations whose window slides, with the KV cache and without — for
// several shapes, in every query mode.
func TestPlanMatchesAllocations(t *testing.T) {
	shapes := []struct{ L, NH, C, T, V, H, B, GA, EB int }{
		{1, 2, 16, 8, 11, 0, 2, 1, 1},
		{2, 4, 32, 16, 65, 0, 3, 2, 2},
		{3, 3, 48, 32, 256, 100, 4, 3, 1},
	}
	worst := 0.0
	for _, s := range shapes {
		for _, mode := range []QueryMode{Baseline, Identity, Residual} {
			cfg := Config{NLayer: s.L, NHead: s.NH, NEmbd: s.C, BlockSize: s.T, VocabSize: s.V, MLPHidden: s.H, QueryMode: mode}
			name := fmt.Sprintf("mode=%s/L=%d/C=%d/NH=%d/T=%d/V=%d/H=%d", mode, s.L, s.C, s.NH, s.T, s.V, cfg.Hidden())
			t.Run(name+fmt.Sprintf("/train/B=%d/accum=%d/eval=%d", s.B, s.GA, s.EB), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, 2))
				ds := &Dataset{Source: "random tokens", Train: tokens.Int32s(randomTokens(rng, 40*s.T, s.V)), Val: tokens.Int32s(randomTokens(rng, 8*s.T, s.V))}
				tc := DefaultTrainConfig()
				tc.BatchSize, tc.GradAccum, tc.EvalBatches, tc.Steps = s.B, s.GA, s.EB, 2
				plan, err := PlanTraining(cfg, tc, ds.Bytes())
				require.NoError(t, err)

				be := newCountingCPU(t)
				m, err := New(cfg, be, 1)
				require.NoError(t, err)
				tr, err := NewTrainer(m, tc, ds)
				require.NoError(t, err)
				_, err = tr.Evaluate()
				require.NoError(t, err)
				for range 2 {
					_, err = tr.Step()
					require.NoError(t, err)
				}
				require.NoError(t, tr.Save(filepath.Join(t.TempDir(), "ckpt.safetensors"), nil))
				d := relDiff(be.Bytes, plan.Device())
				worst = max(worst, d)
				require.LessOrEqual(t, d, 0.02, "allocated %d bytes, planned %d (%s)", be.Bytes, plan.Device(), plan)
				require.Equal(t, ds.Bytes(), plan.Data)
			})
			t.Run(name+fmt.Sprintf("/eval/B=%d", s.B), func(t *testing.T) {
				plan, err := PlanEval(cfg, s.B, 0)
				require.NoError(t, err)
				be := newCountingCPU(t)
				m, err := New(cfg, be, 1)
				require.NoError(t, err)
				e, err := NewEvaluator(m, s.B)
				require.NoError(t, err)
				rng := rand.New(rand.NewPCG(3, 4))
				_, err = e.Evaluate(tokens.Int32s(randomTokens(rng, 3*s.B*s.T+5, s.V)), ByteTokenizer{}, nil)
				require.NoError(t, err)
				d := relDiff(be.Bytes, plan.Device())
				worst = max(worst, d)
				require.LessOrEqual(t, d, 0.02, "allocated %d bytes, planned %d (%s)", be.Bytes, plan.Device(), plan)
			})
			for _, noCache := range []bool{false, true} {
				t.Run(name+fmt.Sprintf("/sample/no-cache=%v", noCache), func(t *testing.T) {
					sc := SampleConfig{Tokens: 2*s.T + 3, Temperature: 1, Seed: 1, NoCache: noCache}
					plan, err := PlanSampling(cfg, sc, 0)
					require.NoError(t, err)
					be := newCountingCPU(t)
					m, err := New(cfg, be, 1)
					require.NoError(t, err)
					for range 2 { // a second sample allocates nothing more
						_, err = m.Generate([]int32{1}, sc, nil)
						require.NoError(t, err)
					}
					d := relDiff(be.Bytes, plan.Device())
					worst = max(worst, d)
					require.LessOrEqual(t, d, 0.02, "allocated %d bytes, planned %d (%s)", be.Bytes, plan.Device(), plan)
				})
			}
		}
	}
	t.Logf("largest relative difference between plan and allocation: %.2g", worst)
}

func TestMemoryPlanString(t *testing.T) {
	p := MemoryPlan{Params: 200e6, Copies: 10e6, Activations: 1.4e9, Logits: 0.12e9, Scratch: 5e6, Host: 5e6, Tokens: 10e6, Data: 100e6}
	require.Equal(t, "1.85 GB planned (params+optimizer 0.21, activations 1.40, logits 0.12, scratch 0.01, data 0.11)", p.String())
	require.Equal(t, MemoryPart{"activations", 1.4e9}, p.Largest())
	require.Equal(t, int64(1.75e9), p.Need(), "the data is in memory already")
	require.True(t, p.Fits(1.75e9))
	require.False(t, p.Fits(1.75e9-1))
	require.Equal(t, "83.2 MB planned (params+optimizer 83.2)", MemoryPlan{Params: 83.2e6}.String())

	for n, want := range map[int64]string{
		0: "0 B", 999: "999 B", 1000: "1.00 kB", 83_240_000: "83.2 MB", 23.44e9: "23.4 GB", 412e9: "412 GB",
		999.6e9: "1.00 TB", math.MaxInt64: "9.22 EB",
	} {
		require.Equal(t, want, FormatBytes(n), "%d bytes", n)
	}
}

func TestPlanParts(t *testing.T) {
	cfg := Config{NLayer: 3, NHead: 4, NEmbd: 96, BlockSize: 128, VocabSize: 256, QueryMode: Identity}
	tc := DefaultTrainConfig()
	p, err := PlanTraining(cfg, tc, 0)
	require.NoError(t, err)
	require.Equal(t, 5*4*int64(cfg.NumParams()), p.Params)
	require.Equal(t, 2*4*int64(tc.BatchSize*128*256), p.Logits, "the logits and their gradient")
	require.Equal(t, "activations", p.Largest().Name)

	// Twice the micro-batch: twice the activations and logits, the same parameters.
	tc2 := tc
	tc2.BatchSize *= 2
	p2, err := PlanTraining(cfg, tc2, 0)
	require.NoError(t, err)
	require.Equal(t, p.Params, p2.Params)
	require.Equal(t, 2*p.Activations, p2.Activations)
	require.Equal(t, 2*p.Logits, p2.Logits)

	// A model too large for any machine is mostly parameters and optimizer state.
	big := cfg
	big.NEmbd, big.NLayer = 4096, 8
	pb, err := PlanTraining(big, tc, 0)
	require.NoError(t, err)
	require.Equal(t, "params+optimizer", pb.Largest().Name)

	// A micro-batch whose sizes would overflow is an error, not a plan.
	tc2.BatchSize = 1 << 50
	_, err = PlanTraining(cfg, tc2, 0)
	require.ErrorContains(t, err, "more memory than can be counted")
	tc2.BatchSize, tc2.GradAccum = 16, 1<<55
	_, err = PlanTraining(cfg, tc2, 0)
	require.ErrorContains(t, err, "more memory than can be counted")
	_, err = PlanTraining(Config{}, tc, 0)
	require.ErrorContains(t, err, "n-layer")
}

func TestFitBatch(t *testing.T) {
	cfg := Config{NLayer: 3, NHead: 4, NEmbd: 96, BlockSize: 128, VocabSize: 256, QueryMode: Identity}
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.GradAccum = 64, 1
	at := func(B, GA int) int64 {
		t2 := tc
		t2.BatchSize, t2.GradAccum = B, GA
		p, err := PlanTraining(cfg, t2, 0)
		require.NoError(t, err)
		return p.Need()
	}
	for _, c := range []struct {
		limit  int64
		B, GA  int
		fitted bool
	}{
		{at(64, 1), 64, 1, true},
		{at(32, 2) + 1, 32, 2, true},
		{at(32, 2) - 1, 16, 4, true},
		{at(1, 64), 1, 64, true},
		{at(1, 64) - 1, 64, 1, false},
	} {
		t.Run(fmt.Sprintf("B=64/limit=%d", c.limit), func(t *testing.T) {
			got, p, ok := FitBatch(cfg, tc, 0, c.limit)
			require.Equal(t, c.fitted, ok)
			require.Equal(t, c.B, got.BatchSize)
			require.Equal(t, c.GA, got.GradAccum)
			require.Equal(t, 64, got.BatchSize*got.GradAccum, "sequences per step")
			if ok {
				require.LessOrEqual(t, p.Need(), c.limit)
			}
		})
	}
	require.Equal(t, []int{12, 6, 4, 3, 2, 1}, divisorsDescending(12))
	require.Equal(t, []int{9, 3, 1}, divisorsDescending(9))
	require.Equal(t, []int{1}, divisorsDescending(1))
}
