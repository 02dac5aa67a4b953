package theory

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Mat is a dense, row-major float64 matrix: element (i, j) is D[i·C+j].
type Mat struct {
	R, C int
	D    []float64
}

// NewMat returns a zero (r, c) matrix.
func NewMat(r, c int) Mat {
	if r < 0 || c < 0 {
		panic("theory: negative matrix size")
	}
	return Mat{R: r, C: c, D: make([]float64, r*c)}
}

// Eye returns the (n, n) identity matrix.
func Eye(n int) Mat {
	m := NewMat(n, n)
	for i := 0; i < n; i++ {
		m.D[i*n+i] = 1
	}
	return m
}

// Randn returns an (r, c) matrix of independent N(0, std²) entries drawn from rng.
func Randn(rng *rand.Rand, r, c int, std float64) Mat {
	m := NewMat(r, c)
	for i := range m.D {
		m.D[i] = std * rng.NormFloat64()
	}
	return m
}

// At returns element (i, j).
func (m Mat) At(i, j int) float64 { return m.D[i*m.C+j] }

// Set sets element (i, j) to v.
func (m Mat) Set(i, j int, v float64) { m.D[i*m.C+j] = v }

// Row returns row i as a slice that aliases m.
func (m Mat) Row(i int) []float64 { return m.D[i*m.C : (i+1)*m.C] }

// Clone returns a copy of m.
func (m Mat) Clone() Mat {
	c := NewMat(m.R, m.C)
	copy(c.D, m.D)
	return c
}

// Mul returns a·b.
func Mul(a, b Mat) Mat {
	if a.C != b.R {
		panic(fmt.Sprintf("theory: Mul shape mismatch (%d, %d)·(%d, %d)", a.R, a.C, b.R, b.C))
	}
	out := NewMat(a.R, b.C)
	for i := 0; i < a.R; i++ {
		o := out.Row(i)
		for k, aik := range a.Row(i) {
			if aik == 0 {
				continue
			}
			for j, bkj := range b.Row(k) {
				o[j] += aik * bkj
			}
		}
	}
	return out
}

// Add returns a + b.
func Add(a, b Mat) Mat {
	if a.R != b.R || a.C != b.C {
		panic("theory: Add shape mismatch")
	}
	out := a.Clone()
	for i, v := range b.D {
		out.D[i] += v
	}
	return out
}

// Scale returns s·a.
func Scale(s float64, a Mat) Mat {
	out := a.Clone()
	for i := range out.D {
		out.D[i] *= s
	}
	return out
}

// Transpose returns aᵀ.
func Transpose(a Mat) Mat {
	out := NewMat(a.C, a.R)
	for i := 0; i < a.R; i++ {
		for j := 0; j < a.C; j++ {
			out.D[j*a.R+i] = a.D[i*a.C+j]
		}
	}
	return out
}

// Cols returns a copy of the columns [c0, c1) of a.
func Cols(a Mat, c0, c1 int) Mat {
	out := NewMat(a.R, c1-c0)
	for i := 0; i < a.R; i++ {
		copy(out.Row(i), a.Row(i)[c0:c1])
	}
	return out
}

// ErrSingular is returned by Inverse for a matrix that is singular to working precision.
var ErrSingular = errors.New("theory: matrix is singular")

// Inverse returns a⁻¹ by Gauss–Jordan elimination with partial pivoting.
func Inverse(a Mat) (Mat, error) {
	if a.R != a.C {
		return Mat{}, fmt.Errorf("theory: Inverse of a non-square (%d, %d) matrix", a.R, a.C)
	}
	n := a.R
	w := a.Clone()
	inv := Eye(n)
	for col := 0; col < n; col++ {
		p := col
		for r := col + 1; r < n; r++ {
			if math.Abs(w.At(r, col)) > math.Abs(w.At(p, col)) {
				p = r
			}
		}
		if math.Abs(w.At(p, col)) < 1e-300 {
			return Mat{}, ErrSingular
		}
		swapRows(w, p, col)
		swapRows(inv, p, col)
		d := 1 / w.At(col, col)
		scaleRow(w.Row(col), d)
		scaleRow(inv.Row(col), d)
		for r := 0; r < n; r++ {
			if r == col {
				continue
			}
			f := w.At(r, col)
			if f == 0 {
				continue
			}
			axpy(w.Row(r), -f, w.Row(col))
			axpy(inv.Row(r), -f, inv.Row(col))
		}
	}
	return inv, nil
}

// MustInverse is Inverse for matrices known to be invertible; it panics otherwise.
func MustInverse(a Mat) Mat {
	inv, err := Inverse(a)
	if err != nil {
		panic(err)
	}
	return inv
}

// MaxAbsDiff returns max |a − b| over all elements and the position (i, j) where it occurs.
func MaxAbsDiff(a, b Mat) (d float64, i, j int) {
	if a.R != b.R || a.C != b.C {
		panic("theory: MaxAbsDiff shape mismatch")
	}
	for k := range a.D {
		if v := math.Abs(a.D[k] - b.D[k]); v > d || math.IsNaN(v) {
			d, i, j = v, k/a.C, k%a.C
		}
	}
	return d, i, j
}

func swapRows(m Mat, a, b int) {
	if a == b {
		return
	}
	ra, rb := m.Row(a), m.Row(b)
	for k := range ra {
		ra[k], rb[k] = rb[k], ra[k]
	}
}

func scaleRow(r []float64, s float64) {
	for k := range r {
		r[k] *= s
	}
}

// axpy computes y += a·x.
func axpy(y []float64, a float64, x []float64) {
	for k := range y {
		y[k] += a * x[k]
	}
}
