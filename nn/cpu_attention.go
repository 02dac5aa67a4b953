package nn

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// AttentionForward is causal multi-head self-attention (see Backend). It runs one (batch, head)
// pair per item; for query row t the logits are one matrix-vector product with the first t+1 key
// rows, and the output one with the first t+1 value rows.
//
//	out (B, T, C), att (B, NH, T, T), q, k, v (B·T rows of C)
func (c *CPU) AttentionForward(out, att View, q, k, v Strided, B, T, C, NH int, scale float32) {
	j := c.attentionArgs(B, T, C, NH, scale, q, k, v)
	j.out = c.need(out, B*T*C, "nn: AttentionForward out too short")
	j.att = c.need(att, B*NH*T*T, "nn: AttentionForward att too short")
	j.backward = false
	c.pool.run(j, B*NH, 1)
	*j = attentionJob{}
}

// AttentionBackward accumulates dq, dk and dv; datt is scratch (see Backend).
//
//	dq, dk, dv (B·T rows of C), datt (B, NH, T, T), dout (B, T, C), att (B, NH, T, T)
func (c *CPU) AttentionBackward(dq, dk, dv Strided, datt View, dout, att View, q, k, v Strided, B, T, C, NH int, scale float32) {
	j := c.attentionArgs(B, T, C, NH, scale, q, k, v)
	j.dq, j.dqs = c.strided(dq, B*T, C, "nn: AttentionBackward dq too short")
	j.dk, j.dks = c.strided(dk, B*T, C, "nn: AttentionBackward dk too short")
	j.dv, j.dvs = c.strided(dv, B*T, C, "nn: AttentionBackward dv too short")
	j.datt = c.need(datt, B*NH*T*T, "nn: AttentionBackward datt too short")
	j.dout = c.need(dout, B*T*C, "nn: AttentionBackward dout too short")
	j.att = c.need(att, B*NH*T*T, "nn: AttentionBackward att too short")
	j.backward = true
	c.pool.run(j, B*NH, 1)
	*j = attentionJob{}
}

func (c *CPU) attentionArgs(B, T, C, NH int, scale float32, q, k, v Strided) *attentionJob {
	checkSizes("nn: Attention negative size", B, T, C)
	if NH <= 0 || C%NH != 0 {
		panic("nn: Attention C is not a multiple of NH")
	}
	j := &c.att
	*j = attentionJob{B: B, T: T, C: C, NH: NH, scale: scale, whole: c.gemmMode != GemmTiles, kern: c.kernels}
	j.q, j.qs = c.strided(q, B*T, C, "nn: Attention q too short")
	j.k, j.ks = c.strided(k, B*T, C, "nn: Attention k too short")
	j.v, j.vs = c.strided(v, B*T, C, "nn: Attention v too short")
	return j
}

// attentionJob holds the arguments of one attention call; item i is (b, h) = (i / NH, i % NH).
type attentionJob struct {
	B, T, C, NH int
	scale       float32
	backward    bool
	whole       bool    // products in one call each (a cgo BLAS), not in gonum-sized tiles
	kern        Kernels // native attention heads, if set

	out, att, datt, dout []float32
	q, k, v              []float32
	qs, ks, vs           int
	dq, dk, dv           []float32
	dqs, dks, dvs        int
}

func (j *attentionJob) run(lo, hi int) {
	for i := lo; i < hi; i++ {
		b, h := i/j.NH, i%j.NH
		if j.kern != nil {
			j.nativeHead(b, h)
			continue
		}
		if j.backward {
			j.backwardHead(b, h)
		} else {
			j.forwardHead(b, h)
		}
	}
}

// nativeHead runs (b, h) forward or backward on the backend's Kernels.
func (j *attentionJob) nativeHead(b, h int) {
	T := j.T
	att := j.att[(b*j.NH+h)*T*T:][:T*T]
	q, k, v := j.head(j.q, j.qs, b, h, 0, T), j.head(j.k, j.ks, b, h, 0, T), j.head(j.v, j.vs, b, h, 0, T)
	if !j.backward {
		j.kern.AttentionHeadForward(j.head(j.out, j.C, b, h, 0, T), att, q, k, v, j.scale)
		return
	}
	j.kern.AttentionHeadBackward(j.head(j.dq, j.dqs, b, h, 0, T), j.head(j.dk, j.dks, b, h, 0, T), j.head(j.dv, j.dvs, b, h, 0, T),
		j.datt[(b*j.NH+h)*T*T:][:T*T], j.head(j.dout, j.C, b, h, 0, T), att, q, k, v, j.scale)
}

// attTile is the side of the output tiles of attention's products on gonum's BLAS (see gemm).
const attTile = 64

// attBlock is the number of query rows handled together: block rows t0…t0+attBlock−1 attend to
// keys 0…t0+attBlock−1 only, so the products of a block skip the masked keys beyond it.
const attBlock = attTile

// head returns rows t0 … t0+n−1 of batch b, columns of head h, of the strided matrix data as an
// n×dh matrix.
func (j *attentionJob) head(data []float32, stride, b, h, t0, n int) blas32.General {
	dh := j.C / j.NH
	return sub(data, stride, b*j.T+t0, h*dh, n, dh)
}

// attBlockRows returns rows t0 … t0+n−1, columns 0 … m−1 of the (T, T) attention matrix of (b, h)
// in data.
func (j *attentionJob) attBlockRows(data []float32, b, h, t0, n, m int) blas32.General {
	return sub(data, j.T, (b*j.NH+h)*j.T+t0, 0, n, m)
}

// forwardHead computes attention for (b, h) a block of query rows at a time: the block's logits
// against the keys it can see as one product, a causal softmax per row, then the block's output
// as one product with the values.
func (j *attentionJob) forwardHead(b, h int) {
	T := j.T
	for t0 := 0; t0 < T; t0 += attBlock {
		n := min(attBlock, T-t0)
		m := t0 + n // keys visible to the last row of the block
		p := j.attBlockRows(j.att, b, h, t0, n, m)
		// att[t0:t0+n, :m] = scale · Q[t0:t0+n] · K[:m]ᵀ
		j.gemm(blas.NoTrans, blas.Trans, j.scale, j.head(j.q, j.qs, b, h, t0, n), j.head(j.k, j.ks, b, h, 0, m), 0, p)
		for i := range n {
			row := j.att[((b*j.NH+h)*T+t0+i)*T:][:T]
			softmaxInPlace(row[:t0+i+1])
			clear(row[t0+i+1:]) // masked: zero, also in the block's product below
		}
		// out[t0:t0+n] = att[t0:t0+n, :m] · V[:m]
		j.gemm(blas.NoTrans, blas.NoTrans, 1, p, j.head(j.v, j.vs, b, h, 0, m), 0, j.head(j.out, j.C, b, h, t0, n))
	}
}

// backwardHead accumulates dq, dk and dv of (b, h), a block of query rows at a time, with datt as
// the block's scratch.
func (j *attentionJob) backwardHead(b, h int) {
	T := j.T
	for t0 := 0; t0 < T; t0 += attBlock {
		n := min(attBlock, T-t0)
		m := t0 + n
		p := j.attBlockRows(j.att, b, h, t0, n, m)
		dp := j.attBlockRows(j.datt, b, h, t0, n, m)
		dy := j.head(j.dout, j.C, b, h, t0, n)
		// datt = dout · V[:m]ᵀ;  dV[:m] += attᵀ · dout
		j.gemm(blas.NoTrans, blas.Trans, 1, dy, j.head(j.v, j.vs, b, h, 0, m), 0, dp)
		j.gemm(blas.Trans, blas.NoTrans, 1, p, dy, 1, j.head(j.dv, j.dvs, b, h, 0, m))
		// Softmax backward per row: dlogit[t, s] = att[t, s] · (datt[t, s] − Σ_u att[t, u] · datt[t, u]);
		// masked entries have att = 0, so their dlogit is 0.
		for i := range n {
			off := ((b*j.NH+h)*T + t0 + i) * T
			pr, dr := j.att[off:off+m], j.datt[off:off+m]
			var dot float32
			for s, a := range pr[:t0+i+1] {
				dot += a * dr[s]
			}
			for s, a := range pr {
				dr[s] = a * (dr[s] - dot)
			}
		}
		// dQ[t0:t0+n] += scale · dlogit · K[:m];  dK[:m] += scale · dlogitᵀ · Q[t0:t0+n]
		j.gemm(blas.NoTrans, blas.NoTrans, j.scale, dp, j.head(j.k, j.ks, b, h, 0, m), 1, j.head(j.dq, j.dqs, b, h, t0, n))
		j.gemm(blas.Trans, blas.NoTrans, j.scale, dp, j.head(j.q, j.qs, b, h, t0, n), 1, j.head(j.dk, j.dks, b, h, 0, m))
	}
}

// gemm computes c = alpha·op(a)·op(b) + beta·c for one (batch, head) on the calling worker; the
// workers run it for different heads at once. With a cgo BLAS (j.whole: the backend runs it on one
// thread per call, or it schedules itself) each product is one call. With gonum's BLAS the output
// is cut into attTile×attTile tiles, which gonum multiplies serially and without allocating (it
// goes parallel, and allocates, from 4 blocks of 64×64 up).
func (j *attentionJob) gemm(tA, tB blas.Transpose, alpha float32, a, b blas32.General, beta float32, c blas32.General) {
	if j.whole {
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
