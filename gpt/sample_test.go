package gpt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// randomLogits returns V logits of spread scale.
func randomLogits(rng *rand.Rand, V int, scale float64) []float32 {
	l := make([]float32, V)
	for i := range l {
		l[i] = float32(rng.NormFloat64() * scale)
	}
	return l
}

// picker draws tokens with pick from a generator seeded by seed.
func picker(V int, seed uint64) func(logits []float32, sc SampleConfig) (int32, error) {
	probs, idx := make([]float64, V), make([]int, V)
	rng := rand.New(rand.NewPCG(seed, 1))
	return func(logits []float32, sc SampleConfig) (int32, error) { return pick(logits, probs, idx, sc, rng) }
}

// TestGreedy: temperature 0 is the argmax of the logits (the first of a tie), whatever the seed,
// top-k and top-p.
func TestGreedy(t *testing.T) {
	const V = 37
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 200 {
		logits := randomLogits(rng, V, 2)
		want := 0
		for j, x := range logits {
			if x > logits[want] {
				want = j
			}
		}
		for _, sc := range []SampleConfig{{}, {TopK: 3}, {TopP: 0.5}, {TopK: 1, TopP: 1}} {
			got, err := picker(V, uint64(i))(logits, sc)
			require.NoError(t, err)
			require.Equal(t, int32(want), got, "logits %v, %+v", logits, sc)
		}
	}
	tie := []float32{0, 5, 1, 5, 5}
	got, err := picker(5, 1)(tie, SampleConfig{})
	require.NoError(t, err)
	require.Equal(t, int32(1), got, "the first of a tie")
	for _, bad := range [][]float32{{0, float32(math.NaN())}, {0, float32(math.Inf(1))}, {float32(math.Inf(-1)), float32(math.Inf(-1))}} {
		_, err := picker(2, 1)(bad, SampleConfig{})
		require.ErrorContains(t, err, "non-finite logits", "%v", bad)
	}
	got, err = picker(2, 1)([]float32{float32(math.Inf(-1)), 0}, SampleConfig{})
	require.NoError(t, err, "a −∞ logit is a token never chosen")
	require.Equal(t, int32(1), got)
}

// TestTopP: a tiny p is greedy, p = 1 is plain sampling draw for draw (with the same seed, also
// with top-k), and p keeps exactly the smallest set of most likely tokens that reaches it.
func TestTopP(t *testing.T) {
	const V = 23
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 100 {
		logits := randomLogits(rng, V, 1)
		greedy, err := picker(V, 0)(logits, SampleConfig{})
		require.NoError(t, err)
		for _, temp := range []float64{0.5, 1, 3} {
			tiny, plain, one := picker(V, uint64(i)), picker(V, uint64(i)), picker(V, uint64(i))
			plainK, oneK := picker(V, uint64(i)), picker(V, uint64(i))
			for range 20 {
				got, err := tiny(logits, SampleConfig{Temperature: temp, TopP: 1e-9})
				require.NoError(t, err)
				require.Equal(t, greedy, got, "top-p 1e-9 is greedy")
				a, err := plain(logits, SampleConfig{Temperature: temp})
				require.NoError(t, err)
				b, err := one(logits, SampleConfig{Temperature: temp, TopP: 1})
				require.NoError(t, err)
				require.Equal(t, a, b, "top-p 1 is plain sampling")
				a, err = plainK(logits, SampleConfig{Temperature: temp, TopK: 5})
				require.NoError(t, err)
				b, err = oneK(logits, SampleConfig{Temperature: temp, TopK: 5, TopP: 1})
				require.NoError(t, err)
				require.Equal(t, a, b, "top-p 1 with top-k 5 is top-k 5")
			}
		}
	}

	// Probabilities 0.4, 0.3, 0.2, 0.1 (logits ln p, shuffled): p = 0.3 keeps the first, 0.69 the
	// first two, 0.71 the first three, each drawn in proportion.
	logits := []float32{float32(math.Log(0.2)), float32(math.Log(0.4)), float32(math.Log(0.1)), float32(math.Log(0.3))}
	for _, c := range []struct {
		p    float64
		want map[int32]float64
	}{
		{0.3, map[int32]float64{1: 1}},
		{0.69, map[int32]float64{1: 0.4 / 0.7, 3: 0.3 / 0.7}},
		{0.71, map[int32]float64{1: 0.4 / 0.9, 3: 0.3 / 0.9, 0: 0.2 / 0.9}},
	} {
		t.Run(fmt.Sprintf("p=%v", c.p), func(t *testing.T) {
			const n = 20000
			draw := picker(4, 7)
			count := map[int32]int{}
			for range n {
				tok, err := draw(logits, SampleConfig{Temperature: 1, TopP: c.p})
				require.NoError(t, err)
				count[tok]++
			}
			require.Len(t, count, len(c.want), "tokens drawn: %v", count)
			for tok, p := range c.want {
				require.InDelta(t, p, float64(count[tok])/n, 0.02, "token %d: %v", tok, count)
			}
		})
	}
}

// TestSampleConfigValidate: the settings `kvgpt sample` passes on are checked with messages that
// name them.
func TestSampleConfigValidate(t *testing.T) {
	require.NoError(t, SampleConfig{Temperature: 0}.Validate(), "greedy")
	require.NoError(t, SampleConfig{Temperature: 1, TopP: 1}.Validate())
	for _, c := range []struct {
		sc   SampleConfig
		want string
	}{
		{SampleConfig{Tokens: -1, Temperature: 1}, "tokens must be ≥ 0, got -1"},
		{SampleConfig{Temperature: -0.5}, "temperature must be a finite number ≥ 0 (0: greedy), got -0.5"},
		{SampleConfig{Temperature: math.NaN()}, "temperature must be a finite number ≥ 0 (0: greedy), got NaN"},
		{SampleConfig{Temperature: math.Inf(1)}, "temperature must be a finite number ≥ 0 (0: greedy), got +Inf"},
		{SampleConfig{Temperature: 1, TopK: -2}, "top-k must be ≥ 0, got -2"},
		{SampleConfig{Temperature: 1, TopP: -0.1}, "top-p must be in (0, 1], got -0.1"},
		{SampleConfig{Temperature: 1, TopP: 1.5}, "top-p must be in (0, 1], got 1.5"},
		{SampleConfig{Temperature: 1, TopP: math.NaN()}, "top-p must be in (0, 1], got NaN"},
	} {
		require.EqualError(t, c.sc.Validate(), "gpt: "+c.want)
	}
}

// TestGenerateGreedy: greedy generation is deterministic (the seed does not matter), each token is
// the argmax of the model's logits (on nanoGPT's crop of the context, Keep = BlockSize), and top-p
// 1e-9 generates the same text.
func TestGenerateGreedy(t *testing.T) {
	cfg := tinyConfig(Identity)
	m := decisiveModel(t, cfg, 1)
	prompt := []int32{3, 1, 4}
	keep := cfg.BlockSize
	a, err := m.Generate(prompt, SampleConfig{Tokens: 12, Seed: 1, Keep: keep}, nil)
	require.NoError(t, err)
	b, err := m.Generate(prompt, SampleConfig{Tokens: 12, Seed: 2, Keep: keep}, nil)
	require.NoError(t, err)
	require.Equal(t, a, b, "greedy does not depend on the seed")
	c, err := m.Generate(prompt, SampleConfig{Tokens: 12, Temperature: 0.7, TopP: 1e-9, Seed: 3, Keep: keep}, nil)
	require.NoError(t, err)
	require.Equal(t, a, c, "top-p 1e-9 is greedy")
	d, err := m.Generate(prompt, SampleConfig{Tokens: 12, Seed: 1, Keep: keep, NoCache: true}, nil)
	require.NoError(t, err)
	require.Equal(t, a, d, "without the KV cache")

	ctx := append([]int32(nil), prompt...)
	for i, tok := range a {
		c := ctx[max(0, len(ctx)-cfg.BlockSize):]
		_, err := m.Forward(c, nil, 1, len(c))
		require.NoError(t, err)
		logits := m.Logits()[(len(c)-1)*cfg.VocabSize:]
		want, err := argmax(logits)
		require.NoError(t, err)
		require.Equal(t, want, tok, "token %d", i)
		ctx = append(ctx, tok)
	}

	p1, err := m.Generate(prompt, SampleConfig{Tokens: 12, Temperature: 1, TopP: 1, Seed: 5}, nil)
	require.NoError(t, err)
	p0, err := m.Generate(prompt, SampleConfig{Tokens: 12, Temperature: 1, Seed: 5}, nil)
	require.NoError(t, err)
	require.Equal(t, p0, p1, "top-p 1 is plain sampling")
}
