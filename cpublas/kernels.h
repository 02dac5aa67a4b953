// kernels.h — the C inner loops behind cpublas.Kernels (see kernels.go): GELU, the causal softmax
// of attention, LayerNorm, cross-entropy and AdamW, each the loop of package nn's CPU backend it
// replaces, written so that the compiler vectorises it. On x86-64 Linux every kernel is compiled
// three times (AVX-512, AVX2+FMA, baseline SSE2) and the loader picks the one the CPU runs;
// elsewhere (arm64: NEON) once. Sums over a row use `omp simd` reductions (lane-wise partial sums
// added at the end): a fixed order for a given machine, so results still do not depend on the
// number of threads.

#include <math.h>
#include <stdint.h>
#include <string.h>

// sqrtf need not set errno (its argument here is never negative), so that AdamW vectorises; clang
// on macOS already assumes so.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-math-errno")
#endif

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define KV_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KV_CLONES
#endif

// kv_isa names the instruction set the kernels run with on this CPU.
static const char *kv_isa(void) {
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
	__builtin_cpu_init();
	if (__builtin_cpu_supports("x86-64-v4")) return "AVX-512";
	if (__builtin_cpu_supports("x86-64-v3")) return "AVX2";
	return "SSE2";
#elif defined(__aarch64__)
	return "NEON";
#else
	return "scalar";
#endif
}

// kv_expf is e^x for float32, the algorithm of nn's expf (x = k·ln2 + r, |r| ≤ ln2/2, a degree-7
// polynomial for e^r, 2^k by exponent bits) without branches, so that it vectorises. Arguments
// are clamped to [−87, 88] (e^−87 ≈ 1.6e−38 stands in for smaller results, which only ever
// meet sums of order 1 here); NaN stays NaN.
static inline float kv_expf(float x) {
	const float log2e = 1.44269504088896341f, ln2hi = 0.693359375f, ln2lo = -2.12194440e-4f;
	const float shifter = 12582912.0f; // 1.5·2²³: adding it rounds to an integer in the low bits
	x = x < -87.0f ? -87.0f : x;
	x = x > 88.0f ? 88.0f : x;
	float t = x * log2e + shifter;
	float k = t - shifter;
	float r = x - k * ln2hi - k * ln2lo;
	float p = 1 + r * (1 + r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
	union { float f; uint32_t u; } tb = {t}, sb = {shifter}, scale;
	scale.u = (uint32_t)((int32_t)(tb.u - sb.u) + 127) << 23;
	return p * scale.f;
}

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

// kv_causal_softmax: row i of att (stride T) becomes the softmax of its first t0+i+1 entries,
// then zeros up to T.
KV_CLONES static void kv_causal_softmax(float *restrict att, long T, long t0, long n) {
	for (long i = 0; i < n; i++) {
		float *restrict x = att + i * T;
		long len = t0 + i + 1;
		float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
		for (long s = 0; s < len; s++) mx = x[s] > mx ? x[s] : mx;
		float sum = 0;
#pragma omp simd reduction(+ : sum)
		for (long s = 0; s < len; s++) {
			float e = kv_expf(x[s] - mx);
			x[s] = e;
			sum += e;
		}
		float inv = 1 / sum;
		for (long s = 0; s < len; s++) x[s] *= inv;
		memset(x + len, 0, (size_t)(T - len) * sizeof(float));
	}
}

// kv_causal_softmax_backward: the first m entries of row i of datt (stride T) become
// att·(datt − Σ_{s < t0+i+1} att·datt).
KV_CLONES static void kv_causal_softmax_backward(float *restrict datt, const float *restrict att, long T, long t0, long n, long m) {
	for (long i = 0; i < n; i++) {
		float *restrict dr = datt + i * T;
		const float *restrict pr = att + i * T;
		long len = t0 + i + 1;
		float dot = 0;
#pragma omp simd reduction(+ : dot)
		for (long s = 0; s < len; s++) dot += pr[s] * dr[s];
		for (long s = 0; s < m; s++) dr[s] = pr[s] * (dr[s] - dot);
	}
}

KV_CLONES static void kv_layernorm_forward(float *restrict out, float *restrict mean, float *restrict rstd,
		const float *restrict in, const float *restrict w, long rows, long C, float eps) {
	for (long r = 0; r < rows; r++) {
		const float *restrict x = in + r * C;
		float *restrict y = out + r * C;
		float m = 0;
#pragma omp simd reduction(+ : m)
		for (long i = 0; i < C; i++) m += x[i];
		m /= (float)C;
		float vr = 0;
#pragma omp simd reduction(+ : vr)
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
#pragma omp simd reduction(+ : gMean, gnMean)
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

// kv_ce_row returns the row's maximum and, in *sum, Σ e^(x−max).
static inline float kv_ce_row(const float *restrict x, long V, float *sum) {
	float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
	for (long i = 0; i < V; i++) mx = x[i] > mx ? x[i] : mx;
	float s = 0;
#pragma omp simd reduction(+ : s)
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

KV_CLONES static void kv_adamw(float *restrict p, float *restrict m, float *restrict v, const float *restrict g,
		const float *restrict decay, long n, float lr, float beta1, float beta2, float eps, float wd, float gscale,
		float stepSize, float bc2Sqrt) {
	for (long i = 0; i < n; i++) {
		float gi = gscale * g[i];
		float pi = p[i] * (1 - lr * wd * decay[i]);
		float mi = beta1 * m[i] + (1 - beta1) * gi;
		float vi = beta2 * v[i] + (1 - beta2) * gi * gi;
		float denom = sqrtf(vi) / bc2Sqrt + eps;
		p[i] = pi - stepSize * mi / denom;
		m[i] = mi;
		v[i] = vi;
	}
}
