package theory

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// tol is the bound on max |Δ| for an identity that holds exactly in real arithmetic.
const tol = 1e-9

func requireClose(t *testing.T, want, got Mat, what string) float64 {
	t.Helper()
	d, i, j := MaxAbsDiff(want, got)
	t.Logf("%s: max |Δ| = %.3g at (%d, %d)", what, d, i, j)
	require.LessOrEqualf(t, d, tol, "%s: max |Δ| = %g at (%d, %d): want %g, got %g", what, d, i, j, want.At(i, j), got.At(i, j))
	return d
}

func randomTokens(rng *rand.Rand, T, V int) []int {
	tok := make([]int, T)
	for i := range tok {
		tok[i] = rng.IntN(V)
	}
	return tok
}

func TestInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 5, 24} {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			a := Randn(rng, n, n, 1)
			requireClose(t, Eye(n), Mul(a, MustInverse(a)), "A·A⁻¹")
		})
	}
	_, err := Inverse(NewMat(3, 3))
	require.ErrorIs(t, err, ErrSingular)
}

// TestAttentionReference checks the reference attention against facts that do not depend on it:
// causality, and that a single token attends only to itself (out = x·Wv·Wo whatever Wq, Wk).
func TestAttentionReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const T, C, NH = 6, 8, 2
	w := AttnWeights{Wq: Randn(rng, C, C, 1), Wk: Randn(rng, C, C, 1), Wv: Randn(rng, C, C, 1), Wo: Randn(rng, C, C, 1)}
	x := Randn(rng, T, C, 1)
	out := Attention(x, w, NH, 0.5)

	x2 := x.Clone()
	for j := 0; j < C; j++ {
		x2.Set(T-1, j, 10*rng.NormFloat64())
	}
	out2 := Attention(x2, w, NH, 0.5)
	d, _, _ := MaxAbsDiff(Cols(Transpose(out), 0, T-1), Cols(Transpose(out2), 0, T-1))
	require.Zero(t, d, "changing the last token changed earlier outputs")

	first := Mat{R: 1, C: C, D: x.Row(0)}
	requireClose(t, Mul(Mul(first, w.Wv), w.Wo), Mat{R: 1, C: C, D: out.Row(0)}, "first token")
}

// TestAbsorbQuery is check (a): one multi-head attention layer with W_Q replaced by I, W_K by
// W_Q⁻¹W_K and W_V by W_Q⁻¹W_V, fed X·W_Q, gives the output of the original layer fed X.
func TestAbsorbQuery(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range []struct{ T, C, NH int }{{1, 4, 1}, {7, 12, 3}, {16, 32, 4}} {
		t.Run(fmt.Sprintf("T=%d/C=%d/NH=%d", s.T, s.C, s.NH), func(t *testing.T) {
			sc := 1 / math.Sqrt(float64(s.C))
			w := AttnWeights{Wq: Randn(rng, s.C, s.C, 1), Wk: Randn(rng, s.C, s.C, sc), Wv: Randn(rng, s.C, s.C, sc), Wo: Randn(rng, s.C, s.C, sc)}
			x := Randn(rng, s.T, s.C, 1)
			scale := 1 / math.Sqrt(float64(s.C/s.NH))
			want := Attention(x, w, s.NH, scale)
			got := Attention(Mul(x, w.Wq), AbsorbQuery(w), s.NH, scale)
			requireClose(t, want, got, "(a) attention output")
		})
	}
}

// TestPerLayerBasis is check (b): a multi-layer model without LayerNorm, with the skip around
// attention only, rewritten with W_Q = I in every layer and a per-layer change of basis absorbed
// into the embeddings and the MLP weights, has the same logits.
func TestPerLayerBasis(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, s := range []struct{ L, T, C, NH int }{{1, 5, 8, 2}, {3, 9, 12, 3}, {4, 16, 16, 4}} {
		t.Run(fmt.Sprintf("L=%d/T=%d/C=%d/NH=%d", s.L, s.T, s.C, s.NH), func(t *testing.T) {
			const V = 11
			m := RandomTransformer(rng, AttnSkipOnly, s.L, V, s.T, s.C, 4*s.C, s.NH, false)
			r := PerLayerBasis(m)
			for _, ly := range r.Layers {
				require.Nil(t, ly.Attn.Wq.D, "the rewritten model must have no query projection")
			}
			tok := randomTokens(rng, s.T, V)
			requireClose(t, m.Logits(tok), r.Logits(tok), "(b) logits")
		})
	}
}

// TestGlobalBasis is check (c): a weight-shared model without LayerNorm, with both skips and an
// untied head, rewritten in the single basis W_Q (W_Q = I in every layer), has the same logits.
func TestGlobalBasis(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, s := range []struct{ L, T, C, NH int }{{1, 5, 8, 2}, {3, 9, 12, 3}, {6, 16, 16, 4}} {
		t.Run(fmt.Sprintf("L=%d/T=%d/C=%d/NH=%d", s.L, s.T, s.C, s.NH), func(t *testing.T) {
			const V = 11
			m := RandomTransformer(rng, BothSkips, s.L, V, s.T, s.C, 4*s.C, s.NH, true)
			r := GlobalBasis(m)
			for _, ly := range r.Layers {
				require.Nil(t, ly.Attn.Wq.D, "the rewritten model must have no query projection")
			}
			tok := randomTokens(rng, s.T, V)
			requireClose(t, m.Logits(tok), r.Logits(tok), "(c) logits")
		})
	}
}

// TestPreLNNegativeControl is check (d): the substitution of (c), applied to the same weight-shared
// model with pre-LayerNorm blocks, changes the logits — LayerNorm does not commute with a change of
// basis, which is why the query-free pre-LN model is a different model, not a reparametrisation.
func TestPreLNNegativeControl(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, s := range []struct{ L, T, C, NH int }{{1, 5, 8, 2}, {3, 9, 12, 3}, {6, 16, 16, 4}} {
		t.Run(fmt.Sprintf("L=%d/T=%d/C=%d/NH=%d", s.L, s.T, s.C, s.NH), func(t *testing.T) {
			const V = 11
			m := RandomTransformer(rng, PreLN, s.L, V, s.T, s.C, 4*s.C, s.NH, true)
			r := GlobalBasis(m)
			tok := randomTokens(rng, s.T, V)
			d, i, j := MaxAbsDiff(m.Logits(tok), r.Logits(tok))
			t.Logf("(d) pre-LN logits: max |Δ| = %.3g at (%d, %d)", d, i, j)
			require.Greater(t, d, 1e-2, "(d) the substitution must change a pre-LN model's output")

			// The same weights without LayerNorm are the positive case (c): the difference above
			// comes from LayerNorm, not from a broken substitution.
			m.Arch, r.Arch = BothSkips, BothSkips
			requireClose(t, m.Logits(tok), r.Logits(tok), "(d) same weights without LN")
		})
	}
}

// TestInitLogitStd is check (g): at C = 768, dh = 64 and nanoGPT's N(0, 0.02) initialisation, the
// attention logits of the query-free model at scale 1/(2√dh) have a standard deviation within 15% of
// the baseline's at 1/√dh. It also checks the measurements against PredictedLogitStd's derivation.
func TestInitLogitStd(t *testing.T) {
	const C, NH, T, sigma, draws = 768, 12, 64, 0.02, 3
	dh := float64(C / NH)
	rng := rand.New(rand.NewPCG(13, 14))
	t.Run(fmt.Sprintf("C=%d/NH=%d/T=%d", C, NH, T), func(t *testing.T) {
		base := InitLogitStd(rng, C, NH, T, sigma, 1/math.Sqrt(dh), false, draws)
		ident := InitLogitStd(rng, C, NH, T, sigma, 1/(2*math.Sqrt(dh)), true, draws)
		identFull := InitLogitStd(rng, C, NH, T, sigma, 1/math.Sqrt(dh), true, draws)
		pb := PredictedLogitStd(C, NH, sigma, 1/math.Sqrt(dh), false)
		pi := PredictedLogitStd(C, NH, sigma, 1/(2*math.Sqrt(dh)), true)
		t.Logf("(g) logit std: baseline@1/√dh %.4f (predicted %.4f), identity@1/(2√dh) %.4f (predicted %.4f), identity@1/√dh %.4f; ratio %.3f",
			base, pb, ident, pi, identFull, ident/base)
		require.InDelta(t, 1, base/pb, 0.05, "baseline std vs derivation")
		require.InDelta(t, 1, ident/pi, 0.05, "identity std vs derivation")
		require.InDelta(t, 1, ident/base, 0.15, "(g) identity at 1/(2√dh) within 15%% of baseline at 1/√dh")
		require.Greater(t, identFull/base, 1.5, "at the baseline's scale identity logits are much larger: the smaller scale matters")
	})
}
