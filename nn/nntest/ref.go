package nntest

import "math"

// This file is the float64 reference: plain loops, written for reading, that every backend's
// float32 op is compared with (forward) and differentiated numerically (backward).

// strided is a float64 matrix read with a row stride, like nn.Strided.
type strided struct {
	data        []float64
	off, stride int
}

func (s strided) at(r, c int) float64 { return s.data[s.off+r*s.stride+c] }

func refEmbed(out []float64, tokens []int32, wte, wpe []float64, B, T, C int) {
	for b := range B {
		for t := range T {
			tok := int(tokens[b*T+t])
			for c := range C {
				out[(b*T+t)*C+c] = wte[tok*C+c] + wpe[t*C+c]
			}
		}
	}
}

func refLayerNorm(out, mean, rstd, in, w []float64, N, C int) {
	for r := range N {
		x := in[r*C : (r+1)*C]
		var m float64
		for _, v := range x {
			m += v
		}
		m /= float64(C)
		var vr float64
		for _, v := range x {
			vr += (v - m) * (v - m)
		}
		vr /= float64(C)
		s := 1 / math.Sqrt(vr+1e-5)
		for c, v := range x {
			out[r*C+c] = (v - m) * s * w[c]
		}
		if mean != nil {
			mean[r], rstd[r] = m, s
		}
	}
}

func refMatmul(out, in, w []float64, N, C, OC int) {
	for n := range N {
		for o := range OC {
			var s float64
			for c := range C {
				s += in[n*C+c] * w[o*C+c]
			}
			out[n*OC+o] = s
		}
	}
}

func refAttention(out, att []float64, q, k, v strided, B, T, C, NH int, scale float64) {
	dh := C / NH
	logits := make([]float64, T)
	for b := range B {
		for h := range NH {
			for t := range T {
				mx := math.Inf(-1)
				for s := 0; s <= t; s++ {
					var d float64
					for i := range dh {
						d += q.at(b*T+t, h*dh+i) * k.at(b*T+s, h*dh+i)
					}
					logits[s] = scale * d
					mx = math.Max(mx, logits[s])
				}
				var sum float64
				for s := 0; s <= t; s++ {
					logits[s] = math.Exp(logits[s] - mx)
					sum += logits[s]
				}
				a := att[((b*NH+h)*T+t)*T:][:T]
				for s := range T {
					a[s] = 0
					if s <= t {
						a[s] = logits[s] / sum
					}
				}
				for i := range dh {
					var o float64
					for s := 0; s <= t; s++ {
						o += a[s] * v.at(b*T+s, h*dh+i)
					}
					out[(b*T+t)*C+h*dh+i] = o
				}
			}
		}
	}
}

func refGELU(out, in []float64) {
	for i, x := range in {
		out[i] = 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
	}
}

func refResidual(out, a, b []float64) {
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

func refCrossEntropy(losses, logits []float64, targets []int32, N, V int) {
	for r := range N {
		x := logits[r*V : (r+1)*V]
		mx := math.Inf(-1)
		for _, v := range x {
			mx = math.Max(mx, v)
		}
		var sum float64
		for _, v := range x {
			sum += math.Exp(v - mx)
		}
		losses[r] = math.Log(sum) + mx - x[targets[r]]
	}
}

// refAdamW is torch.optim.AdamW's single-tensor step, with a per-element decay mask and a
// gradient scale.
func refAdamW(p, m, v, g, decay []float64, lr, beta1, beta2, eps, wd, gradScale float64, step int) {
	bc1 := 1 - math.Pow(beta1, float64(step))
	bc2 := 1 - math.Pow(beta2, float64(step))
	for i := range p {
		gi := gradScale * g[i]
		p[i] *= 1 - lr*wd*decay[i]
		m[i] = beta1*m[i] + (1-beta1)*gi
		v[i] = beta2*v[i] + (1-beta2)*gi*gi
		p[i] -= lr / bc1 * m[i] / (math.Sqrt(v[i])/math.Sqrt(bc2) + eps)
	}
}

func refNorm(g []float64) float64 {
	var s float64
	for _, v := range g {
		s += v * v
	}
	return math.Sqrt(s)
}

// dot returns Σ a[i]·b[i]: the loss whose gradient a backward pass computes for upstream gradient b.
func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// fdStep is the central-difference step. The reference is float64 and the inputs are O(1), so
// the truncation error (∝ fdStep²) and the rounding error (∝ 1e-16/fdStep) stay near 1e-9.
const fdStep = 1e-5

// numGrad returns ∂loss/∂x by central differences, perturbing x in place (and restoring it).
func numGrad(x []float64, loss func() float64) []float64 {
	g := make([]float64, len(x))
	for i, old := range x {
		x[i] = old + fdStep
		lp := loss()
		x[i] = old - fdStep
		lm := loss()
		x[i] = old
		g[i] = (lp - lm) / (2 * fdStep)
	}
	return g
}

// plus returns a + b element-wise (the expected value of a gradient buffer pre-filled with a to
// which a backward pass adds b).
func plus(a, b []float64) []float64 {
	s := make([]float64, len(a))
	for i := range a {
		s[i] = a[i] + b[i]
	}
	return s
}
