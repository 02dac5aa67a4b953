//go:build cgo && (openblas || (accelerate && darwin))

package cpublas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
)

// kernelPair is the CPU backend twice: Go loops (ref) and C kernels (c), fed the same inputs.
type kernelPair struct {
	t      *testing.T
	ref, c *nn.CPU
	rng    *rand.Rand
}

func newKernelPair(t *testing.T) *kernelPair {
	ref, c := nn.NewCPU(2), nn.NewCPUWith(nn.CPUOptions{Threads: 2, Kernels: Kernels()})
	t.Cleanup(func() { ref.Close(); c.Close() })
	return &kernelPair{t: t, ref: ref, c: c, rng: rand.New(rand.NewPCG(7, 11))}
}

// randn returns n values N(0, std²).
func (p *kernelPair) randn(n int, std float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(p.rng.NormFloat64() * std)
	}
	return x
}

// up uploads data to both backends: (ref view, c view).
func (p *kernelPair) up(data []float32) (nn.View, nn.View) {
	a, b := p.ref.Alloc(len(data)), p.c.Alloc(len(data))
	p.ref.Upload(a, data)
	p.c.Upload(b, data)
	return a, b
}

// same requires the two views to hold the same values within abs + rel·|ref| (NaN matches NaN).
func (p *kernelPair) same(name string, a, b nn.View, abs, rel float64) {
	want, got := make([]float32, a.N), make([]float32, b.N)
	p.ref.Download(want, a)
	p.c.Download(got, b)
	for i := range want {
		w, g := float64(want[i]), float64(got[i])
		if w == g { // also ±Inf
			continue
		}
		if math.IsNaN(w) || math.IsNaN(g) {
			require.Truef(p.t, math.IsNaN(w) && math.IsNaN(g), "%s[%d]: C %v, Go %v", name, i, g, w)
			continue
		}
		require.LessOrEqualf(p.t, math.Abs(g-w), abs+rel*math.Abs(w), "%s[%d]: C %v, Go %v", name, i, g, w)
	}
}

// TestKernelsMatchGoLoops runs every op that has a C kernel on both paths at shapes larger than
// the conformance suite's, none a multiple of a vector width, so that the vectorised main loops
// and their remainders both run; the Go loops are themselves checked against float64 references
// by nntest.
func TestKernelsMatchGoLoops(t *testing.T) {
	t.Run("gelu/N=100003", func(t *testing.T) {
		p := newKernelPair(t)
		x := p.randn(100003, 3)
		copy(x, []float32{0, -8, 8, -7.999, 20, -20, -100, 100, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))})
		dout := p.randn(len(x), 1)
		in, inC := p.up(x)
		out, outC := p.up(make([]float32, len(x)))
		p.ref.GELUForward(out, in, len(x))
		p.c.GELUForward(outC, inC, len(x))
		p.same("out", out, outC, 2e-6, 2e-6)
		dy, dyC := p.up(dout)
		din, dinC := p.up(p.randn(len(x), 1)) // accumulates
		p.ref.GELUBackward(din, dy, in, len(x))
		p.c.GELUBackward(dinC, dyC, inC, len(x))
		p.same("din", din, dinC, 4e-6, 4e-6)
	})
	for _, s := range []struct{ N, C int }{{67, 391}, {130, 17}, {3, 1}} {
		t.Run(fmt.Sprintf("layernorm/N=%d/C=%d", s.N, s.C), func(t *testing.T) {
			p := newKernelPair(t)
			N, C := s.N, s.C
			x := p.randn(N*C, 2)
			for i := range x {
				x[i] += 0.5 // a mean away from zero
			}
			in, inC := p.up(x)
			w, wC := p.up(p.randn(C, 1))
			out, outC := p.up(make([]float32, N*C))
			mean, meanC := p.up(make([]float32, N))
			rstd, rstdC := p.up(make([]float32, N))
			p.ref.LayerNormForward(out, mean, rstd, in, w, N, C)
			p.c.LayerNormForward(outC, meanC, rstdC, inC, wC, N, C)
			p.same("out", out, outC, 1e-5, 1e-5)
			p.same("mean", mean, meanC, 1e-6, 1e-5)
			p.same("rstd", rstd, rstdC, 0, 1e-5)
			dy, dyC := p.up(p.randn(N*C, 1))
			din, dinC := p.up(p.randn(N*C, 1))
			dw, dwC := p.up(p.randn(C, 1))
			p.ref.LayerNormBackward(din, dw, dy, in, w, mean, rstd, N, C)
			p.c.LayerNormBackward(dinC, dwC, dyC, inC, wC, meanC, rstdC, N, C)
			p.same("din", din, dinC, 2e-5, 2e-5)
			p.same("dw", dw, dwC, 1e-4, 2e-5)
		})
	}
	for _, s := range []struct{ N, V int }{{45, 259}, {9, 3}} {
		t.Run(fmt.Sprintf("crossentropy/N=%d/V=%d", s.N, s.V), func(t *testing.T) {
			p := newKernelPair(t)
			N, V := s.N, s.V
			logits, logitsC := p.up(p.randn(N*V, 8))
			tg := make([]int32, N)
			for i := range tg {
				tg[i] = int32(p.rng.IntN(V))
			}
			tgt, tgtC := p.ref.AllocInt(N), p.c.AllocInt(N)
			p.ref.UploadInt(tgt, tg)
			p.c.UploadInt(tgtC, tg)
			loss, lossC := p.up(make([]float32, N))
			p.ref.CrossEntropyForward(loss, logits, tgt, N, V)
			p.c.CrossEntropyForward(lossC, logitsC, tgtC, N, V)
			p.same("losses", loss, lossC, 1e-5, 1e-5)
			dl, dlC := p.up(p.randn(N, 1))
			dx, dxC := p.up(p.randn(N*V, 1))
			p.ref.CrossEntropyBackward(dx, dl, logits, tgt, N, V)
			p.c.CrossEntropyBackward(dxC, dlC, logitsC, tgtC, N, V)
			p.same("dlogits", dx, dxC, 1e-6, 1e-5)
		})
	}
	for _, s := range []struct{ B, T, C, NH int }{{2, 150, 48, 2}, {1, 65, 16, 4}, {1, 70, 128, 2}, {2, 64, 64, 2}, {3, 1, 16, 2}, {2, 2, 8, 2}} {
		t.Run(fmt.Sprintf("attention/B=%d/T=%d/C=%d/NH=%d", s.B, s.T, s.C, s.NH), func(t *testing.T) {
			p := newKernelPair(t)
			B, T, C, NH := s.B, s.T, s.C, s.NH
			N := B * T
			qkv, qkvC := p.up(p.randn(N*3*C, 1))
			col := func(v nn.View, c int) nn.Strided { return nn.Strided{V: v.Slice(c, v.N-c), Stride: 3 * C} }
			out, outC := p.up(make([]float32, N*C))
			att, attC := p.up(make([]float32, B*NH*T*T))
			scale := float32(1 / math.Sqrt(float64(C/NH)))
			p.ref.AttentionForward(out, att, col(qkv, 0), col(qkv, C), col(qkv, 2*C), B, T, C, NH, scale)
			p.c.AttentionForward(outC, attC, col(qkvC, 0), col(qkvC, C), col(qkvC, 2*C), B, T, C, NH, scale)
			p.same("out", out, outC, 1e-5, 1e-5)
			p.same("att", att, attC, 1e-6, 1e-5)
			dy, dyC := p.up(p.randn(N*C, 1))
			dqkv, dqkvC := p.up(p.randn(N*3*C, 1))
			datt, dattC := p.up(p.randn(B*NH*T*T, 1)) // scratch
			p.ref.AttentionBackward(col(dqkv, 0), col(dqkv, C), col(dqkv, 2*C), datt, dy, att, col(qkv, 0), col(qkv, C), col(qkv, 2*C), B, T, C, NH, scale)
			p.c.AttentionBackward(col(dqkvC, 0), col(dqkvC, C), col(dqkvC, 2*C), dattC, dyC, attC, col(qkvC, 0), col(qkvC, C), col(qkvC, 2*C), B, T, C, NH, scale)
			p.same("dqkv", dqkv, dqkvC, 2e-5, 2e-5)
		})
	}
	t.Run("gradnorm/N=300007", func(t *testing.T) {
		p := newKernelPair(t)
		g, gC := p.up(p.randn(300007, 0.01))
		out, outC := p.up(make([]float32, 1))
		p.ref.GradNorm(out, g, g.N)
		p.c.GradNorm(outC, gC, gC.N)
		p.same("norm", out, outC, 0, 1e-6)
	})
	t.Run("adamw/N=10007", func(t *testing.T) {
		p := newKernelPair(t)
		N := 10007
		par, parC := p.up(p.randn(N, 1))
		mv := p.randn(N, 0.01)
		m, mC := p.up(mv)
		vv := p.randn(N, 1e-3)
		for i := range vv {
			vv[i] *= vv[i]
		}
		v, vC := p.up(vv)
		g, gC := p.up(p.randn(N, 0.1))
		dec := make([]float32, N)
		for i := range dec {
			dec[i] = float32(i % 2)
		}
		decay, decayC := p.up(dec)
		h := nn.AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, GradScale: 0.5, Step: 7}
		p.ref.AdamW(par, m, v, g, decay, N, h)
		p.c.AdamW(parC, mC, vC, gC, decayC, N, h)
		p.same("params", par, parC, 1e-7, 1e-6)
		// m = β1·m + (1−β1)·g can cancel; C contracts it to an FMA: absolute tolerances at the
		// scale of the terms.
		p.same("m", m, mC, 1e-9, 1e-6)
		p.same("v", v, vC, 1e-12, 1e-6)
	})
}

func TestKernelsName(t *testing.T) {
	require.Regexp(t, `^C (AVX-512|AVX2|SSE2|NEON|scalar)$`, Kernels().Name())
}

// TestSqrtf checks kv_sqrtf, AdamW's vectorisable square root, against math.Sqrt rounded to
// float32: within 2 ulp from 1e-30 to 1e30, and exact at 0, +∞ and NaN.
func TestSqrtf(t *testing.T) {
	worst := 0.0
	for e := -30.0; e <= 30; e += 0.0137 {
		x := float32(math.Pow(10, e))
		want := float32(math.Sqrt(float64(x)))
		got := sqrtf(x)
		ulp := float64(math.Nextafter32(want, float32(math.Inf(1))) - want)
		worst = max(worst, math.Abs(float64(got-want))/ulp)
	}
	t.Logf("worst error %.2f ulp", worst)
	require.LessOrEqual(t, worst, 2.0)
	require.Equal(t, float32(0), sqrtf(0))
	require.Equal(t, float32(math.Inf(1)), sqrtf(float32(math.Inf(1))))
	require.True(t, math.IsNaN(float64(sqrtf(float32(math.NaN())))))
}
