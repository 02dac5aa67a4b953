package theory

import "math"

// ResidualQuery is the nonlinear query of arXiv 2603.13381 as issue 6 specifies it (the `residual`
// query mode, not yet in the float32 model): for a layer input u (T, C),
//
//	Q = ½·(u + f(u)),   f(u) = LN(GELU(RMSNorm(u)·W1)·W2)
//
// with a bottleneck of width C/2. It has C² + 2C parameters per layer — the baseline's W_Q (C²)
// plus the two norm weights — so a model with it is at parameter parity with the baseline up to
// 2C per layer. It is the float64 oracle for a future backend implementation: Forward and Backward
// here are checked against finite differences.
type ResidualQuery struct {
	G  []float64 // (C) RMSNorm weight
	W1 Mat       // (C, C/2)
	W2 Mat       // (C/2, C)
	GL []float64 // (C) LayerNorm weight
}

// rqEps is the epsilon of both norms, as nn's LayerNorm.
const rqEps = 1e-5

// NumParams returns the parameter count C² + 2C.
func (r ResidualQuery) NumParams() int {
	return len(r.G) + len(r.W1.D) + len(r.W2.D) + len(r.GL)
}

// rqCache holds the intermediate values of Forward that Backward needs.
type rqCache struct {
	u, n, a, h, z, y, yhat Mat
	rrms, rstd             []float64 // (T) 1/rms(u) and 1/std(y) per row
}

// Forward returns Q (T, C) for u (T, C) and the values Backward needs.
func (r ResidualQuery) Forward(u Mat) (Mat, *rqCache) {
	T, C := u.R, u.C
	c := &rqCache{u: u, n: NewMat(T, C), a: NewMat(T, C), rrms: make([]float64, T), rstd: make([]float64, T)}
	for t := 0; t < T; t++ {
		ms := 0.0
		for _, v := range u.Row(t) {
			ms += v * v
		}
		c.rrms[t] = 1 / math.Sqrt(ms/float64(C)+rqEps)
		for i, v := range u.Row(t) {
			c.n.Row(t)[i] = v * c.rrms[t]
			c.a.Row(t)[i] = c.n.Row(t)[i] * r.G[i]
		}
	}
	c.h = Mul(c.a, r.W1)
	c.z = GELU(c.h)
	c.y = Mul(c.z, r.W2)
	c.yhat = NewMat(T, C)
	q := NewMat(T, C)
	for t := 0; t < T; t++ {
		y := c.y.Row(t)
		m := 0.0
		for _, v := range y {
			m += v
		}
		m /= float64(C)
		vr := 0.0
		for _, v := range y {
			vr += (v - m) * (v - m)
		}
		c.rstd[t] = 1 / math.Sqrt(vr/float64(C)+rqEps)
		for i, v := range y {
			yh := (v - m) * c.rstd[t]
			c.yhat.Row(t)[i] = yh
			q.Row(t)[i] = 0.5 * (u.Row(t)[i] + yh*r.GL[i])
		}
	}
	return q, c
}

// ResidualQueryGrads are the gradients of a ResidualQuery's parameters.
type ResidualQueryGrads struct {
	G, GL  []float64
	W1, W2 Mat
}

// Backward returns du (T, C) and the parameter gradients for the upstream gradient dq (T, C).
func (r ResidualQuery) Backward(dq Mat, c *rqCache) (Mat, ResidualQueryGrads) {
	T, C := dq.R, dq.C
	g := ResidualQueryGrads{G: make([]float64, C), GL: make([]float64, C)}
	du := Scale(0.5, dq) // the identity term
	dy := NewMat(T, C)
	for t := 0; t < T; t++ {
		// f = ŷ·gl, ŷ = (y − mean)·rstd; df = ½·dq
		dyh := make([]float64, C)
		var mean1, mean2 float64
		for i := 0; i < C; i++ {
			df := 0.5 * dq.Row(t)[i]
			g.GL[i] += df * c.yhat.Row(t)[i]
			dyh[i] = df * r.GL[i]
			mean1 += dyh[i]
			mean2 += dyh[i] * c.yhat.Row(t)[i]
		}
		mean1 /= float64(C)
		mean2 /= float64(C)
		for i := 0; i < C; i++ {
			dy.Row(t)[i] = c.rstd[t] * (dyh[i] - mean1 - c.yhat.Row(t)[i]*mean2)
		}
	}
	g.W2 = Mul(Transpose(c.z), dy)
	dz := Mul(dy, Transpose(r.W2))
	dh := dz.Clone()
	for i, x := range c.h.D {
		dh.D[i] *= 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
	}
	g.W1 = Mul(Transpose(c.a), dh)
	da := Mul(dh, Transpose(r.W1))
	for t := 0; t < T; t++ {
		dn := make([]float64, C)
		m := 0.0
		for i := 0; i < C; i++ {
			g.G[i] += da.Row(t)[i] * c.n.Row(t)[i]
			dn[i] = da.Row(t)[i] * r.G[i]
			m += dn[i] * c.n.Row(t)[i]
		}
		m /= float64(C)
		for i := 0; i < C; i++ {
			du.Row(t)[i] += c.rrms[t] * (dn[i] - c.n.Row(t)[i]*m)
		}
	}
	return du, g
}
