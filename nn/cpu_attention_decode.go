package nn

// AttentionDecodeForward is attention for the newest of T positions of one sequence against its
// cached keys and values (see Backend). It runs one head per item on the backend's workers, in
// Go loops: per step it reads T·2C cached floats, next to the C² weights of every projection
// around it, so it needs no BLAS.
//
//	out (C), att (NH, T), q (C), k, v (T rows of C)
func (c *CPU) AttentionDecodeForward(out, att, q View, k, v Strided, T, C, NH int, scale float32) {
	checkSizes("nn: AttentionDecodeForward negative size", C)
	if T < 1 {
		panic("nn: AttentionDecodeForward needs T ≥ 1 (the newest position is among the keys)")
	}
	if NH <= 0 || C%NH != 0 {
		panic("nn: AttentionDecodeForward C is not a multiple of NH")
	}
	j := &c.dec
	*j = decodeJob{T: T, dh: C / NH, scale: scale}
	j.out = c.need(out, C, "nn: AttentionDecodeForward out too short")
	j.att = c.need(att, NH*T, "nn: AttentionDecodeForward att too short")
	j.q = c.need(q, C, "nn: AttentionDecodeForward q too short")
	j.k, j.ks = c.strided(k, T, C, "nn: AttentionDecodeForward k too short")
	j.v, j.vs = c.strided(v, T, C, "nn: AttentionDecodeForward v too short")
	c.pool.run(j, NH, 1)
	*j = decodeJob{}
}

// decodeJob holds the arguments of one AttentionDecodeForward call; item h is head h.
type decodeJob struct {
	T, dh  int
	scale  float32
	out    []float32
	att, q []float32
	k, v   []float32
	ks, vs int
}

func (j *decodeJob) run(lo, hi int) {
	T, dh := j.T, j.dh
	for h := lo; h < hi; h++ {
		c0 := h * dh
		q, a := j.q[c0:c0+dh], j.att[h*T:(h+1)*T]
		// a[s] = scale · q·k[s], then softmax over s < T
		for s := range T {
			k := j.k[s*j.ks+c0:][:dh]
			var d float32
			for i, x := range q {
				d += x * k[i]
			}
			a[s] = j.scale * d
		}
		softmaxInPlace(a)
		// out = Σ_s a[s]·v[s]
		o := j.out[c0 : c0+dh]
		clear(o)
		for s, p := range a {
			v := j.v[s*j.vs+c0:][:dh]
			for i, x := range v {
				o[i] += p * x
			}
		}
	}
}
