package theory

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// ReLUNet is a one-hidden-layer ReLU network without biases, in the column-vector notation of the
// paper's expressivity result:
//
//	f(x) = [x +] W2·ReLU(W1·x),   x ∈ ℝᵈ, hidden width m,
//
// with the skip term x present when Skip is set (a residual block) and absent otherwise (a
// skip-free MLP).
type ReLUNet struct {
	W1   Mat // (m, d)
	W2   Mat // (d, m)
	Skip bool
}

// Width returns the hidden width m.
func (n ReLUNet) Width() int { return n.W1.R }

// Apply returns f(x) for each row x of X (N, d), as an (N, d) matrix.
func (n ReLUNet) Apply(X Mat) Mat {
	h := Mul(X, Transpose(n.W1)) // (N, m)
	for i, v := range h.D {
		h.D[i] = math.Max(v, 0)
	}
	y := Mul(h, Transpose(n.W2)) // (N, d)
	if n.Skip {
		y = Add(y, X)
	}
	return y
}

// RandomResidualBlock returns x + W2·ReLU(W1·x) with W1 ~ N(0, 1/d) and W2 ~ N(0, 1/m) entries, so
// both terms of the block are O(‖x‖).
func RandomResidualBlock(rng *rand.Rand, d, m int) ReLUNet {
	return ReLUNet{W1: Randn(rng, m, d, 1/math.Sqrt(float64(d))), W2: Randn(rng, d, m, 1/math.Sqrt(float64(m))), Skip: true}
}

// ConditionBlock returns a random residual block that satisfies the condition of IdentityPathGap
// exactly: its first d hidden units have W2[:,S] = −(W1[S,:])⁻¹, so W2[:,S]·W1[S,:] = −I. Such a
// block is a skip-free MLP of the same width (see SkipFreeEquivalent).
func ConditionBlock(rng *rand.Rand, d, m int) ReLUNet {
	if m < d {
		panic("theory: ConditionBlock needs m ≥ d")
	}
	b := RandomResidualBlock(rng, d, m)
	w1s := NewMat(d, d)
	copy(w1s.D, b.W1.D[:d*d])
	inv := MustInverse(w1s)
	for r := 0; r < d; r++ {
		for c := 0; c < d; c++ {
			b.W2.Set(r, c, -inv.At(r, c))
		}
	}
	return b
}

// SkipFreeEquivalent returns the skip-free MLP of the same width that equals the residual block b
// when W2[:,S]·W1[S,:] = −I: the rows S of W1 change sign. It rests on ReLU(z) − z = ReLU(−z):
//
//	x + Σ_{i∈S} w2ᵢ·ReLU(w1ᵢ·x) = Σ_{i∈S} w2ᵢ·(ReLU(w1ᵢ·x) − w1ᵢ·x) = Σ_{i∈S} w2ᵢ·ReLU(−w1ᵢ·x).
func SkipFreeEquivalent(b ReLUNet, S []int) ReLUNet {
	w1 := b.W1.Clone()
	for _, i := range S {
		scaleRow(w1.Row(i), -1)
	}
	return ReLUNet{W1: w1, W2: b.W2.Clone()}
}

// WideSkipFree returns the skip-free MLP of width m + 2d that equals the residual block b for every
// weight: the skip is two more groups of d units, x = ReLU(x) − ReLU(−x),
//
//	W1' = [W1; I; −I],  W2' = [W2, I, −I].
func WideSkipFree(b ReLUNet) ReLUNet {
	m, d := b.W1.R, b.W1.C
	w1, w2 := NewMat(m+2*d, d), NewMat(d, m+2*d)
	copy(w1.D, b.W1.D)
	for i := 0; i < d; i++ {
		w1.Set(m+i, i, 1)
		w1.Set(m+d+i, i, -1)
		copy(w2.Row(i), b.W2.Row(i))
		w2.Set(i, m+i, 1)
		w2.Set(i, m+d+i, -1)
	}
	return ReLUNet{W1: w1, W2: w2}
}

// RelError returns Σ‖g(x) − f(x)‖² / Σ‖f(x)‖² over the rows x of X.
func RelError(g, f ReLUNet, X Mat) float64 {
	gy, fy := g.Apply(X), f.Apply(X)
	var num, den float64
	for i, v := range fy.D {
		e := gy.D[i] - v
		num += e * e
		den += v * v
	}
	return num / den
}

// IdentityPathGap measures how far a set of hidden units of W1 (k, d), W2 (d, k) is from carrying a
// multiple of the identity: it returns
//
//	gap = min over row sets S with |S| ≥ d of ‖W2[:,S]·W1[S,:] − target·I‖_F / √d
//
// and the minimising S. For a residual block with target −1 it tests the condition under which the
// block equals a skip-free MLP of its own width (gap 0: it does; see SkipFreeEquivalent). For a
// skip-free MLP with target +1 it tests whether the MLP is a residual block in disguise: flipping the
// signs of the rows S of its W1 gives a block whose W2[:,S]·W1[S,:] = −I.
//
// The search is exhaustive (a Gray-code walk over all 2ᵏ sets) for k ≤ 22, and a greedy
// flip-one-unit local search from several starts otherwise; exhaustive reports which.
func IdentityPathGap(W1, W2 Mat, target float64) (gap float64, S []int, exhaustive bool) {
	k, d := W1.R, W1.C
	if k <= 22 {
		return identityGapExhaustive(W1, W2, target)
	}
	best := math.Inf(1)
	rng := rand.New(rand.NewPCG(uint64(k), uint64(d)))
	for start := 0; start < 32; start++ {
		in := make([]bool, k)
		for i := range in {
			in[i] = start > 0 && rng.IntN(2) == 0
		}
		for improved := true; improved; {
			improved = false
			for i := 0; i < k; i++ {
				cur := gapOf(W1, W2, in, target)
				in[i] = !in[i]
				if g := gapOf(W1, W2, in, target); g < cur-1e-15 {
					improved = true
				} else {
					in[i] = !in[i]
				}
			}
		}
		if g := gapOf(W1, W2, in, target); g < best {
			best, S = g, setOf(in)
		}
	}
	return best, S, false
}

func identityGapExhaustive(W1, W2 Mat, target float64) (float64, []int, bool) {
	k, d := W1.R, W1.C
	M := NewMat(d, d) // Σ_{i∈S} W2[:,i]·W1[i,:] for the current S
	bestMask, best := uint64(0), math.Inf(1)
	var mask uint64
	for step := uint64(1); step < 1<<k; step++ {
		b := bits.TrailingZeros64(step) // Gray code: flip one unit per step
		sign := 1.0
		if mask&(1<<b) != 0 {
			sign = -1
		}
		mask ^= 1 << b
		for r := 0; r < d; r++ {
			axpy(M.Row(r), sign*W2.At(r, b), W1.Row(b))
		}
		if bits.OnesCount64(mask) < d {
			continue
		}
		s := 0.0
		for r := 0; r < d; r++ {
			for c, v := range M.Row(r) {
				if r == c {
					v -= target
				}
				s += v * v
			}
		}
		if s < best {
			best, bestMask = s, mask
		}
	}
	in := make([]bool, k)
	for i := range in {
		in[i] = bestMask&(1<<i) != 0
	}
	// Recompute the winner directly, free of the walk's accumulated rounding.
	return gapOf(W1, W2, in, target), setOf(in), true
}

func gapOf(W1, W2 Mat, in []bool, target float64) float64 {
	d := W1.C
	if len(setOf(in)) < d {
		return math.Inf(1)
	}
	s := 0.0
	for r := 0; r < d; r++ {
		for c := 0; c < d; c++ {
			v := 0.0
			for i, ok := range in {
				if ok {
					v += W2.At(r, i) * W1.At(i, c)
				}
			}
			if r == c {
				v -= target
			}
			s += v * v
		}
	}
	return math.Sqrt(s / float64(d))
}

func setOf(in []bool) []int {
	var s []int
	for i, ok := range in {
		if ok {
			s = append(s, i)
		}
	}
	return s
}

// FitConfig sets up FitSkipFree.
type FitConfig struct {
	Width   int     // hidden width of the skip-free MLP
	Samples int     // training inputs x ~ N(0, I)
	Steps   int     // full-batch Adam steps
	LR      float64 // peak learning rate; cosine decay to LR/100
	Every   int     // record the held-out error every Every steps (0: only at the end)
}

// FitResult is the outcome of one fit.
type FitResult struct {
	Net    ReLUNet
	Steps  []int     // steps at which Curve was recorded
	Curve  []float64 // held-out RelError at those steps
	RelErr float64   // final held-out RelError
}

// FitSkipFree fits a skip-free ReLU MLP of width cfg.Width to target by full-batch Adam (β = 0.9,
// 0.999) on the least-squares loss mean‖g(x) − f(x)‖² over cfg.Samples random inputs, and reports
// the relative error on as many held-out inputs. Everything is drawn from rng: a fixed seed gives a
// fixed result.
func FitSkipFree(rng *rand.Rand, target ReLUNet, cfg FitConfig) FitResult {
	d, k, N := target.W1.C, cfg.Width, cfg.Samples
	X, Xtest := Randn(rng, N, d, 1), Randn(rng, N, d, 1)
	Y := target.Apply(X) // (N, d)
	g := ReLUNet{W1: Randn(rng, k, d, 1/math.Sqrt(float64(d))), W2: Randn(rng, d, k, 1/math.Sqrt(float64(k)))}

	params := [2]Mat{g.W1, g.W2}
	var m, v, grad [2]Mat
	for i, p := range params {
		m[i], v[i], grad[i] = NewMat(p.R, p.C), NewMat(p.R, p.C), NewMat(p.R, p.C)
	}
	Z, H, E := NewMat(N, k), NewMat(N, k), NewMat(N, d) // (N, k), (N, k), (N, d)
	dH := NewMat(N, k)
	var res FitResult
	const b1, b2, eps = 0.9, 0.999, 1e-12
	for step := 1; step <= cfg.Steps; step++ {
		// forward: Z = X·W1ᵀ, H = ReLU(Z), E = H·W2ᵀ − Y
		mulABt(Z, X, g.W1)
		for i, z := range Z.D {
			H.D[i] = math.Max(z, 0)
		}
		mulABt(E, H, g.W2)
		for i := range E.D {
			E.D[i] = 2 * (E.D[i] - Y.D[i]) / float64(N) // dLoss/dG
		}
		// backward: dW2 = Eᵀ·H, dH = E·W2 masked by Z > 0, dW1 = dHᵀ·X
		mulAtB(grad[1], E, H)
		mulAB(dH, E, g.W2)
		for i, z := range Z.D {
			if z <= 0 {
				dH.D[i] = 0
			}
		}
		mulAtB(grad[0], dH, X)

		lr := cfg.LR * (0.01 + 0.99*0.5*(1+math.Cos(math.Pi*float64(step-1)/float64(cfg.Steps))))
		c1, c2 := 1-math.Pow(b1, float64(step)), 1-math.Pow(b2, float64(step))
		for i, p := range params {
			for j, gj := range grad[i].D {
				m[i].D[j] = b1*m[i].D[j] + (1-b1)*gj
				v[i].D[j] = b2*v[i].D[j] + (1-b2)*gj*gj
				p.D[j] -= lr * (m[i].D[j] / c1) / (math.Sqrt(v[i].D[j]/c2) + eps)
			}
		}
		if (cfg.Every > 0 && step%cfg.Every == 0) || step == cfg.Steps {
			res.Steps = append(res.Steps, step)
			res.Curve = append(res.Curve, RelError(g, target, Xtest))
		}
	}
	res.Net = g
	res.RelErr = RelError(g, target, Xtest)
	return res
}

// mulABt sets out = a·bᵀ.
func mulABt(out, a, b Mat) {
	for i := 0; i < a.R; i++ {
		ai, oi := a.Row(i), out.Row(i)
		for j := 0; j < b.R; j++ {
			s := 0.0
			for c, bv := range b.Row(j) {
				s += ai[c] * bv
			}
			oi[j] = s
		}
	}
}

// mulAtB sets out = aᵀ·b.
func mulAtB(out, a, b Mat) {
	clear(out.D)
	for n := 0; n < a.R; n++ {
		bn := b.Row(n)
		for i, av := range a.Row(n) {
			if av != 0 {
				axpy(out.Row(i), av, bn)
			}
		}
	}
}

// mulAB sets out = a·b.
func mulAB(out, a, b Mat) {
	clear(out.D)
	for i := 0; i < a.R; i++ {
		oi := out.Row(i)
		for c, av := range a.Row(i) {
			if av != 0 {
				axpy(oi, av, b.Row(c))
			}
		}
	}
}
