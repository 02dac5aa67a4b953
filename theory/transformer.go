package theory

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Arch is the block structure of a reference Transformer.
type Arch int

const (
	// AttnSkipOnly has no LayerNorm and a skip connection around attention only:
	//   h = x + Attn(x);  x ← MLP(h).
	// The MLP output is free to land in any basis, so every layer can have its own.
	AttnSkipOnly Arch = iota
	// BothSkips has no LayerNorm and both skip connections:
	//   x ← x + Attn(x);  x ← x + MLP(x).
	// The whole residual stream shares one basis.
	BothSkips
	// PreLN is nanoGPT's block, with a final LayerNorm before the head:
	//   x ← x + Attn(LN1(x));  x ← x + MLP(LN2(x)).
	PreLN
)

func (a Arch) String() string {
	switch a {
	case AttnSkipOnly:
		return "no-LN/attention-skip-only"
	case BothSkips:
		return "no-LN/both-skips"
	case PreLN:
		return "pre-LN"
	}
	return fmt.Sprintf("Arch(%d)", int(a))
}

// Layer is one transformer block.
type Layer struct {
	Attn     AttnWeights
	W1       Mat       // (C, H) MLP up-projection
	W2       Mat       // (H, C) MLP down-projection
	LN1, LN2 []float64 // (C) LayerNorm weights, PreLN only
}

// Transformer is a reference decoder: token and position embeddings, Layers, an (untied) head.
// Weight sharing is expressed by letting several Layers hold the same matrices.
type Transformer struct {
	Arch   Arch
	NH     int
	Scale  float64 // attention logit scale
	Wte    Mat     // (V, C) token embedding
	Wpe    Mat     // (Tmax, C) position embedding
	Layers []Layer
	LNf    []float64 // (C) final LayerNorm weight, PreLN only
	Head   Mat       // (C, V) LM head: logits = x·Head
}

// RandomTransformer returns a Transformer with random weights. Weights have std 1/√fan-in, so
// activations stay O(1) and attention is far from uniform — a change of basis that is only
// approximately right shows up clearly. With shared, every layer holds the same matrices.
func RandomTransformer(rng *rand.Rand, arch Arch, L, V, Tmax, C, H, NH int, shared bool) Transformer {
	m := Transformer{
		Arch:  arch,
		NH:    NH,
		Scale: 1 / math.Sqrt(float64(C/NH)),
		Wte:   Randn(rng, V, C, 1),
		Wpe:   Randn(rng, Tmax, C, 1),
		Head:  Randn(rng, C, V, 1/math.Sqrt(float64(C))),
		LNf:   randLN(rng, C),
	}
	sc, sh := 1/math.Sqrt(float64(C)), 1/math.Sqrt(float64(H))
	for l := 0; l < L; l++ {
		if shared && l > 0 {
			m.Layers = append(m.Layers, m.Layers[0])
			continue
		}
		m.Layers = append(m.Layers, Layer{
			Attn: AttnWeights{
				Wq: Randn(rng, C, C, sc),
				Wk: Randn(rng, C, C, sc),
				Wv: Randn(rng, C, C, sc),
				// A small output projection keeps the residual stream from being dominated by the
				// attention and MLP branches across layers.
				Wo: Randn(rng, C, C, 0.5*sc),
			},
			W1:  Randn(rng, C, H, sc),
			W2:  Randn(rng, H, C, 0.5*sh),
			LN1: randLN(rng, C),
			LN2: randLN(rng, C),
		})
	}
	return m
}

// randLN returns LayerNorm weights near 1, so a test does not depend on the weights being exactly 1.
func randLN(rng *rand.Rand, C int) []float64 {
	w := make([]float64, C)
	for i := range w {
		w[i] = 1 + 0.1*rng.NormFloat64()
	}
	return w
}

// Logits returns the (T, V) logits of the token sequence.
func (m Transformer) Logits(tokens []int) Mat {
	logits, _ := m.Forward(tokens)
	return logits
}

// Forward returns the (T, V) logits of the token sequence and the largest |attention logit|
// (scale·q·k before the softmax, over all layers, heads and causal pairs) — a stability marker.
func (m Transformer) Forward(tokens []int) (logits Mat, maxAttnLogit float64) {
	C := m.Wte.C
	x := NewMat(len(tokens), C)
	for t, tok := range tokens {
		r := x.Row(t)
		copy(r, m.Wte.Row(tok))
		axpy(r, 1, m.Wpe.Row(t))
	}
	for _, l := range m.Layers {
		mlp := func(in Mat) Mat { return Mul(GELU(Mul(in, l.W1)), l.W2) }
		switch m.Arch {
		case AttnSkipOnly:
			x = mlp(Add(x, attention(x, l.Attn, m.NH, m.Scale, &maxAttnLogit)))
		case BothSkips:
			x = Add(x, attention(x, l.Attn, m.NH, m.Scale, &maxAttnLogit))
			x = Add(x, mlp(x))
		case PreLN:
			x = Add(x, attention(LayerNorm(x, l.LN1), l.Attn, m.NH, m.Scale, &maxAttnLogit))
			x = Add(x, mlp(LayerNorm(x, l.LN2)))
		default:
			panic("theory: unknown Arch")
		}
	}
	if m.Arch == PreLN {
		x = LayerNorm(x, m.LNf)
	}
	return Mul(x, m.Head), maxAttnLogit
}

// AbsorbQuery returns the query-free form of one attention layer: with A = Wq,
//
//	Wq' = I, Wk' = A⁻¹·Wk, Wv' = A⁻¹·Wv, Wo' = Wo,
//
// so that Attention(x·A, w') = Attention(x, w): the layer that is fed x·A needs no query projection.
func AbsorbQuery(w AttnWeights) AttnWeights {
	inv := MustInverse(w.Wq)
	return AttnWeights{Wk: Mul(inv, w.Wk), Wv: Mul(inv, w.Wv), Wo: w.Wo}
}

// PerLayerBasis returns the query-free form of an AttnSkipOnly model. Layer l works in the basis
// A_l = Wq_l: its input is x_l·A_l. The change is absorbed by the neighbouring weights,
//
//	Wte' = Wte·A_0, Wpe' = Wpe·A_0                          (the first layer's input basis)
//	Wq' = I, Wk' = A_l⁻¹Wk, Wv' = A_l⁻¹Wv, Wo' = Wo·A_l    (attention maps basis A_l to itself,
//	                                                        so the skip around it still adds up)
//	W1' = A_l⁻¹W1, W2' = W2·A_{l+1}                        (the MLP leaves for the next basis)
//
// with A_L = I, so the head is unchanged. The MLP has no skip, which is what lets consecutive layers
// have different bases.
func PerLayerBasis(m Transformer) Transformer {
	if m.Arch != AttnSkipOnly {
		panic("theory: PerLayerBasis needs the AttnSkipOnly architecture")
	}
	L := len(m.Layers)
	basis := func(l int) Mat {
		if l == L {
			return Eye(m.Wte.C)
		}
		return m.Layers[l].Attn.Wq
	}
	out := m
	out.Wte, out.Wpe = Mul(m.Wte, basis(0)), Mul(m.Wpe, basis(0))
	out.Layers = make([]Layer, L)
	for l, ly := range m.Layers {
		a := basis(l)
		inv := MustInverse(a)
		out.Layers[l] = Layer{
			Attn: AttnWeights{Wk: Mul(inv, ly.Attn.Wk), Wv: Mul(inv, ly.Attn.Wv), Wo: Mul(ly.Attn.Wo, a)},
			W1:   Mul(inv, ly.W1),
			W2:   Mul(ly.W2, basis(l+1)),
		}
	}
	return out
}

// GlobalBasis returns the model rewritten in the single basis A = Wq of its first layer: every
// activation of the residual stream becomes x·A,
//
//	Wte' = Wte·A, Wpe' = Wpe·A, Head' = A⁻¹·Head
//	Wq' = A⁻¹·Wq, Wk' = A⁻¹Wk, Wv' = A⁻¹Wv, Wo' = Wo·A, W1' = A⁻¹W1, W2' = W2·A, LN weights kept.
//
// In a weight-shared BothSkips model Wq' = I in every layer — one global change of basis removes
// every query projection — and the logits are unchanged. In a PreLN model the same substitution
// changes the output, because LN(x·A) ≠ LN(x)·A for a general A: LayerNorm fixes the basis.
func GlobalBasis(m Transformer) Transformer {
	a := m.Layers[0].Attn.Wq
	inv := MustInverse(a)
	out := m
	out.Wte, out.Wpe, out.Head = Mul(m.Wte, a), Mul(m.Wpe, a), Mul(inv, m.Head)
	out.Layers = make([]Layer, len(m.Layers))
	for l, ly := range m.Layers {
		var wq Mat // exactly the identity where the layer shares the first layer's Wq
		if !sameMat(ly.Attn.Wq, a) {
			wq = Mul(inv, ly.Attn.Wq)
		}
		out.Layers[l] = Layer{
			Attn: AttnWeights{Wq: wq, Wk: Mul(inv, ly.Attn.Wk), Wv: Mul(inv, ly.Attn.Wv), Wo: Mul(ly.Attn.Wo, a)},
			W1:   Mul(inv, ly.W1),
			W2:   Mul(ly.W2, a),
			LN1:  ly.LN1,
			LN2:  ly.LN2,
		}
	}
	return out
}

// sameMat reports whether a and b are the same matrix (share their storage), as the layers of a
// weight-shared model do.
func sameMat(a, b Mat) bool {
	return a.R == b.R && a.C == b.C && len(a.D) > 0 && len(b.D) > 0 && &a.D[0] == &b.D[0]
}
