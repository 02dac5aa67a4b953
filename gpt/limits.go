package gpt

import (
	"fmt"
	"math"
)

// maxOpElems is the most elements one op may take as one operand: the Metal kernels take sizes as
// 32-bit parameters.
const maxOpElems = math.MaxUint32

// maxSlabElems bounds the elements of one allocation far beyond any machine, so that the int
// products that size a slab cannot overflow.
const maxSlabElems = 1 << 60

// checkBatch reports a micro-batch of B ≥ 1 sequences of T ≥ 1 tokens that c cannot run on any
// machine: one whose single-layer activations — the span the backward pass zeroes in one op, with
// the attention probabilities and the logits — have more than 2³²−1 elements, or whose activation
// slabs would have a size that overflows an int. It is checked before anything is allocated.
func (c Config) checkBatch(B, T int) error {
	C, H, V, QC := float64(c.NEmbd), float64(c.Hidden()), float64(c.VocabSize), float64(c.QKVWidth())
	N := float64(B) * float64(T)
	// One layer's activations per row (see ActViews): LN1, Atty, AttProj, Residual2, LN2, FcProj,
	// Residual3, the residual stream's gradient, QKV, Fch, FchGelu, Att (NH·T), and the
	// means and rstds; then the final LayerNorm and the logits.
	row := 8*C + QC + 2*H + float64(c.NHead)*float64(T) + 4 + C + 2 + V
	if N*row > maxOpElems {
		return fmt.Errorf("gpt: a micro-batch of B=%d sequences of T=%d tokens is too large: one layer's activations would be %.3g floats (%.3g GB), and an op takes at most 2³²−1 (the Metal kernels' 32-bit sizes); lower --batch-size and raise --grad-accum to keep the tokens per step",
			B, T, N*row, 4*N*row/1e9)
	}
	if float64(c.NLayer+1)*N*(row+5*C+3) > maxSlabElems { // the residual query path: 5C+3 per row
		return fmt.Errorf("gpt: a micro-batch of B=%d sequences of T=%d tokens over %d layers has more activations than any machine holds; lower --batch-size",
			B, T, c.NLayer)
	}
	return nil
}

// checkStepTokens reports a number of tokens (count·B·T) that overflows an int.
func checkStepTokens(what string, count, B, T int) error {
	if float64(count)*float64(B)*float64(T) > maxSlabElems {
		return fmt.Errorf("gpt: %s %d × batch size %d × block size %d tokens are more than any machine holds", what, count, B, T)
	}
	return nil
}
