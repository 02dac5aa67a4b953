// reduce.h — the sum of squares of a chunk of the gradients, for GradNorm (twins:
// nn/kernels_reduce.go, shaders/reduce.metal).

#ifndef KV_REDUCE_H
#define KV_REDUCE_H

#include "common.h"

// kv_sum_squares returns Σ x[i]² in double precision.
KV_CLONES static double kv_sum_squares(const float *restrict x, long n) {
	double s = 0;
	KV_SIMD_REDUCTION(+ : s)
	for (long i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
	return s;
}

#endif // KV_REDUCE_H
