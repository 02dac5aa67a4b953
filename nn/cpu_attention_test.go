package nn_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

// TestAttentionTileEdges runs the CPU backend's attention, in every gemm mode and both layouts,
// against nntest's float64 references on the two edges of its 64-row query blocks and 64-wide
// product tiles (kernels_attention.go) that the conformance suite's tiers leave out: a sequence
// of exactly one block (T = 64), and heads wider than one tile (dh = 72) over a ragged third block.
func TestAttentionTileEdges(t *testing.T) {
	shapes := []struct{ B, T, C, NH int }{{2, 64, 64, 4}, {1, 130, 144, 2}}
	for _, gemm := range []nn.GemmMode{nn.GemmTiles, nn.GemmSplit, nn.GemmWhole} {
		for _, s := range shapes {
			for _, identity := range []bool{false, true} {
				mode := map[bool]string{false: "baseline", true: "identity"}[identity]
				t.Run(fmt.Sprintf("gemm=%s/mode=%s/B=%d/T=%d/C=%d/NH=%d", gemm, mode, s.B, s.T, s.C, s.NH), func(t *testing.T) {
					testAttentionAgainstReference(t, gemm, s.B, s.T, s.C, s.NH, identity)
				})
			}
		}
	}
}

func testAttentionAgainstReference(t *testing.T, gemm nn.GemmMode, B, T, C, NH int, identity bool) {
	r := rand.New(rand.NewPCG(uint64(T), uint64(C)))
	randn := func(n int) []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = float64(float32(r.NormFloat64()))
		}
		return x
	}
	N := B * T
	c := nn.NewCPUWith(nn.CPUOptions{Threads: 2, Gemm: gemm})
	defer c.Close()
	// Inputs laid out as the model does: baseline q, k, v are columns of one (N, 3C) buffer;
	// identity q is the (N, C) LN1 output and k, v are columns of an (N, 2C) buffer.
	qw, kvw := 3*C, 3*C
	qoff, koff, voff := 0, C, 2*C
	if identity {
		qw, kvw, qoff, koff, voff = C, 2*C, 0, 0, C
	}
	qbuf, kvbuf := randn(N*qw), randn(N*kvw)
	dqbuf, dkvbuf := randn(N*qw), randn(N*kvw) // pre-filled: backward must accumulate
	if !identity {
		kvbuf, dkvbuf = qbuf, dqbuf
	}
	upload := func(x []float64) nn.View {
		v := c.Alloc(len(x))
		c.Upload(v, f32(x))
		return v
	}
	qv, kvv, dqv, dkvv := upload(qbuf), upload(kvbuf), upload(dqbuf), upload(dkvbuf)
	if !identity {
		kvv, dkvv = qv, dqv
	}
	st := func(x nn.View, off, stride int) nn.Strided {
		return nn.Strided{V: x.Slice(off, x.N-off), Stride: stride}
	}
	scale := float32(1 / math.Sqrt(float64(C/NH)))
	out, att := c.Alloc(N*C), upload(randn(B*NH*T*T))
	c.AttentionForward(out, att, st(qv, qoff, qw), st(kvv, koff, kvw), st(kvv, voff, kvw), B, T, C, NH, scale)
	dout := randn(N * C)
	c.AttentionBackward(st(dqv, qoff, qw), st(dkvv, koff, kvw), st(dkvv, voff, kvw), upload(randn(B*NH*T*T)),
		upload(dout), att, st(qv, qoff, qw), st(kvv, koff, kvw), st(kvv, voff, kvw), B, T, C, NH, scale)

	// The reference accumulates into copies of the pre-filled gradients, laid out alike.
	wantDq, wantDkv := append([]float64(nil), dqbuf...), append([]float64(nil), dkvbuf...)
	if !identity {
		wantDkv = wantDq
	}
	ref := func(x []float64, off, stride int) nntest.Strided {
		return nntest.Strided{Data: x, Off: off, Stride: stride}
	}
	wantOut, wantAtt := make([]float64, N*C), make([]float64, B*NH*T*T)
	nntest.RefAttention(wantOut, wantAtt, ref(qbuf, qoff, qw), ref(kvbuf, koff, kvw), ref(kvbuf, voff, kvw), B, T, C, NH, float64(scale))
	nntest.RefAttentionBackward(ref(wantDq, qoff, qw), ref(wantDkv, koff, kvw), ref(wantDkv, voff, kvw), dout, wantAtt,
		ref(qbuf, qoff, qw), ref(kvbuf, koff, kvw), ref(kvbuf, voff, kvw), B, T, C, NH, float64(scale))

	check := func(name string, v nn.View, want []float64) {
		t.Helper()
		got := make([]float32, v.N)
		c.Download(got, v)
		worst, at := 0.0, 0
		for i := range want {
			if d := math.Abs(float64(got[i])-want[i]) / (1e-4 + 1e-4*math.Abs(want[i])); d > worst {
				worst, at = d, i
			}
		}
		require.LessOrEqual(t, worst, 1.0, "%s: element %d got %g want %g", name, at, got[at], want[at])
	}
	check("out", out, wantOut)
	check("att", att, wantAtt)
	check("dq (dqkv or dln1)", dqv, wantDq)
	if identity {
		check("dkv", dkvv, wantDkv)
	}
}

// f32 returns x rounded to float32.
func f32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}
