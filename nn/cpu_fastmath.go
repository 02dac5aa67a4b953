package nn

import "math"

// Float32 exp and normal CDF for the CPU backend's hot loops (softmax, cross-entropy, GELU).
// math.Exp and math.Erf work in float64 and handle every corner of the domain; these handle the
// float32 range the ops see at a few ulp, several times faster.

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

// normalCDF returns Φ(x) = ½(1 + erf(x/√2)), the standard normal CDF, and φ(x) = e^(−x²/2)/√(2π),
// its density, within 3e-7 absolute (a few float32 ulp of 1). It uses the erf approximation 7.1.26 of Abramowitz and
// Stegun (|error| ≤ 1.5e-7), whose exponential e^(−z²) with z = |x|/√2 is e^(−x²/2): one expf
// serves both values.
func normalCDF(x float32) (cdf, pdf float32) {
	const (
		p  = 0.3275911
		a1 = 0.254829592
		a2 = -0.284496736
		a3 = 1.421413741
		a4 = -1.453152027
		a5 = 1.061405429
	)
	z := x * invSqrt2
	if z < 0 {
		z = -z
	}
	g := expf(-0.5 * x * x) // e^(−z²)
	t := 1 / (1 + p*z)
	tail := 0.5 * t * (a1 + t*(a2+t*(a3+t*(a4+t*a5)))) * g // ½·erfc(z)
	if x < 0 {
		cdf = tail
	} else {
		cdf = 1 - tail
	}
	return cdf, invSqrt2Pi * g
}
