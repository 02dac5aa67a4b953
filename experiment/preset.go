package experiment

import (
	"fmt"
	"math"
	"sort"

	"github.com/kvgpt/kvgpt/gpt"
)

// Preset is an experiment set-up: a preset of gpt's table (the shape of the `original` model, the
// training settings shared by every run, the data), the number of seeds and the weight-decay
// sweep. Its JSON is the gpt preset's fields and these.
type Preset struct {
	// Preset's Model.QueryMode and VocabSize are set per run, Train.WeightDecay per variant;
	// Train.Seed is the first seed.
	gpt.Preset
	Seeds int `json:"seeds"`
	// WeightDecays is the sweep run for both modes (at the mode's default scale and widths).
	WeightDecays []float64 `json:"weight_decays"`
}

// DefaultPreset is the preset of a bare `kvgpt experiment`: the smoke test.
const DefaultPreset = "micro"

// NewPreset returns the experiment on gpt preset p: 2 seeds and weight decays 0.1, 0.05, 2⁻⁵ and 2⁻⁶.
func NewPreset(p gpt.Preset) Preset {
	return Preset{Preset: p, Seeds: 2, WeightDecays: []float64{0.1, 0.05, 1.0 / 32, 1.0 / 64}}
}

// Presets returns an experiment for every preset of gpt's table, in its order.
func Presets() []Preset {
	var ps []Preset
	for _, p := range gpt.Presets() {
		ps = append(ps, NewPreset(p))
	}
	return ps
}

// LookupPreset returns the experiment on the gpt preset called name.
func LookupPreset(name string) (Preset, error) {
	p, err := gpt.LookupPreset(name)
	if err != nil {
		return Preset{}, err
	}
	return NewPreset(p), nil
}

// Validate reports the first problem with the preset.
func (p Preset) Validate() error {
	c := p.Model
	c.VocabSize, c.QueryMode = 256, gpt.Baseline
	if err := c.Validate(); err != nil {
		return fmt.Errorf("preset %s: %w", p.Name, err)
	}
	if c.MLPHidden != 0 {
		return fmt.Errorf("preset %s: the original model must have the default MLP width 4·C", p.Name)
	}
	if c.NEmbd%2 != 0 {
		return fmt.Errorf("preset %s: C=%d must be even (identity-wide-mlp has MLP width 4.5·C)", p.Name, c.NEmbd)
	}
	if err := p.Train.Validate(); err != nil {
		return fmt.Errorf("preset %s: %w", p.Name, err)
	}
	if p.Seeds < 1 {
		return fmt.Errorf("preset %s: seeds must be ≥ 1, got %d", p.Name, p.Seeds)
	}
	return nil
}

// Variant is one model/optimiser setting of an experiment.
type Variant struct {
	Name        string        `json:"name"`
	Group       string        `json:"group"` // "main", "scale" or "weight-decay"
	Mode        gpt.QueryMode `json:"mode"`
	NEmbd       int           `json:"n_embd"`
	MLPHidden   int           `json:"mlp_hidden"`
	WeightDecay float64       `json:"weight_decay"`
	AttnScale   float64       `json:"attn_scale"` // 0: the mode's default
	Note        string        `json:"note"`
}

// Config returns the model configuration of v under preset p with vocabulary size V.
func (v Variant) Config(p Preset, V int) gpt.Config {
	c := p.Model
	c.QueryMode, c.NEmbd, c.MLPHidden, c.AttnScale, c.VocabSize = v.Mode, v.NEmbd, v.MLPHidden, v.AttnScale, V
	return c
}

// NonEmbeddingParams returns the parameter count without the token and position embeddings (the
// LM head is tied to the token embedding, so it is not counted either).
func NonEmbeddingParams(c gpt.Config) int {
	return c.NumParams() - c.VocabSize*c.NEmbd - c.BlockSize*c.NEmbd
}

// Variants returns the variants of preset p, in the order they run: the main comparison, the scale
// ablation, then the rest of the weight-decay sweep (runs of the sweep that coincide with a main
// variant are not repeated).
func Variants(p Preset) []Variant {
	C, NH := p.Model.NEmbd, p.Model.NHead
	wdBase, wdID := 0.1, 1.0/32
	dh := float64(C / NH)
	vs := []Variant{
		{Name: "original", Group: "main", Mode: gpt.Baseline, NEmbd: C, MLPHidden: 4 * C, WeightDecay: wdBase,
			Note: "baseline, W_Q learned, scale 1/√dh"},
		{Name: "identity", Group: "main", Mode: gpt.Identity, NEmbd: C, MLPHidden: 4 * C, WeightDecay: wdID,
			Note: "W_Q = I, scale 1/(2√dh)"},
		{Name: "identity-wide-mlp", Group: "main", Mode: gpt.Identity, NEmbd: C, MLPHidden: 9 * C / 2, WeightDecay: wdID,
			Note: "identity, MLP 4.5·C: the saved L·C² reallocated (= original's count)"},
		{Name: "original-narrow-mlp", Group: "main", Mode: gpt.Baseline, NEmbd: C, MLPHidden: 7 * C / 2, WeightDecay: wdBase,
			Note: "baseline, MLP 3.5·C (= identity's count)"},
	}
	cs := smallerWidth(p)
	vs = append(vs,
		Variant{Name: "original-smaller", Group: "main", Mode: gpt.Baseline, NEmbd: cs, MLPHidden: 4 * cs, WeightDecay: wdBase,
			Note: fmt.Sprintf("baseline, C=%d: the width whose count is closest to identity's", cs)},
		Variant{Name: "residual-query", Group: "main", Mode: gpt.Residual, NEmbd: C, MLPHidden: 4 * C, WeightDecay: wdID,
			Note: "W_Q replaced by Q = ½(u + f(u)), f a C/2 bottleneck MLP (arXiv 2603.13381): original's count + 2C per layer"},
		Variant{Name: "identity-scale-1/sqrt(dh)", Group: "scale", Mode: gpt.Identity, NEmbd: C, MLPHidden: 4 * C, WeightDecay: wdID,
			AttnScale: 1 / math.Sqrt(dh), Note: "identity at the baseline's scale 1/√dh"},
	)
	for _, mode := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
		for _, wd := range p.WeightDecays {
			if (mode == gpt.Baseline && wd == wdBase) || (mode == gpt.Identity && wd == wdID) {
				continue // that is `original` / `identity`
			}
			vs = append(vs, Variant{Name: fmt.Sprintf("%s-wd=%s", mode, fmtWD(wd)), Group: "weight-decay", Mode: mode,
				NEmbd: C, MLPHidden: 4 * C, WeightDecay: wd, Note: fmt.Sprintf("%s, weight decay %g", mode, wd)})
		}
	}
	return vs
}

// smallerWidth returns the baseline width (a multiple of the head count, MLP 4·C) whose
// non-embedding parameter count is closest to that of the identity model of p.
func smallerWidth(p Preset) int {
	target := p.Model
	target.QueryMode, target.VocabSize = gpt.Identity, 256
	want := NonEmbeddingParams(target)
	best, bestD := p.Model.NEmbd, math.MaxInt
	for c := p.Model.NHead; c <= p.Model.NEmbd; c += p.Model.NHead {
		cfg := p.Model
		cfg.QueryMode, cfg.VocabSize, cfg.NEmbd = gpt.Baseline, 256, c
		if d := abs(NonEmbeddingParams(cfg) - want); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// fmtWD prints a weight decay, as a power of two where it is one (2^-5 rather than 0.03125).
func fmtWD(wd float64) string {
	if e := math.Log2(wd); e == math.Trunc(e) && e < -1 {
		return fmt.Sprintf("2^%d", int(e))
	}
	return fmt.Sprintf("%g", wd)
}

// sortedWDs returns the distinct weight decays of the sweep in increasing order.
func sortedWDs(p Preset) []float64 {
	w := append([]float64(nil), p.WeightDecays...)
	w = append(w, 0.1, 1.0/32)
	sort.Float64s(w)
	out := w[:0]
	for i, v := range w {
		if i == 0 || v != w[i-1] {
			out = append(out, v)
		}
	}
	return out
}
