package nn_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
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

func newCPU(threads int, gemm nn.GemmMode) func(t *testing.T) nn.Backend {
	return func(t *testing.T) nn.Backend {
		c := nn.NewCPUWith(nn.CPUOptions{Threads: threads, Gemm: gemm})
		t.Cleanup(func() { require.NoError(t, c.Close()) })
		return c
	}
}

// TestConformance runs the shared suite on the CPU backend with all cores and gemm tiles.
func TestConformance(t *testing.T) {
	nntest.Run(t, newCPU(0, nn.GemmTiles))
}

// TestConformanceVariants runs the suite on one thread, on three threads (more than the work of
// small ops splits into), and with whole-product and split gemm calls.
func TestConformanceVariants(t *testing.T) {
	if testing.Short() {
		t.Skip("variants of TestConformance are skipped in -short mode")
	}
	t.Run("threads=1", func(t *testing.T) { nntest.Run(t, newCPU(1, nn.GemmTiles)) })
	t.Run("threads=3", func(t *testing.T) { nntest.Run(t, newCPU(3, nn.GemmTiles)) })
	t.Run("gemm=whole", func(t *testing.T) { nntest.Run(t, newCPU(0, nn.GemmWhole)) })
	t.Run("gemm=split", func(t *testing.T) { nntest.Run(t, newCPU(2, nn.GemmSplit)) })
}

func TestCPUNameAndClose(t *testing.T) {
	c := nn.NewCPU(3)
	require.Equal(t, 3, c.Threads())
	require.Equal(t, nn.GemmTiles, c.Gemm())
	require.Contains(t, c.Name(), "3 threads")
	x := c.Alloc(10000)
	c.Upload(x, make([]float32, 10000))
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close twice")
	// Ops after Close run on the calling goroutine instead of panicking on a closed pool.
	out := c.Alloc(10000)
	c.GELUForward(out, x, 10000)
	require.NoError(t, c.Sync())
}

// TestGemmMode checks the names of the gemm modes, as the CPU backend's name and test names show
// them, and that NewCPUWith refuses a mode it does not know.
func TestGemmMode(t *testing.T) {
	for mode, want := range map[nn.GemmMode][2]string{
		nn.GemmTiles: {"tiles", "64×128 tiles"},
		nn.GemmSplit: {"split", "gemm split by rows"},
		nn.GemmWhole: {"whole", "whole gemm"},
	} {
		require.Equal(t, want[0], mode.String())
		c := nn.NewCPUWith(nn.CPUOptions{Threads: 1, Gemm: mode})
		require.Equal(t, mode, c.Gemm())
		require.Contains(t, c.Name(), want[1])
		require.NoError(t, c.Close())
	}
	require.Equal(t, "GemmMode(3)", nn.GemmMode(3).String())
	require.PanicsWithValue(t, "nn: NewCPUWith with an unknown GemmMode",
		func() { nn.NewCPUWith(nn.CPUOptions{Gemm: 3}) })
}

func TestCPUPanicsOnMisuse(t *testing.T) {
	c, other := nn.NewCPU(1), nn.NewCPU(1)
	defer c.Close()
	defer other.Close()
	a, b := c.Alloc(12), c.Alloc(12)
	require.PanicsWithValue(t, "nn: view of a buffer not allocated by this CPU backend",
		func() { c.ResidualForward(a, b, other.Alloc(12), 12) })
	require.PanicsWithValue(t, "nn: MatmulForward in too short",
		func() { c.MatmulForward(a, b, a, 3, 5, 4) })
	require.PanicsWithValue(t, "nn: Attention C is not a multiple of NH", func() {
		s := nn.Strided{V: a, Stride: 4}
		c.AttentionForward(a, b, s, s, s, 1, 3, 4, 3, 1)
	})
	tok := c.AllocInt(2)
	c.UploadInt(tok, []int32{0, 3})
	require.PanicsWithValue(t, "nn: EmbedForward token out of range",
		func() { c.EmbedForward(c.Alloc(4), tok, c.Alloc(6), c.Alloc(4), 1, 2, 2) }) // V = 3
	require.PanicsWithValue(t, "nn: AdamW step must be ≥ 1",
		func() { c.AdamW(a, a, a, a, a, 12, nn.AdamWParams{}) })
	require.PanicsWithValue(t, "nn: View.Slice out of range", func() { a.Slice(10, 3) })
}

// TestEmbedBackwardDeterministic checks that the embedding gradient, where many rows add into
// the same token, comes out bit-identical on 1 and 2 threads.
func TestEmbedBackwardDeterministic(t *testing.T) {
	const B, T, C, V = 4, 33, 96, 3
	var results [][]float32
	for _, threads := range []int{1, 2} {
		c := nn.NewCPU(threads)
		tokens, _ := batch(B, T, V)
		tok := c.AllocInt(B * T)
		c.UploadInt(tok, tokens)
		dwte, dwpe := c.Alloc(V*C), c.Alloc(T*C)
		c.EmbedBackward(dwte, dwpe, randView(c, B*T*C, 1), tok, B, T, C)
		got := make([]float32, V*C)
		c.Download(got, dwte)
		results = append(results, got)
		c.Close()
	}
	require.Equal(t, results[0], results[1])
}
