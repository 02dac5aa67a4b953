package gpt

import (
	"fmt"
	"strings"

	"github.com/kvgpt/kvgpt/nn"
)

// ParamViews are named views into one flat parameter slab, in llm.c order. The same layout serves
// the gradients and the AdamW moments. QC is the attention input width: 3C (Baseline) or 2C
// (Identity); H is the MLP hidden width.
type ParamViews struct {
	Wte      nn.View // (V, C) token embedding, tied with the LM head
	Wpe      nn.View // (BlockSize, C) position embedding
	LN1W     nn.View // (L, C)
	AttnW    nn.View // (L, QC, C) [Q K V] or [K V] rows, PyTorch Linear layout
	AttProjW nn.View // (L, C, C)
	LN2W     nn.View // (L, C)
	FcW      nn.View // (L, H, C)
	FcProjW  nn.View // (L, C, H)
	LNFW     nn.View // (C)
}

// paramSizes returns the element counts of the ParamViews fields, in order.
func paramSizes(c Config) [9]int {
	C, L, H := c.NEmbd, c.NLayer, c.Hidden()
	return [9]int{
		c.VocabSize * C,
		c.BlockSize * C,
		L * C,
		L * c.QKVWidth() * C,
		L * C * C,
		L * C,
		L * H * C,
		L * C * H,
		C,
	}
}

// newParamViews carves the views of cfg out of slab, which must hold cfg.NumParams() elements.
func newParamViews(cfg Config, slab nn.View) ParamViews {
	s := paramSizes(cfg)
	var v [9]nn.View
	off := 0
	for i, n := range s {
		v[i] = slab.Slice(off, n)
		off += n
	}
	return ParamViews{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]}
}

// Tensor is one named tensor of the model: a view into a parameter (or gradient) slab with its
// nanoGPT name and shape.
type Tensor struct {
	Name  string
	Shape []int
	View  nn.View
}

// Len returns the number of elements of t.
func (t Tensor) Len() int { return t.View.N }

// tensors lists the nanoGPT-named tensors of the views p, in slab order except that each layer's
// tensors are grouped by layer (the order of a nanoGPT state_dict, without lm_head.weight, which is
// tied to transformer.wte.weight).
func tensors(cfg Config, p ParamViews) []Tensor {
	C, L, H, QC := cfg.NEmbd, cfg.NLayer, cfg.Hidden(), cfg.QKVWidth()
	ts := []Tensor{
		{"transformer.wte.weight", []int{cfg.VocabSize, C}, p.Wte},
		{"transformer.wpe.weight", []int{cfg.BlockSize, C}, p.Wpe},
	}
	for l := range L {
		h := fmt.Sprintf("transformer.h.%d.", l)
		ts = append(ts,
			Tensor{h + "ln_1.weight", []int{C}, p.LN1W.Slice(l*C, C)},
			Tensor{h + "attn.c_attn.weight", []int{QC, C}, p.AttnW.Slice(l*QC*C, QC*C)},
			Tensor{h + "attn.c_proj.weight", []int{C, C}, p.AttProjW.Slice(l*C*C, C*C)},
			Tensor{h + "ln_2.weight", []int{C}, p.LN2W.Slice(l*C, C)},
			Tensor{h + "mlp.c_fc.weight", []int{H, C}, p.FcW.Slice(l*H*C, H*C)},
			Tensor{h + "mlp.c_proj.weight", []int{C, H}, p.FcProjW.Slice(l*C*H, C*H)},
		)
	}
	ts = append(ts, Tensor{"transformer.ln_f.weight", []int{C}, p.LNFW})
	return ts
}

// isOutputProjection reports whether the nanoGPT tensor name is one of the two residual output
// projections that nanoGPT initialises with std 0.02/√(2L).
func isOutputProjection(name string) bool {
	return strings.HasSuffix(name, "attn.c_proj.weight") || strings.HasSuffix(name, "mlp.c_proj.weight")
}
