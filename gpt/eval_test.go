package gpt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/tokens"
)

// refEvalLoss computes, one target at a time, the loss Evaluate defines: target p (1 ≤ p < n) is
// predicted by the window of T tokens that starts at the multiple of T below p if that window lies
// wholly in the sequence, else by the window that ends at the last token; the loss is the
// cross-entropy of the window's logits (Model.Forward without targets), summed in float64.
func refEvalLoss(t *testing.T, m *Model, ids []int32, T int) (sum float64, count int) {
	n := len(ids)
	V := m.Config.VocabSize
	logitsOf := map[int][]float32{}
	for p := 1; p < n; p++ {
		ws := (p - 1) / T * T
		if ws+T > n-1 {
			ws = n - 1 - T
		}
		lg, ok := logitsOf[ws]
		if !ok {
			_, err := m.Forward(ids[ws:ws+T], nil, 1, T)
			require.NoError(t, err)
			lg = append([]float32{}, m.Logits()...)
			logitsOf[ws] = lg
		}
		row := lg[(p-1-ws)*V : (p-ws)*V]
		mx := math.Inf(-1)
		for _, x := range row {
			mx = math.Max(mx, float64(x))
		}
		z := 0.0
		for _, x := range row {
			z += math.Exp(float64(x) - mx)
		}
		sum += mx + math.Log(z) - float64(row[ids[p]])
		count++
	}
	return sum, count
}

func TestEvaluate(t *testing.T) {
	cfg := tinyConfig(Identity)
	m, err := New(cfg, newCPU(t), 3)
	require.NoError(t, err)
	T, V := cfg.BlockSize, cfg.VocabSize
	tok, err := CharTokenizerFromChars("abcdefghijk"[:V])
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{2, T, T + 1, 3*T + 1, 3*T + 4, 5*T - 1} {
		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(rng.IntN(V))
		}
		for _, B := range []int{1, 2, 4} {
			t.Run(fmt.Sprintf("n=%d/T=%d/B=%d", n, T, B), func(t *testing.T) {
				e, err := NewEvaluator(m, B)
				require.NoError(t, err)
				var calls int
				res, err := e.Evaluate(tokens.Int32s(ids), tok, func(done, total int64) {
					calls++
					require.Equal(t, int64(n-1), total)
				})
				require.NoError(t, err)
				require.Positive(t, calls)
				wantSum, count := refEvalLoss(t, m, ids, min(T, n-1))
				require.Equal(t, int64(count), res.Tokens)
				require.Equal(t, int64(n-1), res.Bytes, "one byte a character")
				require.InDelta(t, wantSum/float64(count), res.Loss, 1e-5)
				require.InDelta(t, res.Loss/math.Ln2, res.BitsPerByte(), 1e-12)
				require.InDelta(t, math.Exp(res.Loss), res.Perplexity(), 1e-9)
			})
		}
	}
	e, err := NewEvaluator(m, 2)
	require.NoError(t, err)
	_, err = e.Evaluate(tokens.Int32s([]int32{1}), tok, nil)
	require.ErrorContains(t, err, "at least 2 tokens")
	_, err = e.Evaluate(tokens.Int32s([]int32{1, 2, int32(V)}), tok, nil)
	require.ErrorContains(t, err, "token 11 at position 2 is outside the vocabulary")
	_, err = NewEvaluator(m, 0)
	require.ErrorContains(t, err, "batch size")
}

func TestEvalWindows(t *testing.T) {
	// Every target 1 … n-1 counted exactly once.
	for _, n := range []int{2, 3, 8, 9, 10, 17, 100} {
		for _, T := range []int{1, 3, 8} {
			if T > n-1 {
				continue
			}
			seen := make([]int, n)
			for _, w := range evalWindows(n, T) {
				require.GreaterOrEqual(t, w.start, 0)
				require.LessOrEqual(t, w.start+T, n-1)
				for j := w.skip; j < T; j++ {
					seen[w.start+j+1]++
				}
			}
			for p := 1; p < n; p++ {
				require.Equal(t, 1, seen[p], "n=%d T=%d target %d", n, T, p)
			}
		}
	}
}
