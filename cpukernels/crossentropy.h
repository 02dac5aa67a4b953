// crossentropy.h — fused softmax and cross-entropy loss, forward and backward
// (twins: nn/kernels_crossentropy.go, shaders/crossentropy.metal).

#ifndef KV_CROSSENTROPY_H
#define KV_CROSSENTROPY_H

#include "common.h"

// kv_ce_row returns the row's maximum and, in *sum, Σ e^(x−max).
static inline float kv_ce_row(const float *restrict x, long V, float *sum) {
	float mx = -INFINITY;
KV_SIMD_REDUCTION(max : mx)
	for (long i = 0; i < V; i++) mx = x[i] > mx ? x[i] : mx;
	float s = 0;
KV_SIMD_REDUCTION(+ : s)
	for (long i = 0; i < V; i++) s += kv_expf(x[i] - mx);
	*sum = s;
	return mx;
}

KV_CLONES static void kv_ce_forward(float *restrict losses, const float *restrict logits, const int32_t *restrict targets, long rows, long V) {
	for (long r = 0; r < rows; r++) {
		const float *restrict x = logits + r * V;
		float sum;
		float mx = kv_ce_row(x, V, &sum);
		losses[r] = (float)(log((double)sum) - (double)(x[targets[r]] - mx));
	}
}

KV_CLONES static void kv_ce_backward(float *restrict dlogits, const float *restrict dlosses, const float *restrict logits,
		const int32_t *restrict targets, long rows, long V) {
	for (long r = 0; r < rows; r++) {
		const float *restrict x = logits + r * V;
		float *restrict dx = dlogits + r * V;
		float sum;
		float mx = kv_ce_row(x, V, &sum);
		float dl = dlosses[r], scale = dl / sum;
		for (long i = 0; i < V; i++) dx[i] += kv_expf(x[i] - mx) * scale;
		dx[targets[r]] -= dl;
	}
}

#endif // KV_CROSSENTROPY_H
