package shaders_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/internal/mslcpu"
	"github.com/kvgpt/kvgpt/nn"
)

// Every op of shaders.Ops, run through the harness in forward and reverse thread order and
// compared with the float64 references of ref_test.go, on shapes that are not tile multiples.

// forEachOrder runs fn on a fresh harness backend per thread order.
func forEachOrder(t *testing.T, fn func(t *testing.T, b nn.Backend)) {
	for _, order := range mslcpu.Orders {
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

func add(a, b []float64) []float64 {
	c := clone(a)
	for i := range b {
		c[i] += b[i]
	}
	return c
}

func TestMatmul(t *testing.T) {
	shapes := [][3]int{{37, 45, 50}, {64, 64, 64}, {5, 3, 7}, {130, 17, 72}}
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		for _, s := range shapes {
			N, C, OC := s[0], s[1], s[2]
			t.Run(fmt.Sprintf("N=%d/C=%d/OC=%d", N, C, OC), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(N*10000 + C*100 + OC)))
				in, w := vec(rng, N*C, 1), vec(rng, OC*C, 1)
				out := up(b, vec(rng, N*OC, 5)) // garbage: forward overwrites
				b.MatmulForward(out, up(b, in), up(b, w), N, C, OC)
				requireClose(t, "out", down(t, b, out), refMatmul(in, w, N, C, OC), 1e-5, 1e-5)

				dout, din0, dw0 := vec(rng, N*OC, 1), vec(rng, N*C, 1), vec(rng, OC*C, 1)
				din, dw := up(b, din0), up(b, dw0)
				b.MatmulBackward(din, dw, up(b, dout), up(b, in), up(b, w), N, C, OC)
				wantDin, wantDw := refMatmulBackward(din0, dw0, dout, in, w, N, C, OC)
				requireClose(t, "din", down(t, b, din), wantDin, 1e-5, 1e-5)
				requireClose(t, "dw", down(t, b, dw), wantDw, 1e-5, 1e-5)
			})
		}
	})
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

func TestAttention(t *testing.T) {
	shapes := [][4]int{{2, 37, 48, 3}, {1, 70, 32, 2}, {1, 1, 8, 1}, {2, 9, 16, 4}}
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
	wantOut, wantAtt := refAttention(q, k, v, B, T, C, NH, scale)
	requireClose(t, "out", down(t, b, out), wantOut, 1e-5, 1e-4)
	requireClose(t, "att", down(t, b, att), wantAtt, 1e-6, 1e-4)

	// Gradients start non-zero (backward accumulates); in the baseline layout dq, dk, dv share
	// one buffer, in the identity layout dq is the LN1 output gradient.
	dq0, dk0, dv0 := vec(rng, BT*C, 1), vec(rng, BT*C, 1), vec(rng, BT*C, 1)
	grads := layout(b, mode, dq0, dk0, dv0, BT, C)
	dout := vec(rng, BT*C, 1)
	b.AttentionBackward(grads.q, grads.k, grads.v, up(b, nan), up(b, dout), att, in.q, in.k, in.v, B, T, C, NH, float32(scale))
	gq, gk, gv := refAttentionBackward(dout, wantAtt, q, k, v, B, T, C, NH, scale)
	dq, dk, dv := grads.dense(t, b, BT, C)
	requireClose(t, "dq", dq, add(dq0, gq), 1e-5, 1e-4)
	requireClose(t, "dk", dk, add(dk0, gk), 1e-5, 1e-4)
	requireClose(t, "dv", dv, add(dv0, gv), 1e-5, 1e-4)
	// The inputs are untouched.
	gotQ, gotK, gotV := in.dense(t, b, BT, C)
	require.Equal(t, q, gotQ)
	require.Equal(t, k, gotK)
	require.Equal(t, v, gotV)
}

func TestLayerNorm(t *testing.T) {
	shapes := [][2]int{{37, 45}, {5, 70}, {1, 1}, {40, 768}}
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		for _, s := range shapes {
			N, C := s[0], s[1]
			t.Run(fmt.Sprintf("N=%d/C=%d", N, C), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(N*1000 + C)))
				in, w := vec(rng, N*C, 2), vec(rng, C, 1)
				for i := range in {
					in[i] += 0.5 // a non-zero mean
				}
				out, mean, rstd := up(b, vec(rng, N*C, 1)), b.Alloc(N), b.Alloc(N)
				b.LayerNormForward(out, mean, rstd, up(b, in), up(b, w), N, C)
				wantOut, wantMean, wantRstd := refLayerNorm(in, w, N, C)
				requireClose(t, "out", down(t, b, out), wantOut, 1e-5, 1e-4)
				requireClose(t, "mean", down(t, b, mean), wantMean, 1e-6, 1e-5)
				requireClose(t, "rstd", down(t, b, rstd), wantRstd, 1e-6, 1e-4)

				dout, din0, dw0 := vec(rng, N*C, 1), vec(rng, N*C, 1), vec(rng, C, 1)
				din, dw := up(b, din0), up(b, dw0)
				b.LayerNormBackward(din, dw, up(b, dout), up(b, in), up(b, w), mean, rstd, N, C)
				wantDin, wantDw := refLayerNormBackward(din0, dw0, dout, in, w, N, C)
				requireClose(t, "din", down(t, b, din), wantDin, 1e-5, 1e-4)
				requireClose(t, "dw", down(t, b, dw), wantDw, 1e-5, 1e-4)
			})
		}
	})
}

func TestGELU(t *testing.T) {
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		for _, N := range []int{1, 1000, 257} {
			t.Run(fmt.Sprintf("N=%d", N), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(N)))
				in, dout, din0 := vec(rng, N, 5), vec(rng, N, 1), vec(rng, N, 1)
				out := up(b, vec(rng, N, 1))
				b.GELUForward(out, up(b, in), N)
				want, wantDin := make([]float64, N), clone(din0)
				for i, x := range in {
					want[i] = refGELU(x)
					wantDin[i] += dout[i] * refGELUGrad(x)
				}
				requireClose(t, "out", down(t, b, out), want, 1e-6, 1e-5)
				din := up(b, din0)
				b.GELUBackward(din, up(b, dout), up(b, in), N)
				requireClose(t, "din", down(t, b, din), wantDin, 1e-6, 1e-5)
			})
		}
	})
}

// TestGELUAccuracy measures the kernel's float erfc (gelu.metal) densely over [−10, 10]: GELU and
// its derivative agree with math.Erfc to within 2e-7·(1 + |x|) absolutely.
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
	worst, worstD := 0.0, 0.0
	for i, xi := range in {
		e := math.Abs(got[i]-refGELU(xi)) / (1 + math.Abs(xi))
		ed := math.Abs(gotD[i] - refGELUGrad(xi))
		worst, worstD = math.Max(worst, e), math.Max(worstD, ed)
	}
	t.Logf("GELU over [−10, 10]: max |err|/(1+|x|) = %.2e, derivative max |err| = %.2e", worst, worstD)
	require.Less(t, worst, 2e-7)
	require.Less(t, worstD, 2e-7)
}

func TestResidual(t *testing.T) {
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		for _, N := range []int{1, 1000} {
			t.Run(fmt.Sprintf("N=%d", N), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(N)))
				a, c, dout, da0, db0 := vec(rng, N, 1), vec(rng, N, 1), vec(rng, N, 1), vec(rng, N, 1), vec(rng, N, 1)
				out := up(b, vec(rng, N, 1))
				b.ResidualForward(out, up(b, a), up(b, c), N)
				requireClose(t, "out", down(t, b, out), add(a, c), 0, 1e-7)
				da, db := up(b, da0), up(b, db0)
				b.ResidualBackward(da, db, up(b, dout), N)
				requireClose(t, "da", down(t, b, da), add(da0, dout), 0, 1e-7)
				requireClose(t, "db", down(t, b, db), add(db0, dout), 0, 1e-7)
			})
		}
	})
}

func TestCrossEntropy(t *testing.T) {
	shapes := [][2]int{{7, 300}, {37, 65}, {1, 1}, {3, 256}}
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		for _, s := range shapes {
			N, V := s[0], s[1]
			t.Run(fmt.Sprintf("N=%d/V=%d", N, V), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(N*1000 + V)))
				logits := vec(rng, N*V, 4)
				targets := make([]int32, N)
				for i := range targets {
					targets[i] = int32(rng.Intn(V))
				}
				tv := upInt(b, targets)
				lv := up(b, logits)
				losses := up(b, vec(rng, N, 1))
				b.CrossEntropyForward(losses, lv, tv, N, V)
				wantLoss, probs := refCrossEntropy(logits, targets, N, V)
				requireClose(t, "losses", down(t, b, losses), wantLoss, 1e-5, 1e-5)

				dlosses, dl0 := vec(rng, N, 1), vec(rng, N*V, 1)
				want := clone(dl0)
				for n := 0; n < N; n++ {
					for v := 0; v < V; v++ {
						g := probs[n*V+v]
						if v == int(targets[n]) {
							g--
						}
						want[n*V+v] += dlosses[n] * g
					}
				}
				dl := up(b, dl0)
				b.CrossEntropyBackward(dl, up(b, dlosses), lv, tv, N, V)
				requireClose(t, "dlogits", down(t, b, dl), want, 1e-6, 1e-5)
			})
		}
	})
}

func TestEmbed(t *testing.T) {
	shapes := [][4]int{{2, 5, 12, 11}, {3, 7, 40, 5}, {1, 1, 1, 1}} // B, T, C, V
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		for _, s := range shapes {
			B, T, C, V := s[0], s[1], s[2], s[3]
			t.Run(fmt.Sprintf("B=%d/T=%d/C=%d/V=%d", B, T, C, V), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(B*1000 + T*10 + C)))
				Tmax := T + 2 // wpe may hold more positions than T
				wte, wpe := vec(rng, V*C, 1), vec(rng, Tmax*C, 1)
				tokens := make([]int32, B*T)
				for i := range tokens {
					tokens[i] = int32(rng.Intn(V)) // with repeats: V is small
				}
				tv := upInt(b, tokens)
				out := up(b, vec(rng, B*T*C, 1))
				b.EmbedForward(out, tv, up(b, wte), up(b, wpe), B, T, C)
				want := make([]float64, B*T*C)
				for i, tok := range tokens {
					for c := 0; c < C; c++ {
						want[i*C+c] = wte[int(tok)*C+c] + wpe[(i%T)*C+c]
					}
				}
				requireClose(t, "out", down(t, b, out), want, 0, 1e-7)

				dout, dwte0, dwpe0 := vec(rng, B*T*C, 1), vec(rng, V*C, 1), vec(rng, Tmax*C, 1)
				wantWte, wantWpe := clone(dwte0), clone(dwpe0)
				for i, tok := range tokens {
					for c := 0; c < C; c++ {
						wantWte[int(tok)*C+c] += dout[i*C+c]
						wantWpe[(i%T)*C+c] += dout[i*C+c]
					}
				}
				dwte, dwpe := up(b, dwte0), up(b, dwpe0)
				b.EmbedBackward(dwte, dwpe, up(b, dout), tv, B, T, C)
				requireClose(t, "dwte", down(t, b, dwte), wantWte, 1e-6, 1e-6)
				requireClose(t, "dwpe", down(t, b, dwpe), wantWpe, 1e-6, 1e-6)
			})
		}
	})
}

func TestAdamW(t *testing.T) {
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		for _, N := range []int{1000, 1} {
			t.Run(fmt.Sprintf("N=%d", N), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(N)))
				p, g, m := vec(rng, N, 1), vec(rng, N, 1), vec(rng, N, 0.1)
				v := vec(rng, N, 0.01)
				decay := make([]float64, N)
				for i := range v {
					v[i] = math.Abs(v[i])
					decay[i] = float64(rng.Intn(2))
				}
				h := nn.AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, GradScale: 0.5, Step: 3}
				pv, mv, vv := up(b, p), up(b, m), up(b, v)
				b.AdamW(pv, mv, vv, up(b, g), up(b, decay), N, h)
				wp, wm, wv := refAdamW(p, m, v, g, decay, 1e-3, float64(float32(0.9)), float64(float32(0.95)), float64(float32(1e-8)), float64(float32(0.1)), 0.5, 3)
				requireClose(t, "params", down(t, b, pv), wp, 1e-7, 1e-6)
				requireClose(t, "m", down(t, b, mv), wm, 1e-7, 1e-5)
				requireClose(t, "v", down(t, b, vv), wv, 1e-9, 1e-5)
			})
		}
	})
}

func TestGradNorm(t *testing.T) {
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		for _, N := range []int{1, 1000, 5000, 70001} {
			t.Run(fmt.Sprintf("N=%d", N), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(N)))
				g := vec(rng, N, 1)
				want := 0.0
				for _, x := range g {
					want += x * x
				}
				out := up(b, []float64{-1, 7})
				gv := up(b, g)
				b.GradNorm(out, gv, N)
				got := down(t, b, out)
				requireClose(t, "norm", got[:1], []float64{math.Sqrt(want)}, 0, 1e-5)
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
	want := 0.0
	for _, x := range g {
		want += x * x
	}
	out := b.Alloc(1)
	b.GradNorm(out, up(b, g), N)
	requireClose(t, "norm", down(t, b, out), []float64{math.Sqrt(want)}, 0, 1e-5)
}

func TestZero(t *testing.T) {
	forEachOrder(t, func(t *testing.T, b nn.Backend) {
		rng := rand.New(rand.NewSource(1))
		x := vec(rng, 1000, 1)
		v := up(b, x)
		b.Zero(v.Slice(3, 990))
		got := down(t, b, v)
		for i, xi := range got {
			if i >= 3 && i < 993 {
				require.Zero(t, xi, "element %d", i)
			} else {
				require.Equal(t, x[i], xi, "element %d outside the view", i)
			}
		}
	})
}
