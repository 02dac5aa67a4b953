package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRMSNorm checks RMSNormForward against a float64 reference and RMSNormBackward against
// float64 finite differences of Σ out·R, and that backward accumulates.
func TestRMSNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct{ N, C int }{{1, 1}, {3, 7}, {5, 64}} {
		t.Run(fmt.Sprintf("N=%d/C=%d", s.N, s.C), func(t *testing.T) {
			c := NewCPU(1)
			defer c.Close()
			N, C := s.N, s.C
			x, w, R := make([]float64, N*C), make([]float64, C), make([]float64, N*C)
			for i := range x {
				x[i], R[i] = rng.NormFloat64(), rng.NormFloat64()
			}
			for i := range w {
				w[i] = 1 + 0.2*rng.NormFloat64()
			}
			ref := func(x, w []float64) []float64 {
				out := make([]float64, N*C)
				for r := range N {
					ms := 0.0
					for _, v := range x[r*C : (r+1)*C] {
						ms += v * v
					}
					s := 1 / math.Sqrt(ms/float64(C)+1e-5)
					for i := range C {
						out[r*C+i] = x[r*C+i] * s * w[i]
					}
				}
				return out
			}
			loss := func(x, w []float64) float64 {
				l := 0.0
				for i, v := range ref(x, w) {
					l += v * R[i]
				}
				return l
			}
			up := func(v []float64) View {
				b := c.Alloc(len(v))
				f := make([]float32, len(v))
				for i := range v {
					f[i] = float32(v[i])
				}
				c.Upload(b, f)
				return b
			}
			down := func(v View) []float32 {
				f := make([]float32, v.N)
				c.Download(f, v)
				return f
			}
			in, wv, dout := up(x), up(w), up(R)
			out, rrms := c.Alloc(N*C), c.Alloc(N)
			c.RMSNormForward(out, rrms, in, wv, N, C)
			want := ref(x, w)
			for i, v := range down(out) {
				require.InDelta(t, want[i], float64(v), 1e-5, "out[%d]", i)
			}
			din, dw := up(make([]float64, N*C)), up(make([]float64, C))
			for range 2 { // twice: backward accumulates
				c.RMSNormBackward(din, dw, dout, in, wv, rrms, N, C)
			}
			fd := func(v []float64, i int) float64 {
				const h = 1e-6
				old := v[i]
				v[i] = old + h
				lp := loss(x, w)
				v[i] = old - h
				lm := loss(x, w)
				v[i] = old
				return (lp - lm) / (2 * h)
			}
			for i, g := range down(din) {
				require.InDelta(t, 2*fd(x, i), float64(g), 1e-3, "din[%d]", i)
			}
			for i, g := range down(dw) {
				require.InDelta(t, 2*fd(w, i), float64(g), 1e-3, "dw[%d]", i)
			}
		})
	}
}
