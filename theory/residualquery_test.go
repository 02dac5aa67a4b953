package theory

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func randomResidualQuery(rng *rand.Rand, C int) ResidualQuery {
	return ResidualQuery{
		G: randLN(rng, C), GL: randLN(rng, C),
		W1: Randn(rng, C, C/2, 1/math.Sqrt(float64(C))), W2: Randn(rng, C/2, C, 1/math.Sqrt(float64(C/2))),
	}
}

// TestResidualQueryGradients checks ResidualQuery.Backward against central finite differences of
// the scalar loss Σ Q⊙R for a random R, for every input and every parameter.
func TestResidualQueryGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, s := range []struct{ T, C int }{{1, 2}, {3, 8}, {5, 12}} {
		t.Run(fmt.Sprintf("T=%d/C=%d", s.T, s.C), func(t *testing.T) {
			r := randomResidualQuery(rng, s.C)
			require.Equal(t, s.C*s.C+2*s.C, r.NumParams(), "C² + 2C: the baseline's W_Q plus two norm weights")
			u := Randn(rng, s.T, s.C, 1)
			R := Randn(rng, s.T, s.C, 1)
			loss := func() float64 {
				q, _ := r.Forward(u)
				l := 0.0
				for i, v := range q.D {
					l += v * R.D[i]
				}
				return l
			}
			_, cache := r.Forward(u)
			du, g := r.Backward(R, cache)
			check := func(name string, x []float64, grad []float64) {
				const h = 1e-6
				worst := 0.0
				for i := range x {
					old := x[i]
					x[i] = old + h
					lp := loss()
					x[i] = old - h
					lm := loss()
					x[i] = old
					fd := (lp - lm) / (2 * h)
					worst = math.Max(worst, math.Abs(fd-grad[i])/math.Max(1, math.Abs(fd)))
				}
				t.Logf("%s: max relative |analytic − finite difference| = %.2g", name, worst)
				require.Less(t, worst, 1e-7, name)
			}
			check("du", u.D, du.D)
			check("dG", r.G, g.G)
			check("dW1", r.W1.D, g.W1.D)
			check("dW2", r.W2.D, g.W2.D)
			check("dGL", r.GL, g.GL)
		})
	}
}

// TestResidualQueryStructure checks the structure of the query: with W2 = 0 the
// bottleneck output is constant per row, LayerNorm maps it to 0, and Q = ½u.
func TestResidualQueryStructure(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	r := randomResidualQuery(rng, 8)
	r.W2 = NewMat(4, 8)
	u := Randn(rng, 4, 8, 1)
	q, _ := r.Forward(u)
	requireClose(t, Scale(0.5, u), q, "W2 = 0: Q = ½u")
}
