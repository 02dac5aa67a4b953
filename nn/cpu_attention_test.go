package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// refAttention64 is causal attention and its analytic backward in float64, the obvious loops, for
// shapes too large for the finite differences of the conformance suite: T beyond one attention
// block and head sizes beyond one gemm tile. q, k, v are read with row strides; dq, dk, dv are
// accumulated.
func refAttention64(q, k, v []float64, qs, ks, vs int, dout []float64, dq, dk, dv []float64,
	B, T, C, NH int, scale float64) (out []float64) {
	dh := C / NH
	out = make([]float64, B*T*C)
	for b := range B {
		for h := range NH {
			att := make([][]float64, T)
			for t := range T {
				att[t] = make([]float64, t+1)
				mx := math.Inf(-1)
				for s := range t + 1 {
					var d float64
					for i := range dh {
						d += q[(b*T+t)*qs+h*dh+i] * k[(b*T+s)*ks+h*dh+i]
					}
					att[t][s] = scale * d
					mx = max(mx, att[t][s])
				}
				var sum float64
				for s := range t + 1 {
					att[t][s] = math.Exp(att[t][s] - mx)
					sum += att[t][s]
				}
				for s := range t + 1 {
					att[t][s] /= sum
					for i := range dh {
						out[(b*T+t)*C+h*dh+i] += att[t][s] * v[(b*T+s)*vs+h*dh+i]
					}
				}
			}
			for t := range T {
				dp := make([]float64, t+1)
				var dot float64
				for s := range t + 1 {
					for i := range dh {
						g := dout[(b*T+t)*C+h*dh+i]
						dp[s] += g * v[(b*T+s)*vs+h*dh+i]
						dv[(b*T+s)*vs+h*dh+i] += att[t][s] * g
					}
					dot += att[t][s] * dp[s]
				}
				for s := range t + 1 {
					dl := scale * att[t][s] * (dp[s] - dot)
					for i := range dh {
						dq[(b*T+t)*qs+h*dh+i] += dl * k[(b*T+s)*ks+h*dh+i]
						dk[(b*T+s)*ks+h*dh+i] += dl * q[(b*T+t)*qs+h*dh+i]
					}
				}
			}
		}
	}
	return out
}

func TestAttentionLargeShapesMatchReference(t *testing.T) {
	shapes := []struct{ B, T, C, NH int }{{2, 7, 12, 3}, {1, 130, 144, 2}, {2, 64, 64, 4}, {1, 200, 96, 3}}
	for _, gemm := range []GemmMode{GemmTiles, GemmSplit, GemmWhole} {
		for _, s := range shapes {
			for _, identity := range []bool{false, true} {
				mode := map[bool]string{false: "baseline", true: "identity"}[identity]
				t.Run(fmt.Sprintf("gemm=%s/B=%d/T=%d/C=%d/NH=%d/%s", gemm, s.B, s.T, s.C, s.NH, mode), func(t *testing.T) {
					testAttentionAgainstReference(t, gemm, s.B, s.T, s.C, s.NH, identity)
				})
			}
		}
	}
}

func testAttentionAgainstReference(t *testing.T, gemm GemmMode, B, T, C, NH int, identity bool) {
	r := rand.New(rand.NewPCG(uint64(T), uint64(C)))
	randn := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	to64 := func(x []float32) []float64 {
		y := make([]float64, len(x))
		for i, v := range x {
			y[i] = float64(v)
		}
		return y
	}
	N := B * T
	c := NewCPUWith(CPUOptions{Threads: 2, Gemm: gemm})
	defer c.Close()
	// Inputs laid out as the model does: baseline q, k, v in one (N, 3C) buffer; identity q is the
	// (N, C) LN1 output and k, v are in an (N, 2C) buffer.
	qw, kvw := 3*C, 3*C
	qoff, koff, voff := 0, C, 2*C
	if identity {
		qw, kvw, qoff, koff, voff = C, 2*C, 0, 0, C
	}
	qbuf, kvbuf := randn(N*qw), randn(N*kvw)
	if !identity {
		kvbuf = qbuf
	}
	dqbuf, dkvbuf := randn(N*qw), randn(N*kvw) // pre-filled: backward must accumulate
	if !identity {
		dkvbuf = dqbuf
	}
	upload := func(x []float32) View { v := c.Alloc(len(x)); c.Upload(v, x); return v }
	qv, kvv, dqv, dkvv := upload(qbuf), upload(kvbuf), upload(dqbuf), upload(dkvbuf)
	if !identity {
		kvv, dkvv = qv, dqv
	}
	st := func(x View, off, stride int) Strided { return Strided{V: x.Slice(off, x.N-off), Stride: stride} }
	scale := float32(1 / math.Sqrt(float64(C/NH)))
	out, att := c.Alloc(N*C), upload(randn(B*NH*T*T))
	c.AttentionForward(out, att, st(qv, qoff, qw), st(kvv, koff, kvw), st(kvv, voff, kvw), B, T, C, NH, scale)
	dout := randn(N * C)
	c.AttentionBackward(st(dqv, qoff, qw), st(dkvv, koff, kvw), st(dkvv, voff, kvw), upload(randn(B*NH*T*T)),
		upload(dout), att, st(qv, qoff, qw), st(kvv, koff, kvw), st(kvv, voff, kvw), B, T, C, NH, scale)

	q64, kv64, dq64, dkv64 := to64(qbuf), to64(kvbuf), to64(dqbuf), to64(dkvbuf)
	if !identity {
		kv64, dkv64 = q64, dq64
	}
	want := refAttention64(q64[qoff:], kv64[koff:], kv64[voff:], qw, kvw, kvw, to64(dout),
		dq64[qoff:], dkv64[koff:], dkv64[voff:], B, T, C, NH, float64(scale))

	check := func(name string, got []float32, want []float64) {
		t.Helper()
		worst, at := 0.0, 0
		for i := range want {
			if d := math.Abs(float64(got[i])-want[i]) / (1e-4 + 1e-4*math.Abs(want[i])); d > worst {
				worst, at = d, i
			}
		}
		require.LessOrEqual(t, worst, 1.0, "%s: element %d got %g want %g", name, at, got[at], want[at])
	}
	got := make([]float32, N*C)
	c.Download(got, out)
	check("out", got, want)
	gq := make([]float32, N*qw)
	c.Download(gq, dqv)
	check("dq (dqkv or dln1)", gq, dq64)
	if identity {
		gkv := make([]float32, N*kvw)
		c.Download(gkv, dkvv)
		check("dkv", gkv, dkv64)
	}
}
