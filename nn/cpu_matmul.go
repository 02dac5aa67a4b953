package nn

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// A matrix product is cut into output tiles of gemmTileM rows and gemmTileN columns. gonum's
// Sgemm runs a product serially (without allocating) when its output has fewer than 4 blocks of
// 64×64; a 64×128 tile has 2. The wider rows give gonum's axpy-based kernels (the two backward
// products) longer vectors: about 20% faster than 64×64 tiles in a quick, noisy measurement at
// BT=2048, C=384, OC=1536. Tiles do not change the order in which any output element is summed,
// so results are the same for every tile shape and thread count.
const (
	gemmTileM = 64
	gemmTileN = 128
)

// MatmulForward: out = in·wᵀ (an nn.Linear without bias).
//
//	out (N, OC), in (N, C), w (OC, C)
func (c *CPU) MatmulForward(out View, in, w View, N, C, OC int) {
	checkSizes("nn: MatmulForward negative size", N, C, OC)
	o := c.need(out, N*OC, "nn: MatmulForward out too short")
	x := c.need(in, N*C, "nn: MatmulForward in too short")
	wt := c.need(w, OC*C, "nn: MatmulForward w too short")
	// out (N, OC) = in (N, C) · wᵀ (C, OC)
	c.gemm(blas.NoTrans, blas.Trans, N, OC, C, x, C, wt, C, 0, o, OC)
}

// MatmulBackward accumulates din += dout·w and dw += doutᵀ·in.
//
//	din (N, C), dw (OC, C), dout (N, OC), in (N, C), w (OC, C)
func (c *CPU) MatmulBackward(din, dw View, dout, in, w View, N, C, OC int) {
	checkSizes("nn: MatmulBackward negative size", N, C, OC)
	dx := c.need(din, N*C, "nn: MatmulBackward din too short")
	dwt := c.need(dw, OC*C, "nn: MatmulBackward dw too short")
	dy := c.need(dout, N*OC, "nn: MatmulBackward dout too short")
	x := c.need(in, N*C, "nn: MatmulBackward in too short")
	wt := c.need(w, OC*C, "nn: MatmulBackward w too short")
	if c.gemmMode == GemmSplit && N > 0 && C > 0 && OC > 0 {
		// The two products cost the same and are independent: half the workers run each, so every
		// BLAS call is twice as large as when each product is split over all of them in turn.
		j := &c.mm2
		parts := (c.threads + 1) / 2
		j.parts = parts
		j.x = matmulJob{tA: blas.NoTrans, tB: blas.NoTrans, m: N, n: C, k: OC, a: dy, lda: OC, b: wt, ldb: C, beta: 1, c: dx, ldc: C,
			tileM: (N + parts - 1) / parts, tileN: C, tilesN: 1}
		j.w = matmulJob{tA: blas.Trans, tB: blas.NoTrans, m: OC, n: C, k: N, a: dy, lda: OC, b: x, ldb: C, beta: 1, c: dwt, ldc: C,
			tileM: (OC + parts - 1) / parts, tileN: C, tilesN: 1}
		c.pool.run(j, 2*parts, 1)
		*j = gemmPairJob{}
		return
	}
	// din (N, C) += dout (N, OC) · w (OC, C)
	c.gemm(blas.NoTrans, blas.NoTrans, N, C, OC, dy, OC, wt, C, 1, dx, C)
	// dw (OC, C) += doutᵀ (OC, N) · in (N, C)
	c.gemm(blas.Trans, blas.NoTrans, OC, C, N, dy, OC, x, C, 1, dwt, C)
}

// gemmPairJob runs two independent products, x (din) and w (dw), each cut into parts blocks of
// rows: items [0, parts) are the blocks of x, [parts, 2·parts) those of w.
type gemmPairJob struct {
	x, w  matmulJob
	parts int
}

func (j *gemmPairJob) run(lo, hi int) {
	for i := lo; i < hi; i++ {
		if i < j.parts {
			j.x.run(i, i+1)
		} else {
			j.w.run(i-j.parts, i-j.parts+1)
		}
	}
}

// gemm computes the m×n matrix cm = op(a)·op(b) + beta·cm with inner size k as the backend's
// GemmMode says: as one blas32.Gemm call (GemmWhole), as one block of rows per worker (GemmSplit)
// or as gemmTileM×gemmTileN output tiles spread over the workers (GemmTiles).
func (c *CPU) gemm(tA, tB blas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, cm []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	j := &c.mm
	*j = matmulJob{tA: tA, tB: tB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: cm, ldc: ldc}
	switch c.gemmMode {
	case GemmWhole:
		j.tileM, j.tileN, j.tilesN = m, n, 1
		j.run(0, 1)
	case GemmSplit:
		j.tileM, j.tileN, j.tilesN = (m+c.threads-1)/c.threads, n, 1
		c.pool.run(j, (m+j.tileM-1)/j.tileM, 1)
	default:
		j.tileM, j.tileN = gemmTileM, gemmTileN
		j.tilesN = (n + gemmTileN - 1) / gemmTileN
		tiles := (m + gemmTileM - 1) / gemmTileM * j.tilesN
		c.pool.run(j, tiles, 1)
	}
	*j = matmulJob{} // drop the references to the caller's buffers
}

// matmulJob is one product cut into tileM×tileN tiles; item i is tile (i / tilesN, i % tilesN).
type matmulJob struct {
	tA, tB  blas.Transpose
	m, n, k int
	a, b, c []float32
	lda     int
	ldb     int
	ldc     int
	beta    float32

	tileM, tileN, tilesN int
}

func (j *matmulJob) run(lo, hi int) {
	for t := lo; t < hi; t++ {
		i0 := t / j.tilesN * j.tileM
		j0 := t % j.tilesN * j.tileN
		if i0 >= j.m { // a split into more blocks than rows
			continue
		}
		mi := min(j.tileM, j.m-i0)
		nj := min(j.tileN, j.n-j0)
		// Rows i0… of op(a) and columns j0… of op(b).
		var a, b blas32.General
		if j.tA == blas.NoTrans {
			a = sub(j.a, j.lda, i0, 0, mi, j.k)
		} else {
			a = sub(j.a, j.lda, 0, i0, j.k, mi)
		}
		if j.tB == blas.NoTrans {
			b = sub(j.b, j.ldb, 0, j0, j.k, nj)
		} else {
			b = sub(j.b, j.ldb, j0, 0, nj, j.k)
		}
		blas32.Gemm(j.tA, j.tB, 1, a, b, j.beta, sub(j.c, j.ldc, i0, j0, mi, nj))
	}
}

// sub returns the rows×cols sub-matrix at (r0, c0) of the row-major matrix data with row stride ld.
func sub(data []float32, ld, r0, c0, rows, cols int) blas32.General {
	if rows == 0 || cols == 0 {
		return blas32.General{Rows: rows, Cols: cols, Stride: max(ld, 1)}
	}
	start := r0*ld + c0
	return blas32.General{Rows: rows, Cols: cols, Stride: ld, Data: data[start : start+(rows-1)*ld+cols]}
}
