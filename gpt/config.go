package gpt

import (
	"errors"
	"fmt"
	"math"
)

// QueryMode selects how the attention block forms its queries.
type QueryMode string

const (
	// Baseline is the standard GPT: W_attn (3C × C) projects LN1(x) to [Q K V].
	Baseline QueryMode = "baseline"
	// Identity is the query-free model of arXiv 2510.23912: W_attn (2C × C) projects LN1(x) to
	// [K V] and the query of head h is the matching dh-slice of LN1(x) itself (W_Q = I).
	Identity QueryMode = "identity"
	// Residual is the nonlinear query of arXiv 2603.13381: as Identity, plus a bottleneck MLP on the
	// query path, Q = ½(u + f(u)) with u = LN1(x) and f(u) = LN(GELU(RMSNorm(u)·W₁)·W₂), W₁ (C/2 × C),
	// W₂ (C × C/2): C² + 2C parameters per layer where Baseline has W_Q's C². Needs a backend with
	// the RMSNorm op (nn.RMSNormer; the CPU backend has it).
	Residual QueryMode = "residual"
)

// ParseQueryMode returns the mode named s ("baseline", "identity" or "residual"; "reduced" is an
// alias of "identity").
func ParseQueryMode(s string) (QueryMode, error) {
	switch s {
	case "baseline":
		return Baseline, nil
	case "identity", "reduced":
		return Identity, nil
	case "residual":
		return Residual, nil
	}
	return "", fmt.Errorf("unknown query mode %q (want baseline, identity or residual)", s)
}

// Config is the shape of a GPT model. Field names follow nanoGPT's GPTConfig.
type Config struct {
	NLayer    int       // L, transformer blocks
	NHead     int       // NH, attention heads; NEmbd must be a multiple of NHead
	NEmbd     int       // C, model width
	BlockSize int       // maximum sequence length (rows of wpe)
	VocabSize int       // V, 256 for byte-level tokens
	MLPHidden int       // H, MLP hidden width; 0 means 4·NEmbd
	QueryMode QueryMode // Baseline or Identity
	// AttnScale multiplies the attention logits q·k; 0 means the mode's default:
	// 1/√dh for Baseline, 1/(2√dh) for Identity (dh = NEmbd/NHead).
	AttnScale float64
}

// Hidden returns the MLP hidden width H (MLPHidden, or 4·NEmbd when MLPHidden is 0).
func (c Config) Hidden() int {
	if c.MLPHidden == 0 {
		return 4 * c.NEmbd
	}
	return c.MLPHidden
}

// HeadSize returns dh = NEmbd/NHead.
func (c Config) HeadSize() int { return c.NEmbd / c.NHead }

// QKVWidth returns the output width of the attention input projection: 3C for Baseline ([Q K V]),
// 2C for Identity ([K V]).
func (c Config) QKVWidth() int {
	if c.QueryMode == Identity || c.QueryMode == Residual {
		return 2 * c.NEmbd
	}
	return 3 * c.NEmbd
}

// Scale returns the attention logit scale: AttnScale, or the mode's default when it is 0 (Residual
// defaults to 1/√dh: the ½ of its Q = ½(u + f(u)) plays the part of Identity's halved scale).
func (c Config) Scale() float32 {
	if c.AttnScale != 0 {
		return float32(c.AttnScale)
	}
	s := 1 / math.Sqrt(float64(c.HeadSize()))
	if c.QueryMode == Identity {
		s /= 2
	}
	return float32(s)
}

// DefaultWeightDecay returns the AdamW weight decay of the mode: 0.1 for Baseline, 2⁻⁵ for Identity
// and Residual (the paper's point is that the query-free model tolerates the lower decay).
func (c Config) DefaultWeightDecay() float64 {
	if c.QueryMode == Identity || c.QueryMode == Residual {
		return 1.0 / 32
	}
	return 0.1
}

// NumParams returns the number of parameters (tied embeddings counted once):
//
//	V·C + BlockSize·C + L·(C + QKVWidth·C + C·C + C + H·C + C·H) + C
func (c Config) NumParams() int {
	C, L, H := c.NEmbd, c.NLayer, c.Hidden()
	return c.VocabSize*C + c.BlockSize*C + L*(C+c.QKVWidth()*C+C*C+C+H*C+C*H) + C + L*c.residualQueryParams()
}

// residualQueryParams returns the parameters of one layer's residual query path: the RMSNorm
// weight (C), W₁ (C/2, C), W₂ (C, C/2) and the LayerNorm weight (C); 0 in the other modes.
func (c Config) residualQueryParams() int {
	if c.QueryMode != Residual {
		return 0
	}
	C := c.NEmbd
	return C + (C/2)*C + C*(C/2) + C
}

// Validate reports the first problem with c, or nil.
func (c Config) Validate() error {
	switch {
	case c.NLayer < 1:
		return fmt.Errorf("gpt: n-layer must be ≥ 1, got %d", c.NLayer)
	case c.NHead < 1:
		return fmt.Errorf("gpt: n-head must be ≥ 1, got %d", c.NHead)
	case c.NEmbd < 1:
		return fmt.Errorf("gpt: n-embd must be ≥ 1, got %d", c.NEmbd)
	case c.NEmbd%c.NHead != 0:
		return fmt.Errorf("gpt: n-embd %d is not divisible by n-head %d", c.NEmbd, c.NHead)
	case c.BlockSize < 1:
		return fmt.Errorf("gpt: block-size must be ≥ 1, got %d", c.BlockSize)
	case c.VocabSize < 2:
		return fmt.Errorf("gpt: vocab size must be ≥ 2, got %d", c.VocabSize)
	case c.MLPHidden < 0:
		return fmt.Errorf("gpt: mlp-hidden must be ≥ 0 (0 means 4·n-embd), got %d", c.MLPHidden)
	case c.QueryMode != Baseline && c.QueryMode != Identity && c.QueryMode != Residual:
		return fmt.Errorf("gpt: unknown query mode %q (want baseline, identity or residual)", c.QueryMode)
	case c.QueryMode == Residual && c.NEmbd%2 != 0:
		return fmt.Errorf("gpt: the residual query mode needs an even n-embd (bottleneck C/2), got %d", c.NEmbd)
	case c.AttnScale < 0 || math.IsNaN(c.AttnScale) || math.IsInf(c.AttnScale, 0):
		return fmt.Errorf("gpt: attn-scale must be a finite number ≥ 0 (0 means the mode's default), got %v", c.AttnScale)
	}
	// An estimate in float64 first: the int products of NumParams overflow for absurd sizes.
	C, H := float64(c.NEmbd), float64(c.MLPHidden)
	if H == 0 {
		H = 4 * C
	}
	est := float64(c.VocabSize)*C + float64(c.BlockSize)*C + float64(c.NLayer)*(6*C+5*C*C+2*H*C)
	if est > 1<<40 || int64(c.NumParams()) > math.MaxInt32 {
		return errors.New("gpt: model has more than 2³¹ parameters")
	}
	return nil
}
