package shaders_test

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

// The kernels' edge cases that the conformance suite (conformance_test.go: every op on odd
// shapes, both thread orders) and its large-shape tier (run by the Metal backend on the fake
// device, in this same harness) do not reach: exact tiles, a sequence of one token, one-element
// rows, more gradient-norm chunks than the grid holds, kernels that must write every element they
// later read, inputs left untouched, bit-identical reductions, and the GELU fit's accuracy over
// its whole range. Each runs in forward and reverse thread order (forward only with -short)
// against nntest's float64 references.

// forEachOrder runs fn on a fresh harness backend per thread order (harnessOrders).
func forEachOrder(t *testing.T, fn func(t *testing.T, b nn.Backend)) {
	for _, order := range harnessOrders() {
		t.Run("order="+order.String(), func(t *testing.T) {
			fn(t, newHarnessBackend(t, flavourPlain, order))
		})
	}
}

// vec returns n values uniform in [−scale, scale), rounded to float32.
func vec(rng *rand.Rand, n int, scale float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(float32((rng.Float64()*2 - 1) * scale))
	}
	return x
}

func up(b nn.Backend, x []float64) nn.View {
	v := b.Alloc(len(x))
	f := make([]float32, len(x))
	for i, xi := range x {
		f[i] = float32(xi)
	}
	b.Upload(v, f)
	return v
}

func upInt(b nn.Backend, x []int32) nn.IntView {
	v := b.AllocInt(len(x))
	b.UploadInt(v, x)
	return v
}

func down(t *testing.T, b nn.Backend, v nn.View) []float64 {
	t.Helper()
	require.NoError(t, b.Sync())
	f := make([]float32, v.N)
	b.Download(f, v)
	x := make([]float64, len(f))
	for i, fi := range f {
		x[i] = float64(fi)
	}
	return x
}

// requireClose fails unless |got−want| ≤ atol + rtol·|want| everywhere (NaN only where want is
// NaN), naming the first bad element and the largest difference.
func requireClose(t *testing.T, name string, got, want []float64, atol, rtol float64) {
	t.Helper()
	require.Equal(t, len(want), len(got), "%s: length", name)
	worst, at, bad, nans := 0.0, -1, -1, 0
	for i := range want {
		d := math.Abs(got[i] - want[i])
		if math.IsNaN(got[i]) != math.IsNaN(want[i]) {
			nans++
			d = math.Inf(1)
		} else if math.IsNaN(d) {
			d = 0
		}
		if d > atol+rtol*math.Abs(want[i]) && bad < 0 {
			bad = i
		}
		if d > worst || at < 0 {
			worst, at = d, i
		}
	}
	if bad >= 0 {
		t.Fatalf("%s: element %d = %.7g, want %.7g (max |diff| %.3g at %d; %d NaN mismatches; atol %g, rtol %g)",
			name, bad, got[bad], want[bad], worst, at, nans, atol, rtol)
	}
	t.Logf("%s: %d values, max |diff| %.2e", name, len(want), worst)
}

// strided64 is a dense (rows, C) float64 matrix as nntest's references read it.
func strided64(x []float64, C int) nntest.Strided { return nntest.Strided{Data: x, Stride: C} }

// TestMatmul covers the tiles without a ragged edge (64×64 output tiles, a K loop of whole
// 16-wide steps) and a product of one element.
func TestMatmul(t *testing.T) {
	shapes := [][3]int{{64, 64, 64}, {1, 1, 1}}
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		for _, s := range shapes {
			N, C, OC := s[0], s[1], s[2]
			t.Run(fmt.Sprintf("N=%d/C=%d/OC=%d", N, C, OC), func(t *testing.T) { testMatmul(t, b, N, C, OC) })
		}
	})
}

// testMatmul checks MatmulForward over a garbage output and MatmulBackward into pre-filled
// gradients.
func testMatmul(t *testing.T, b nn.Backend, N, C, OC int) {
	rng := rand.New(rand.NewSource(int64(N*10000 + C*100 + OC)))
	in, w := vec(rng, N*C, 1), vec(rng, OC*C, 1)
	out := up(b, vec(rng, N*OC, 5)) // garbage: forward overwrites
	b.MatmulForward(out, up(b, in), up(b, w), N, C, OC)
	want := make([]float64, N*OC)
	nntest.RefMatmul(want, in, w, N, C, OC)
	requireClose(t, "out", down(t, b, out), want, 1e-5, 1e-5)

	dout, din0, dw0 := vec(rng, N*OC, 1), vec(rng, N*C, 1), vec(rng, OC*C, 1)
	din, dw := up(b, din0), up(b, dw0)
	b.MatmulBackward(din, dw, up(b, dout), up(b, in), up(b, w), N, C, OC)
	wantDin, wantDw := slices.Clone(din0), slices.Clone(dw0)
	nntest.RefMatmulBackward(wantDin, wantDw, dout, in, w, N, C, OC)
	requireClose(t, "din", down(t, b, din), wantDin, 1e-5, 1e-5)
	requireClose(t, "dw", down(t, b, dw), wantDw, 1e-5, 1e-5)
}

// attnLayout places q, k, v of one attention call in backend buffers as the model does.
type attnLayout struct {
	mode    string // "baseline": one (B,T,3C) QKV; "identity": q = (B,T,C) LN1 output, (B,T,2C) KV
	bufs    []nn.View
	q, k, v nn.Strided
}

// layout uploads dense q, k, v (B·T, C) into the buffers of mode and returns strided views.
func layout(b nn.Backend, mode string, q, k, v []float64, BT, C int) attnLayout {
	strided := func(buf nn.View, off, stride int) nn.Strided {
		return nn.Strided{V: buf.Slice(off, (BT-1)*stride+C), Stride: stride}
	}
	interleave := func(stride int, parts ...[]float64) []float64 {
		x := make([]float64, BT*stride)
		for r := 0; r < BT; r++ {
			for p, part := range parts {
				copy(x[r*stride+p*C:][:C], part[r*C:][:C])
			}
		}
		return x
	}
	switch mode {
	case "baseline":
		qkv := up(b, interleave(3*C, q, k, v))
		return attnLayout{mode, []nn.View{qkv}, strided(qkv, 0, 3*C), strided(qkv, C, 3*C), strided(qkv, 2*C, 3*C)}
	case "identity":
		ln := up(b, interleave(C, q))
		kv := up(b, interleave(2*C, k, v))
		return attnLayout{mode, []nn.View{ln, kv}, strided(ln, 0, C), strided(kv, 0, 2*C), strided(kv, C, 2*C)}
	}
	panic("unknown mode " + mode)
}

// dense reads the q, k, v columns of a layout back as dense (B·T, C) arrays.
func (l attnLayout) dense(t *testing.T, b nn.Backend, BT, C int) (q, k, v []float64) {
	get := func(s nn.Strided) []float64 {
		all := down(t, b, s.V)
		x := make([]float64, BT*C)
		for r := 0; r < BT; r++ {
			copy(x[r*C:][:C], all[r*s.Stride:][:C])
		}
		return x
	}
	return get(l.q), get(l.k), get(l.v)
}

// TestAttention covers a sequence of one token, and, on a shape of several heads and a ragged
// 37-row sequence, that the kernels write every element of att and of the datt scratch before
// they read it (both start as NaN) and leave q, k and v untouched.
func TestAttention(t *testing.T) {
	shapes := [][4]int{{1, 1, 8, 1}, {2, 37, 48, 3}}
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		for _, mode := range []string{"baseline", "identity"} {
			for _, s := range shapes {
				B, T, C, NH := s[0], s[1], s[2], s[3]
				t.Run(fmt.Sprintf("mode=%s/B=%d/T=%d/C=%d/NH=%d", mode, B, T, C, NH), func(t *testing.T) {
					testAttention(t, b, mode, B, T, C, NH)
				})
			}
		}
	})
}

func testAttention(t *testing.T, b nn.Backend, mode string, B, T, C, NH int) {
	rng := rand.New(rand.NewSource(int64(B*1000 + T*10 + NH)))
	BT, dh := B*T, C/NH
	scale := 1 / math.Sqrt(float64(dh))
	if mode == "identity" {
		scale /= 2
	}
	q, k, v := vec(rng, BT*C, 1), vec(rng, BT*C, 1), vec(rng, BT*C, 1)
	in := layout(b, mode, q, k, v, BT, C)
	nan := make([]float64, B*NH*T*T)
	for i := range nan {
		nan[i] = math.NaN() // the kernels must write every element they later read
	}
	out, att := up(b, vec(rng, BT*C, 3)), up(b, nan)
	b.AttentionForward(out, att, in.q, in.k, in.v, B, T, C, NH, float32(scale))
	wantOut, wantAtt := make([]float64, BT*C), make([]float64, B*NH*T*T)
	nntest.RefAttention(wantOut, wantAtt, strided64(q, C), strided64(k, C), strided64(v, C), B, T, C, NH, scale)
	requireClose(t, "out", down(t, b, out), wantOut, 1e-5, 1e-4)
	requireClose(t, "att", down(t, b, att), wantAtt, 1e-6, 1e-4)

	// Gradients start non-zero (backward accumulates); in the baseline layout dq, dk, dv share
	// one buffer, in the identity layout dq is the LN1 output gradient.
	dq0, dk0, dv0 := vec(rng, BT*C, 1), vec(rng, BT*C, 1), vec(rng, BT*C, 1)
	grads := layout(b, mode, dq0, dk0, dv0, BT, C)
	dout := vec(rng, BT*C, 1)
	b.AttentionBackward(grads.q, grads.k, grads.v, up(b, nan), up(b, dout), att, in.q, in.k, in.v, B, T, C, NH, float32(scale))
	wantDq, wantDk, wantDv := slices.Clone(dq0), slices.Clone(dk0), slices.Clone(dv0)
	nntest.RefAttentionBackward(strided64(wantDq, C), strided64(wantDk, C), strided64(wantDv, C), dout, wantAtt,
		strided64(q, C), strided64(k, C), strided64(v, C), B, T, C, NH, scale)
	dq, dk, dv := grads.dense(t, b, BT, C)
	requireClose(t, "dq", dq, wantDq, 1e-5, 1e-4)
	requireClose(t, "dk", dk, wantDk, 1e-5, 1e-4)
	requireClose(t, "dv", dv, wantDv, 1e-5, 1e-4)
	// The inputs are untouched.
	gotQ, gotK, gotV := in.dense(t, b, BT, C)
	require.Equal(t, q, gotQ)
	require.Equal(t, k, gotK)
	require.Equal(t, v, gotV)
}

// TestLayerNorm covers a row of one element, whose variance is 0: rstd is 1/√ε and the output 0.
func TestLayerNorm(t *testing.T) {
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		const N, C = 1, 1
		t.Run(fmt.Sprintf("N=%d/C=%d", N, C), func(t *testing.T) {
			rng := rand.New(rand.NewSource(N*1000 + C))
			in, w := vec(rng, N*C, 2), vec(rng, C, 1)
			out, mean, rstd := up(b, vec(rng, N*C, 1)), b.Alloc(N), b.Alloc(N)
			b.LayerNormForward(out, mean, rstd, up(b, in), up(b, w), N, C)
			wantOut, wantMean, wantRstd := make([]float64, N*C), make([]float64, N), make([]float64, N)
			nntest.RefLayerNorm(wantOut, wantMean, wantRstd, in, w, N, C)
			requireClose(t, "out", down(t, b, out), wantOut, 1e-5, 1e-4)
			requireClose(t, "mean", down(t, b, mean), wantMean, 1e-6, 1e-5)
			requireClose(t, "rstd", down(t, b, rstd), wantRstd, 1e-6, 1e-4)

			dout, din0, dw0 := vec(rng, N*C, 1), vec(rng, N*C, 1), vec(rng, C, 1)
			din, dw := up(b, din0), up(b, dw0)
			b.LayerNormBackward(din, dw, up(b, dout), up(b, in), up(b, w), mean, rstd, N, C)
			wantDin, wantDw := slices.Clone(din0), slices.Clone(dw0)
			nntest.RefLayerNormBackward(wantDin, wantDw, dout, in, w, N, C)
			requireClose(t, "din", down(t, b, din), wantDin, 1e-5, 1e-4)
			requireClose(t, "dw", down(t, b, dw), wantDw, 1e-5, 1e-4)
		})
	})
}

// TestGELUAccuracy measures the kernel's float erfc (gelu.metal) densely over [−10, 10]: GELU and
// its derivative agree with the exact (erf) GELU to within 2e-7·(1 + |x|) and 2e-7 absolutely.
func TestGELUAccuracy(t *testing.T) {
	forEachOrder(t, testGELUAccuracy)
}

func testGELUAccuracy(t *testing.T, b nn.Backend) {
	const N = 20001
	in := make([]float64, N)
	for i := range in {
		in[i] = float64(float32(-10 + 20*float64(i)/(N-1)))
	}
	ones := make([]float64, N)
	for i := range ones {
		ones[i] = 1
	}
	out, din := b.Alloc(N), b.Alloc(N)
	x := up(b, in)
	b.GELUForward(out, x, N)
	b.GELUBackward(din, up(b, ones), x, N)
	got, gotD := down(t, b, out), down(t, b, din)
	want, wantD := make([]float64, N), make([]float64, N)
	nntest.RefGELU(want, in)
	nntest.RefGELUBackward(wantD, ones, in) // GELU'(x), into zeros
	worst, worstD := 0.0, 0.0
	for i, xi := range in {
		e := math.Abs(got[i]-want[i]) / (1 + math.Abs(xi))
		ed := math.Abs(gotD[i] - wantD[i])
		worst, worstD = math.Max(worst, e), math.Max(worstD, ed)
	}
	t.Logf("GELU over [−10, 10]: max |err|/(1+|x|) = %.2e, derivative max |err| = %.2e", worst, worstD)
	require.Less(t, worst, 2e-7)
	require.Less(t, worstD, 2e-7)
}

// TestCrossEntropy covers a vocabulary of one: every loss is 0 and the gradient adds nothing.
func TestCrossEntropy(t *testing.T) {
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		const N, V = 1, 1
		t.Run(fmt.Sprintf("N=%d/V=%d", N, V), func(t *testing.T) {
			rng := rand.New(rand.NewSource(N*1000 + V))
			logits, targets := vec(rng, N*V, 4), make([]int32, N)
			tv, lv := upInt(b, targets), up(b, logits)
			losses := up(b, vec(rng, N, 1))
			b.CrossEntropyForward(losses, lv, tv, N, V)
			wantLoss := make([]float64, N)
			nntest.RefCrossEntropy(wantLoss, logits, targets, N, V)
			requireClose(t, "losses", down(t, b, losses), wantLoss, 1e-5, 1e-5)

			dlosses, dl0 := vec(rng, N, 1), vec(rng, N*V, 1)
			dl := up(b, dl0)
			b.CrossEntropyBackward(dl, up(b, dlosses), lv, tv, N, V)
			want := slices.Clone(dl0)
			nntest.RefCrossEntropyBackward(want, dlosses, logits, targets, N, V)
			requireClose(t, "dlogits", down(t, b, dl), want, 1e-6, 1e-5)
		})
	})
}

// TestEmbed covers a grid of one element: B = T = C = V = 1.
func TestEmbed(t *testing.T) {
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		const B, T, C, V = 1, 1, 1, 1
		t.Run(fmt.Sprintf("B=%d/T=%d/C=%d/V=%d", B, T, C, V), func(t *testing.T) {
			rng := rand.New(rand.NewSource(B*1000 + T*10 + C))
			wte, wpe, tokens := vec(rng, V*C, 1), vec(rng, T*C, 1), make([]int32, B*T)
			tv := upInt(b, tokens)
			out := up(b, vec(rng, B*T*C, 1))
			b.EmbedForward(out, tv, up(b, wte), up(b, wpe), B, T, C)
			want := make([]float64, B*T*C)
			nntest.RefEmbed(want, tokens, wte, wpe, B, T, C)
			requireClose(t, "out", down(t, b, out), want, 0, 1e-7)

			dout, dwte0, dwpe0 := vec(rng, B*T*C, 1), vec(rng, V*C, 1), vec(rng, T*C, 1)
			dwte, dwpe := up(b, dwte0), up(b, dwpe0)
			b.EmbedBackward(dwte, dwpe, up(b, dout), tv, B, T, C)
			wantWte, wantWpe := slices.Clone(dwte0), slices.Clone(dwpe0)
			nntest.RefEmbedBackward(wantWte, wantWpe, dout, tokens, B, T, C)
			requireClose(t, "dwte", down(t, b, dwte), wantWte, 1e-6, 1e-6)
			requireClose(t, "dwpe", down(t, b, dwpe), wantWpe, 1e-6, 1e-6)
		})
	})
}

// TestGradNorm checks that the two-pass reduction gives the same bits on a second call and
// writes nothing past out[0], for one element and for 69 chunks with a ragged last one.
func TestGradNorm(t *testing.T) {
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		for _, N := range []int{1, 70001} {
			t.Run(fmt.Sprintf("N=%d", N), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(N)))
				g := vec(rng, N, 1)
				out := up(b, []float64{-1, 7})
				gv := up(b, g)
				b.GradNorm(out, gv, N)
				got := down(t, b, out)
				requireClose(t, "norm", got[:1], []float64{nntest.RefNorm(g)}, 0, 1e-5)
				require.Equal(t, 7.0, got[1], "GradNorm wrote past out[0]")
				// Deterministic: the same bits again.
				b.GradNorm(out, gv, N)
				require.Equal(t, got[0], down(t, b, out)[0])
			})
		}
	})
}

// TestGradNormManyGroups covers the grid cap: more than 1024 chunks' worth of gradients still
// makes 1024 partial sums, each over a longer chunk.
func TestGradNormManyGroups(t *testing.T) {
	forEachOrder(t, testGradNormManyGroups)
}

func testGradNormManyGroups(t *testing.T, b nn.Backend) {
	N := 1<<20 + 5
	rng := rand.New(rand.NewSource(9))
	g := vec(rng, N, 1)
	out := b.Alloc(1)
	b.GradNorm(out, up(b, g), N)
	requireClose(t, "norm", down(t, b, out), []float64{nntest.RefNorm(g)}, 0, 1e-5)
}
