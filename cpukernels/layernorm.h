// layernorm.h — LayerNorm with a weight and no bias, forward and backward (twins:
// nn/kernels_layernorm.go, shaders/layernorm.metal).

#ifndef KV_LAYERNORM_H
#define KV_LAYERNORM_H

#include "common.h"

KV_CLONES static void kv_layernorm_forward(float *restrict out, float *restrict mean, float *restrict rstd,
		const float *restrict in, const float *restrict w, long rows, long C, float eps) {
	for (long r = 0; r < rows; r++) {
		const float *restrict x = in + r * C;
		float *restrict y = out + r * C;
		float m = 0;
KV_SIMD_REDUCTION(+ : m)
		for (long i = 0; i < C; i++) m += x[i];
		m /= (float)C;
		float vr = 0;
KV_SIMD_REDUCTION(+ : vr)
		for (long i = 0; i < C; i++) vr += (x[i] - m) * (x[i] - m);
		vr /= (float)C;
		float s = (float)(1 / sqrt((double)vr + eps));
		for (long i = 0; i < C; i++) y[i] = (x[i] - m) * s * w[i];
		mean[r] = m;
		rstd[r] = s;
	}
}

KV_CLONES static void kv_layernorm_backward(float *restrict din, const float *restrict dout, const float *restrict in,
		const float *restrict w, const float *restrict mean, const float *restrict rstd, long rows, long C) {
	for (long r = 0; r < rows; r++) {
		const float *restrict x = in + r * C, *restrict dy = dout + r * C;
		float *restrict dx = din + r * C;
		float m = mean[r], s = rstd[r], gMean = 0, gnMean = 0;
KV_SIMD_REDUCTION(+ : gMean, gnMean)
		for (long i = 0; i < C; i++) {
			float g = w[i] * dy[i];
			gMean += g;
			gnMean += g * (x[i] - m) * s;
		}
		gMean /= (float)C;
		gnMean /= (float)C;
		for (long i = 0; i < C; i++) dx[i] += (w[i] * dy[i] - gMean - (x[i] - m) * s * gnMean) * s;
	}
}

// kv_layernorm_dw adds columns lo … lo+cols−1 of Σ_r dout·n to dw.
KV_CLONES static void kv_layernorm_dw(float *restrict dw, const float *restrict dout, const float *restrict in,
		const float *restrict mean, const float *restrict rstd, long rows, long C, long lo, long cols) {
	for (long r = 0; r < rows; r++) {
		const float *restrict x = in + r * C + lo, *restrict dy = dout + r * C + lo;
		float m = mean[r], s = rstd[r];
		for (long i = 0; i < cols; i++) dw[i] += dy[i] * (x[i] - m) * s;
	}
}

#endif // KV_LAYERNORM_H
