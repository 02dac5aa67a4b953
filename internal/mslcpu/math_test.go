package mslcpu

import (
	"fmt"
	"math"
	"math/bits"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMathFunctions(t *testing.T) {
	r := StartFile(t, "testdata/mathfns.metal", Options{Strict: true})
	x := []float32{-2.5, -1, -0.25, 0, 0.3, 1, 2.75}
	out, err := r.Run(Dispatch{Kernel: "math_fns", Grid: [3]uint32{uint32(len(x)), 1, 1}, Threads: true, Threadgroup: [3]uint32{8, 1, 1},
		Buffers: map[int][]byte{0: F32(x), 1: make([]byte, 4*24*len(x))}})
	require.NoError(t, err)
	got := ToF32(out[1])
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for i, xf := range x {
		v := float64(xf)
		a := math.Abs(v) + 0.5
		sign := 0.0
		if v > 0 {
			sign = 1
		} else if v < 0 {
			sign = -1
		}
		want := []float64{math.Exp(v), math.Exp2(v), math.Log(a), math.Log2(a),
			math.Sqrt(a), 1 / math.Sqrt(a), math.Sin(v), math.Cos(v),
			math.Tanh(v), math.Tanh(v), math.Exp(v), math.Pow(a, 1.5),
			math.Floor(v), v - math.Floor(v), math.Max(-0.5, math.Min(0.5, v)),
			1.5, math.Max(0, math.Min(1, v)), sign,
			b2f(v >= 0), math.Atan2(v, a), v*v + 1,
			v*v + 14,
			1 + b2f(v > 0),
			float64(bits.OnesCount32(math.Float32bits(1))) + math.Pi + 3 + 2}
		for c, w := range want {
			require.InDelta(t, w, got[i*24+c], 2e-6*(1+math.Abs(w)), fmt.Sprintf("x=%v column %d", xf, c))
		}
	}
}
