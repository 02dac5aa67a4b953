package bench

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/kvgpt/kvgpt/cpublas"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// sgemmShapes are the raw products measured: a large square one (the peak) and the four products of
// the medium preset's MLP and attention projections (M = B·T rows).
var sgemmShapes = [][3]int{{1024, 1024, 1024}, {2048, 1536, 384}, {2048, 384, 1536}, {2048, 1152, 384}}

// BenchmarkSgemm compares gonum's pure-Go Sgemm, this build's cpublas implementation and (in a BLAS
// build) cblas_sgemm called directly from C, on C = A·Bᵀ, with the BLAS on all cores.
func BenchmarkSgemm(b *testing.B) {
	defer cpublas.SetThreads(cpublas.Describe().Threads)
	cpublas.SetThreads(runtime.NumCPU())
	impls := []struct {
		name string
		impl blas.Float32
	}{{"gonum", gonum.Implementation{}}}
	if cpublas.Describe().CBLAS {
		impls = append(impls, struct {
			name string
			impl blas.Float32
		}{"cpublas", cpublas.Implementation()})
	}
	for _, s := range sgemmShapes {
		m, n, k := s[0], s[1], s[2]
		flops := 2 * float64(m) * float64(n) * float64(k)
		shape := fmt.Sprintf("M=%d/N=%d/K=%d", m, n, k)
		for _, im := range impls {
			b.Run("impl="+im.name+"/"+shape, func(b *testing.B) {
				a, bm, c := make([]float32, m*k), make([]float32, n*k), make([]float32, m*n)
				for b.Loop() {
					im.impl.Sgemm(blas.NoTrans, blas.Trans, m, n, k, 1, a, k, bm, k, 0, c, n)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		if HaveDirectCBLAS {
			b.Run("impl=direct/"+shape, func(b *testing.B) {
				d, err := newDirectGemm(m, n, k)
				if err != nil {
					b.Fatal(err)
				}
				defer d.free()
				for b.Loop() {
					d.run(1)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
