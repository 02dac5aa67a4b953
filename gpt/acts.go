package gpt

import "github.com/kvgpt/kvgpt/nn"

// ActViews are named views into one flat activation slab for a micro-batch of B sequences of T
// tokens (N = B·T rows). The activation gradients use the same layout for one layer in a second
// slab, reused by every layer's backward (their mean, rstd and losses views go unused; Att holds
// the attention-gradient scratch; Residual3 and Encoded alternate as the residual stream's).
type ActViews struct {
	Encoded   nn.View // (B, T, C) token + position embedding
	LN1       nn.View // (L, B, T, C)
	LN1Mean   nn.View // (L, B, T)
	LN1Rstd   nn.View // (L, B, T)
	QKV       nn.View // (L, B, T, QC) [Q K V] (Baseline) or [K V] (Identity)
	Atty      nn.View // (L, B, T, C) attention output, heads side by side
	Att       nn.View // (L, B, NH, T, T) softmax probabilities
	AttProj   nn.View // (L, B, T, C)
	Residual2 nn.View // (L, B, T, C) x + Attn(LN1(x))
	LN2       nn.View // (L, B, T, C)
	LN2Mean   nn.View // (L, B, T)
	LN2Rstd   nn.View // (L, B, T)
	Fch       nn.View // (L, B, T, H)
	FchGelu   nn.View // (L, B, T, H)
	FcProj    nn.View // (L, B, T, C)
	Residual3 nn.View // (L, B, T, C) block output
	LNF       nn.View // (B, T, C)
	LNFMean   nn.View // (B, T)
	LNFRstd   nn.View // (B, T)
	Logits    nn.View // (B, T, V)
	Losses    nn.View // (B, T)
}

// actSizes returns the element counts of the ActViews fields, in order, for B·T = N rows.
func actSizes(c Config, B, T int) [21]int {
	C, L, H, V, NH, N := c.NEmbd, c.NLayer, c.Hidden(), c.VocabSize, c.NHead, B*T
	return [21]int{
		N * C,
		L * N * C, L * N, L * N,
		L * N * c.QKVWidth(),
		L * N * C,
		L * B * NH * T * T,
		L * N * C,
		L * N * C,
		L * N * C, L * N, L * N,
		L * N * H,
		L * N * H,
		L * N * C,
		L * N * C,
		N * C, N, N,
		N * V,
		N,
	}
}

// numActs returns the size of the activation slab for a micro-batch of B×T.
func numActs(c Config, B, T int) int {
	n := 0
	for _, s := range actSizes(c, B, T) {
		n += s
	}
	return n
}

// actsCap returns the length of the activation slab a model allocates for micro-batches of B
// sequences: sized for the full block, so that later, longer sequences of the same batch size fit
// too.
func actsCap(c Config, B int) int { return numActs(c, B, c.BlockSize) }

// gradActConfig is the configuration whose activation layout the gradient slab has: one layer.
// The backward pass runs a layer at a time and reuses the same per-layer gradient buffers for
// every layer (see Model.backward), so the slab does not grow with depth.
func gradActConfig(c Config) Config {
	c.NLayer = min(c.NLayer, 1)
	return c
}

// gradActsCap returns the length of the activation-gradient slab a model allocates for
// micro-batches of B sequences (one layer, sized for the full block as actsCap).
func gradActsCap(c Config, B int) int { return numActs(gradActConfig(c), B, c.BlockSize) }

// tokensCap returns the length of each token buffer of the public Forward for micro-batches of B
// sequences (sized for the full block as actsCap, so that generation, whose context grows a token
// at a time, allocates them once).
func tokensCap(c Config, B int) int { return B * c.BlockSize }

// newActViews carves the activation views for a B×T micro-batch out of slab (≥ numActs elements).
func newActViews(c Config, slab nn.View, B, T int) ActViews {
	s := actSizes(c, B, T)
	var v [21]nn.View
	off := 0
	for i, n := range s {
		v[i] = slab.Slice(off, n)
		off += n
	}
	return ActViews{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
		v[11], v[12], v[13], v[14], v[15], v[16], v[17], v[18], v[19], v[20]}
}
