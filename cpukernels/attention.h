// attention.h — causal attention for one (batch, head), forward and backward, on register tiles
// (twins: nn/kernels_attention.go, shaders/attention.metal).

#ifndef KV_ATTENTION_H
#define KV_ATTENTION_H

#include "common.h"

// The products of causal attention for one head are small (T×T×dh with dh = 32 … 128) and
// triangular. kv_attention_forward/backward compute them on tiles of KV_TR rows × KV_TC columns
// held in registers (GCC/clang vector extensions: one kv_vf is 16 floats, an AVX-512 register or
// two AVX2, four SSE or NEON ones), visiting only the key columns a tile of query rows can see, so
// that at most KV_TR−1 masked entries per row are computed, against up to 63 with the 64-row blocks
// of BLAS products. The operands are first packed into per-thread scratch with rows padded to
// whole tiles (zeros), so that tiles never read out of bounds; results are stored whole where
// the tile fits and element by element at the edges.

typedef float kv_vf __attribute__((vector_size(64)));
#define KV_VL 16         // floats per kv_vf
#define KV_TR 4          // rows per tile
#define KV_TC (2 * KV_VL) // columns per tile

// KV_LOAD and KV_STORE move a kv_vf from and to unaligned floats (macros: a function passing
// kv_vf by value would have a different ABI in each of the KV_CLONES versions).
#define KV_LOAD(v, p) memcpy(&(v), (p), sizeof(kv_vf))
#define KV_STORE(p, v) memcpy((p), &(v), sizeof(kv_vf))

// KV_INLINE marks the tile functions, which must be compiled into each KV_CLONES version of
// their callers (an out-of-line copy would be built for the baseline instruction set only).
#define KV_INLINE static inline __attribute__((always_inline))

// kv_round_up rounds n up to a multiple of m.
static inline long kv_round_up(long n, long m) { return (n + m - 1) / m * m; }

// kv_scratch returns per-thread scratch of at least n floats (kept between calls, grown as needed).
static float *kv_scratch(size_t n) {
	static __thread float *buf;
	static __thread size_t cap;
	if (n > cap) {
		free(buf);
		cap = n + n / 4;
		buf = (float *)malloc(cap * sizeof(float));
		if (buf == NULL) {
			cap = 0;
		}
	}
	return buf;
}

// kv_pack_rows copies rows × cols of src (row stride lds) into dst with row stride ldd ≥ cols,
// zero-filling columns cols … ldd−1 and rows rows … prows−1.
static void kv_pack_rows(float *restrict dst, long ldd, const float *restrict src, long lds, long rows, long prows, long cols) {
	for (long r = 0; r < rows; r++) {
		memcpy(dst + r * ldd, src + r * lds, (size_t)cols * sizeof(float));
		memset(dst + r * ldd + cols, 0, (size_t)(ldd - cols) * sizeof(float));
	}
	memset(dst + rows * ldd, 0, (size_t)((prows - rows) * ldd) * sizeof(float));
}

// kv_pack_transposed writes the transpose of rows × cols of src (row stride lds) into dst
// (cols rows of stride ldd ≥ rows), zero-filling columns rows … ldd−1.
static void kv_pack_transposed(float *restrict dst, long ldd, const float *restrict src, long lds, long rows, long cols) {
	for (long c = 0; c < cols; c++) {
		memset(dst + c * ldd + rows, 0, (size_t)(ldd - rows) * sizeof(float));
	}
	// 16 columns (a cache line of src) at a time, down all rows: src is read a line at a time and
	// the 16 rows of dst being written stay in L1 (a column at a time would touch a new line of
	// dst with every element).
	for (long c0 = 0; c0 < cols; c0 += 16) {
		long nc = cols - c0 < 16 ? cols - c0 : 16;
		for (long r = 0; r < rows; r++) {
			const float *s = src + r * lds + c0;
			for (long c = 0; c < nc; c++) {
				dst[(c0 + c) * ldd + r] = s[c];
			}
		}
	}
}

// kv_tile_out stores (add = 0) or adds (add = 1) the tile acc (KV_TR rows of two kv_vf) times
// alpha into nr × nc of c (row stride ldc).
KV_INLINE void kv_tile_out(float *restrict c, long ldc, kv_vf acc[KV_TR][2], long nr, long nc, float alpha, int add) {
	if (nr == KV_TR && nc == KV_TC) {
		for (int r = 0; r < KV_TR; r++) {
			for (int h = 0; h < 2; h++) {
				float *p = c + r * ldc + h * KV_VL;
				kv_vf x = acc[r][h] * alpha;
				if (add) {
					kv_vf y;
					KV_LOAD(y, p);
					x += y;
				}
				KV_STORE(p, x);
			}
		}
		return;
	}
	for (long r = 0; r < nr; r++) {
		for (long j = 0; j < nc; j++) {
			float x = acc[r][j / KV_VL][j % KV_VL] * alpha;
			c[r * ldc + j] = add ? c[r * ldc + j] + x : x;
		}
	}
}

// kv_tile_ab: tile (nr × nc of c) (+)= alpha · Σ_{s<S} p[r][s] · b[s][0 … KV_TC−1]: the product of
// rows of p (stride ldp; rows nr … KV_TR−1 repeat row nr−1) with b (row stride ldb, KV_TC readable
// columns). With p = q and b = kᵀ it makes logits; with p = att and b = v, outputs.
KV_INLINE void kv_tile_ab(float *restrict c, long ldc, const float *restrict p, long ldp, const float *restrict b, long ldb,
		long S, long nr, long nc, float alpha, int add) {
	kv_vf acc[KV_TR][2] = {{{0}}};
	const float *pr[KV_TR];
	for (int r = 0; r < KV_TR; r++) pr[r] = p + (r < nr ? r : nr - 1) * ldp;
	for (long s = 0; s < S; s++) {
		kv_vf b0, b1;
		KV_LOAD(b0, b + s * ldb);
		KV_LOAD(b1, b + s * ldb + KV_VL);
		for (int r = 0; r < KV_TR; r++) {
			float x = pr[r][s];
			acc[r][0] += x * b0;
			acc[r][1] += x * b1;
		}
	}
	kv_tile_out(c, ldc, acc, nr, nc, alpha, add);
}

// kv_tile_ptb: tile (nr × nc of c) += alpha · Σ_{t=t0}^{t1−1} p[t][r] · b[t][0 … KV_TC−1]: p read
// down its columns (row stride ldp; columns nr … KV_TR−1 repeat column nr−1).
KV_INLINE void kv_tile_ptb(float *restrict c, long ldc, const float *restrict p, long ldp, const float *restrict b, long ldb,
		long t0, long t1, long nr, long nc, float alpha) {
	kv_vf acc[KV_TR][2] = {{{0}}};
	long col[KV_TR];
	for (int r = 0; r < KV_TR; r++) col[r] = r < nr ? r : nr - 1;
	for (long t = t0; t < t1; t++) {
		kv_vf b0, b1;
		KV_LOAD(b0, b + t * ldb);
		KV_LOAD(b1, b + t * ldb + KV_VL);
		const float *pt = p + t * ldp;
		for (int r = 0; r < KV_TR; r++) {
			float x = pt[col[r]];
			acc[r][0] += x * b0;
			acc[r][1] += x * b1;
		}
	}
	kv_tile_out(c, ldc, acc, nr, nc, alpha, 1);
}

// kv_softmax_row replaces x[0 … len−1] by its softmax and zeroes x[len … n−1].
KV_INLINE void kv_softmax_row(float *restrict x, long len, long n) {
	float mx = -INFINITY;
KV_SIMD_REDUCTION(max : mx)
	for (long s = 0; s < len; s++) mx = x[s] > mx ? x[s] : mx;
	float sum = 0;
KV_SIMD_REDUCTION(+ : sum)
	for (long s = 0; s < len; s++) {
		float e = kv_expf(x[s] - mx);
		x[s] = e;
		sum += e;
	}
	float inv = 1 / sum;
	for (long s = 0; s < len; s++) x[s] *= inv;
	memset(x + len, 0, (size_t)(n - len) * sizeof(float));
}

// kv_attention_forward computes causal attention for one (batch, head): att (T, T) = softmax of
// scale·q·kᵀ with row t seeing keys 0 … t (zeros after), out (T rows of dh, stride lo) = att·v.
// q, k, v are T rows of dh with strides lq, lk, lv. It returns 0, or −1 if scratch could not be
// allocated.
KV_CLONES static int kv_attention_forward(float *restrict out, long lo, float *restrict att, const float *restrict q, long lq,
		const float *restrict k, long lk, const float *restrict v, long lv, long T, long dh, float scale) {
	long tp = kv_round_up(T, KV_TC), dp = kv_round_up(dh, KV_TC);
	float *kt = kv_scratch((size_t)(dh * tp + tp * dp));
	if (kt == NULL) return -1;
	float *vp = kt + dh * tp;                     // (tp, dp) v, padded
	kv_pack_transposed(kt, tp, k, lk, T, dh);      // (dh, tp) kᵀ
	kv_pack_rows(vp, dp, v, lv, T, tp, dh);
	for (long t0 = 0; t0 < T; t0 += KV_TR) {
		long nr = T - t0 < KV_TR ? T - t0 : KV_TR;
		long len = t0 + nr; // keys the tile's last row sees
		float *arow = att + t0 * T;
		for (long s0 = 0; s0 < len; s0 += KV_TC) {
			long nc = T - s0 < KV_TC ? T - s0 : KV_TC;
			kv_tile_ab(arow + s0, T, q + t0 * lq, lq, kt + s0, tp, dh, nr, nc, scale, 0);
		}
		for (long r = 0; r < nr; r++) kv_softmax_row(arow + r * T, t0 + r + 1, T);
		for (long d0 = 0; d0 < dh; d0 += KV_TC) {
			long nc = dh - d0 < KV_TC ? dh - d0 : KV_TC;
			kv_tile_ab(out + t0 * lo + d0, lo, arow, T, vp + d0, dp, len, nr, nc, 1, 0);
		}
	}
	return 0;
}

// kv_attention_backward accumulates dq, dk, dv of one (batch, head) (strides ldq, ldk, ldv) from
// dout (stride ldo) and the forward's att; datt (T, T) is scratch. Returns 0, or −1 if scratch
// could not be allocated.
KV_CLONES static int kv_attention_backward(float *restrict dq, long ldq, float *restrict dk, long ldk, float *restrict dv, long ldv,
		float *restrict datt, const float *restrict dout, long ldo, const float *restrict att, const float *restrict q, long lq,
		const float *restrict k, long lk, const float *restrict v, long lv, long T, long dh, float scale) {
	long tp = kv_round_up(T, KV_TC), dp = kv_round_up(dh, KV_TC);
	float *vt = kv_scratch((size_t)(dh * tp + 3 * tp * dp));
	if (vt == NULL) return -1;
	float *kp = vt + dh * tp, *qp = kp + tp * dp, *op = qp + tp * dp;
	kv_pack_transposed(vt, tp, v, lv, T, dh); // (dh, tp) vᵀ
	kv_pack_rows(kp, dp, k, lk, T, tp, dh);
	kv_pack_rows(qp, dp, q, lq, T, tp, dh);
	kv_pack_rows(op, dp, dout, ldo, T, tp, dh);
	for (long t0 = 0; t0 < T; t0 += KV_TR) {
		long nr = T - t0 < KV_TR ? T - t0 : KV_TR;
		long len = t0 + nr;
		float *drow = datt + t0 * T;
		const float *arow = att + t0 * T;
		// datt = dout·vᵀ over the keys the tile sees
		for (long s0 = 0; s0 < len; s0 += KV_TC) {
			long nc = T - s0 < KV_TC ? T - s0 : KV_TC;
			kv_tile_ab(drow + s0, T, dout + t0 * ldo, ldo, vt + s0, tp, dh, nr, nc, 1, 0);
		}
		// softmax backward: dlogit = att·(datt − Σ att·datt) on s ≤ t, and zeros on the KV_TR
		// entries after the diagonal, which the tiles below read
		for (long r = 0; r < nr; r++) {
			long t = t0 + r, n = t + 1;
			float *dr = drow + r * T;
			const float *pr = arow + r * T;
			float dot = 0;
KV_SIMD_REDUCTION(+ : dot)
			for (long s = 0; s < n; s++) dot += pr[s] * dr[s];
			for (long s = 0; s < n; s++) dr[s] = pr[s] * (dr[s] - dot);
			long z = T - n < KV_TR ? T - n : KV_TR;
			memset(dr + n, 0, (size_t)z * sizeof(float));
		}
		// dq += scale · dlogit · k
		for (long d0 = 0; d0 < dh; d0 += KV_TC) {
			long nc = dh - d0 < KV_TC ? dh - d0 : KV_TC;
			kv_tile_ab(dq + t0 * ldq + d0, ldq, drow, T, kp + d0, dp, len, nr, nc, scale, 1);
		}
	}
	// dv += attᵀ · dout and dk += scale · dlogitᵀ · q, key rows s0 … s0+KV_TR−1 at a time: query
	// rows t ≥ s0 only (att and dlogit are 0 above the diagonal)
	for (long s0 = 0; s0 < T; s0 += KV_TR) {
		long nr = T - s0 < KV_TR ? T - s0 : KV_TR;
		for (long d0 = 0; d0 < dh; d0 += KV_TC) {
			long nc = dh - d0 < KV_TC ? dh - d0 : KV_TC;
			kv_tile_ptb(dv + s0 * ldv + d0, ldv, att + s0, T, op + d0, dp, s0, T, nr, nc, 1);
			kv_tile_ptb(dk + s0 * ldk + d0, ldk, datt + s0, T, qp + d0, dp, s0, T, nr, nc, scale);
		}
	}
	return 0;
}

#endif // KV_ATTENTION_H
