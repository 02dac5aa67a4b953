// adamw.h — one AdamW step over a range of parameters (twins: nn/kernels_adamw.go,
// shaders/adamw.metal).

#ifndef KV_ADAMW_H
#define KV_ADAMW_H

#include "common.h"

// kv_sqrtf is √x for float32 without a libm call. sqrtf may set errno, so a loop calling it does
// not vectorise unless built with -fno-math-errno, which cgo does not accept in #cgo CFLAGS (nor
// GCC in an optimize attribute next to target_clones). The estimate of 1/√x from the exponent
// bits is refined by three Newton steps (relative error 3e-2 → 2e-3 → 4e-6 → 3e-11, then float
// rounding), and √x = x/√x by a last correction step: within an ulp of sqrtf for normal x
// (TestKernelsSqrtf), 0 → 0, +∞ → +∞, NaN → NaN; subnormal x (where AdamW's eps swamps √v anyway) only
// roughly. Negative x is not used here.
static inline float kv_sqrtf(float x) {
	union { float f; uint32_t u; } b = {x};
	b.u = 0x5f3759dfu - (b.u >> 1);
	float y = b.f, h = 0.5f * x;
	y = y * (1.5f - h * y * y);
	y = y * (1.5f - h * y * y);
	y = y * (1.5f - h * y * y);
	float r = x * y;
	r = r + 0.5f * y * (x - r * r);
	return x < INFINITY ? r : x; // also NaN → NaN
}

KV_CLONES static void kv_adamw(float *restrict p, float *restrict m, float *restrict v, const float *restrict g,
		const float *restrict decay, long n, float lr, float beta1, float beta2, float eps, float wd, float gscale,
		float stepSize, float bc2Sqrt) {
	for (long i = 0; i < n; i++) {
		float gi = gscale * g[i];
		float pi = p[i] * (1 - lr * wd * decay[i]);
		float mi = beta1 * m[i] + (1 - beta1) * gi;
		float vi = beta2 * v[i] + (1 - beta2) * gi * gi;
		float denom = kv_sqrtf(vi) / bc2Sqrt + eps;
		p[i] = pi - stepSize * mi / denom;
		m[i] = mi;
		v[i] = vi;
	}
}

#endif // KV_ADAMW_H
