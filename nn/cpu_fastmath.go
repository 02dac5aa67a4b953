package nn

import "math"

// Float32 exp for the Go kernels' hot loops (softmax, cross-entropy). math.Exp works in float64
// and handles every corner of the domain; expf covers the float32 range the ops see, at a few ulp,
// several times faster. (GELU's table is in kernels_gelu.go.)

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
