package shaders_test

import "math"

// Float64 references of every op, written for clarity: the oracle the kernels are checked against.

func refMatmul(in, w []float64, N, C, OC int) []float64 {
	out := make([]float64, N*OC)
	for n := 0; n < N; n++ {
		for o := 0; o < OC; o++ {
			s := 0.0
			for c := 0; c < C; c++ {
				s += in[n*C+c] * w[o*C+c]
			}
			out[n*OC+o] = s
		}
	}
	return out
}

// refMatmulBackward returns din += dout·w and dw += doutᵀ·in applied to copies of din, dw.
func refMatmulBackward(din, dw, dout, in, w []float64, N, C, OC int) ([]float64, []float64) {
	din, dw = clone(din), clone(dw)
	for n := 0; n < N; n++ {
		for o := 0; o < OC; o++ {
			d := dout[n*OC+o]
			for c := 0; c < C; c++ {
				din[n*C+c] += d * w[o*C+c]
				dw[o*C+c] += d * in[n*C+c]
			}
		}
	}
	return din, dw
}

// refAttention returns out (B, T, C) and att (B, NH, T, T) for dense q, k, v (B·T, C).
func refAttention(q, k, v []float64, B, T, C, NH int, scale float64) (out, att []float64) {
	dh := C / NH
	out = make([]float64, B*T*C)
	att = make([]float64, B*NH*T*T)
	for b := 0; b < B; b++ {
		for h := 0; h < NH; h++ {
			for t := 0; t < T; t++ {
				row := att[((b*NH+h)*T+t)*T:][:T]
				mx := math.Inf(-1)
				for s := 0; s <= t; s++ {
					dot := 0.0
					for i := 0; i < dh; i++ {
						dot += q[(b*T+t)*C+h*dh+i] * k[(b*T+s)*C+h*dh+i]
					}
					row[s] = scale * dot
					mx = math.Max(mx, row[s])
				}
				sum := 0.0
				for s := 0; s <= t; s++ {
					row[s] = math.Exp(row[s] - mx)
					sum += row[s]
				}
				for s := 0; s <= t; s++ {
					row[s] /= sum
					for i := 0; i < dh; i++ {
						out[(b*T+t)*C+h*dh+i] += row[s] * v[(b*T+s)*C+h*dh+i]
					}
				}
			}
		}
	}
	return out, att
}

// refAttentionBackward returns dq, dk, dv (dense (B·T, C), gradients only) for dout.
func refAttentionBackward(dout, att, q, k, v []float64, B, T, C, NH int, scale float64) (dq, dk, dv []float64) {
	dh := C / NH
	dq, dk, dv = make([]float64, B*T*C), make([]float64, B*T*C), make([]float64, B*T*C)
	datt := make([]float64, T)
	for b := 0; b < B; b++ {
		for h := 0; h < NH; h++ {
			for t := 0; t < T; t++ {
				row := att[((b*NH+h)*T+t)*T:][:T]
				dot := 0.0
				for s := 0; s <= t; s++ {
					d := 0.0
					for i := 0; i < dh; i++ {
						d += dout[(b*T+t)*C+h*dh+i] * v[(b*T+s)*C+h*dh+i]
						dv[(b*T+s)*C+h*dh+i] += row[s] * dout[(b*T+t)*C+h*dh+i]
					}
					datt[s] = d
					dot += row[s] * d
				}
				for s := 0; s <= t; s++ {
					dpre := scale * row[s] * (datt[s] - dot)
					for i := 0; i < dh; i++ {
						dq[(b*T+t)*C+h*dh+i] += dpre * k[(b*T+s)*C+h*dh+i]
						dk[(b*T+s)*C+h*dh+i] += dpre * q[(b*T+t)*C+h*dh+i]
					}
				}
			}
		}
	}
	return dq, dk, dv
}

func refLayerNorm(in, w []float64, N, C int) (out, mean, rstd []float64) {
	out, mean, rstd = make([]float64, N*C), make([]float64, N), make([]float64, N)
	for n := 0; n < N; n++ {
		x := in[n*C:][:C]
		m := 0.0
		for _, xi := range x {
			m += xi
		}
		m /= float64(C)
		v := 0.0
		for _, xi := range x {
			v += (xi - m) * (xi - m)
		}
		rs := 1 / math.Sqrt(v/float64(C)+1e-5)
		for c, xi := range x {
			out[n*C+c] = (xi - m) * rs * w[c]
		}
		mean[n], rstd[n] = m, rs
	}
	return out, mean, rstd
}

// refLayerNormBackward returns din and dw accumulated onto copies of din0 and dw0.
func refLayerNormBackward(din0, dw0, dout, in, w []float64, N, C int) (din, dw []float64) {
	din, dw = clone(din0), clone(dw0)
	_, mean, rstd := refLayerNorm(in, w, N, C)
	for n := 0; n < N; n++ {
		mg, mgx := 0.0, 0.0
		for c := 0; c < C; c++ {
			g := dout[n*C+c] * w[c]
			xh := (in[n*C+c] - mean[n]) * rstd[n]
			mg += g
			mgx += g * xh
			dw[c] += dout[n*C+c] * xh
		}
		mg /= float64(C)
		mgx /= float64(C)
		for c := 0; c < C; c++ {
			g := dout[n*C+c] * w[c]
			xh := (in[n*C+c] - mean[n]) * rstd[n]
			din[n*C+c] += rstd[n] * (g - mg - xh*mgx)
		}
	}
	return din, dw
}

func refGELU(x float64) float64 { return 0.5 * x * math.Erfc(-x/math.Sqrt2) }

func refGELUGrad(x float64) float64 {
	return 0.5*math.Erfc(-x/math.Sqrt2) + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
}

func refCrossEntropy(logits []float64, targets []int32, N, V int) (losses, probs []float64) {
	losses, probs = make([]float64, N), make([]float64, N*V)
	for n := 0; n < N; n++ {
		l := logits[n*V:][:V]
		mx := math.Inf(-1)
		for _, x := range l {
			mx = math.Max(mx, x)
		}
		s := 0.0
		for _, x := range l {
			s += math.Exp(x - mx)
		}
		for v, x := range l {
			probs[n*V+v] = math.Exp(x-mx) / s
		}
		losses[n] = math.Log(s) + mx - l[targets[n]]
	}
	return losses, probs
}

func refAdamW(p, m, v, g, decay []float64, lr, b1, b2, eps, wd, gs float64, step int) ([]float64, []float64, []float64) {
	p, m, v = clone(p), clone(m), clone(v)
	bc1 := 1 - math.Pow(b1, float64(step))
	bc2 := 1 - math.Pow(b2, float64(step))
	for i := range p {
		gi := gs * g[i]
		p[i] -= lr * wd * decay[i] * p[i]
		m[i] = b1*m[i] + (1-b1)*gi
		v[i] = b2*v[i] + (1-b2)*gi*gi
		p[i] -= lr * (m[i] / bc1) / (math.Sqrt(v[i]/bc2) + eps)
	}
	return p, m, v
}

func clone(x []float64) []float64 { return append([]float64(nil), x...) }
