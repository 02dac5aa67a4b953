package theory

import "math"

// AttnWeights are the four projections of one multi-head attention layer, each (C, C) acting on rows
// (q = x·Wq). A zero Wq (Wq.D == nil) stands for the identity: the query-free layer, whose per-head
// query is the matching dh-slice of its input.
type AttnWeights struct {
	Wq, Wk, Wv, Wo Mat // (C, C)
}

// Attention is causal multi-head self-attention of the sequence x (T, C) with nh heads:
//
//	Q = x·Wq, K = x·Wk, V = x·Wv
//	att[h,t,s] = softmax_{s≤t}(scale · Q[t,h]·K[s,h])
//	y[t,h]     = Σ_s att[h,t,s] · V[s,h]
//	out        = y·Wo
//
// It returns out (T, C).
func Attention(x Mat, w AttnWeights, nh int, scale float64) Mat {
	return attention(x, w, nh, scale, nil)
}

// attention is Attention that also raises *maxLogit to the largest |logit| it computes (if not nil).
func attention(x Mat, w AttnWeights, nh int, scale float64, maxLogit *float64) Mat {
	q := x
	if w.Wq.D != nil {
		q = Mul(x, w.Wq)
	}
	k, v := Mul(x, w.Wk), Mul(x, w.Wv)
	return Mul(attend(q, k, v, nh, scale, maxLogit), w.Wo)
}

// attend is the core of Attention: it returns y (T, C) for q, k, v (T, C).
func attend(q, k, v Mat, nh int, scale float64, maxLogit *float64) Mat {
	T, C := q.R, q.C
	if C%nh != 0 {
		panic("theory: C is not a multiple of NH")
	}
	dh := C / nh
	y := NewMat(T, C)
	p := make([]float64, T)
	for h := 0; h < nh; h++ {
		c0 := h * dh
		for t := 0; t < T; t++ {
			logits := AttentionLogits(q.Row(t)[c0:c0+dh], k, c0, t+1, scale, p)
			if maxLogit != nil {
				for _, l := range logits {
					*maxLogit = math.Max(*maxLogit, math.Abs(l))
				}
			}
			softmaxInPlace(logits)
			yt := y.Row(t)[c0 : c0+dh]
			for s, a := range logits {
				axpy(yt, a, v.Row(s)[c0:c0+dh])
			}
		}
	}
	return y
}

// AttentionLogits writes scale·qh·K[s, c0:c0+len(qh)] for s < n into buf[:n] and returns it.
func AttentionLogits(qh []float64, k Mat, c0, n int, scale float64, buf []float64) []float64 {
	out := buf[:n]
	for s := range out {
		ks := k.Row(s)[c0 : c0+len(qh)]
		dot := 0.0
		for i, qi := range qh {
			dot += qi * ks[i]
		}
		out[s] = scale * dot
	}
	return out
}

func softmaxInPlace(x []float64) {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	sum := 0.0
	for i, v := range x {
		x[i] = math.Exp(v - m)
		sum += x[i]
	}
	for i := range x {
		x[i] /= sum
	}
}

// LayerNorm returns (x − mean)/√(var + 1e-5)·w per row of x (T, C), biased variance, as nn's
// LayerNormForward. A nil w stands for all ones.
func LayerNorm(x Mat, w []float64) Mat {
	out := NewMat(x.R, x.C)
	for t := 0; t < x.R; t++ {
		r := x.Row(t)
		mean := 0.0
		for _, v := range r {
			mean += v
		}
		mean /= float64(x.C)
		vr := 0.0
		for _, v := range r {
			vr += (v - mean) * (v - mean)
		}
		vr /= float64(x.C)
		rstd := 1 / math.Sqrt(vr+1e-5)
		o := out.Row(t)
		for i, v := range r {
			o[i] = (v - mean) * rstd
			if w != nil {
				o[i] *= w[i]
			}
		}
	}
	return out
}

// GELU returns the exact (erf) GELU of every element of x.
func GELU(x Mat) Mat {
	out := x.Clone()
	for i, v := range out.D {
		out.D[i] = 0.5 * v * (1 + math.Erf(v/math.Sqrt2))
	}
	return out
}
