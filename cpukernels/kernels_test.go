//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
)

// The tests of this package run every op that has a C kernel on two CPU backends, one on the Go
// kernels (nn.GoKernels) and one on the C kernels, at shapes larger than the conformance suite's,
// none a multiple of a vector width, so that the vectorised main loops and their remainders both
// run; the Go kernels are themselves checked against float64 references by nntest. They are named
// TestKernels…, which make blastest also runs on a clang build.

// kernelPair is the CPU backend twice: Go kernels (ref) and C kernels (c), fed the same inputs.
type kernelPair struct {
	t      *testing.T
	ref, c *nn.CPU
	rng    *rand.Rand
}

func newKernelPair(t *testing.T) *kernelPair {
	ref, c := nn.NewCPU(2), nn.NewCPUWith(nn.CPUOptions{Threads: 2, Kernels: Kernels()})
	t.Cleanup(func() { ref.Close(); c.Close() })
	return &kernelPair{t: t, ref: ref, c: c, rng: rand.New(rand.NewPCG(7, 11))}
}

// randn returns n values N(0, std²).
func (p *kernelPair) randn(n int, std float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(p.rng.NormFloat64() * std)
	}
	return x
}

// up uploads data to both backends: (ref view, c view).
func (p *kernelPair) up(data []float32) (nn.View, nn.View) {
	a, b := p.ref.Alloc(len(data)), p.c.Alloc(len(data))
	p.ref.Upload(a, data)
	p.c.Upload(b, data)
	return a, b
}

// same requires the two views to hold the same values within abs + rel·|ref| (NaN matches NaN).
func (p *kernelPair) same(name string, a, b nn.View, abs, rel float64) {
	want, got := make([]float32, a.N), make([]float32, b.N)
	p.ref.Download(want, a)
	p.c.Download(got, b)
	for i := range want {
		w, g := float64(want[i]), float64(got[i])
		if w == g { // also ±Inf
			continue
		}
		if math.IsNaN(w) || math.IsNaN(g) {
			require.Truef(p.t, math.IsNaN(w) && math.IsNaN(g), "%s[%d]: C %v, Go %v", name, i, g, w)
			continue
		}
		require.LessOrEqualf(p.t, math.Abs(g-w), abs+rel*math.Abs(w), "%s[%d]: C %v, Go %v", name, i, g, w)
	}
}

func TestKernelsName(t *testing.T) {
	require.Regexp(t, `^C (AVX-512|AVX2|SSE2|NEON|scalar)$`, Kernels().Name())
	c := nn.NewCPUWith(nn.CPUOptions{Threads: 1, Kernels: Kernels()})
	defer c.Close()
	require.Contains(t, c.Name(), "kernels "+Kernels().Name())
}
