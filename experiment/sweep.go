package experiment

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/kvgpt/kvgpt/gpt"

	"gonum.org/v1/plot/plotter"
)

// Plots of a preset with sweeps (Preset.LRs, Preset.Scales), next to ValPlot, RelDiffPlot and
// WDPlot.
const (
	LRPlot     = "learning_rate.png"
	PairedPlot = "paired_diff.png"
	ScalePlot  = "scale.png"
)

// Claim is one of the paper's claims put to the runs: the paired difference of the final validation
// loss, a − b, and what it says.
type Claim struct {
	Claim   string `json:"claim"`
	Paired  Paired `json:"paired"`
	Verdict string `json:"verdict"`
}

// Claims returns the paper's three claims as these runs decide them: each main variant at its own
// best learning rate (where the preset sweeps it), and the identity model at weight decays below
// 0.1/3 against the baseline at 0.1 (at the preset's learning rate). A claim whose variants did not
// run (or not with every seed) is left out.
func (r *Results) Claims() []Claim {
	orig, id, wide := r.BestLR("original"), r.BestLR("identity"), r.BestLR("identity-wide-mlp")
	var cs []Claim
	if orig != "" && id != "" {
		p := r.Paired(id, orig)
		// Within noise is a match only as far as the interval reaches: say how far.
		v := fmt.Sprintf("within noise: consistent with a match, but the runs cannot rule out the identity model being up to %.4f nats (%.2f%%) behind or %.4f ahead",
			p.Hi, 100*p.Hi/r.meanFinal(orig), -p.Lo)
		switch {
		case p.N < 2:
			v = "not decided: too few seeds"
		case p.Lo > 0:
			v = fmt.Sprintf("not supported at this scale: the identity model is behind by %.4f nats (%.2f%%)", p.Mean, 100*p.Mean/r.meanFinal(orig))
		case p.Hi < 0:
			v = fmt.Sprintf("supported: the identity model is ahead by %.4f nats", -p.Mean)
		}
		cs = append(cs, Claim{Claim: "1. the reduced (identity) model matches the baseline", Paired: p, Verdict: v})
	}
	if orig != "" {
		cs = append(cs, r.stabilityClaim())
	}
	if orig != "" && wide != "" {
		p := r.Paired(wide, orig)
		v := fmt.Sprintf("not decided: within noise (identity-wide-mlp between %.4f nats ahead and %.4f behind)", -p.Lo, p.Hi)
		switch {
		case p.N < 2:
			v = "not decided: too few seeds"
		case p.Hi < 0:
			v = fmt.Sprintf("supported: identity-wide-mlp is ahead by %.4f nats (%.2f%%)", -p.Mean, -100*p.Mean/r.meanFinal(orig))
		case p.Lo > 0:
			v = fmt.Sprintf("not supported: identity-wide-mlp is behind by %.4f nats", p.Mean)
		}
		cs = append(cs, Claim{Claim: "3. reallocating the saved parameters (MLP 4.5·C) outperforms the baseline", Paired: p, Verdict: v})
	}
	return cs
}

// stabilityClaim is claim 2: the identity model trains stably at weight decays more than 3× below
// the baseline's 0.1. Stable means: no run diverged and no more loss spikes than the baseline at
// 0.1 had. The paired difference is that of the paper's pair, identity at 2⁻⁵ against the baseline
// at 0.1; the verdict also says whether the baseline is as stable at those decays (if it is, the
// stability is not the identity model's own).
func (r *Results) stabilityClaim() Claim {
	c := Claim{Claim: "2. the identity model trains stably at over 3× lower weight decay"}
	p := r.Preset
	ref, refName := r.summaryOf(wdVariant(p, gpt.Baseline, wdBaseline))
	if ref == nil {
		c.Verdict = "not decided: no baseline at weight decay 0.1"
		return c
	}
	// unstable lists the decays below 0.1/3 at which mode's runs diverged or spiked more than the
	// reference; tested, those it ran at.
	check := func(mode gpt.QueryMode) (unstable, tested []string) {
		for _, wd := range sortedWDs(p) {
			if wd > wdBaseline/3 {
				continue
			}
			s, _ := r.summaryOf(wdVariant(p, mode, wd))
			if s == nil || s.Runs+s.Diverged == 0 {
				continue
			}
			tested = append(tested, fmtWD(wd))
			if s.Diverged > 0 || s.LossSpikes > ref.LossSpikes {
				unstable = append(unstable, fmt.Sprintf("%s (%d diverged, %d spikes)", fmtWD(wd), s.Diverged, s.LossSpikes))
			}
		}
		return unstable, tested
	}
	unstable, tested := check(gpt.Identity)
	switch {
	case len(tested) == 0:
		c.Verdict = "not decided: no identity run below weight decay 0.1/3"
		return c
	case len(unstable) > 0:
		c.Verdict = "not supported: unstable at " + strings.Join(unstable, ", ")
	default:
		c.Verdict = fmt.Sprintf("supported: no divergence and no more loss spikes than the baseline at 0.1 (%d) at weight decays %s",
			ref.LossSpikes, strings.Join(tested, ", "))
	}
	if bu, bt := check(gpt.Baseline); len(bt) > 0 {
		if len(bu) == 0 {
			c.Verdict += "; the baseline is stable there too (" + strings.Join(bt, ", ") + ")"
		} else {
			c.Verdict += "; the baseline is unstable at " + strings.Join(bu, ", ")
		}
	}
	if _, name := r.summaryOf(wdVariant(p, gpt.Identity, wdIdentity)); name != "" {
		c.Paired = r.Paired(name, refName)
	}
	return c
}

// meanFinal returns the mean final validation loss of a variant (NaN if it has none).
func (r *Results) meanFinal(name string) float64 {
	for i, v := range r.Variants {
		if v.Name == name && r.Summary[i].ValMean != nil {
			return *r.Summary[i].ValMean
		}
	}
	return math.NaN()
}

// sweepReport writes report.md's sections of the learning-rate, scale and weight-decay sweeps.
func (r *Results) sweepReport(b *strings.Builder) {
	p := r.Preset
	fm := func(s *Summary) string {
		if s == nil || s.ValMean == nil {
			if s != nil && s.Diverged > 0 {
				return "diverged"
			}
			return "–"
		}
		out := fmt.Sprintf("%.4f", *s.ValMean)
		if s.ValStd != nil {
			out += fmt.Sprintf(" ± %.4f", *s.ValStd)
		}
		if s.Diverged > 0 {
			out += fmt.Sprintf(" (%d diverged)", s.Diverged)
		}
		return out
	}
	fp := func(q Paired) string {
		if q.N == 0 {
			return "–"
		}
		if q.N < 2 {
			return fmt.Sprintf("%+.4f (1 seed)", q.Mean)
		}
		return fmt.Sprintf("%+.4f [%+.4f, %+.4f]", q.Mean, q.Lo, q.Hi)
	}
	if len(p.LRs) > 0 {
		b.WriteString("## Learning rates\n\nFinal validation loss (mean ± std over seeds) of each main variant at each peak learning rate (the minimum learning rate in proportion); **bold**: the variant's best, at which the claims below compare it.\n\n| variant |")
		for _, lr := range p.LRs {
			fmt.Fprintf(b, " lr %g |", lr)
		}
		b.WriteString("\n|---|" + strings.Repeat("--:|", len(p.LRs)) + "\n")
		for _, base := range r.bases() {
			best := r.BestLR(base)
			fmt.Fprintf(b, "| %s |", base)
			for _, lr := range p.LRs {
				cell := "–" // not run (--variants)
				for i, v := range r.Variants {
					if v.Base == base && v.LR == lr {
						cell = fm(&r.Summary[i])
						if v.Name == best {
							cell = "**" + cell + "**"
						}
					}
				}
				fmt.Fprintf(b, " %s |", cell)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if cs := r.Claims(); len(cs) > 0 {
		b.WriteString("## The paper's claims\n\nPaired differences of the final validation loss, a − b, over the seeds (the same seed gives both runs the same batches): mean and 95% t-interval; negative means a is better. *Within noise* only when the interval contains 0.\n\n| claim | a | b | seeds | a − b (mean [95% interval]) | verdict |\n|---|---|---|--:|--:|---|\n")
		for _, c := range cs {
			fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %s |\n", c.Claim, c.Paired.A, c.Paired.B, c.Paired.N, fp(c.Paired), c.Verdict)
		}
		b.WriteString("\n")
	}
	if len(p.Scales) > 0 {
		b.WriteString("## Attention scale of the identity model\n\nFinal validation loss (mean ± std) of the identity model at each scale (in units of 1/√dh, dh kept at " +
			fmt.Sprint(p.Model.NEmbd/p.Model.NHead) + ") and width, at the preset's learning rate; below it, the paired difference to the baseline of the same width (scale 1/√dh, weight decay 0.1). **Bold**: the width's best scale.\n\n| width | baseline |")
		for _, s := range p.Scales {
			fmt.Fprintf(b, " %s |", fmtScale(s))
		}
		b.WriteString("\n|---|--:|" + strings.Repeat("--:|", len(p.Scales)) + "\n")
		for _, w := range p.ScaleWidths {
			base, baseName := r.summaryOf(widthBaseline(p, w))
			best := r.bestScale(w)
			fmt.Fprintf(b, "| C=%d | %s |", cmp.Or(w, p.Model.NEmbd), fm(base))
			for _, sc := range p.Scales {
				s, _ := r.summaryOf(scaleVariant(p, w, sc))
				cell := fm(s)
				if sc == best {
					cell = "**" + cell + "**"
				}
				fmt.Fprintf(b, " %s |", cell)
			}
			fmt.Fprintf(b, "\n| − baseline | |")
			for _, sc := range p.Scales {
				_, name := r.summaryOf(scaleVariant(p, w, sc))
				fmt.Fprintf(b, " %s |", fp(r.Paired(name, baseName)))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if len(p.LRs) > 0 {
		b.WriteString("## Weight decay and stability\n\nAt the preset's learning rate, default scales and widths; Δ is the paired difference to the baseline at 0.1 (mean [95% interval]). Stability: runs that diverged (NaN/Inf), loss spikes (summed over seeds), the largest gradient norm before clipping after warmup (the largest overall comes in the first steps, the same at every decay), the largest |attention logit| of the trained models.\n\n| mode | weight decay | final val loss | Δ vs baseline at 0.1 | diverged | loss spikes | max grad norm after warmup | max \\|attn logit\\| |\n|---|--:|--:|--:|--:|--:|--:|--:|\n")
		_, refName := r.summaryOf(wdVariant(p, gpt.Baseline, wdBaseline))
		for _, mode := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
			for _, wd := range sortedWDs(p) {
				s, name := r.summaryOf(wdVariant(p, mode, wd))
				if s == nil {
					continue
				}
				delta := "(reference)"
				if name != refName {
					delta = fp(r.Paired(name, refName))
				}
				fmt.Fprintf(b, "| %s | %s | %s | %s | %d | %d | %.3g | %.3g |\n", mode, fmtWD(wd), fm(s), delta,
					s.Diverged, s.LossSpikes, s.MaxGradNormLate, s.MaxAttnLogit)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("## Plots\n\n")
	for _, f := range r.plotFiles() {
		fmt.Fprintf(b, "![%s](%s)\n\n", strings.TrimSuffix(f.name, filepath.Ext(f.name)), f.name)
	}
}

// bestScale returns the scale (in units of 1/√dh) with the lowest mean final validation loss of
// the identity model at width w (NaN if none finished).
func (r *Results) bestScale(w int) float64 {
	best, bestL := math.NaN(), math.Inf(1)
	for _, sc := range r.Preset.Scales {
		if s, _ := r.summaryOf(scaleVariant(r.Preset, w, sc)); s != nil && s.ValMean != nil && s.Diverged == 0 && *s.ValMean < bestL {
			best, bestL = sc, *s.ValMean
		}
	}
	return best
}

// lrPlot draws the final validation loss of each main variant against the learning rate, with
// ± std bars.
func (r *Results) lrPlot() (*figure, error) {
	f := newFigure("Final validation loss against the peak learning rate (mean ± std over seeds)", "peak learning rate", "final validation loss")
	var labels []string
	for _, lr := range r.Preset.LRs {
		labels = append(labels, fmt.Sprintf("%g", lr))
	}
	for i, base := range r.bases() {
		var pts plotter.XYs
		var sd []float64
		k := 0
		for j, v := range r.Variants {
			if v.Base != base {
				continue
			}
			if s := r.Summary[j]; s.ValMean != nil {
				pts = append(pts, plotter.XY{X: float64(k) + dodge(i, len(r.bases())), Y: *s.ValMean})
				sd = append(sd, ptrOr(s.ValStd, 0))
			}
			k++
		}
		if err := f.line(base, i, pts, true); err != nil {
			return nil, err
		}
		if err := f.errorBars(i, pts, sd); err != nil {
			return nil, err
		}
	}
	f.categorical(labels)
	return f, nil
}

// pairedPlot draws, at every validation step, the paired difference of identity and
// identity-wide-mlp to original (each at its best learning rate), with the 95% interval as a band.
func (r *Results) pairedPlot() (*figure, error) {
	f := newFigure("Paired difference to original, each at its best learning rate (mean, 95% band)", "step", "Δ validation loss (nats)")
	f.zero()
	orig := r.BestLR("original")
	for i, base := range []string{"identity", "identity-wide-mlp"} {
		a := r.BestLR(base)
		if a == "" || orig == "" {
			continue
		}
		steps, ps := r.pairedCurve(a, orig)
		var xs, lo, hi []float64
		var pts plotter.XYs
		for k, s := range steps {
			if ps[k].N < 2 {
				continue
			}
			xs, lo, hi = append(xs, float64(s)), append(lo, ps[k].Lo), append(hi, ps[k].Hi)
			pts = append(pts, plotter.XY{X: float64(s), Y: ps[k].Mean})
		}
		if err := f.band(i+1, xs, lo, hi); err != nil {
			return nil, err
		}
		if err := f.line(fmt.Sprintf("%s − %s", a, orig), i+1, pts, false); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// scalePlot draws, per width, the paired difference of the identity model at each scale to the
// baseline of that width, with 95% interval bars.
func (r *Results) scalePlot() (*figure, error) {
	f := newFigure("Identity model − baseline of the same width, against the attention scale", "attention scale of the identity model", "Δ final validation loss (nats)")
	f.zero()
	var labels []string
	for _, sc := range r.Preset.Scales {
		labels = append(labels, fmtScale(sc))
	}
	for i, w := range r.Preset.ScaleWidths {
		_, baseName := r.summaryOf(widthBaseline(r.Preset, w))
		var pts plotter.XYs
		var half []float64
		for k, sc := range r.Preset.Scales {
			_, name := r.summaryOf(scaleVariant(r.Preset, w, sc))
			q := r.Paired(name, baseName)
			if q.N < 2 {
				continue
			}
			pts = append(pts, plotter.XY{X: float64(k) + dodge(i, len(r.Preset.ScaleWidths)), Y: q.Mean})
			half = append(half, (q.Hi-q.Lo)/2)
		}
		if err := f.line(fmt.Sprintf("C=%d", cmp.Or(w, r.Preset.Model.NEmbd)), i, pts, true); err != nil {
			return nil, err
		}
		if err := f.errorBars(i, pts, half); err != nil {
			return nil, err
		}
	}
	f.categorical(labels)
	return f, nil
}

// dodge is the horizontal offset of series i of n on a categorical axis, so that their error bars
// stand side by side rather than on top of each other.
func dodge(i, n int) float64 { return 0.06 * (float64(i) - float64(n-1)/2) }

func ptrOr(p *float64, d float64) float64 {
	if p == nil {
		return d
	}
	return *p
}
