package nn

import "math"

// Float32 exp and GELU for the CPU backend's hot loops (softmax, cross-entropy, GELU). math.Exp and
// math.Erf work in float64 and handle every corner of the domain; these cover the float32 range the
// ops see, at a few ulp (exp) or well inside the conformance tolerance (GELU), several times faster.

const (
	log2e = 1.44269504088896340736 // 1/ln 2
	// ln 2 split so that k·ln2Hi is exact for |k| ≤ 2⁸ (Cody and Waite's range reduction).
	ln2Hi = 0.693359375
	ln2Lo = -2.12194440054690583e-4
)

// expf returns eˣ for float32 x with a relative error of a few ulp. It reduces x = k·ln 2 + r
// with |r| ≤ ½ln 2, sums the Taylor series of eʳ to r⁷ (the next term is below 2⁻²⁴ of the sum)
// and scales by 2ᵏ through the exponent bits. Arguments outside [−87, 88] (where 2ᵏ would leave
// the normal float32 range) and NaN go to math.Exp.
func expf(x float32) float32 {
	if !(x >= -87 && x <= 88) {
		return float32(math.Exp(float64(x)))
	}
	// Adding 1.5·2²³ rounds x·log₂e to the nearest integer k, left in the low mantissa bits.
	const shifter = 1.5 * (1 << 23)
	t := x*log2e + shifter
	k := t - shifter
	r := x - k*ln2Hi - k*ln2Lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	ki := int32(math.Float32bits(t) - math.Float32bits(shifter))
	return p * math.Float32frombits(uint32(ki+127)<<23)
}

// GELU by table: Φ(x) = ½(1 + erf(x/√2)) and GELU'(x) = Φ(x) + x·φ(x) sampled every 1/geluScale on
// [−geluRange, geluRange] (computed once in float64 with math.Erf) and interpolated linearly: about
// 6 float32 operations and two loads per element instead of an erf and an exp. Linear interpolation
// errs by at most h²/8 times the second derivative: below 5e-7 for Φ and 2e-6 for GELU' (tested).
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
