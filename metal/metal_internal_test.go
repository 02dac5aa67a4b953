//go:build (darwin || fakemetal) && cgo

package metal

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/shaders"
)

// newTestBackend opens the Metal backend, failing the test if this Mac cannot run it, and closes
// it when the test ends.
func newTestBackend(t *testing.T) *Backend {
	t.Helper()
	be, err := New()
	require.NoError(t, err)
	b := be.(*Backend)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

// TestEveryKernelResolves checks that every kernel-name constant of package shaders names a
// function of the compiled library, that the library has no kernel without a constant, and that
// each kernel builds a compute pipeline.
func TestEveryKernelResolves(t *testing.T) {
	b := newTestBackend(t)
	var names []string
	inPool(func() { names = b.lib.lib.FunctionNames() })
	require.ElementsMatch(t, shaders.Kernels, names, "shaders.Kernels vs the compiled library's functions")
	for _, name := range shaders.Kernels {
		inPool(func() {
			p, err := b.lib.pipeline(b.dev, name)
			require.NoError(t, err, name)
			require.Positive(t, p.maxThreads, name)
			require.Equal(t, p.maxThreads, int(p.pso.MaxTotalThreadsPerThreadgroup()), name)
		})
	}
}

// TestSharedBuffers checks that Upload and Download go through the same memory the GPU uses, at
// the view's offset, and that a new buffer is zero.
func TestSharedBuffers(t *testing.T) {
	b := newTestBackend(t)
	v := b.Alloc(10)
	got := make([]float32, 10)
	b.Download(got, v)
	require.Equal(t, make([]float32, 10), got)

	b.Upload(v.Slice(3, 4), []float32{1, 2, 3, 4})
	b.Download(got, v)
	require.Equal(t, []float32{0, 0, 0, 1, 2, 3, 4, 0, 0, 0}, got)
	require.Equal(t, float32(3), b.floatBuf(v.Buf).floats()[5], "Download must read the buffer's own memory")

	iv := b.AllocInt(5)
	b.UploadInt(iv.Slice(1, 2), []int32{7, 8})
	require.Equal(t, []int32{0, 7, 8, 0, 0}, b.intBuf(iv.Buf).ints())
	require.NoError(t, b.Sync())
}

// TestDispatchErrorsReachSync checks that a dispatch Metal would reject is not encoded and makes
// the next Sync (and only that one) fail with a message naming the kernel.
func TestDispatchErrorsReachSync(t *testing.T) {
	b := newTestBackend(t)
	b.dispatch(&shaders.Dispatch{Kernel: "no_such_kernel", Groups: [3]int{1, 1, 1}, Threads: [3]int{32, 1, 1}})
	err := b.Sync()
	require.Error(t, err)
	require.Contains(t, err.Error(), "no_such_kernel")
	require.NoError(t, b.Sync(), "Sync reports an error once")

	b.dispatch(&shaders.Dispatch{Kernel: shaders.KernelZeroForward, Groups: [3]int{1, 1, 1}, Threads: [3]int{4096, 1, 1}})
	err = b.Sync()
	require.Error(t, err)
	require.Contains(t, err.Error(), "at most")
}

// TestMatmulForwardMPS checks the MPS reference matmul against a float64 product, at view offsets
// and in odd sizes.
func TestMatmulForwardMPS(t *testing.T) {
	b := newTestBackend(t)
	for _, s := range []struct{ N, C, OC int }{{1, 1, 1}, {7, 12, 5}, {65, 33, 70}} {
		rng := rand.New(rand.NewPCG(1, uint64(s.N)))
		in := make([]float32, s.N*s.C)
		w := make([]float32, s.OC*s.C)
		for i := range in {
			in[i] = float32(rng.NormFloat64())
		}
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		slab := b.Alloc(s.N*s.C + s.OC*s.C + s.N*s.OC + 3)
		inV := slab.Slice(1, s.N*s.C)
		wV := slab.Slice(1+s.N*s.C, s.OC*s.C)
		outV := slab.Slice(3+s.N*s.C+s.OC*s.C, s.N*s.OC)
		b.Upload(inV, in)
		b.Upload(wV, w)
		b.MatmulForwardMPS(outV, inV, wV, s.N, s.C, s.OC)
		out := make([]float32, s.N*s.OC)
		b.Download(out, outV)
		require.NoError(t, b.Sync())
		for n := range s.N {
			for o := range s.OC {
				want := 0.0
				for c := range s.C {
					want += float64(in[n*s.C+c]) * float64(w[o*s.C+c])
				}
				require.InDelta(t, want, float64(out[n*s.OC+o]), 1e-4*math.Sqrt(float64(s.C))+1e-5,
					"N=%d/C=%d/OC=%d at (%d, %d)", s.N, s.C, s.OC, n, o)
			}
		}
	}
}

var _ nn.Backend = (*Backend)(nil)
