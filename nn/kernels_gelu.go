package nn

import "math"

// The three GELUs. The Go kernels (this file), the C kernels (cpukernels/gelu.h) and the Metal
// kernels (shaders/gelu.metal) all compute exact GELU, x·Φ(x) with Φ(x) = ½(1 + erf(x/√2)), and
// its derivative Φ(x) + x·φ(x), by two different approximations:
//
//   - Go interpolates tables of Φ and GELU' (see geluRange below) and multiplies by x.
//   - C and Metal evaluate ½·x·erfc(−x/√2), with erfc by the Chebyshev fit of Numerical Recipes
//     ("erfcc", fractional error below 1.2e-7 in exact arithmetic) in float32. They differ from
//     each other only in their exp (C: kv_expf, nn's expf without branches; Metal: its exp) and in
//     C flushing results below e^−87 to 0.
//
// Measured on a grid of 200001 float32 points over [−10, 10] against float64 (math.Erfc), as
// max |error|/(1 + |x|) for GELU and max |error| for GELU' (x86-64, AVX-512 kernels, GCC and
// clang):
//
//	             GELU     GELU'    tested below          test
//	Go           3.3e-7   1.7e-6   4e-7     2e-6         nn TestGELUAccuracy
//	C            6.9e-8   2.1e-7   2e-7     4e-7         cpukernels TestKernelsGELUAccuracy
//	Metal                          2e-7     2e-7         shaders TestGELUAccuracy (shader harness)
//	C − Go       3.3e-7   1.8e-6   4e-7     2e-6         cpukernels TestKernelsGELUAccuracy
//
// Metal and Go therefore differ by less than 6e-7·(1 + |x|) in GELU and 2.2e-6 in GELU'. The Go
// table stays as it is because the default (pure Go) CPU build trains to the same losses bit for
// bit only with it; a model trained on the C kernels or on Metal follows the same curve to within
// these bounds, not the same bits.

// GELUForward sets out[i] = in[i]·Φ(in[i]), Φ by table (see geluLookup and the three GELUs above).
func (GoKernels) GELUForward(out, in []float32) {
	for i, x := range in[:len(out)] {
		out[i] = x * geluLookup(geluCDF, x)
	}
}

// GELUBackward adds dout[i]·GELU'(in[i]) to din[i], GELU'(x) = Φ(x) + x·φ(x) by table (see the
// three GELUs above).
func (GoKernels) GELUBackward(din, dout, in []float32) {
	for i, x := range in[:len(din)] {
		din[i] += dout[i] * geluLookup(geluGrad, x)
	}
}

// GELU by table: Φ(x) = ½(1 + erf(x/√2)) and GELU'(x) = Φ(x) + x·φ(x) sampled every 1/geluScale on
// [−geluRange, geluRange] (computed once in float64 with math.Erf) and interpolated linearly: about
// 6 float32 operations and two loads per element instead of an erf and an exp. Linear interpolation
// errs by at most h²/8 times the second derivative: below 5e-7 for Φ and 2e-6 for GELU' (tested by
// TestGELUTables).
// Beyond the range Φ is 0 or 1 in float32 (Φ(−8) ≈ 6e-16) and GELU' is 0 or 1.
const (
	geluRange = 8
	geluScale = 256 // samples per unit
	geluN     = 2*geluRange*geluScale + 1
)

var geluCDF, geluGrad = geluTables()

func geluTables() (cdf, grad *[geluN + 1]float32) {
	cdf, grad = new([geluN + 1]float32), new([geluN + 1]float32)
	for i := range geluN + 1 { // one extra sample so that interpolation at +geluRange reads in range
		x := float64(i)/geluScale - geluRange
		c := 0.5 * (1 + math.Erf(x/math.Sqrt2))
		cdf[i] = float32(c)
		grad[i] = float32(c + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi))
	}
	return cdf, grad
}

// geluLookup interpolates table t (geluCDF or geluGrad) at x; below the range it returns lo, above
// it hi (0 and 1 for both tables), and NaN for NaN.
func geluLookup(t *[geluN + 1]float32, x float32) float32 {
	u := (x + geluRange) * geluScale
	if !(u >= 0) { // also NaN
		if x != x {
			return x
		}
		return 0
	}
	if u >= geluN-1 {
		return 1
	}
	i := int(u)
	f := u - float32(i)
	return t[i] + f*(t[i+1]-t[i])
}
