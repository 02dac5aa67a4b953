package mslcpu

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func randVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = rng.Float32()*2 - 1
	}
	return v
}

// refMatmul is the naive float64-accumulated C = A·B, A (M, K), B (K, N), C (M, N).
func refMatmul(a, b []float32, m, n, k int) []float32 {
	c := make([]float32, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for x := 0; x < k; x++ {
				s += float64(a[i*k+x]) * float64(b[x*n+j])
			}
			c[i*n+j] = float32(s)
		}
	}
	return c
}

// requireClose fails with the worst index when got and want differ by more than tol·(1+|want|).
func requireClose(t *testing.T, got, want []float32, tol float64) {
	t.Helper()
	require.Len(t, got, len(want))
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(float64(got[i])) {
			d = math.Inf(1)
		}
		if r := d / (1 + math.Abs(float64(want[i]))); r > worst {
			worst, at = r, i
		}
	}
	require.LessOrEqualf(t, worst, tol, "max scaled error %.3g at [%d]: got %v want %v", worst, at, got[max(at, 0)], want[max(at, 0)])
}

func ceilDiv(a, b int) uint32 { return uint32((a + b - 1) / b) }

func TestMatmulTiled(t *testing.T) {
	r := StartFile(t, "testdata/kernels.metal", Options{})
	rng := rand.New(rand.NewSource(1))
	for _, s := range [][3]int{{16, 16, 16}, {37, 45, 50}, {64, 8, 130}} {
		m, n, k := s[0], s[1], s[2]
		for _, order := range Orders {
			t.Run(fmt.Sprintf("M=%d/N=%d/K=%d/order=%v", m, n, k, order), func(t *testing.T) {
				a, b := randVec(rng, m*k), randVec(rng, k*n)
				out, err := r.Run(Dispatch{
					Kernel: "matmul_tiled", Grid: [3]uint32{ceilDiv(n, 16), ceilDiv(m, 16), 1}, Threadgroup: [3]uint32{16, 16, 1},
					Buffers: map[int][]byte{0: F32(a), 1: F32(b), 2: make([]byte, 4*m*n), 3: U32(uint32(m), uint32(n), uint32(k))},
					Order:   order,
				})
				require.NoError(t, err)
				requireClose(t, ToF32(out[2]), refMatmul(a, b, m, n, k), 1e-5)
			})
		}
	}
}

func TestSoftmaxSimdReductions(t *testing.T) {
	r := StartFile(t, "testdata/kernels.metal", Options{})
	rng := rand.New(rand.NewSource(2))
	for _, tg := range []uint32{256, 96, 32, 1024} {
		rows, cols := 7, 1000
		t.Run(fmt.Sprintf("rows=%d/cols=%d/tg=%d", rows, cols, tg), func(t *testing.T) {
			x := randVec(rng, rows*cols)
			for i := range x {
				x[i] *= 20
			}
			out, err := r.Run(Dispatch{
				Kernel: "softmax_rows", Grid: [3]uint32{uint32(rows), 1, 1}, Threadgroup: [3]uint32{tg, 1, 1},
				Buffers:      map[int][]byte{0: F32(x), 1: make([]byte, 4*rows*cols), 2: U32(uint32(cols))},
				TGMemLengths: map[int]int{0: 32 * 4},
				Order:        Reverse,
			})
			require.NoError(t, err)
			want := make([]float32, rows*cols)
			for i := 0; i < rows; i++ {
				m := math.Inf(-1)
				for j := 0; j < cols; j++ {
					m = math.Max(m, float64(x[i*cols+j]))
				}
				s := 0.0
				for j := 0; j < cols; j++ {
					s += math.Exp(float64(x[i*cols+j]) - m)
				}
				for j := 0; j < cols; j++ {
					want[i*cols+j] = float32(math.Exp(float64(x[i*cols+j])-m) / s)
				}
			}
			requireClose(t, ToF32(out[1]), want, 1e-5)
		})
	}
}

func TestMatmulSimdgroup(t *testing.T) {
	r := StartFile(t, "testdata/kernels.metal", Options{})
	rng := rand.New(rand.NewSource(3))
	m, n, k := 32, 48, 24
	a, b := randVec(rng, m*k), randVec(rng, k*n)
	out, err := r.Run(Dispatch{
		Kernel: "matmul_simdgroup", Grid: [3]uint32{uint32(n / 16), uint32(m / 16), 1}, Threadgroup: [3]uint32{128, 1, 1},
		Buffers: map[int][]byte{0: F32(a), 1: F32(b), 2: make([]byte, 4*m*n), 3: U32(uint32(m), uint32(n), uint32(k))},
	})
	require.NoError(t, err)
	requireClose(t, ToF32(out[2]), refMatmul(a, b, m, n, k), 1e-5)
}

func TestActiveLaneSemantics(t *testing.T) {
	r := StartFile(t, "testdata/kernels.metal", Options{})
	x := make([]float32, 64)
	for i := range x {
		x[i] = float32(i + 1)
	}
	out, err := r.Run(Dispatch{Kernel: "partial_simd_sum", Grid: [3]uint32{1, 1, 1}, Threadgroup: [3]uint32{64, 1, 1},
		Buffers: map[int][]byte{0: F32(x), 1: make([]byte, 8), 2: U32(40)}})
	require.NoError(t, err)
	// simdgroup 0 sums 1..32 = 528; in simdgroup 1 only the lanes of gid 32..39 are active: 33..40 = 292.
	require.Equal(t, []float32{528, 292}, ToF32(out[1]))
}

func TestBarrierDivergenceDetected(t *testing.T) {
	r := StartFile(t, "testdata/buggy.metal", Options{})
	_, err := r.Run(Dispatch{Kernel: "barrier_divergence", Grid: [3]uint32{1, 1, 1}, Threadgroup: [3]uint32{64, 1, 1},
		Buffers: map[int][]byte{0: make([]byte, 4*64)}})
	require.ErrorContains(t, err, "threadgroup_barrier divergence")
	t.Log(err)
}

func TestOutOfBoundsReadCaughtByASan(t *testing.T) {
	r := StartFile(t, "testdata/buggy.metal", Options{ASan: true})
	_, err := r.Run(Dispatch{Kernel: "oob_read", Grid: [3]uint32{16, 1, 1}, Threads: true, Threadgroup: [3]uint32{16, 1, 1},
		Buffers: map[int][]byte{0: make([]byte, 4*16), 1: make([]byte, 4*16)}})
	require.ErrorContains(t, err, "heap-buffer-overflow")
	require.ErrorContains(t, err, "buggy.metal:21")
}

func TestStrictAddressSpaces(t *testing.T) {
	r := StartFile(t, "testdata/kernels.metal", Options{Strict: true})
	rng := rand.New(rand.NewSource(4))
	m, n, k := 33, 20, 40
	a, b := randVec(rng, m*k), randVec(rng, k*n)
	out, err := r.Run(Dispatch{
		Kernel: "matmul_tiled", Grid: [3]uint32{ceilDiv(n, 16), ceilDiv(m, 16), 1}, Threadgroup: [3]uint32{16, 16, 1},
		Buffers: map[int][]byte{0: F32(a), 1: F32(b), 2: make([]byte, 4*m*n), 3: U32(uint32(m), uint32(n), uint32(k))},
	})
	require.NoError(t, err)
	requireClose(t, ToF32(out[2]), refMatmul(a, b, m, n, k), 1e-5)

	_, err = BuildFile("testdata/as_bug.metal", Options{Strict: true})
	require.ErrorContains(t, err, "as_bug.metal:13")
	_, err = BuildFile("testdata/as_bug.metal", Options{})
	require.NoError(t, err, "without strict mode the mix-up compiles")
}

func TestMissingBarrierCaughtByReverseOrder(t *testing.T) {
	NeedCompiler(t)
	p, err := BuildFile("testdata/buggy.metal", Options{})
	require.NoError(t, err)
	x := make([]float32, 64)
	for i := range x {
		x[i] = float32(i + 1)
	}
	correct := map[Order]bool{}
	for _, order := range Orders {
		r, err := p.Start()
		require.NoError(t, err)
		defer r.Close()
		out, err := r.Run(Dispatch{Kernel: "hidden_race", Grid: [3]uint32{1, 1, 1}, Threadgroup: [3]uint32{64, 1, 1},
			Buffers: map[int][]byte{0: F32(x), 1: make([]byte, 4*64)}, Order: order})
		require.NoError(t, err)
		y := ToF32(out[1])
		ok := true
		for i := 1; i < 64; i++ {
			ok = ok && y[i] == float32(i)
		}
		correct[order] = ok
	}
	require.Equal(t, map[Order]bool{Forward: true, Reverse: false}, correct, "the race must show in reverse order only")
}

func TestCompileErrorPointsAtMetalLine(t *testing.T) {
	NeedCompiler(t)
	src := "#include <metal_stdlib>\nusing namespace metal;\n\nkernel void k(device float* y [[buffer(0)]]) {\n    y[0] = undeclared_name;\n}\n"
	_, err := BuildSource("bad.metal", []byte(src), Options{})
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "bad.metal:5:"), "error should point at bad.metal:5, got:\n%v", err)
}
