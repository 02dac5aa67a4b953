package nn_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/kvgpt/kvgpt/nn"
)

// The benchmarks run at the shape of a small GPT: B=8, T=256, C=384, NH=6 (BT=2048 rows).
const (
	benchB, benchT, benchC, benchNH = 8, 256, 384, 6
)

// randView returns a view of n normal samples scaled by std.
func randView(be nn.Backend, n int, std float64) nn.View {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * std)
	}
	v := be.Alloc(n)
	be.Upload(v, x)
	return v
}

// reportFlops reports GFLOP/s for flops floating-point operations per iteration.
func reportFlops(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkMatmul(b *testing.B) {
	N := benchB * benchT
	for _, sz := range [][2]int{{benchC, 3 * benchC}, {benchC, 4 * benchC}, {4 * benchC, benchC}} {
		C, OC := sz[0], sz[1]
		for _, gemm := range []nn.GemmMode{nn.GemmTiles, nn.GemmWhole} {
			be := nn.NewCPUWith(nn.CPUOptions{Gemm: gemm})
			in, w, out := randView(be, N*C, 1), randView(be, OC*C, 0.02), be.Alloc(N*OC)
			din, dw, dout := be.Alloc(N*C), be.Alloc(OC*C), randView(be, N*OC, 1)
			name := fmt.Sprintf("op=matmul/BT=%d/C=%d/OC=%d/gemm=%s", N, C, OC, gemm)
			b.Run(name+"/pass=forward", func(b *testing.B) {
				for b.Loop() {
					be.MatmulForward(out, in, w, N, C, OC)
					_ = be.Sync()
				}
				reportFlops(b, 2*float64(N*C*OC))
			})
			b.Run(name+"/pass=backward", func(b *testing.B) {
				for b.Loop() {
					be.MatmulBackward(din, dw, dout, in, w, N, C, OC)
					_ = be.Sync()
				}
				reportFlops(b, 4*float64(N*C*OC))
			})
			be.Close()
		}
	}
}

func BenchmarkAttention(b *testing.B) {
	B, T, C, NH := benchB, benchT, benchC, benchNH
	N, dh := B*T, C/NH
	// Causal: T(T+1)/2 logits per (b, h); forward has two products over them (q·k, att·v),
	// backward four (datt, dv, dq, dk), each 2·dh flops per logit.
	pairs := float64(B*NH) * float64(T*(T+1)/2)
	for _, mode := range []string{"baseline", "identity"} {
		be := nn.NewCPU(0)
		var q, k, v, dq, dk, dv nn.Strided
		scale := float32(1 / math.Sqrt(float64(dh)))
		col := func(x nn.View, off, stride int) nn.Strided {
			return nn.Strided{V: x.Slice(off, x.N-off), Stride: stride}
		}
		if mode == "baseline" {
			qkv, dqkv := randView(be, N*3*C, 1), be.Alloc(N*3*C)
			q, k, v = col(qkv, 0, 3*C), col(qkv, C, 3*C), col(qkv, 2*C, 3*C)
			dq, dk, dv = col(dqkv, 0, 3*C), col(dqkv, C, 3*C), col(dqkv, 2*C, 3*C)
		} else {
			ln1, kv, dln1, dkv := randView(be, N*C, 1), randView(be, N*2*C, 1), be.Alloc(N*C), be.Alloc(N*2*C)
			q, k, v = col(ln1, 0, C), col(kv, 0, 2*C), col(kv, C, 2*C)
			dq, dk, dv = col(dln1, 0, C), col(dkv, 0, 2*C), col(dkv, C, 2*C)
			scale /= 2
		}
		out, att, datt, dout := be.Alloc(N*C), be.Alloc(B*NH*T*T), be.Alloc(B*NH*T*T), randView(be, N*C, 1)
		be.AttentionForward(out, att, q, k, v, B, T, C, NH, scale)
		name := fmt.Sprintf("op=attention/mode=%s/B=%d/T=%d/C=%d/NH=%d", mode, B, T, C, NH)
		b.Run(name+"/pass=forward", func(b *testing.B) {
			for b.Loop() {
				be.AttentionForward(out, att, q, k, v, B, T, C, NH, scale)
				_ = be.Sync()
			}
			reportFlops(b, 2*2*pairs*float64(dh))
		})
		b.Run(name+"/pass=backward", func(b *testing.B) {
			for b.Loop() {
				be.AttentionBackward(dq, dk, dv, datt, dout, att, q, k, v, B, T, C, NH, scale)
				_ = be.Sync()
			}
			reportFlops(b, 4*2*pairs*float64(dh))
		})
		be.Close()
	}
}

func BenchmarkLayerNorm(b *testing.B) {
	N, C := benchB*benchT, benchC
	be := nn.NewCPU(0)
	defer be.Close()
	in, w, out := randView(be, N*C, 1), randView(be, C, 1), be.Alloc(N*C)
	mean, rstd := be.Alloc(N), be.Alloc(N)
	din, dw, dout := be.Alloc(N*C), be.Alloc(C), randView(be, N*C, 1)
	be.LayerNormForward(out, mean, rstd, in, w, N, C)
	name := fmt.Sprintf("op=layernorm/BT=%d/C=%d", N, C)
	// Counted flops per element: forward 7 (sum, square, normalise, scale), backward 14 (the
	// two row means, din, and dw).
	b.Run(name+"/pass=forward", func(b *testing.B) {
		for b.Loop() {
			be.LayerNormForward(out, mean, rstd, in, w, N, C)
			_ = be.Sync()
		}
		reportFlops(b, 7*float64(N*C))
		b.ReportMetric(2*4*float64(N*C)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
	b.Run(name+"/pass=backward", func(b *testing.B) {
		for b.Loop() {
			be.LayerNormBackward(din, dw, dout, in, w, mean, rstd, N, C)
			_ = be.Sync()
		}
		reportFlops(b, 14*float64(N*C))
		b.ReportMetric(5*4*float64(N*C)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	})
}
