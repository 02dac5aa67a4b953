package nn

import "gonum.org/v1/gonum/blas/blas32"

// AttentionForward is causal multi-head self-attention (see Backend). It runs one (batch, head)
// pair per item, each on the backend's Kernels (AttentionHeadForward).
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

// AttentionBackward accumulates dq, dk and dv; datt is scratch (see Backend). It runs one (batch,
// head) pair per item, each on the backend's Kernels (AttentionHeadBackward).
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
	*j = attentionJob{B: B, T: T, C: C, NH: NH, scale: scale, kern: c.kernels}
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
	kern        Kernels

	out, att, datt, dout []float32
	q, k, v              []float32
	qs, ks, vs           int
	dq, dk, dv           []float32
	dqs, dks, dvs        int
}

func (j *attentionJob) run(lo, hi int) {
	T := j.T
	for i := lo; i < hi; i++ {
		b, h := i/j.NH, i%j.NH
		att := j.att[(b*j.NH+h)*T*T:][:T*T]
		q, k, v := j.head(j.q, j.qs, b, h), j.head(j.k, j.ks, b, h), j.head(j.v, j.vs, b, h)
		if !j.backward {
			j.kern.AttentionHeadForward(j.head(j.out, j.C, b, h), att, q, k, v, j.scale)
			continue
		}
		j.kern.AttentionHeadBackward(j.head(j.dq, j.dqs, b, h), j.head(j.dk, j.dks, b, h), j.head(j.dv, j.dvs, b, h),
			j.datt[(b*j.NH+h)*T*T:][:T*T], j.head(j.dout, j.C, b, h), att, q, k, v, j.scale)
	}
}

// head returns the T rows of batch b, columns of head h, of the strided matrix data as a T×dh
// matrix.
func (j *attentionJob) head(data []float32, stride, b, h int) blas32.General {
	dh := j.C / j.NH
	return sub(data, stride, b*j.T, h*dh, j.T, dh)
}
