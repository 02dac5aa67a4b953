//go:build cgo && (openblas || (accelerate && darwin))

package cpublas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// sentinel fills the elements of c outside the m×n matrix with a value nobody computes, so a
// product that writes past a row shows up.
const sentinel = float32(-12345)

// padded returns a rows×cols row-major matrix with leading dimension ld, the padding set to sentinel.
func padded(r *rand.Rand, rows, cols, ld int) []float32 {
	s := randSlice(r, max(0, (rows-1)*ld+cols))
	for i := range s {
		if i%ld >= cols {
			s[i] = sentinel
		}
	}
	return s
}

// requireClose checks got against want element by element, allowing float32 rounding of a sum of
// k products of magnitude up to scale.
func requireClose(t *testing.T, want, got []float32, k int, scale float64) {
	t.Helper()
	require.Len(t, got, len(want))
	tol := 4 * float64(k+2) * scale * math.Pow(2, -23)
	worst, at := 0.0, -1
	for i := range want {
		if want[i] == sentinel || got[i] == sentinel {
			require.Equal(t, want[i], got[i], "padding element %d changed", i)
			continue
		}
		if d := math.Abs(float64(want[i] - got[i])); d > worst {
			worst, at = d, i
		}
	}
	if worst > tol {
		require.Failf(t, "results differ", "max |cblas − gonum| = %g > %g at element %d (want %g, got %g)",
			worst, tol, at, want[at], got[at])
	}
}

func TestSgemmMatchesGonum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	impl := Implementation()
	_, isCBLAS := impl.(cblasImpl)
	require.True(t, isCBLAS, "the build tag must select the cgo implementation, got %T", impl)
	ref := gonum.Implementation{}
	trans := []blas.Transpose{blas.NoTrans, blas.Trans, blas.ConjTrans}
	shapes := [][3]int{{1, 1, 1}, {7, 5, 3}, {2, 96, 33}, {64, 64, 64}, {65, 130, 31}, {256, 384, 128}, {3, 2, 0}, {0, 4, 5}}
	scalars := [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {0, 0.5}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, tA := range trans {
			for _, tB := range trans {
				for _, ab := range scalars {
					alpha, beta := ab[0], ab[1]
					pad := 3
					name := fmt.Sprintf("M=%d/N=%d/K=%d/tA=%c/tB=%c/alpha=%g/beta=%g", m, n, k, tA, tB, alpha, beta)
					t.Run(name, func(t *testing.T) {
						ar, ac := m, k
						if tA != blas.NoTrans {
							ar, ac = k, m
						}
						br, bc := k, n
						if tB != blas.NoTrans {
							br, bc = n, k
						}
						lda, ldb, ldc := max(1, ac)+pad, max(1, bc)+pad, max(1, n)+pad
						a, b := padded(r, ar, ac, lda), padded(r, br, bc, ldb)
						want := padded(r, m, n, ldc)
						got := append([]float32(nil), want...)
						ref.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
						impl.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc)
						requireClose(t, want, got, k, 16)
					})
				}
			}
		}
	}
}

func TestSgemmBetaZeroIgnoresC(t *testing.T) {
	// BLAS semantics: with beta = 0, C is written, never read, so NaN in C must not survive.
	r := rand.New(rand.NewPCG(3, 4))
	m, n, k := 9, 11, 13
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want, got := make([]float32, m*n), make([]float32, m*n)
	for i := range got {
		got[i] = float32(math.NaN())
	}
	gonum.Implementation{}.Sgemm(blas.NoTrans, blas.Trans, m, n, k, 1, a, k, b, k, 0, want, n)
	Implementation().Sgemm(blas.NoTrans, blas.Trans, m, n, k, 1, a, k, b, k, 0, got, n)
	requireClose(t, want, got, k, 16)
}

func TestSgemvMatchesGonum(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	impl, ref := Implementation(), gonum.Implementation{}
	for _, s := range [][2]int{{1, 1}, {7, 5}, {33, 96}, {128, 384}} {
		m, n := s[0], s[1]
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, inc := range [][2]int{{1, 1}, {2, 3}, {-2, 1}, {1, -3}} {
				incX, incY := inc[0], inc[1]
				t.Run(fmt.Sprintf("M=%d/N=%d/tA=%c/incX=%d/incY=%d", m, n, tA, incX, incY), func(t *testing.T) {
					lenX, lenY := n, m
					if tA != blas.NoTrans {
						lenX, lenY = m, n
					}
					lda := n + 2
					a := padded(r, m, n, lda)
					x := randSlice(r, 1+(lenX-1)*abs(incX))
					want := randSlice(r, 1+(lenY-1)*abs(incY))
					got := append([]float32(nil), want...)
					ref.Sgemv(tA, m, n, 0.75, a, lda, x, incX, -1.5, want, incY)
					impl.Sgemv(tA, m, n, 0.75, a, lda, x, incX, -1.5, got, incY)
					requireClose(t, want, got, max(m, n), 16)
				})
			}
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// recoverValue runs f and returns what it panicked with (nil if it did not).
func recoverValue(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

func TestBadArgumentsPanicLikeGonum(t *testing.T) {
	impl, ref := Implementation(), gonum.Implementation{}
	s := make([]float32, 16)
	gemm := map[string]func(blas.Float32){
		"transA":     func(i blas.Float32) { i.Sgemm('x', blas.NoTrans, 2, 2, 2, 1, s, 2, s, 2, 0, s, 2) },
		"m<0":        func(i blas.Float32) { i.Sgemm(blas.NoTrans, blas.NoTrans, -1, 2, 2, 1, s, 2, s, 2, 0, s, 2) },
		"k<0":        func(i blas.Float32) { i.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, -1, 1, s, 2, s, 2, 0, s, 2) },
		"lda":        func(i blas.Float32) { i.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 3, 1, s, 2, s, 2, 0, s, 2) },
		"ldbT":       func(i blas.Float32) { i.Sgemm(blas.NoTrans, blas.Trans, 2, 2, 3, 1, s, 3, s, 2, 0, s, 2) },
		"ldc":        func(i blas.Float32) { i.Sgemm(blas.NoTrans, blas.NoTrans, 2, 3, 2, 1, s, 2, s, 3, 0, s, 2) },
		"shortA":     func(i blas.Float32) { i.Sgemm(blas.NoTrans, blas.NoTrans, 9, 2, 2, 1, s, 2, s, 2, 0, s[:2], 2) },
		"shortB":     func(i blas.Float32) { i.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 2, 1, s, 2, s[:3], 2, 0, s, 2) },
		"shortC":     func(i blas.Float32) { i.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 2, 1, s, 2, s, 2, 0, s[:3], 2) },
		"gemvIncX":   func(i blas.Float32) { i.Sgemv(blas.NoTrans, 2, 2, 1, s, 2, s, 0, 0, s, 1) },
		"gemvShortY": func(i blas.Float32) { i.Sgemv(blas.Trans, 2, 9, 1, s, 9, s, 1, 0, s[:4], 2) },
	}
	for name, call := range gemm {
		t.Run(name, func(t *testing.T) {
			want := recoverValue(func() { call(ref) })
			require.NotNil(t, want, "gonum accepted the bad call")
			require.Equal(t, want, recoverValue(func() { call(impl) }))
		})
	}
}

func TestDescribeNamesTheLibrary(t *testing.T) {
	info := Describe()
	require.True(t, info.CBLAS)
	require.NotEmpty(t, info.Name)
	require.NotContains(t, info.Name, "gonum")
}
