package theory

import (
	"fmt"

	"github.com/kvgpt/kvgpt/gpt"
)

// FromGPT returns the float64 reference of a kvgpt model: a PreLN Transformer with the model's
// weights (downloaded from its backend), its query mode (Identity: no query projection) and its
// attention scale. kvgpt stores PyTorch Linear weights (OC, C) and computes x·Wᵀ; the reference
// acts with x·W, so every projection is transposed. The LM head is tied: Head = Wteᵀ.
func FromGPT(m *gpt.Model) (Transformer, error) {
	cfg := m.Config
	C, H, V := cfg.NEmbd, cfg.Hidden(), cfg.VocabSize
	get := func(name string, r, c int) (Mat, error) {
		w, err := m.Param(name)
		if err != nil {
			return Mat{}, err
		}
		if len(w) != r*c {
			return Mat{}, fmt.Errorf("theory: %s has %d elements, want (%d, %d)", name, len(w), r, c)
		}
		out := NewMat(r, c)
		for i, v := range w {
			out.D[i] = float64(v)
		}
		return out, nil
	}
	vec := func(name string) ([]float64, error) {
		w, err := get(name, 1, C)
		return w.D, err
	}
	t := Transformer{Arch: PreLN, NH: cfg.NHead, Scale: float64(cfg.Scale())}
	var err error
	if t.Wte, err = get("transformer.wte.weight", V, C); err != nil {
		return t, err
	}
	if t.Wpe, err = get("transformer.wpe.weight", cfg.BlockSize, C); err != nil {
		return t, err
	}
	t.Head = Transpose(t.Wte)
	if t.LNf, err = vec("transformer.ln_f.weight"); err != nil {
		return t, err
	}
	QC := cfg.QKVWidth()
	for l := 0; l < cfg.NLayer; l++ {
		p := fmt.Sprintf("transformer.h.%d.", l)
		var ly Layer
		attn, err := get(p+"attn.c_attn.weight", QC, C)
		if err != nil {
			return t, err
		}
		rows := func(i int) Mat { return Transpose(Mat{R: C, C: C, D: attn.D[i*C*C : (i+1)*C*C]}) }
		if cfg.QueryMode == gpt.Identity {
			ly.Attn.Wk, ly.Attn.Wv = rows(0), rows(1)
		} else {
			ly.Attn.Wq, ly.Attn.Wk, ly.Attn.Wv = rows(0), rows(1), rows(2)
		}
		proj, err := get(p+"attn.c_proj.weight", C, C)
		if err != nil {
			return t, err
		}
		ly.Attn.Wo = Transpose(proj)
		fc, err := get(p+"mlp.c_fc.weight", H, C)
		if err != nil {
			return t, err
		}
		fcp, err := get(p+"mlp.c_proj.weight", C, H)
		if err != nil {
			return t, err
		}
		ly.W1, ly.W2 = Transpose(fc), Transpose(fcp)
		if ly.LN1, err = vec(p + "ln_1.weight"); err != nil {
			return t, err
		}
		if ly.LN2, err = vec(p + "ln_2.weight"); err != nil {
			return t, err
		}
		t.Layers = append(t.Layers, ly)
	}
	return t, nil
}
