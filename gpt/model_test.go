package gpt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
)

func newCPU(t testing.TB) nn.Backend {
	b := nn.NewCPU(2)
	t.Cleanup(func() { b.Close() })
	return b
}

func tinyConfig(mode QueryMode) Config {
	return Config{NLayer: 2, NHead: 2, NEmbd: 8, BlockSize: 8, VocabSize: 11, QueryMode: mode}
}

func randomTokens(rng *rand.Rand, n, V int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(rng.IntN(V))
	}
	return out
}

// TestGradientsMatchFiniteDifferences checks Backward against central differences of Forward,
// in float64 on the host around float32 evaluations, for a sample of elements of every tensor.
// This is what proves the identity mode's dq accumulates into dLN1 and the LM head is tied.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	// Depths 1, 2 and 3: the backward reuses one layer's gradient buffers and alternates the
	// residual stream's gradient between two, which odd and even depths use differently.
	for _, c := range []struct {
		mode QueryMode
		L    int
	}{{Baseline, 2}, {Identity, 2}, {Baseline, 3}, {Identity, 1}} {
		mode, cfg := c.mode, tinyConfig(c.mode)
		cfg.NLayer = c.L
		const B, T = 2, 5
		t.Run(fmt.Sprintf("mode=%s/B=%d/T=%d/C=%d/L=%d", mode, B, T, cfg.NEmbd, cfg.NLayer), func(t *testing.T) {
			m, err := New(cfg, newCPU(t), 3)
			require.NoError(t, err)
			rng := rand.New(rand.NewPCG(1, 2))
			// Larger weights than the initialisation so every gradient is well above float32 noise.
			for _, ts := range m.ParamTensors() {
				d := make([]float32, ts.Len())
				for i := range d {
					if len(ts.Shape) == 1 {
						d[i] = float32(1 + 0.3*rng.NormFloat64())
					} else {
						d[i] = float32(0.3 * rng.NormFloat64())
					}
				}
				require.NoError(t, m.SetParam(ts.Name, d))
			}
			in, tg := randomTokens(rng, B*T, cfg.VocabSize), randomTokens(rng, B*T, cfg.VocabSize)
			m.ZeroGrad()
			_, err = m.Forward(in, tg, B, T)
			require.NoError(t, err)
			require.NoError(t, m.Backward())
			for _, ts := range m.ParamTensors() {
				p, err := m.Param(ts.Name)
				require.NoError(t, err)
				g, err := m.Grad(ts.Name)
				require.NoError(t, err)
				for k := 0; k < 4; k++ {
					i := rng.IntN(len(p))
					if ts.Name == "transformer.wpe.weight" {
						i = rng.IntN(T * cfg.NEmbd) // rows ≥ T get no gradient
					}
					const h = 1e-2
					orig := p[i]
					p[i] = orig + h
					require.NoError(t, m.SetParam(ts.Name, p))
					lp, _ := m.Forward(in, tg, B, T)
					p[i] = orig - h
					require.NoError(t, m.SetParam(ts.Name, p))
					lm, _ := m.Forward(in, tg, B, T)
					p[i] = orig
					require.NoError(t, m.SetParam(ts.Name, p))
					fd := (float64(lp) - float64(lm)) / (2 * h)
					require.InDelta(t, fd, float64(g[i]), 2e-3+0.03*math.Abs(fd), "%s[%d]", ts.Name, i)
				}
			}
		})
	}
}

// TestIdentityQueryIsLN1 checks that the query-free model has no query weights: with W_K, W_V of
// an identity model copied into the K, V rows of a baseline model whose Q rows are the identity,
// and the same attention scale, both give the same loss.
func TestIdentityQueryIsLN1(t *testing.T) {
	const B, T = 2, 6
	idCfg := tinyConfig(Identity)
	baseCfg := tinyConfig(Baseline)
	baseCfg.AttnScale = float64(idCfg.Scale())
	be := newCPU(t)
	id, err := New(idCfg, be, 5)
	require.NoError(t, err)
	base, err := New(baseCfg, be, 6)
	require.NoError(t, err)
	C := idCfg.NEmbd
	for _, ts := range id.ParamTensors() {
		p, err := id.Param(ts.Name)
		require.NoError(t, err)
		if strings.HasSuffix(ts.Name, "attn.c_attn.weight") {
			q := make([]float32, C*C)
			for i := range C {
				q[i*C+i] = 1
			}
			p = append(q, p...) // rows [Q=I; K; V]
		}
		require.NoError(t, base.SetParam(ts.Name, p))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	in, tg := randomTokens(rng, B*T, idCfg.VocabSize), randomTokens(rng, B*T, idCfg.VocabSize)
	li, err := id.Forward(in, tg, B, T)
	require.NoError(t, err)
	lb, err := base.Forward(in, tg, B, T)
	require.NoError(t, err)
	require.InDelta(t, lb, li, 1e-5)
	require.Equal(t, baseCfg.NumParams()-idCfg.NLayer*C*C, idCfg.NumParams())
}

func TestInitialisation(t *testing.T) {
	cfg := Config{NLayer: 4, NHead: 4, NEmbd: 64, BlockSize: 64, VocabSize: 256, QueryMode: Identity}
	m, err := New(cfg, newCPU(t), 1)
	require.NoError(t, err)
	for _, ts := range m.ParamTensors() {
		p, err := m.Param(ts.Name)
		require.NoError(t, err)
		mean, sq := 0.0, 0.0
		for _, x := range p {
			mean += float64(x)
			sq += float64(x) * float64(x)
		}
		mean /= float64(len(p))
		std := math.Sqrt(sq/float64(len(p)) - mean*mean)
		switch {
		case len(ts.Shape) == 1:
			require.Equal(t, 1.0, mean, ts.Name)
			require.Equal(t, 0.0, std, ts.Name)
		case isOutputProjection(ts.Name):
			require.InDelta(t, 0.02/math.Sqrt(8), std, 0.1*0.02/math.Sqrt(8), ts.Name)
		default:
			require.InDelta(t, 0.02, std, 0.002, ts.Name)
		}
	}
	// Same seed, same weights; another seed, other weights.
	m2, _ := New(cfg, newCPU(t), 1)
	m3, _ := New(cfg, newCPU(t), 2)
	a, _ := m.Param("transformer.wte.weight")
	b, _ := m2.Param("transformer.wte.weight")
	c, _ := m3.Param("transformer.wte.weight")
	require.Equal(t, a, b)
	require.NotEqual(t, a, c)
	// The initial loss is about ln V.
	rng := rand.New(rand.NewPCG(1, 1))
	loss, err := m.Forward(randomTokens(rng, 4*64, 256), randomTokens(rng, 4*64, 256), 4, 64)
	require.NoError(t, err)
	require.InDelta(t, math.Log(256), loss, 0.1)
}

func TestForwardRejectsBadInput(t *testing.T) {
	m, err := New(tinyConfig(Identity), newCPU(t), 1)
	require.NoError(t, err)
	_, err = m.Forward(make([]int32, 9), nil, 1, 9)
	require.ErrorContains(t, err, "block size 8")
	_, err = m.Forward(make([]int32, 3), nil, 1, 4)
	require.ErrorContains(t, err, "needs 4 inputs")
	_, err = m.Forward([]int32{1, 2, 11}, nil, 1, 3)
	require.ErrorContains(t, err, "outside the vocabulary")
	require.ErrorContains(t, m.Backward(), "Forward with targets")
	require.ErrorContains(t, m.SetParam("transformer.wte.weight", make([]float32, 3)), "has 88 elements")
	require.ErrorContains(t, m.SetParam("lm_head.weight", nil), "no tensor")
	_, err = New(Config{NLayer: 1, NHead: 3, NEmbd: 8, BlockSize: 4, VocabSize: 5, QueryMode: Identity}, newCPU(t), 1)
	require.ErrorContains(t, err, "not divisible")
}

func TestGenerate(t *testing.T) {
	cfg := tinyConfig(Identity)
	m, err := New(cfg, newCPU(t), 1)
	require.NoError(t, err)
	sc := SampleConfig{Tokens: 20, Temperature: 1, Seed: 9}
	a, err := m.Generate([]int32{1, 2}, sc, nil)
	require.NoError(t, err)
	b, err := m.Generate([]int32{1, 2}, sc, nil)
	require.NoError(t, err)
	require.Equal(t, a, b, "same seed, same text")
	require.Len(t, a, 20) // longer than the block size: the context is cropped
	for _, id := range a {
		require.True(t, id >= 0 && int(id) < cfg.VocabSize)
	}
	// top-k 1 is greedy: the argmax of the last logits.
	sc.TopK = 1
	g, err := m.Generate([]int32{3}, SampleConfig{Tokens: 1, Temperature: 1, TopK: 1}, nil)
	require.NoError(t, err)
	_, err = m.Forward([]int32{3}, nil, 1, 1)
	require.NoError(t, err)
	logits := m.Logits()
	best := 0
	for i, x := range logits {
		if x > logits[best] {
			best = i
		}
	}
	require.Equal(t, int32(best), g[0])
	_, err = m.Generate(nil, SampleConfig{Tokens: 1, Temperature: -1}, nil)
	require.ErrorContains(t, err, "temperature")
}
