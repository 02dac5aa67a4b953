//go:build cgo && (openblas || (accelerate && darwin))

package bench

/*
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef KVGPT_OPENBLAS
#include <cblas.h>
#else
#include <Accelerate/Accelerate.h>
#endif

// kv_gemm holds the operands of a direct C = A·Bᵀ product (the layout of a matmul forward).
typedef struct { int m, n, k; float *a, *b, *c; } kv_gemm;

static kv_gemm *kv_gemm_new(int m, int n, int k) {
	kv_gemm *g = calloc(1, sizeof *g);
	if (!g) return NULL;
	g->m = m; g->n = n; g->k = k;
	g->a = aligned_alloc(64, ((size_t)m * k * sizeof(float) + 63) / 64 * 64);
	g->b = aligned_alloc(64, ((size_t)n * k * sizeof(float) + 63) / 64 * 64);
	g->c = aligned_alloc(64, ((size_t)m * n * sizeof(float) + 63) / 64 * 64);
	if (!g->a || !g->b || !g->c) { free(g->a); free(g->b); free(g->c); free(g); return NULL; }
	for (size_t i = 0; i < (size_t)m * k; i++) g->a[i] = (float)(i % 13) / 13 - 0.5f;
	for (size_t i = 0; i < (size_t)n * k; i++) g->b[i] = (float)(i % 7) / 7 - 0.5f;
	memset(g->c, 0, (size_t)m * n * sizeof(float));
	return g;
}

static void kv_gemm_free(kv_gemm *g) { free(g->a); free(g->b); free(g->c); free(g); }

// kv_gemm_run calls cblas_sgemm reps times back to back and returns the seconds it took.
static double kv_gemm_run(kv_gemm *g, int reps) {
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int r = 0; r < reps; r++)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->m, g->n, g->k, 1.0f, g->a, g->k, g->b, g->k,
			0.0f, g->c, g->n);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
}
*/
import "C"

import (
	"errors"
	"time"
)

// directGemm is an m×n×k C = A·Bᵀ product whose operands live in C memory and whose timing loop
// runs in C: the reference "what a C program gets from cblas_sgemm".
type directGemm struct{ g *C.kv_gemm }

func newDirectGemm(m, n, k int) (*directGemm, error) {
	g := C.kv_gemm_new(C.int(m), C.int(n), C.int(k))
	if g == nil {
		return nil, errors.New("bench: out of memory for the direct cblas_sgemm operands")
	}
	return &directGemm{g}, nil
}

// run calls cblas_sgemm reps times from C and returns the wall time.
func (d *directGemm) run(reps int) time.Duration {
	return time.Duration(float64(C.kv_gemm_run(d.g, C.int(reps))) * 1e9)
}

func (d *directGemm) free() { C.kv_gemm_free(d.g) }

// HaveDirectCBLAS reports whether this build can call cblas_sgemm directly (a BLAS build tag).
const HaveDirectCBLAS = true
