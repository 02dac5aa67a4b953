package theory

import (
	"fmt"

	"github.com/kvgpt/kvgpt/gpt"
)

// FromGPT returns the float64 reference of a kvgpt model: a PreLN Transformer with the model's
// weights (downloaded from its backend), its query mode (Identity: no query projection; Residual:
// the ResidualQuery) and its attention scale. kvgpt stores PyTorch Linear weights (OC, C) and computes x·Wᵀ; the reference
// acts with x·W, so every projection is transposed. The LM head is tied: Head = Wteᵀ.
func FromGPT(m *gpt.Model) (Transformer, error) {
	return FromWeights(m.Config, func(name string) ([]float64, error) {
		w, err := m.Param(name)
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(w))
		for i, v := range w {
			out[i] = float64(v)
		}
		return out, nil
	})
}

// FromWeights returns the float64 reference (as FromGPT) of a kvgpt model of configuration cfg
// whose parameters weight returns by their nanoGPT names, in kvgpt's layout (gpt.Model.Param). The
// reference holds copies: a caller may change weight's slices afterwards, for instance to
// differentiate the reference numerically.
func FromWeights(cfg gpt.Config, weight func(name string) ([]float64, error)) (Transformer, error) {
	C, H, V := cfg.NEmbd, cfg.Hidden(), cfg.VocabSize
	get := func(name string, r, c int) (Mat, error) {
		w, err := weight(name)
		if err != nil {
			return Mat{}, err
		}
		if len(w) != r*c {
			return Mat{}, fmt.Errorf("theory: %s has %d elements, want (%d, %d)", name, len(w), r, c)
		}
		out := NewMat(r, c)
		copy(out.D, w)
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
		if cfg.QueryMode == gpt.Identity || cfg.QueryMode == gpt.Residual {
			ly.Attn.Wk, ly.Attn.Wv = rows(0), rows(1)
		} else {
			ly.Attn.Wq, ly.Attn.Wk, ly.Attn.Wv = rows(0), rows(1), rows(2)
		}
		proj, err := get(p+"attn.c_proj.weight", C, C)
		if err != nil {
			return t, err
		}
		ly.Attn.Wo = Transpose(proj)
		if cfg.QueryMode == gpt.Residual {
			rq := &ResidualQuery{}
			if rq.G, err = vec(p + "attn.q_norm.weight"); err != nil {
				return t, err
			}
			if rq.GL, err = vec(p + "attn.q_ln.weight"); err != nil {
				return t, err
			}
			w1, err := get(p+"attn.q_fc.weight", C/2, C)
			if err != nil {
				return t, err
			}
			w2, err := get(p+"attn.q_proj.weight", C, C/2)
			if err != nil {
				return t, err
			}
			rq.W1, rq.W2 = Transpose(w1), Transpose(w2)
			ly.Attn.Residual = rq
		}
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
