// gelu.metal — exact GELU, ½·x·(1 + erf(x/√2)), on a float erfc of our own.
//
// Not every Metal version has erf, so gelu_erfc implements the complementary error function with
// the Chebyshev fit of Numerical Recipes (2nd ed., §6.2, "erfcc"):
//   erfc(z) ≈ t·exp(−z² − 1.26551223 + t·(1.00002368 + …)),  t = 1/(1 + z/2),  z ≥ 0,
// whose fractional error is below 1.2e-7 everywhere in exact arithmetic; erfc(−z) = 2 − erfc(z).
// Evaluated in float the error grows with the rounding of −z² in the exponent: TestGELUAccuracy
// measures it against math.Erfc over [−10, 10] (|GELU error| ≤ 2e-7·(1 + |x|)).
// GELU is written as ½·x·erfc(−x/√2), which keeps its relative accuracy for negative x, where
// 1 + erf(x/√2) would cancel.

static float gelu_erfc(float x)
{
    const float z = fabs(x);
    const float t = 1.0f / (1.0f + 0.5f * z);
    const float poly = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
                       t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f +
                       t * (-0.82215223f + t * 0.17087277f))))))));
    const float r = t * exp(-z * z + poly);
    return x >= 0.0f ? r : 2.0f - r;
}

constant constexpr float GELU_RSQRT2 = 0.70710678118654752f;     // 1/√2
constant constexpr float GELU_RSQRT2PI = 0.39894228040143268f;   // 1/√(2π)

// gelu_forward: out = ½·in·erfc(−in/√2).
//   buffer(0) out (n)   buffer(1) in (n)   buffer(2) EltwiseParams
//   grid (⌈n/256⌉ capped at 65535, 1, 1) × 256 threads; grid-stride loop
kernel void gelu_forward(device float*           out  [[buffer(0)]],
                         device const float*     in   [[buffer(1)]],
                         constant EltwiseParams& p    [[buffer(2)]],
                         uint gid     [[thread_position_in_grid]],
                         uint threads [[threads_per_grid]])
{
    for (uint i = gid; i < p.n; i += threads) {
        const float x = in[i];
        out[i] = 0.5f * x * gelu_erfc(-x * GELU_RSQRT2);
    }
}

// gelu_backward: din += dout·(Φ(in) + in·φ(in)), Φ(x) = ½·erfc(−x/√2), φ(x) = e^(−x²/2)/√(2π).
//   buffer(0) din (n)   buffer(1) dout (n)   buffer(2) in (n)   buffer(3) EltwiseParams
//   grid (⌈n/256⌉ capped at 65535, 1, 1) × 256 threads; grid-stride loop
kernel void gelu_backward(device float*           din  [[buffer(0)]],
                          device const float*     dout [[buffer(1)]],
                          device const float*     in   [[buffer(2)]],
                          constant EltwiseParams& p    [[buffer(3)]],
                          uint gid     [[thread_position_in_grid]],
                          uint threads [[threads_per_grid]])
{
    for (uint i = gid; i < p.n; i += threads) {
        const float x = in[i];
        const float cdf = 0.5f * gelu_erfc(-x * GELU_RSQRT2);
        const float pdf = GELU_RSQRT2PI * exp(-0.5f * x * x);
        din[i] += dout[i] * (cdf + x * pdf);
    }
}
