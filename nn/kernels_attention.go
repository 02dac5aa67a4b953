package nn

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// attTile is the side of the output tiles of attention's products on gonum's BLAS (see gemm).
const attTile = 64

// attBlock is the number of query rows handled together: block rows t0…t0+attBlock−1 attend to
// keys 0…t0+attBlock−1 only, so the products of a block skip the masked keys beyond it.
const attBlock = attTile

// AttentionHeadForward computes causal attention for one (batch, head) a block of query rows at
// a time: the block's logits against the keys it can see as one product, a causal softmax per
// row, then the block's output as one product with the values.
//
//	out (T, dh), att (T, T), q, k, v (T, dh)
func (g GoKernels) AttentionHeadForward(out blas32.General, att []float32, q, k, v blas32.General, scale float32) {
	T := q.Rows
	for t0 := 0; t0 < T; t0 += attBlock {
		n := min(attBlock, T-t0)
		m := t0 + n // keys visible to the last row of the block
		p := sub(att, T, t0, 0, n, m)
		// att[t0:t0+n, :m] = scale · Q[t0:t0+n] · K[:m]ᵀ
		g.gemm(blas.NoTrans, blas.Trans, scale, rows(q, t0, n), rows(k, 0, m), 0, p)
		for i := range n {
			row := att[(t0+i)*T:][:T]
			softmaxInPlace(row[:t0+i+1])
			clear(row[t0+i+1:]) // masked: zero, also in the block's product below
		}
		// out[t0:t0+n] = att[t0:t0+n, :m] · V[:m]
		g.gemm(blas.NoTrans, blas.NoTrans, 1, p, rows(v, 0, m), 0, rows(out, t0, n))
	}
}

// AttentionHeadBackward accumulates dq, dk and dv of one (batch, head), a block of query rows at a
// time, with datt as the block's scratch.
//
//	dq, dk, dv (T, dh), datt (T, T), dout (T, dh), att (T, T), q, k, v (T, dh)
func (g GoKernels) AttentionHeadBackward(dq, dk, dv blas32.General, datt []float32, dout blas32.General, att []float32, q, k, v blas32.General, scale float32) {
	T := q.Rows
	for t0 := 0; t0 < T; t0 += attBlock {
		n := min(attBlock, T-t0)
		m := t0 + n
		p := sub(att, T, t0, 0, n, m)
		dp := sub(datt, T, t0, 0, n, m)
		dy := rows(dout, t0, n)
		// datt = dout · V[:m]ᵀ;  dV[:m] += attᵀ · dout
		g.gemm(blas.NoTrans, blas.Trans, 1, dy, rows(v, 0, m), 0, dp)
		g.gemm(blas.Trans, blas.NoTrans, 1, p, dy, 1, rows(dv, 0, m))
		// Softmax backward per row: dlogit[t, s] = att[t, s] · (datt[t, s] − Σ_u att[t, u] · datt[t, u]);
		// masked entries have att = 0, so their dlogit is 0.
		for i := range n {
			off := (t0 + i) * T
			pr, dr := att[off:off+m], datt[off:off+m]
			var dot float32
			for s, a := range pr[:t0+i+1] {
				dot += a * dr[s]
			}
			for s, a := range pr {
				dr[s] = a * (dr[s] - dot)
			}
		}
		// dQ[t0:t0+n] += scale · dlogit · K[:m];  dK[:m] += scale · dlogitᵀ · Q[t0:t0+n]
		g.gemm(blas.NoTrans, blas.NoTrans, scale, dp, rows(k, 0, m), 1, rows(dq, t0, n))
		g.gemm(blas.Trans, blas.NoTrans, scale, dp, rows(q, t0, n), 1, rows(dk, 0, m))
	}
}

// rows returns rows r0 … r0+n−1 of m.
func rows(m blas32.General, r0, n int) blas32.General {
	return sub(m.Data, m.Stride, r0, 0, n, m.Cols)
}

// gemm computes c = alpha·op(a)·op(b) + beta·c for one (batch, head) on the calling worker; the
// workers run it for different heads at once. With a cgo BLAS (g.Gemm is GemmSplit or GemmWhole:
// the backend runs it on one thread per call, or it schedules itself) each product is one call.
// With gonum's BLAS (GemmTiles) the output is cut into attTile×attTile tiles, which gonum
// multiplies serially and without allocating (it goes parallel, and allocates, from 4 blocks of
// 64×64 up).
func (g GoKernels) gemm(tA, tB blas.Transpose, alpha float32, a, b blas32.General, beta float32, c blas32.General) {
	if g.Gemm != GemmTiles {
		blas32.Gemm(tA, tB, alpha, a, b, beta, c)
		return
	}
	k := a.Cols
	if tA != blas.NoTrans {
		k = a.Rows
	}
	for i0 := 0; i0 < c.Rows; i0 += attTile {
		mi := min(attTile, c.Rows-i0)
		for j0 := 0; j0 < c.Cols; j0 += attTile {
			nj := min(attTile, c.Cols-j0)
			var at, bt blas32.General
			if tA == blas.NoTrans {
				at = sub(a.Data, a.Stride, i0, 0, mi, k)
			} else {
				at = sub(a.Data, a.Stride, 0, i0, k, mi)
			}
			if tB == blas.NoTrans {
				bt = sub(b.Data, b.Stride, 0, j0, k, nj)
			} else {
				bt = sub(b.Data, b.Stride, j0, 0, nj, k)
			}
			blas32.Gemm(tA, tB, alpha, at, bt, beta, sub(c.Data, c.Stride, i0, j0, mi, nj))
		}
	}
}

// softmaxInPlace replaces x by softmax(x).
func softmaxInPlace(x []float32) {
	mx := float32(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	var sum float32
	for i, v := range x {
		e := expf(v - mx)
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}
