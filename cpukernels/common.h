// common.h — what the C kernels of package cpukernels share: the build macros (KV_CLONES,
// KV_SIMD_REDUCTION), kv_isa and kv_expf. Each op family has a header of its own (gelu.h,
// layernorm.h, attention.h, crossentropy.h, adamw.h, reduce.h), included by the Go file of the same
// stem, whose methods implement nn.Kernels with it; the Go loops they stand in for are
// nn/kernels_<family>.go, the Metal kernels shaders/<family>.metal.
//
// Every kernel is written so that the compiler vectorises it. On x86-64 Linux each is compiled
// three times (AVX-512, AVX2+FMA, baseline SSE2) and the loader picks the one the CPU runs;
// elsewhere (arm64: NEON) once. Sums over a row use `omp simd` reductions (lane-wise partial sums
// added at the end): a fixed order for a given machine, so results still do not depend on the
// number of threads (but they are not the bits of the Go loops, which sum in order).

#ifndef KV_COMMON_H
#define KV_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// KV_SIMD_REDUCTION(op : vars) asks for a vectorised reduction (`omp simd`, lane-wise partial
// results combined at the end) where the build enables it (-fopenmp-simd -DKV_OMP_SIMD, as
// kernels.go does on Linux); elsewhere it is nothing, and the sums run in order.
#ifdef KV_OMP_SIMD
#define KV_PRAGMA(x) _Pragma(#x)
#define KV_SIMD_REDUCTION(...) KV_PRAGMA(omp simd reduction(__VA_ARGS__))
#else
#define KV_SIMD_REDUCTION(...)
#endif

// clang reports each loop it was asked to vectorise and could not (the exp loops); they are
// correct either way.
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define KV_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KV_CLONES
#endif

// kv_isa names the instruction set the kernels run with on this CPU.
static inline const char *kv_isa(void) {
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
	// The features of x86-64-v4 and -v3 that name the version the loader picks (feature names
	// that GCC and clang both know).
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
			__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd"))
		return "AVX-512";
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2")) return "AVX2";
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

#endif // KV_COMMON_H
