// gelu.h — exact GELU, ½·x·(1 + erf(x/√2)), and its derivative (twins: nn/kernels_gelu.go,
// shaders/gelu.metal). Like gelu.metal, and unlike the Go kernels' tables, it evaluates erfc by the
// Numerical Recipes fit (see kv_erfc). Over [−10, 10] it errs from exact GELU by less than
// 2e-7·(1 + |x|) (4e-7 for the derivative) and from the Go kernels by less than 4e-7·(1 + |x|)
// (2e-6 for the derivative): TestKernelsGELUAccuracy, and "The three GELUs" in nn/kernels_gelu.go.

#ifndef KV_GELU_H
#define KV_GELU_H

#include "common.h"

// kv_erfc is the complementary error function by the Chebyshev fit the Metal kernels use
// (shaders/gelu.metal: Numerical Recipes' erfcc, fractional error below 1.2e-7 in exact
// arithmetic), on kv_expf and without branches: arithmetic only, so GELU vectorises (nn's table
// lookups would need gathers). Results below e^−87 are 0; NaN stays NaN.
static inline float kv_erfc(float x) {
	float z = fabsf(x);
	float t = 1.0f / (1.0f + 0.5f * z);
	float poly = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
			t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f +
			t * (-0.82215223f + t * 0.17087277f))))))));
	float a = poly - z * z;
	float r = t * kv_expf(a);
	r = a < -87.0f ? 0.0f : r;
	return x >= 0 ? r : 2.0f - r;
}

#define KV_RSQRT2 0.70710678118654752f   // 1/√2
#define KV_RSQRT2PI 0.39894228040143268f // 1/√(2π)

// kv_gelu_forward: out = ½·in·erfc(−in/√2), which keeps its relative accuracy for negative in.
KV_CLONES static void kv_gelu_forward(float *restrict out, const float *restrict in, long n) {
	for (long i = 0; i < n; i++) out[i] = 0.5f * in[i] * kv_erfc(-in[i] * KV_RSQRT2);
}

// kv_gelu_backward: din += dout·(Φ(in) + in·φ(in)), Φ(x) = ½·erfc(−x/√2), φ(x) = e^(−x²/2)/√(2π).
KV_CLONES static void kv_gelu_backward(float *restrict din, const float *restrict dout, const float *restrict in, long n) {
	for (long i = 0; i < n; i++) {
		float x = in[i];
		float cdf = 0.5f * kv_erfc(-x * KV_RSQRT2);
		float e = -0.5f * x * x;
		float xpdf = x * KV_RSQRT2PI * kv_expf(e);
		xpdf = e < -87.0f ? 0.0f : xpdf; // also for x = ±∞
		din[i] += dout[i] * (cdf + xpdf);
	}
}

#endif // KV_GELU_H
