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
	*j = attentionJob{B: B, T: T, C: C, NH: NH, scale: scale}
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

	out, att, datt, dout []float32
	q, k, v              []float32
	qs, ks, vs           int
	dq, dk, dv           []float32
	dqs, dks, dvs        int
}

func (j *attentionJob) run(lo, hi int) {
	for i := lo; i < hi; i++ {
		b, h := i/j.NH, i%j.NH
		if j.backward {
			j.backwardHead(b, h)
		} else {
			j.forwardHead(b, h)
		}
	}
}

// head returns rows b·T … b·T+n−1, columns of head h, of the strided matrix data as an n×dh matrix.
func (j *attentionJob) head(data []float32, stride, b, h, n int) blas32.General {
	dh := j.C / j.NH
	return sub(data, stride, b*j.T, h*dh, n, dh)
}

// row returns row t of batch b, columns of head h, of the strided matrix data as a vector.
func (j *attentionJob) row(data []float32, stride, b, h, t int) blas32.Vector {
	dh := j.C / j.NH
	start := (b*j.T+t)*stride + h*dh
	return blas32.Vector{N: dh, Inc: 1, Data: data[start : start+dh]}
}

// attRow returns entries 0…n−1 of row t of the (T, T) attention matrix of (b, h) in data.
func (j *attentionJob) attRow(data []float32, b, h, t, n int) blas32.Vector {
	start := ((b*j.NH+h)*j.T + t) * j.T
	return blas32.Vector{N: n, Inc: 1, Data: data[start : start+n]}
}

func (j *attentionJob) forwardHead(b, h int) {
	T := j.T
	for t := range T {
		n := t + 1
		// att[t, :n] = softmax(scale · K[:n] · q_t), att[t, n:] = 0
		row := j.attRow(j.att, b, h, t, T)
		p := blas32.Vector{N: n, Inc: 1, Data: row.Data[:n]}
		blas32.Gemv(blas.NoTrans, j.scale, j.head(j.k, j.ks, b, h, n), j.row(j.q, j.qs, b, h, t), 0, p)
		softmaxInPlace(p.Data)
		clear(row.Data[n:])
		// out_t = V[:n]ᵀ · att[t, :n]
		blas32.Gemv(blas.Trans, 1, j.head(j.v, j.vs, b, h, n), p, 0, j.row(j.out, j.C, b, h, t))
	}
}

func (j *attentionJob) backwardHead(b, h int) {
	for t := range j.T {
		n := t + 1
		p := j.attRow(j.att, b, h, t, n)
		dp := j.attRow(j.datt, b, h, t, n)
		dy := j.row(j.dout, j.C, b, h, t)
		// datt[t, s] = dout_t · v_s;  dv_s += att[t, s] · dout_t
		blas32.Gemv(blas.NoTrans, 1, j.head(j.v, j.vs, b, h, n), dy, 0, dp)
		blas32.Ger(1, p, dy, j.head(j.dv, j.dvs, b, h, n))
		// Softmax backward: dlogit[t, s] = att[t, s] · (datt[t, s] − Σ_u att[t, u] · datt[t, u])
		var dot float32
		for s, a := range p.Data {
			dot += a * dp.Data[s]
		}
		for s, a := range p.Data {
			dp.Data[s] = a * (dp.Data[s] - dot)
		}
		// dq_t += scale · K[:n]ᵀ · dlogit[t, :n];  dk_s += scale · dlogit[t, s] · q_t
		blas32.Gemv(blas.Trans, j.scale, j.head(j.k, j.ks, b, h, n), dp, 1, j.row(j.dq, j.dqs, b, h, t))
		blas32.Ger(j.scale, dp, j.row(j.q, j.qs, b, h, t), j.head(j.dk, j.dks, b, h, n))
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
		e := float32(math.Exp(float64(v - mx)))
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}
