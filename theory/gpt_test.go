package theory

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/internal/gpttest"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/stretchr/testify/require"
)

// newCPUModel returns a kvgpt model of cfg on a fresh CPU backend (closed at the end of the test)
// whose matrices are re-drawn with std 0.3, so attention is far from uniform and the LayerNorm
// weights are not all 1.
func newCPUModel(t *testing.T, cfg gpt.Config, seed uint64) *gpt.Model {
	t.Helper()
	b := nn.NewCPU(0)
	t.Cleanup(func() { b.Close() })
	m, err := gpt.New(cfg, b, seed)
	require.NoError(t, err)
	require.NoError(t, gpttest.RandomWeights(m, seed))
	return m
}

func maxAbsDiff32(a, b []float32) (float64, int) {
	d, at := 0.0, 0
	for i := range a {
		if v := math.Abs(float64(a[i]) - float64(b[i])); v > d || math.IsNaN(v) {
			d, at = v, i
		}
	}
	return d, at
}

// TestGPTMatchesReference checks kvgpt's float32 model on the CPU backend against the float64
// reference built from its weights, in both query modes: the reference the theory checks use is the
// model kvgpt trains.
func TestGPTMatchesReference(t *testing.T) {
	for _, mode := range []gpt.QueryMode{gpt.Baseline, gpt.Identity, gpt.Residual} {
		cfg := gpt.Config{NLayer: 2, NHead: 2, NEmbd: 16, BlockSize: 9, VocabSize: 13, QueryMode: mode}
		t.Run(fmt.Sprintf("mode=%s/L=2/T=9/C=16/NH=2", mode), func(t *testing.T) {
			m := newCPUModel(t, cfg, 1)
			rng := rand.New(rand.NewPCG(2, 3))
			tok := randomTokens(rng, cfg.BlockSize, cfg.VocabSize)
			in := make([]int32, len(tok))
			for i, v := range tok {
				in[i] = int32(v)
			}
			_, err := m.Forward(in, nil, 1, len(in))
			require.NoError(t, err)
			ref, err := FromGPT(m)
			require.NoError(t, err)
			want, maxLogit := ref.Forward(tok)
			got := m.Logits()
			w32 := make([]float32, len(want.D))
			for i, v := range want.D {
				w32[i] = float32(v)
			}
			d, at := maxAbsDiff32(w32, got)
			t.Logf("float32 model vs float64 reference: max |Δ logits| = %.3g at %d (logits up to %.3g, max |attention logit| %.3g)", d, at, maxAbsMat(want), maxLogit)
			require.Less(t, d, 1e-4)
			require.Greater(t, maxLogit, 0.5, "attention must be far from uniform for the check to mean something")
		})
	}
}

func maxAbsMat(m Mat) float64 {
	v := 0.0
	for _, x := range m.D {
		v = math.Max(v, math.Abs(x))
	}
	return v
}

// TestIdentityIsBaselineWithFrozenQuery is check (e): kvgpt's identity mode is its baseline mode
// with W_Q = I held fixed. Both models get the same K, V and other weights and the same scale; the
// baseline's query rows of c_attn are I. Their logits and all shared gradients agree, and so do
// several AdamW steps on the same batches when the baseline's W_Q is reset to I after every step
// (gradient clipping off, since the global norm would include the baseline's unused dW_Q).
// Tolerance: 1e-5 on logits and gradients, 1e-5 on losses and 1e-4 on weights after training
// (float32 through the CPU backend).
func TestIdentityIsBaselineWithFrozenQuery(t *testing.T) {
	const L, NH, C, T, V = 2, 2, 16, 8, 20
	scale := 1 / (2 * math.Sqrt(C/NH))
	idCfg := gpt.Config{NLayer: L, NHead: NH, NEmbd: C, BlockSize: T, VocabSize: V, QueryMode: gpt.Identity, AttnScale: scale}
	baseCfg := idCfg
	baseCfg.QueryMode = gpt.Baseline
	t.Run(fmt.Sprintf("L=%d/T=%d/C=%d/NH=%d", L, T, C, NH), func(t *testing.T) {
		id := newCPUModel(t, idCfg, 4)
		base := newCPUModel(t, baseCfg, 5)
		eye := make([]float32, C*C)
		for i := 0; i < C; i++ {
			eye[i*C+i] = 1
		}
		freezeQ := func() {
			for l := 0; l < L; l++ {
				name := fmt.Sprintf("transformer.h.%d.attn.c_attn.weight", l)
				kv, err := id.Param(name)
				require.NoError(t, err)
				w, err := base.Param(name)
				require.NoError(t, err)
				copy(w, eye)
				copy(w[C*C:], kv) // [Q K V] = [I K V]
				require.NoError(t, base.SetParam(name, w))
			}
		}
		for _, ts := range id.ParamTensors() {
			if strings.HasSuffix(ts.Name, "c_attn.weight") {
				continue
			}
			w, err := id.Param(ts.Name)
			require.NoError(t, err)
			require.NoError(t, base.SetParam(ts.Name, w))
		}
		freezeQ()

		rng := rand.New(rand.NewPCG(6, 7))
		in, tg := make([]int32, 2*T), make([]int32, 2*T)
		for i := range in {
			in[i], tg[i] = int32(rng.IntN(V)), int32(rng.IntN(V))
		}
		for _, m := range []*gpt.Model{id, base} {
			m.ZeroGrad()
			_, err := m.Forward(in, tg, 2, T)
			require.NoError(t, err)
			require.NoError(t, m.Backward())
		}
		d, at := maxAbsDiff32(id.Logits(), base.Logits())
		t.Logf("(e) logits: max |Δ| = %.3g at %d", d, at)
		require.LessOrEqual(t, d, 1e-5)
		for _, ts := range id.GradTensors() {
			gi, err := id.Grad(ts.Name)
			require.NoError(t, err)
			gb, err := base.Grad(ts.Name)
			require.NoError(t, err)
			if strings.HasSuffix(ts.Name, "c_attn.weight") {
				gb = gb[C*C:] // the K and V rows
			}
			d, at := maxAbsDiff32(gi, gb)
			require.LessOrEqualf(t, d, 1e-5, "(e) gradient of %s: max |Δ| = %g at %d", ts.Name, d, at)
		}

		// Training: same data, same batches, W_Q of the baseline held at I.
		var sb strings.Builder
		for i := 0; i < 400; i++ {
			fmt.Fprintf(&sb, "%c", 'a'+rng.IntN(V))
		}
		tok, err := gpt.NewCharTokenizer(sb.String())
		require.NoError(t, err)
		data, err := gpt.NewDataset("test", sb.String(), tok, T)
		require.NoError(t, err)
		tc := gpt.DefaultTrainConfig()
		tc.BatchSize, tc.Steps, tc.Warmup, tc.GradClip, tc.WeightDecay, tc.EvalBatches = 4, 5, 0, 0, 0.05, 1
		tc.LR, tc.MinLR = 1e-3, 1e-3
		ti, err := gpt.NewTrainer(id, tc, data)
		require.NoError(t, err)
		tb, err := gpt.NewTrainer(base, tc, data)
		require.NoError(t, err)
		maxLoss := 0.0
		for s := 0; s < tc.Steps; s++ {
			ri, err := ti.Step()
			require.NoError(t, err)
			rb, err := tb.Step()
			require.NoError(t, err)
			freezeQ()
			maxLoss = math.Max(maxLoss, math.Abs(ri.Loss-rb.Loss))
		}
		t.Logf("(e) %d AdamW steps: max |Δ loss| = %.3g", tc.Steps, maxLoss)
		require.LessOrEqual(t, maxLoss, 1e-5)
		for _, ts := range id.ParamTensors() {
			wi, err := id.Param(ts.Name)
			require.NoError(t, err)
			wb, err := base.Param(ts.Name)
			require.NoError(t, err)
			if strings.HasSuffix(ts.Name, "c_attn.weight") {
				wb = wb[C*C:]
			}
			d, at := maxAbsDiff32(wi, wb)
			require.LessOrEqualf(t, d, 1e-4, "(e) %s after training: max |Δ| = %g at %d", ts.Name, d, at)
		}
		vi, err := ti.Evaluate()
		require.NoError(t, err)
		vb, err := tb.Evaluate()
		require.NoError(t, err)
		require.InDelta(t, vi, vb, 1e-5)
	})
}

// crossEntropy returns the mean −log softmax(logits[t])[targets[t]].
func crossEntropy(logits Mat, targets []int) float64 {
	l := 0.0
	for t, tg := range targets {
		row := logits.Row(t)
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(v - m)
		}
		l += m + math.Log(s) - row[tg]
	}
	return l / float64(len(targets))
}

// TestResidualModeGradients checks the gradients of kvgpt's float32 Residual-mode model on the CPU
// backend against float64 central differences of the reference model's loss, for sampled elements
// of every tensor of the query path and of the attention input projection.
func TestResidualModeGradients(t *testing.T) {
	cfg := gpt.Config{NLayer: 2, NHead: 2, NEmbd: 8, BlockSize: 6, VocabSize: 11, QueryMode: gpt.Residual}
	t.Run("L=2/T=6/C=8/NH=2", func(t *testing.T) {
		m := newCPUModel(t, cfg, 8)
		require.Equal(t, cfg.NumParams(), m.NumParams())
		base := cfg
		base.QueryMode = gpt.Baseline
		require.Equal(t, base.NumParams()+2*cfg.NLayer*cfg.NEmbd, cfg.NumParams(), "residual = baseline + 2C per layer")

		rng := rand.New(rand.NewPCG(9, 10))
		T := cfg.BlockSize
		in, tg := make([]int32, T), make([]int32, T)
		tok, tgt := make([]int, T), make([]int, T)
		for i := range in {
			tok[i], tgt[i] = rng.IntN(cfg.VocabSize), rng.IntN(cfg.VocabSize)
			in[i], tg[i] = int32(tok[i]), int32(tgt[i])
		}
		m.ZeroGrad()
		loss32, err := m.Forward(in, tg, 1, T)
		require.NoError(t, err)
		require.NoError(t, m.Backward())
		ref, err := FromGPT(m)
		require.NoError(t, err)
		require.InDelta(t, crossEntropy(ref.Logits(tok), tgt), float64(loss32), 1e-5)

		for l := 0; l < cfg.NLayer; l++ {
			rq := ref.Layers[l].Attn.Residual
			p := fmt.Sprintf("transformer.h.%d.attn.", l)
			for _, c := range []struct {
				name string
				w    []float64
				// index maps an element of the reference tensor to the kvgpt (transposed) layout
				index func(i int) int
			}{
				{"q_norm.weight", rq.G, func(i int) int { return i }},
				{"q_ln.weight", rq.GL, func(i int) int { return i }},
				{"q_fc.weight", rq.W1.D, func(i int) int { return (i%rq.W1.C)*rq.W1.R + i/rq.W1.C }},
				{"q_proj.weight", rq.W2.D, func(i int) int { return (i%rq.W2.C)*rq.W2.R + i/rq.W2.C }},
				{"c_attn.weight", ref.Layers[l].Attn.Wk.D, func(i int) int { C := cfg.NEmbd; return (i%C)*C + i/C }},
			} {
				grad, err := m.Grad(p + c.name)
				require.NoError(t, err)
				worst := 0.0
				for k := 0; k < 6; k++ {
					i := rng.IntN(len(c.w))
					old := c.w[i]
					const h = 1e-5
					c.w[i] = old + h
					lp := crossEntropy(ref.Logits(tok), tgt)
					c.w[i] = old - h
					lm := crossEntropy(ref.Logits(tok), tgt)
					c.w[i] = old
					fd := (lp - lm) / (2 * h)
					worst = math.Max(worst, math.Abs(fd-float64(grad[c.index(i)])))
				}
				t.Logf("layer %d %s: max |float32 gradient − float64 finite difference| = %.2g", l, c.name, worst)
				require.Less(t, worst, 1e-5, "layer %d %s", l, c.name)
			}
		}
	})
}
