package gpt

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// decisiveModel returns a model of cfg on the CPU whose weights are far larger than the
// initialisation's (matrices N(0, 0.3), embeddings N(0, 1), LayerNorm weights near 1), so that its
// greedy choices are far from ties and differ from context to context.
func decisiveModel(t *testing.T, cfg Config, seed uint64) *Model {
	t.Helper()
	m, err := New(cfg, newCPU(t), 1)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, ts := range m.ParamTensors() {
		mean, std := 0.0, 0.3
		switch {
		case len(ts.Shape) == 1:
			mean, std = 1, 0.1
		case ts.Name == "transformer.wte.weight":
			std = 1
		}
		w := make([]float32, ts.Len())
		for i := range w {
			w[i] = float32(mean + std*rng.NormFloat64())
		}
		require.NoError(t, m.SetParam(ts.Name, w))
	}
	return m
}

// TestGenerateCacheMatchesNoCache: in every query mode (the residual one runs on the CPU only,
// so the conformance suite's generation cases leave it out) and for windows that keep 1, 3, half
// the block and the whole block when they slide, the KV cache gives the logits of the whole
// window's forward pass at every step, and greedy generation the same tokens.
func TestGenerateCacheMatchesNoCache(t *testing.T) {
	const T = 8
	for _, mode := range []QueryMode{Baseline, Identity, Residual} {
		cfg := Config{NLayer: 2, NHead: 3, NEmbd: 12, BlockSize: T, VocabSize: 23, QueryMode: mode}
		m := decisiveModel(t, cfg, 3)
		for _, keep := range []int{1, 3, DefaultKeep(T), T} {
			for _, promptLen := range []int{3, 11} {
				t.Run(fmt.Sprintf("mode=%s/T=%d/keep=%d/prompt=%d", mode, T, keep, promptLen), func(t *testing.T) {
					prompt := randomTokens(rand.New(rand.NewPCG(uint64(promptLen), 1)), promptLen, cfg.VocabSize)
					sc := SampleConfig{Tokens: 4 * T, Keep: keep}
					cached, err := m.Generate(prompt, sc, nil)
					require.NoError(t, err)
					sc.NoCache = true
					full, err := m.Generate(prompt, sc, nil)
					require.NoError(t, err)
					require.Equal(t, full, cached, "greedy tokens with the cache and without")

					// Teacher-forced on those tokens, the logits of every step.
					gc, err := m.NewGenerator(keep, false)
					require.NoError(t, err)
					gf, err := m.NewGenerator(keep, true)
					require.NoError(t, err)
					lc, err := gc.Start(prompt)
					require.NoError(t, err)
					lf, err := gf.Start(prompt)
					require.NoError(t, err)
					worst := 0.0
					for i, tok := range full {
						for j := range lc {
							worst = max(worst, math.Abs(float64(lc[j]-lf[j])))
						}
						require.Equal(t, gf.Window(), gc.Window(), "step %d", i)
						if lc, err = gc.Next(tok); err != nil {
							break
						}
						lf, err = gf.Next(tok)
						require.NoError(t, err)
					}
					require.NoError(t, err)
					require.Less(t, worst, 1e-4, "largest logit difference, cache vs none")
					require.Equal(t, gf.Slides(), gc.Slides())
					require.Positive(t, gc.Slides(), "the window slid")
				})
			}
		}
	}
}

// TestStreamStats: Stream counts the prompt, the context it encodes first (the prompt's last
// block), the new tokens and the slides (every BlockSize−Keep+1 tokens once the window is full),
// stops at emit's error and returns it, and encodes nothing for 0 tokens.
func TestStreamStats(t *testing.T) {
	cfg := tinyConfig(Baseline) // T = 8
	m, err := New(cfg, newCPU(t), 1)
	require.NoError(t, err)
	prompt := make([]int32, 20)
	n := 0
	st, err := m.Stream(prompt, SampleConfig{Tokens: 30, Keep: 3}, func(int32) error { n++; return nil })
	require.NoError(t, err)
	require.Equal(t, 30, n)
	require.Equal(t, GenerateStats{Prompt: 20, Context: 8, Tokens: 30, Slides: 5}, GenerateStats{Prompt: st.Prompt, Context: st.Context, Tokens: st.Tokens, Slides: st.Slides},
		"29 tokens appended to a full window: it slides at the 1st, then every 8−3+1 = 6th: 1, 7, 13, 19, 25")
	require.Positive(t, st.Prefill)
	require.Positive(t, st.Generation)

	stop := errors.New("enough")
	n = 0
	st, err = m.Stream(nil, SampleConfig{Tokens: 30}, func(int32) error {
		if n++; n == 4 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 4, st.Tokens)
	require.Equal(t, 1, st.Prompt, "an empty prompt starts from token 0")

	st, err = m.Stream([]int32{1}, SampleConfig{}, func(int32) error { panic("no token") })
	require.NoError(t, err)
	require.Equal(t, GenerateStats{Prompt: 1, Context: 1}, st)
}

// TestGeneratorErrors: bad settings and misuse are errors that say what is wrong.
func TestGeneratorErrors(t *testing.T) {
	m, err := New(tinyConfig(Identity), newCPU(t), 1)
	require.NoError(t, err)
	for _, keep := range []int{-1, 9} {
		_, err = m.NewGenerator(keep, false)
		require.EqualError(t, err, fmt.Sprintf("gpt: keep must be between 1 and the block size 8 (0: half of it), got %d", keep))
	}
	_, err = m.Generate([]int32{1}, SampleConfig{Tokens: 1, Keep: -2}, nil)
	require.EqualError(t, err, "gpt: keep must be ≥ 0 (0: half the block size), got -2")
	g, err := m.NewGenerator(0, false)
	require.NoError(t, err)
	require.Equal(t, 4, g.Keep(), "half the block")
	_, err = g.Next(1)
	require.EqualError(t, err, "gpt: Generator.Next before Start")
	_, err = g.Start(nil)
	require.EqualError(t, err, "gpt: generation needs at least one token of context")
	_, err = g.Start([]int32{1, 11})
	require.EqualError(t, err, "gpt: context[1] = 11 is outside the vocabulary [0, 11)")
	_, err = g.Start([]int32{1})
	require.NoError(t, err)
	_, err = g.Next(-1)
	require.EqualError(t, err, "gpt: token[0] = -1 is outside the vocabulary [0, 11)")
}

// TestGeneratorNextAllocatesNothing: once started, a step of the cached generator allocates no
// host memory, whether it decodes one position or slides and re-encodes the window: memory does
// not grow with the number of tokens.
func TestGeneratorNextAllocatesNothing(t *testing.T) {
	m, err := New(tinyConfig(Baseline), newCPU(t), 1)
	require.NoError(t, err)
	g, err := m.NewGenerator(3, false)
	require.NoError(t, err)
	_, err = g.Start([]int32{1, 2})
	require.NoError(t, err)
	tok := int32(0)
	allocs := testing.AllocsPerRun(50, func() {
		tok = (tok + 1) % 11
		if _, err := g.Next(tok); err != nil {
			panic(err)
		}
	})
	require.Positive(t, g.Slides())
	require.Zero(t, allocs, "allocations per token")
}
