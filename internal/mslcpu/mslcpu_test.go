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
		for _, order := range []Order{Forward, Reverse, Random} {
			t.Run(fmt.Sprintf("M=%d/N=%d/K=%d/order=%v", m, n, k, order), func(t *testing.T) {
				a, b := randVec(rng, m*k), randVec(rng, k*n)
				out, err := r.Run(Dispatch{
					Kernel: "matmul_tiled", Grid: [3]uint32{ceilDiv(n, 16), ceilDiv(m, 16), 1}, Threadgroup: [3]uint32{16, 16, 1},
					Buffers: map[int][]byte{0: F32(a), 1: F32(b), 2: make([]byte, 4*m*n), 3: U32(uint32(m), uint32(n), uint32(k))},
					Order:   order, Seed: 7,
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
	for _, strict := range []bool{false, true} {
		r := StartFile(t, "testdata/kernels.metal", Options{Strict: strict})
		rng := rand.New(rand.NewSource(3))
		for _, kernel := range []string{"matmul_simdgroup", "matmul_simdgroup_tg"} {
			for _, s := range [][3]int{{32, 48, 24}, {16, 32, 37}} {
				m, n, k := s[0], s[1], s[2]
				if kernel == "matmul_simdgroup" && k%8 != 0 {
					continue // the device-memory version needs K a multiple of 8
				}
				for _, order := range Orders {
					t.Run(fmt.Sprintf("%s/strict=%v/M=%d/N=%d/K=%d/order=%v", kernel, strict, m, n, k, order), func(t *testing.T) {
						a, b := randVec(rng, m*k), randVec(rng, k*n)
						out, err := r.Run(Dispatch{
							Kernel: kernel, Grid: [3]uint32{uint32(n / 16), uint32(m / 16), 1}, Threadgroup: [3]uint32{128, 1, 1},
							Buffers: map[int][]byte{0: F32(a), 1: F32(b), 2: make([]byte, 4*m*n), 3: U32(uint32(m), uint32(n), uint32(k))},
							Order:   order,
						})
						require.NoError(t, err)
						requireClose(t, ToF32(out[2]), refMatmul(a, b, m, n, k), 1e-5)
					})
				}
			}
		}
	}
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
	require.ErrorContains(t, err, "AddressSanitizer: heap-buffer-overflow")
	require.ErrorContains(t, err, "READ of size 4")
	require.ErrorContains(t, err, lineOf(t, "testdata/buggy.metal", "OOB"))
}

func TestStrictAddressSpaces(t *testing.T) {
	NeedCompiler(t)
	// Each snippet mixes up address spaces on the marked line; Metal rejects all of them.
	const head = "#include <metal_stdlib>\nusing namespace metal;\n"
	cases := []struct{ name, src string }{
		{"threadgroup_to_device_param", "static float f(device const float* p) { return p[0]; }\n" +
			"kernel void k(device float* y [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {\n" +
			"    threadgroup float t[4]; t[i] = 1.0f; threadgroup_barrier(mem_flags::mem_threadgroup);\n" +
			"    y[i] = f(t); // MIXUP\n}\n"},
		{"device_to_threadgroup_var", "kernel void k(device float* y [[buffer(0)]]) {\n" +
			"    threadgroup float* p = y; // MIXUP\n    p[0] = 1.0f;\n}\n"},
		{"device_to_thread_param", "static float f(thread const float* p) { return p[0]; }\n" +
			"kernel void k(device float* y [[buffer(0)]]) {\n    y[1] = f(y); // MIXUP\n}\n"},
		{"constant_to_device_param", "static float f(device const float* p) { return p[0]; }\n" +
			"kernel void k(device float* y [[buffer(0)]], constant float* c [[buffer(1)]]) {\n    y[0] = f(c); // MIXUP\n}\n"},
		{"threadgroup_param_to_device", "kernel void k(device float* y [[buffer(0)]], threadgroup float* s [[threadgroup(0)]]) {\n" +
			"    device float* p = s; // MIXUP\n    p[0] = y[0];\n}\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := head + c.src
			line := 1 + strings.Count(src[:strings.Index(src, "// MIXUP")], "\n")
			_, err := BuildSource(c.name+".metal", []byte(src), Options{Strict: true})
			require.ErrorContains(t, err, fmt.Sprintf("%s.metal:%d:", c.name, line), "strict mode must reject the mix-up at its line")
			_, err = BuildSource(c.name+".metal", []byte(src), Options{})
			require.NoError(t, err, "the default (flat) build accepts it")
		})
	}
	t.Run("as_bug.metal", func(t *testing.T) {
		_, err := BuildFile("testdata/as_bug.metal", Options{Strict: true})
		require.ErrorContains(t, err, "as_bug.metal:13:")
	})
	t.Run("matmul_tiled/M=33/N=20/K=40", func(t *testing.T) {
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
	})
}

// TestMissingBarrierCaught shows that a deleted barrier changes results in some thread order:
// the harness runs threads one after another between barriers and poisons threadgroup memory.
func TestMissingBarrierCaught(t *testing.T) {
	r := StartFile(t, "testdata/buggy.metal", Options{})
	t.Run("hidden_race", func(t *testing.T) {
		x := make([]float32, 64)
		for i := range x {
			x[i] = float32(i + 1)
		}
		correct := map[Order]bool{}
		for _, order := range Orders {
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
	})
	t.Run("matmul_tiled_missing_barrier/M=37/N=45/K=50", func(t *testing.T) {
		rng := rand.New(rand.NewSource(8))
		m, n, k := 37, 45, 50
		a, b := randVec(rng, m*k), randVec(rng, k*n)
		want := refMatmul(a, b, m, n, k)
		wrong := 0
		for _, order := range Orders {
			out, err := r.Run(Dispatch{
				Kernel: "matmul_tiled_missing_barrier", Grid: [3]uint32{ceilDiv(n, 16), ceilDiv(m, 16), 1}, Threadgroup: [3]uint32{16, 16, 1},
				Buffers: map[int][]byte{0: F32(a), 1: F32(b), 2: make([]byte, 4*m*n), 3: U32(uint32(m), uint32(n), uint32(k))},
				Order:   order,
			})
			require.NoError(t, err)
			got := ToF32(out[2])
			bad := 0
			for i := range got {
				if !(math.Abs(float64(got[i]-want[i])) <= 1e-4) {
					bad++
				}
			}
			t.Logf("order=%v: %d of %d outputs wrong", order, bad, len(got))
			if bad > 0 {
				wrong++
			}
		}
		require.Positive(t, wrong, "a matmul without its first barrier must fail in some thread order")
	})
}

func TestCompileErrorPointsAtMetalLine(t *testing.T) {
	NeedCompiler(t)
	src := "#include <metal_stdlib>\nusing namespace metal;\n\nkernel void k(device float* y [[buffer(0)]]) {\n    y[0] = undeclared_name;\n}\n"
	_, err := BuildSource("bad.metal", []byte(src), Options{})
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "bad.metal:5:"), "error should point at bad.metal:5, got:\n%v", err)
}
