package mslcpu

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestThreadgroupMemoryLimit(t *testing.T) {
	r := StartFile(t, "testdata/limits.metal", Options{})
	one := [3]uint32{1, 1, 1}
	t.Run("declared=32768/dynamic=0", func(t *testing.T) {
		out, err := r.Run(Dispatch{Kernel: "tg_exactly_32k", Grid: one, Threadgroup: [3]uint32{64, 1, 1},
			Buffers: map[int][]byte{0: make([]byte, 4*64)}})
		require.NoError(t, err, "exactly 32 KiB is allowed")
		require.Equal(t, float32(63), ToF32(out[0])[0])
	})
	t.Run("declared=32768/dynamic=16", func(t *testing.T) {
		_, err := r.Run(Dispatch{Kernel: "tg_32k_plus_dynamic", Grid: one, Threadgroup: [3]uint32{64, 1, 1},
			Buffers: map[int][]byte{0: make([]byte, 4*64)}, TGMemLengths: map[int]int{0: 16}})
		require.ErrorContains(t, err, "threadgroup memory of 32784 bytes exceeds the 32768-byte limit")
		require.ErrorContains(t, err, "big (32768 B)")
	})
	t.Run("declared=33040", func(t *testing.T) {
		_, err := r.Run(Dispatch{Kernel: "tg_over_32k", Grid: one, Threadgroup: [3]uint32{64, 1, 1},
			Buffers: map[int][]byte{0: make([]byte, 4*64)}})
		require.ErrorContains(t, err, "exceeds the 32768-byte limit")
		require.ErrorContains(t, err, "declared 32784 [a (16384 B), b (16400 B)]")
	})
	t.Run("dynamic=32784", func(t *testing.T) {
		_, err := r.Run(Dispatch{Kernel: "copy", Grid: one, Threadgroup: [3]uint32{1, 1, 1},
			TGMemLengths: map[int]int{0: 16384, 1: 16400}})
		require.ErrorContains(t, err, "dynamic threadgroup memory of 32784 bytes exceeds the 32768-byte limit")
	})
	t.Run("dynamic=100", func(t *testing.T) {
		_, err := r.Run(Dispatch{Kernel: "copy", Grid: one, Threadgroup: [3]uint32{1, 1, 1}, TGMemLengths: map[int]int{0: 100}})
		require.ErrorContains(t, err, "not a multiple of 16")
	})
}

func TestThreadsPerThreadgroupLimit(t *testing.T) {
	r := StartFile(t, "testdata/limits.metal", Options{})
	_, err := r.Run(Dispatch{Kernel: "small_groups_only", Grid: [3]uint32{1, 1, 1}, Threadgroup: [3]uint32{32, 32, 2},
		Buffers: map[int][]byte{0: make([]byte, 4*2048)}})
	require.ErrorContains(t, err, "has 2048 threads; Metal allows at most 1024")
	_, err = r.Run(Dispatch{Kernel: "small_groups_only", Grid: [3]uint32{1, 1, 1}, Threadgroup: [3]uint32{128, 1, 1},
		Buffers: map[int][]byte{0: make([]byte, 4*128)}})
	require.ErrorContains(t, err, "exceeds the kernel's [[max_total_threads_per_threadgroup(64)]]")
	out, err := r.Run(Dispatch{Kernel: "small_groups_only", Grid: [3]uint32{2, 1, 1}, Threadgroup: [3]uint32{64, 1, 1},
		Buffers: map[int][]byte{0: make([]byte, 4*128)}})
	require.NoError(t, err)
	require.Equal(t, float32(127), ToF32(out[0])[127])
}

func TestUninitialisedThreadgroupMemoryIsNaN(t *testing.T) {
	r := StartFile(t, "testdata/limits.metal", Options{})
	for _, order := range Orders {
		out, err := r.Run(Dispatch{Kernel: "tg_uninitialised", Grid: [3]uint32{3, 1, 1}, Threadgroup: [3]uint32{64, 1, 1},
			Buffers: map[int][]byte{0: make([]byte, 4*64)}, Order: order})
		require.NoError(t, err)
		y := ToF32(out[0])
		require.Equal(t, float32(1), y[31], "order=%v", order)
		require.True(t, math.IsNaN(float64(y[32])), "order=%v: unwritten threadgroup memory must read as NaN, got %v", order, y[32])
	}
}

func TestBarrierAtTwoSitesDetected(t *testing.T) {
	r := StartFile(t, "testdata/limits.metal", Options{})
	_, err := r.Run(Dispatch{Kernel: "barrier_two_sites", Grid: [3]uint32{1, 1, 1}, Threadgroup: [3]uint32{32, 1, 1},
		Buffers: map[int][]byte{0: make([]byte, 4*32)}})
	require.ErrorContains(t, err, "threads wait at different barriers")
	require.ErrorContains(t, err, lineOf(t, "testdata/limits.metal", "SITE1"))
	require.ErrorContains(t, err, lineOf(t, "testdata/limits.metal", "SITE2"))
}

func TestUnboundBufferReported(t *testing.T) {
	r := StartFile(t, "testdata/limits.metal", Options{})
	_, err := r.Run(Dispatch{Kernel: "copy", Grid: [3]uint32{4, 1, 1}, Threads: true, Threadgroup: [3]uint32{4, 1, 1},
		Buffers: map[int][]byte{0: make([]byte, 16), 2: U32(4, 0, 0, 0)}})
	require.ErrorContains(t, err, "buffer(1) for parameter 'y' is not bound")
	_, err = r.Run(Dispatch{Kernel: "copy", Grid: [3]uint32{4, 1, 1}, Threads: true, Threadgroup: [3]uint32{4, 1, 1},
		Buffers: map[int][]byte{0: make([]byte, 16), 1: make([]byte, 16), 2: U32(4)}})
	require.ErrorContains(t, err, "buffer(2) for parameter 'shape' has 4 bytes, the kernel reads 16")
	_, err = r.Run(Dispatch{Kernel: "no_such_kernel", Grid: [3]uint32{1, 1, 1}})
	require.ErrorContains(t, err, "unknown kernel no_such_kernel")
}

// TestCrashingKernelDoesNotKillTheTest: a fault kills only the runner; Run reports where it
// happened, and the next Run restarts the runner.
func TestCrashingKernelDoesNotKillTheTest(t *testing.T) {
	r := StartFile(t, "testdata/limits.metal", Options{})
	_, err := r.Run(Dispatch{Kernel: "null_write", Grid: [3]uint32{64, 1, 1}, Threads: true, Threadgroup: [3]uint32{32, 1, 1},
		Buffers: map[int][]byte{0: make([]byte, 4*64), 1: U32(40)}})
	require.ErrorContains(t, err, "kernel runner died")
	require.ErrorContains(t, err, "in kernel null_write, thread (8,0,0) of threadgroup (1,0,0)")
	x := []float32{1, 2, 3, 4}
	out, err := r.Run(Dispatch{Kernel: "copy", Grid: [3]uint32{4, 1, 1}, Threads: true, Threadgroup: [3]uint32{4, 1, 1},
		Buffers: map[int][]byte{0: F32(x), 1: make([]byte, 16), 2: U32(4, 0, 0, 0)}})
	require.NoError(t, err, "the runner restarts after a crash")
	require.Equal(t, x, ToF32(out[1]))
}

func TestHangingKernelTimesOut(t *testing.T) {
	r := StartFile(t, "testdata/limits.metal", Options{})
	start := time.Now()
	_, err := r.Run(Dispatch{Kernel: "spin", Grid: [3]uint32{1, 1, 1}, Threadgroup: [3]uint32{1, 1, 1},
		Buffers: map[int][]byte{0: make([]byte, 4*5)}, Timeout: 300 * time.Millisecond})
	require.ErrorContains(t, err, "killed after the 300ms timeout")
	require.Less(t, time.Since(start), 30*time.Second)
}

func TestASan(t *testing.T) {
	r := StartFile(t, "testdata/limits.metal", Options{ASan: true})
	t.Run("threadgroup_overflow", func(t *testing.T) {
		_, err := r.Run(Dispatch{Kernel: "tg_overflow", Grid: [3]uint32{1, 1, 1}, Threadgroup: [3]uint32{32, 1, 1},
			Buffers: map[int][]byte{0: make([]byte, 4*32)}})
		require.ErrorContains(t, err, "AddressSanitizer: heap-buffer-overflow")
		require.ErrorContains(t, err, "WRITE of size 4")
		require.ErrorContains(t, err, lineOf(t, "testdata/limits.metal", "OVERFLOW"))
	})
	t.Run("clean_kernels_pass", func(t *testing.T) {
		// fibers, threadgroup storage and SIMD collectives raise no false reports
		ra := StartFile(t, "testdata/kernels.metal", Options{ASan: true})
		for _, order := range Orders {
			m, n, k := 37, 45, 50
			a, b := make([]float32, m*k), make([]float32, k*n)
			for i := range a {
				a[i] = float32(i%7) - 3
			}
			for i := range b {
				b[i] = float32(i%5) - 2
			}
			out, err := ra.Run(Dispatch{
				Kernel: "matmul_tiled", Grid: [3]uint32{ceilDiv(n, 16), ceilDiv(m, 16), 1}, Threadgroup: [3]uint32{16, 16, 1},
				Buffers: map[int][]byte{0: F32(a), 1: F32(b), 2: make([]byte, 4*m*n), 3: U32(uint32(m), uint32(n), uint32(k))},
				Order:   order,
			})
			require.NoError(t, err, fmt.Sprintf("order=%v", order))
			requireClose(t, ToF32(out[2]), refMatmul(a, b, m, n, k), 0)
			out, err = ra.Run(Dispatch{Kernel: "softmax_rows", Grid: [3]uint32{3, 1, 1}, Threadgroup: [3]uint32{96, 1, 1},
				Buffers:      map[int][]byte{0: F32(a[:3*100]), 1: make([]byte, 4*3*100), 2: U32(100)},
				TGMemLengths: map[int]int{0: 128}, Order: order})
			require.NoError(t, err)
			require.InDelta(t, 1.0, sum32(ToF32(out[1])[:100]), 1e-5)
		}
	})
}

// lineOf returns "file:line" of the first line of file containing marker.
func lineOf(t *testing.T, file, marker string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	i := strings.Index(string(b), marker)
	require.GreaterOrEqual(t, i, 0, "marker %s not in %s", marker, file)
	return fmt.Sprintf("%s:%d", file, 1+strings.Count(string(b[:i]), "\n"))
}

func sum32(v []float32) float64 {
	s := 0.0
	for _, x := range v {
		s += float64(x)
	}
	return s
}

func TestAliasedViews(t *testing.T) {
	r := StartFile(t, "testdata/limits.metal", Options{})
	for _, order := range Orders {
		out, err := r.Run(Dispatch{Kernel: "strided_views", Grid: [3]uint32{4, 1, 1}, Threads: true, Threadgroup: [3]uint32{4, 1, 1},
			Buffers: map[int][]byte{0: F32(make([]float32, 10))}, Offsets: map[int]int{0: 8, 1: 12}, Alias: map[int]int{1: 0},
			Order: order})
		require.NoError(t, err)
		require.Len(t, out, 1, "only the allocation comes back")
		require.Equal(t, []float32{0, 0, 0, -0, 1, -1, 2, -2, 3, -3}, ToF32(out[0]))
	}
	_, err := r.Run(Dispatch{Kernel: "strided_views", Grid: [3]uint32{1, 1, 1}, Buffers: map[int][]byte{0: make([]byte, 8)}, Alias: map[int]int{1: 2}})
	require.ErrorContains(t, err, "buffer(1) aliases buffer(2), which is not in Buffers")
	_, err = r.Run(Dispatch{Kernel: "strided_views", Grid: [3]uint32{1, 1, 1}, Buffers: map[int][]byte{0: make([]byte, 8)}, Offsets: map[int]int{0: 12}})
	require.ErrorContains(t, err, "offset 12 outside its 8-byte allocation")
}

func TestFiberStackOverflowReported(t *testing.T) {
	r := StartFile(t, "testdata/limits.metal", Options{})
	_, err := r.Run(Dispatch{Kernel: "deep_stack", Grid: [3]uint32{1, 1, 1}, Threadgroup: [3]uint32{2, 1, 1},
		Buffers: map[int][]byte{0: make([]byte, 8), 1: U32(100000)}})
	require.ErrorContains(t, err, "in kernel deep_stack, thread (0,0,0) of threadgroup (0,0,0): fiber stack overflow")
	out, err := r.Run(Dispatch{Kernel: "copy", Grid: [3]uint32{2, 1, 1}, Threads: true, Threadgroup: [3]uint32{2, 1, 1},
		Buffers: map[int][]byte{0: F32([]float32{5, 6}), 1: make([]byte, 8), 2: U32(2, 0, 0, 0)}})
	require.NoError(t, err, "the restarted runner works")
	require.Equal(t, []float32{5, 6}, ToF32(out[1]))
}

// TestNonUniformThreadgroups checks the thread-position attributes of a dispatchThreads grid of
// 5×3 threads in threadgroups of 4×2: the edge threadgroups are smaller.
func TestNonUniformThreadgroups(t *testing.T) {
	r := StartFile(t, "testdata/limits.metal", Options{})
	const gx, gy, tx, ty = 5, 3, 4, 2
	out, err := r.Run(Dispatch{Kernel: "positions", Grid: [3]uint32{gx, gy, 1}, Threads: true, Threadgroup: [3]uint32{tx, ty, 1},
		Buffers: map[int][]byte{0: make([]byte, 4*8*gx*gy)}})
	require.NoError(t, err)
	got := ToU32(out[0])
	for y := 0; y < gy; y++ {
		for x := 0; x < gx; x++ {
			ntx, nty := min(tx, gx-x/tx*tx), min(ty, gy-y/ty*ty)
			px, py := x%tx, y%ty
			want := []uint32{uint32(px + 100*py), uint32(x/tx + 100*(y/ty)), uint32(ntx + 100*nty), tx + 100*ty, gx + 100*gy,
				uint32(py*ntx + px), 2 + 100*2, 1}
			require.Equal(t, want, got[(y*gx+x)*8:][:8], "thread (%d,%d)", x, y)
		}
	}
}

func TestDispatchValidation(t *testing.T) {
	r := StartFile(t, "testdata/limits.metal", Options{})
	for _, c := range []struct {
		d    Dispatch
		want string
	}{
		{Dispatch{Grid: [3]uint32{1, 1, 1}}, "Dispatch.Kernel is empty"},
		{Dispatch{Kernel: "copy", Grid: [3]uint32{1, 0, 1}}, "Grid [1 0 1] has a zero dimension"},
		{Dispatch{Kernel: "copy", Grid: [3]uint32{1, 1, 1}, Order: 9}, "unknown thread order"},
		{Dispatch{Kernel: "copy", Grid: [3]uint32{1, 1, 1}, Buffers: map[int][]byte{31: nil}}, "buffer index 31 out of range"},
		{Dispatch{Kernel: "copy", Grid: [3]uint32{1, 1, 1}, TGMemLengths: map[int]int{8: 16}}, "threadgroup memory index 8 out of range"},
		{Dispatch{Kernel: "copy", Grid: [3]uint32{1, 1, 1}, Buffers: map[int][]byte{0: nil}, Alias: map[int]int{0: 0}}, "both in Buffers and an Alias"},
	} {
		_, err := r.Run(c.d)
		require.ErrorContains(t, err, c.want)
	}
	t.Setenv("MSLCPU_ORDER", "sideways")
	_, err := r.Run(Dispatch{Kernel: "copy", Grid: [3]uint32{1, 1, 1}})
	require.ErrorContains(t, err, `unknown thread order "sideways"`)
}

// TestProgramInfo checks the kernel interface a Program reports, which the fake Metal device
// serves as its pipelines' limits and bindings.
func TestProgramInfo(t *testing.T) {
	NeedCompiler(t)
	p, err := BuildFile("testdata/limits.metal", Options{})
	require.NoError(t, err)
	require.Equal(t, KernelInfo{MaxThreads: 64, Buffers: []int{0}}, p.Info["small_groups_only"])
	require.Equal(t, KernelInfo{MaxThreads: MaxThreadsPerThreadgroup, Buffers: []int{0}, Threadgroups: []int{0}}, p.Info["tg_32k_plus_dynamic"])
	require.Equal(t, []int{0, 1, 2}, p.Info["copy"].Buffers)
	require.Len(t, p.Info, len(p.Kernels))
}

// TestStaticThreadgroupMemory checks the count of each kernel's declared threadgroup memory — what
// a Metal pipeline reports as staticThreadgroupMemoryLength, each variable rounded up to 16 bytes
// — with helpers' variables, macros and file-scope constants, and that a kernel whose count needs
// a name of its own body leaves the count unknown but still builds and runs. Every kernel then
// runs: the runner checks at each dispatch that no threadgroup declares more than the count.
func TestStaticThreadgroupMemory(t *testing.T) {
	NeedCompiler(t)
	for _, c := range []struct {
		file string
		want map[string]int
	}{
		{"testdata/static_tg.metal", map[string]int{"plain": 96, "helper_user": 160, "with_constants": 144, "none": 0}},
		{"testdata/static_tg_local.metal", map[string]int{}},
		{"testdata/limits.metal", nil}, // checked below
	} {
		t.Run(c.file, func(t *testing.T) {
			p, err := BuildFile(c.file, Options{})
			require.NoError(t, err)
			got, err := p.StaticThreadgroupMemory()
			require.NoError(t, err)
			if c.want == nil {
				require.Equal(t, 32768, got["tg_exactly_32k"])
				require.Equal(t, 16384+16400+256, got["tg_over_32k"])
				require.Equal(t, 0, got["copy"])
				return
			}
			require.Equal(t, c.want, got)
			r, err := p.Start()
			require.NoError(t, err)
			defer r.Close()
			for _, k := range p.Kernels {
				out, err := r.Run(Dispatch{Kernel: k, Grid: [3]uint32{2, 1, 1}, Threadgroup: [3]uint32{6, 1, 1},
					Buffers: map[int][]byte{0: make([]byte, 4*12)}})
				require.NoError(t, err, k)
				require.Len(t, out[0], 4*12, k)
			}
		})
	}
}
