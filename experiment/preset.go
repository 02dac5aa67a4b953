package experiment

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
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
	// Main names the main variants to run (empty: all of them).
	Main []string `json:"main,omitempty"`
	// LRs, if set, runs every main variant at each of these peak learning rates (the minimum
	// learning rate in proportion), so that each is compared at its own best.
	LRs []float64 `json:"lrs,omitempty"`
	// Scales, if set, is the identity model's attention-scale sweep, in units of 1/√dh, at each
	// width of ScaleWidths (0 stands for the preset's; a width C has C/dh heads, so dh is kept) next
	// to a baseline of that width. Unset: one ablation at the baseline's scale.
	Scales      []float64 `json:"scales,omitempty"`
	ScaleWidths []int     `json:"scale_widths,omitempty"`
}

// DefaultPreset is the preset of a bare `kvgpt experiment`: the smoke test.
const DefaultPreset = "micro"

// NewPreset returns the experiment on gpt preset p: 2 seeds, weight decays 0.1, 0.05, 2⁻⁵ and 2⁻⁶
// and every main variant at the preset's learning rate; for dh64, the replication: 3 seeds;
// original, identity and identity-wide-mlp each at learning rates ½, 1 and 2 × the preset's; the
// identity scale at ¼, ½, 1 and 2 × 1/√dh at C=128 and C=192 (1.5·C: C=256 would take as long as
// the rest of the sweep); weight decays 0, 2⁻⁷, 2⁻⁵ and 0.1 for both modes.
func NewPreset(p gpt.Preset) Preset {
	if p.Name == "shakespeare-gpt2" { // the main comparison on subword tokens: W_Q = I at ½/√dh and 1/√dh
		return Preset{Preset: p, Seeds: 3, Main: []string{"original", "identity"}, Scales: []float64{1}, ScaleWidths: []int{0}}
	}
	if p.Name == "dh64" {
		lr := p.Train.LR
		return Preset{Preset: p, Seeds: 3, WeightDecays: []float64{0, 1.0 / 128, 1.0 / 32, 0.1},
			Main: []string{"original", "identity", "identity-wide-mlp"}, LRs: []float64{lr / 2, lr, 2 * lr},
			Scales: []float64{0.25, 0.5, 1, 2}, ScaleWidths: []int{0, 3 * p.Model.NEmbd / 2}}
	}
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
	NHead       int           `json:"n_head,omitempty"` // 0: the preset's
	MLPHidden   int           `json:"mlp_hidden"`
	WeightDecay float64       `json:"weight_decay"`
	AttnScale   float64       `json:"attn_scale"`   // 0: the mode's default
	LR          float64       `json:"lr,omitempty"` // peak learning rate; 0: the preset's
	// Base is the main variant a learning-rate sweep runs at several rates (Name is Base@lr=…).
	Base string `json:"base,omitempty"`
	Note string `json:"note"`
}

// Config returns the model configuration of v under preset p with vocabulary size V.
func (v Variant) Config(p Preset, V int) gpt.Config {
	c := p.Model
	c.QueryMode, c.NEmbd, c.MLPHidden, c.AttnScale, c.VocabSize = v.Mode, v.NEmbd, v.MLPHidden, v.AttnScale, V
	if v.NHead != 0 {
		c.NHead = v.NHead
	}
	return c
}

// TrainConfig returns the training settings of v under preset p at seed: the preset's, with v's
// weight decay and learning rate (the minimum learning rate scaled in proportion).
func (v Variant) TrainConfig(p Preset, seed uint64) gpt.TrainConfig {
	tc := p.Train
	tc.Seed, tc.WeightDecay = seed, v.WeightDecay
	if v.LR != 0 {
		tc.LR, tc.MinLR = v.LR, p.Train.MinLR*v.LR/p.Train.LR
	}
	return tc
}

// lr returns the peak learning rate v trains at under p.
func (v Variant) lr(p Preset) float64 { return cmp.Or(v.LR, p.Train.LR) }

// NonEmbeddingParams returns the parameter count without the token and position embeddings (the
// LM head is tied to the token embedding, so it is not counted either).
func NonEmbeddingParams(c gpt.Config) int {
	return c.NumParams() - c.VocabSize*c.NEmbd - c.BlockSize*c.NEmbd
}

// Weight decays of the two modes' main variants: nanoGPT's 0.1 for the baseline, the paper's 2⁻⁵
// for the identity model.
const (
	wdBaseline = 0.1
	wdIdentity = 1.0 / 32
)

// Variants returns the variants of preset p, in the order they run: the main comparison (at every
// learning rate of p.LRs), the scale ablation or sweep, then the rest of the weight-decay sweep.
// A setting is run once: sweep points that coincide with a main variant are not repeated.
func Variants(p Preset) []Variant {
	C, NH := p.Model.NEmbd, p.Model.NHead
	dh := C / NH
	main := []Variant{
		{Name: "original", Group: "main", Mode: gpt.Baseline, NEmbd: C, MLPHidden: 4 * C, WeightDecay: wdBaseline,
			Note: "baseline, W_Q learned, scale 1/√dh"},
		{Name: "identity", Group: "main", Mode: gpt.Identity, NEmbd: C, MLPHidden: 4 * C, WeightDecay: wdIdentity,
			Note: "W_Q = I, scale 1/(2√dh)"},
		{Name: "identity-wide-mlp", Group: "main", Mode: gpt.Identity, NEmbd: C, MLPHidden: 9 * C / 2, WeightDecay: wdIdentity,
			Note: "identity, MLP 4.5·C: the saved L·C² reallocated (= original's count)"},
		{Name: "original-narrow-mlp", Group: "main", Mode: gpt.Baseline, NEmbd: C, MLPHidden: 7 * C / 2, WeightDecay: wdBaseline,
			Note: "baseline, MLP 3.5·C (= identity's count)"},
	}
	cs := smallerWidth(p)
	main = append(main,
		Variant{Name: "original-smaller", Group: "main", Mode: gpt.Baseline, NEmbd: cs, MLPHidden: 4 * cs, WeightDecay: wdBaseline,
			Note: fmt.Sprintf("baseline, C=%d: the width whose count is closest to identity's", cs)},
		Variant{Name: "residual-query", Group: "main", Mode: gpt.Residual, NEmbd: C, MLPHidden: 4 * C, WeightDecay: wdIdentity,
			Note: "W_Q replaced by Q = ½(u + f(u)), f a C/2 bottleneck MLP (arXiv 2603.13381): original's count + 2C per layer"},
	)
	var vs []Variant
	for _, v := range main {
		if len(p.Main) > 0 && !slices.Contains(p.Main, v.Name) {
			continue
		}
		if len(p.LRs) == 0 {
			vs = append(vs, v)
			continue
		}
		for _, lr := range p.LRs {
			w := v
			w.Name, w.Base, w.LR = fmt.Sprintf("%s@lr=%g", v.Name, lr), v.Name, lr
			w.Note = fmt.Sprintf("%s; peak learning rate %g", v.Note, lr)
			vs = append(vs, w)
		}
	}
	have := func(w Variant) bool {
		return slices.ContainsFunc(vs, func(v Variant) bool { return v.sameSetting(w, p) })
	}
	add := func(w Variant) {
		if !have(w) {
			vs = append(vs, w)
		}
	}
	if len(p.Scales) == 0 {
		add(Variant{Name: "identity-scale-1/sqrt(dh)", Group: "scale", Mode: gpt.Identity, NEmbd: C, MLPHidden: 4 * C, WeightDecay: wdIdentity,
			AttnScale: 1 / math.Sqrt(float64(dh)), Note: "identity at the baseline's scale 1/√dh"})
	}
	for _, w := range p.ScaleWidths {
		for _, sc := range p.Scales {
			add(scaleVariant(p, w, sc))
		}
		add(widthBaseline(p, w))
	}
	for _, mode := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
		for _, wd := range p.WeightDecays {
			add(wdVariant(p, mode, wd))
		}
	}
	return vs
}

// scaleVariant is the identity model of width w (0: the preset's; C/dh heads) at attention scale
// s/√dh, at the preset's learning rate.
func scaleVariant(p Preset, w int, s float64) Variant {
	dh := p.Model.NEmbd / p.Model.NHead
	w = cmp.Or(w, p.Model.NEmbd)
	return Variant{Name: fmt.Sprintf("identity-C=%d-scale=%g", w, s), Group: "scale", Mode: gpt.Identity, NEmbd: w, NHead: w / dh,
		MLPHidden: 4 * w, WeightDecay: wdIdentity, AttnScale: s / math.Sqrt(float64(dh)),
		Note: fmt.Sprintf("identity, C=%d (%d heads of %d), scale %g/√dh", w, w/dh, dh, s)}
}

// widthBaseline is the baseline of width w (0: the preset's; C/dh heads): the scale sweep's
// reference at that width.
func widthBaseline(p Preset, w int) Variant {
	dh := p.Model.NEmbd / p.Model.NHead
	w = cmp.Or(w, p.Model.NEmbd)
	return Variant{Name: fmt.Sprintf("original-C=%d", w), Group: "scale", Mode: gpt.Baseline, NEmbd: w, NHead: w / dh,
		MLPHidden: 4 * w, WeightDecay: wdBaseline, Note: fmt.Sprintf("baseline at C=%d (%d heads of %d): the scale sweep's reference", w, w/dh, dh)}
}

// wdVariant is the model of the mode at the preset's shape, scale and learning rate, at weight
// decay wd.
func wdVariant(p Preset, mode gpt.QueryMode, wd float64) Variant {
	C := p.Model.NEmbd
	return Variant{Name: fmt.Sprintf("%s-wd=%s", mode, fmtWD(wd)), Group: "weight-decay", Mode: mode,
		NEmbd: C, MLPHidden: 4 * C, WeightDecay: wd, Note: fmt.Sprintf("%s, weight decay %g", mode, wd)}
}

// Selected returns the variants of p whose names only matches, in order (all of them if only is
// nil): the runs of Run with Options.Only.
func Selected(p Preset, only *regexp.Regexp) []Variant {
	vs := Variants(p)
	if only == nil {
		return vs
	}
	return slices.DeleteFunc(vs, func(v Variant) bool { return !only.MatchString(v.Name) })
}

// sameSetting reports whether v and w train the same model the same way under p (their names
// and notes aside).
func (v Variant) sameSetting(w Variant, p Preset) bool {
	cv, cw := v.Config(p, 2), w.Config(p, 2)
	cv.AttnScale, cw.AttnScale = float64(cv.Scale()), float64(cw.Scale()) // 0 stands for the default
	return cv == cw && v.WeightDecay == w.WeightDecay && v.lr(p) == w.lr(p)
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
	if wd == 0 {
		return "0"
	}
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
