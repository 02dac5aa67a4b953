package nn

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpf(t *testing.T) {
	worst, at := 0.0, float32(0)
	for x := float32(-87); x <= 88.7; x += 0.0037 { // the normal float32 range of eˣ
		want := math.Exp(float64(x))
		got := float64(expf(x))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst, at = rel, x
		}
	}
	require.Less(t, worst, 4.0*math.Pow(2, -24), "worst relative error %g at x = %g", worst, at)
	for _, x := range []float32{-88, -95, -104, -200} { // subnormal and zero results
		require.Equal(t, float32(math.Exp(float64(x))), expf(x))
	}
	require.Equal(t, float32(1), expf(0))
	require.Equal(t, float32(0), expf(float32(math.Inf(-1))))
	require.True(t, math.IsInf(float64(expf(float32(math.Inf(1)))), 1))
	require.True(t, math.IsNaN(float64(expf(float32(math.NaN())))))
}

func BenchmarkExpf(b *testing.B) {
	xs := make([]float32, 4096)
	for i := range xs {
		xs[i] = -float32(i) / 256
	}
	b.Run("impl=expf", func(b *testing.B) {
		var s float32
		for b.Loop() {
			for _, x := range xs {
				s += expf(x)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(xs)), "ns/elem")
	})
	b.Run("impl=math.Exp", func(b *testing.B) {
		var s float32
		for b.Loop() {
			for _, x := range xs {
				s += float32(math.Exp(float64(x)))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(xs)), "ns/elem")
	})
	b.Run("impl=geluLookup", func(b *testing.B) {
		var s float32
		for b.Loop() {
			for _, x := range xs {
				s += geluLookup(geluCDF, x/64) + geluLookup(geluGrad, x/64)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(xs)), "ns/elem")
	})
	b.Run("impl=math.Erf", func(b *testing.B) {
		var s float32
		for b.Loop() {
			for _, x := range xs {
				y := float64(x / 64)
				s += float32(0.5*(1+math.Erf(y/math.Sqrt2)) + math.Exp(-0.5*y*y))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(xs)), "ns/elem")
	})
}
