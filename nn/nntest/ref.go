package nntest

import "math"

// This file is the float64 reference of every op, kvgpt's one oracle: plain loops, written for
// reading, that every backend's float32 op is compared with, here and in the tests of other
// packages (the shader harness's kernel edge cases, the CPU backend's attention blocks). Each
// Ref<Op> has the argument order and the layout of the nn.Backend op it mirrors (outputs first,
// then inputs, then sizes), on float64 slices. The small cases differentiate the forward
// functions numerically; the large-shape tier, where finite differences would take hours, uses
// the analytic backward functions (Ref…Backward), which accumulate into their gradient arguments
// as the ops do.

// Strided is a float64 matrix read with a row stride, like nn.Strided: row r, column c is
// Data[Off + r·Stride + c]. Attention's q, k and v are column slices of wider activations.
type Strided struct {
	Data        []float64
	Off, Stride int
}

// At returns row r, column c.
func (s Strided) At(r, c int) float64 { return s.Data[s.Off+r*s.Stride+c] }

// Add adds x to row r, column c.
func (s Strided) Add(r, c int, x float64) { s.Data[s.Off+r*s.Stride+c] += x }

// RefEmbed writes out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]: out (B, T, C), tokens (B, T),
// wte (V, C), wpe (≥ T, C).
func RefEmbed(out []float64, tokens []int32, wte, wpe []float64, B, T, C int) {
	for b := range B {
		for t := range T {
			tok := int(tokens[b*T+t])
			for c := range C {
				out[(b*T+t)*C+c] = wte[tok*C+c] + wpe[t*C+c]
			}
		}
	}
}

// RefEmbedBackward accumulates dwte[tokens[b,t],:] += dout[b,t,:] and dwpe[t,:] += dout[b,t,:].
func RefEmbedBackward(dwte, dwpe, dout []float64, tokens []int32, B, T, C int) {
	for b := range B {
		for t := range T {
			tok := int(tokens[b*T+t])
			for c := range C {
				dwte[tok*C+c] += dout[(b*T+t)*C+c]
				dwpe[t*C+c] += dout[(b*T+t)*C+c]
			}
		}
	}
}

// RefLayerNorm writes out = (in − mean)·rstd·w per row, rstd = 1/√(var + 1e-5) with the biased
// variance, and (unless mean is nil) each row's mean and rstd: out, in (N, C), w (C), mean,
// rstd (N).
func RefLayerNorm(out, mean, rstd, in, w []float64, N, C int) {
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

// RefLayerNormBackward accumulates the gradients of RefLayerNorm for upstream gradient dout.
// Per row, with x̂ = (x − mean)·rstd (the output before the weight) and g = dout·w,
//
//	din += rstd·(g − mean(g) − x̂·mean(g·x̂)),   dw += dout·x̂ (summed over the rows).
//
// It recomputes mean and rstd from in.
func RefLayerNormBackward(din, dw, dout, in, w []float64, N, C int) {
	ones := make([]float64, C)
	for c := range ones {
		ones[c] = 1
	}
	xhat, g := make([]float64, C), make([]float64, C)
	var mean, rstd [1]float64
	for r := range N {
		RefLayerNorm(xhat, mean[:], rstd[:], in[r*C:(r+1)*C], ones, 1, C)
		dy := dout[r*C : (r+1)*C]
		var gMean, gxMean float64
		for c := range C {
			g[c] = dy[c] * w[c]
			gMean += g[c]
			gxMean += g[c] * xhat[c]
			dw[c] += dy[c] * xhat[c]
		}
		gMean /= float64(C)
		gxMean /= float64(C)
		for c := range C {
			din[r*C+c] += rstd[0] * (g[c] - gMean - xhat[c]*gxMean)
		}
	}
}

// RefMatmul writes out = in·wᵀ: out (N, OC), in (N, C), w (OC, C), the layout of a PyTorch
// Linear weight.
func RefMatmul(out, in, w []float64, N, C, OC int) {
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

// RefMatmulBackward accumulates din += dout·w and dw += doutᵀ·in.
//
//	din (N, C), dw (OC, C), dout (N, OC), in (N, C), w (OC, C)
func RefMatmulBackward(din, dw, dout, in, w []float64, N, C, OC int) {
	// Both as sums of scaled rows, so that the inner loops run along rows.
	for n := range N {
		for o := range OC {
			g := dout[n*OC+o]
			for c := range C {
				din[n*C+c] += g * w[o*C+c]
			}
		}
	}
	for o := range OC {
		for n := range N {
			g := dout[n*OC+o]
			for c := range C {
				dw[o*C+c] += g * in[n*C+c]
			}
		}
	}
}

// RefAttention is causal multi-head attention (see nn.Backend.AttentionForward) over q, k, v read
// with row strides. It writes out (B, T, C) and every element of att (B, NH, T, T), zeros above
// the diagonal.
func RefAttention(out, att []float64, q, k, v Strided, B, T, C, NH int, scale float64) {
	dh := C / NH
	logits := make([]float64, T)
	for b := range B {
		for h := range NH {
			for t := range T {
				mx := math.Inf(-1)
				for s := 0; s <= t; s++ {
					var d float64
					for i := range dh {
						d += q.At(b*T+t, h*dh+i) * k.At(b*T+s, h*dh+i)
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
						o += a[s] * v.At(b*T+s, h*dh+i)
					}
					out[(b*T+t)*C+h*dh+i] = o
				}
			}
		}
	}
}

// RefAttentionBackward accumulates the gradients of RefAttention into dq, dk, dv (strided like
// q, k, v) for upstream gradient dout (B, T, C), given att (B, NH, T, T) as RefAttention wrote it.
// For head h of batch b and query row t, with dp[s] = dout[t]·v[s] the gradient of att[t, s]:
//
//	dv[s] += att[t, s]·dout[t]
//	dl[s]  = att[t, s]·(dp[s] − Σ_u att[t, u]·dp[u])   (softmax backward: the gradient of the logit)
//	dq[t] += scale·Σ_s dl[s]·k[s],   dk[s] += scale·dl[s]·q[t]
//
// for s ≤ t, on the columns of head h.
func RefAttentionBackward(dq, dk, dv Strided, dout, att []float64, q, k, v Strided, B, T, C, NH int, scale float64) {
	dh := C / NH
	dp := make([]float64, T)
	for b := range B {
		for h := range NH {
			for t := range T {
				a := att[((b*NH+h)*T+t)*T:][:t+1]
				g := dout[(b*T+t)*C+h*dh:][:dh]
				var mean float64 // Σ_s att[t, s]·dp[s]
				for s := range t + 1 {
					dp[s] = 0
					for i := range dh {
						dp[s] += g[i] * v.At(b*T+s, h*dh+i)
						dv.Add(b*T+s, h*dh+i, a[s]*g[i])
					}
					mean += a[s] * dp[s]
				}
				for s := range t + 1 {
					dl := scale * a[s] * (dp[s] - mean)
					for i := range dh {
						dq.Add(b*T+t, h*dh+i, dl*k.At(b*T+s, h*dh+i))
						dk.Add(b*T+s, h*dh+i, dl*q.At(b*T+t, h*dh+i))
					}
				}
			}
		}
	}
}

// RefGELU writes the exact (erf) GELU of every element, out = ½·x·(1 + erf(x/√2)).
func RefGELU(out, in []float64) {
	for i, x := range in {
		out[i] = 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
	}
}

// RefGELUBackward accumulates din += dout·GELU'(in), GELU'(x) = Φ(x) + x·φ(x) with Φ and φ the
// standard normal distribution and density.
func RefGELUBackward(din, dout, in []float64) {
	for i, x := range in {
		cdf := 0.5 * (1 + math.Erf(x/math.Sqrt2))
		pdf := math.Exp(-x*x/2) / math.Sqrt(2*math.Pi)
		din[i] += dout[i] * (cdf + x*pdf)
	}
}

// RefResidual writes out = a + b.
func RefResidual(out, a, b []float64) {
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

// RefCrossEntropy writes losses[i] = logsumexp(logits[i,:]) − logits[i, targets[i]]: losses (N),
// logits (N, V), targets (N).
func RefCrossEntropy(losses, logits []float64, targets []int32, N, V int) {
	for r := range N {
		x := logits[r*V : (r+1)*V]
		mx, sum := maxExpSum(x)
		losses[r] = math.Log(sum) + mx - x[targets[r]]
	}
}

// maxExpSum returns the largest element of x and Σ exp(x[i] − max): the softmax's denominator,
// shifted so that no exponential overflows.
func maxExpSum(x []float64) (mx, sum float64) {
	mx = math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, v)
	}
	for _, v := range x {
		sum += math.Exp(v - mx)
	}
	return mx, sum
}

// RefCrossEntropyBackward accumulates dlogits[i,:] += dlosses[i]·(softmax(logits[i,:]) − onehot(targets[i])).
func RefCrossEntropyBackward(dlogits, dlosses, logits []float64, targets []int32, N, V int) {
	for r := range N {
		x := logits[r*V : (r+1)*V]
		mx, sum := maxExpSum(x)
		for i, v := range x {
			p := math.Exp(v-mx) / sum
			if i == int(targets[r]) {
				p--
			}
			dlogits[r*V+i] += dlosses[r] * p
		}
	}
}

// RefAdamW takes torch.optim.AdamW's single-tensor step number step on p, m and v in place, with
// a per-element decay mask and a gradient scale (the fields of nn.AdamWParams).
func RefAdamW(p, m, v, g, decay []float64, lr, beta1, beta2, eps, wd, gradScale float64, step int) {
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

// RefNorm returns the Euclidean norm of g, as GradNorm.
func RefNorm(g []float64) float64 {
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

// clone returns a copy of x (the reference's starting point for a pre-filled gradient).
func clone(x []float64) []float64 { return append([]float64(nil), x...) }
