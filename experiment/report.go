package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/internal/atomicfile"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Summary aggregates the runs of one variant over seeds.
type Summary struct {
	Variant      string   `json:"variant"`
	NonEmbParams int      `json:"non_embedding_params"`
	Runs         int      `json:"runs"`     // finished runs (not diverged)
	Diverged     int      `json:"diverged"` // runs that hit a NaN/Inf
	Skipped      int      `json:"skipped"`  // runs the backend could not do
	ValMean      *float64 `json:"final_val_loss_mean"`
	ValStd       *float64 `json:"final_val_loss_std"` // sample std over seeds; nil for one run
	RelDiffPct   *float64 `json:"rel_diff_to_original_pct"`
	MaxGradNorm  float64  `json:"max_grad_norm"`
	// MaxGradNormLate is the largest after warmup, over seeds.
	MaxGradNormLate float64 `json:"max_grad_norm_after_warmup"`
	LossSpikes      int     `json:"loss_spikes"` // summed over seeds
	MaxAttnLogit    float64 `json:"max_attn_logit"`
}

// summarize fills r.Summary from r.Runs.
func (r *Results) summarize() {
	r.Summary = r.Summary[:0]
	var orig *float64
	for _, v := range r.Variants {
		s := Summary{Variant: v.Name, NonEmbParams: NonEmbeddingParams(v.Config(r.Preset, r.Vocab))}
		var finals []float64
		for _, run := range r.Runs {
			if run.Variant != v.Name {
				continue
			}
			s.MaxGradNorm = math.Max(s.MaxGradNorm, run.MaxGradNorm)
			s.MaxGradNormLate = math.Max(s.MaxGradNormLate, run.MaxGradNormLate)
			s.LossSpikes += run.LossSpikes
			s.MaxAttnLogit = math.Max(s.MaxAttnLogit, run.MaxAttnLogit)
			if strings.HasPrefix(run.Status, "skipped") {
				s.Skipped++
				continue
			}
			if run.FinalVal == nil {
				s.Diverged++
				continue
			}
			finals = append(finals, *run.FinalVal)
		}
		s.Runs = len(finals)
		if len(finals) > 0 {
			m := mean(finals)
			s.ValMean = &m
			if len(finals) > 1 {
				ss := 0.0
				for _, f := range finals {
					ss += (f - m) * (f - m)
				}
				sd := math.Sqrt(ss / float64(len(finals)-1))
				s.ValStd = &sd
			}
		}
		if v.Name == "original" {
			orig = s.ValMean
		}
		r.Summary = append(r.Summary, s)
	}
	if best := r.BestLR("original"); orig == nil && best != "" {
		m := r.meanFinal(best) // a learning-rate sweep compares with original at its best rate
		orig = &m
	}
	if orig != nil {
		for i := range r.Summary {
			if m := r.Summary[i].ValMean; m != nil {
				d := 100 * (*m - *orig) / *orig
				r.Summary[i].RelDiffPct = &d
			}
		}
	}
}

// write rewrites results.json in dir and, with full, report.md and the plots.
func (r *Results) write(dir string, full bool) error {
	r.Updated = time.Now().UTC()
	r.summarize()
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, ResultsFile), append(js, '\n')); err != nil {
		return err
	}
	if !full {
		return nil
	}
	return r.draw(dir)
}

// draw writes the plots and report.md into dir.
func (r *Results) draw(dir string) error {
	for _, pl := range r.plotFiles() {
		if err := pl.draw(filepath.Join(dir, pl.name)); err != nil {
			return fmt.Errorf("plot %s: %w", pl.name, err)
		}
	}
	return atomicfile.Write(filepath.Join(dir, ReportFile), []byte(r.Report()))
}

// Report returns report.md.
func (r *Results) Report() string {
	var b strings.Builder
	p := r.Preset
	done, total := len(r.Runs), len(r.Variants)*len(r.Seeds)
	fmt.Fprintf(&b, "# kvgpt experiment: preset `%s`\n\n", p.Name)
	fmt.Fprintf(&b, "%s.\n\n", p.Description)
	if done < total {
		fmt.Fprintf(&b, "**Incomplete: %d of %d runs finished** (the sweep was interrupted or is still running; rerun the same command to continue).\n\n", done, total)
	}
	fmt.Fprintf(&b, "- data: %s (vocabulary %d)\n", r.Data, r.Vocab)
	if r.Backend != "" {
		fmt.Fprintf(&b, "- backend: %s\n", r.Backend)
	}
	m, tc := p.Model, p.Train
	fmt.Fprintf(&b, "- original model: L=%d, C=%d, NH=%d (dh=%d), T=%d, MLP 4·C\n", m.NLayer, m.NEmbd, m.NHead, m.NEmbd/m.NHead, m.BlockSize)
	fmt.Fprintf(&b, "- training: %d steps of B=%d×%d (grad accum %d), AdamW lr %g → %g (warmup %d, cosine), clip %g; validation every %d steps on %d×%d sequences\n",
		tc.Steps, tc.BatchSize, m.BlockSize, tc.GradAccum, tc.LR, tc.MinLR, tc.Warmup, tc.GradClip, tc.EvalEvery, tc.EvalBatches, tc.BatchSize)
	fmt.Fprintf(&b, "- seeds: %v (each seed fixes the initialisation and the batch order, the same for every variant)\n", r.Seeds)
	fmt.Fprintf(&b, "- written %s, started %s\n\n", r.Updated.Format(time.RFC3339), r.Started.Format(time.RFC3339))

	b.WriteString("| variant | mode | C | MLP | lr | weight decay | scale | non-emb. params | final val loss (mean ± std) | Δ vs original | max grad norm | loss spikes | max \\|attn logit\\| |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for i, v := range r.Variants {
		s := r.Summary[i]
		cfg := v.Config(p, r.Vocab)
		val, rel := "–", "–"
		if s.ValMean != nil {
			val = fmt.Sprintf("%.4f", *s.ValMean)
			if s.ValStd != nil {
				val += fmt.Sprintf(" ± %.4f", *s.ValStd)
			} else {
				val += " (1 seed)"
			}
		}
		if s.Diverged > 0 {
			val += fmt.Sprintf(" (%d diverged)", s.Diverged)
		}
		if s.Skipped > 0 {
			val += fmt.Sprintf(" (%d skipped: backend lacks the op)", s.Skipped)
		}
		if s.RelDiffPct != nil {
			rel = fmt.Sprintf("%+.2f%%", *s.RelDiffPct)
		}
		markers := "– | – | –"
		if s.Runs+s.Diverged > 0 {
			markers = fmt.Sprintf("%.3g | %d | %.3g", s.MaxGradNorm, s.LossSpikes, s.MaxAttnLogit)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %g | %s | %s | %d | %s | %s | %s |\n", v.Name, v.Mode, cfg.NEmbd, cfg.Hidden(),
			v.lr(p), fmtWD(v.WeightDecay), scaleName(cfg), s.NonEmbParams, val, rel, markers)
	}
	b.WriteString(`
Columns: *non-emb. params* excludes the token and position embeddings (the LM head is tied to the
token embedding). *Δ vs original* is 100·(L − L_original)/L_original of the mean final validation
loss. *max grad norm* is the largest global gradient norm before clipping over all steps and seeds.
*loss spikes* counts steps after warmup whose training loss exceeds 1.25× the mean of the previous
20 steps (summed over seeds). *max |attn logit|* is the largest |scale·q·k| before the softmax over
all layers and heads of the trained model on two validation sequences (recomputed from the weights
in float64; kvgpt's attention op keeps only the probabilities).

Variants: ` + "`original`" + ` is the baseline (learned W_Q, weight decay 0.1, scale 1/√dh); ` + "`identity`" + ` has
W_Q = I (weight decay 2⁻⁵, scale 1/(2√dh)); ` + "`identity-wide-mlp`" + ` spends the saved L·C² parameters on
an MLP of width 4.5·C (the count equals original's); ` + "`original-narrow-mlp`" + ` is the baseline with
MLP 3.5·C (the count equals identity's); ` + "`original-smaller`" + ` is the baseline at the width whose
count is closest to identity's; ` + "`residual-query`" + ` replaces W_Q by the nonlinear query
Q = ½(u + f(u)), f(u) = LN(GELU(RMSNorm(u)·W₁)·W₂) with a C/2 bottleneck (arXiv 2603.13381; 2C
parameters per layer more than original).

`)
	if len(p.LRs) > 0 || len(p.Scales) > 0 {
		r.sweepReport(&b)
	} else {
		r.wdTable(&b)
	}
	fmt.Fprintf(&b, "Per-run metrics (JSON lines, one record per step): `%s/`; everything above as data: `%s`.\n", RunsDir, ResultsFile)
	return b.String()
}

// wdTable writes the weight-decay table of a preset without sweeps, and the plots.
func (r *Results) wdTable(b *strings.Builder) {
	p := r.Preset
	b.WriteString("## Weight decay\n\nFinal validation loss (mean over seeds) at the mode's default scale and widths:\n\n| weight decay |")
	wds := sortedWDs(p)
	for _, wd := range wds {
		fmt.Fprintf(b, " %s |", fmtWD(wd))
	}
	b.WriteString("\n|---|")
	for range wds {
		b.WriteString("--:|")
	}
	b.WriteString("\n")
	for _, mode := range []string{"baseline", "identity"} {
		fmt.Fprintf(b, "| %s |", mode)
		for _, wd := range wds {
			if s := r.wdSummary(mode, wd); s != nil && s.ValMean != nil {
				fmt.Fprintf(b, " %.4f |", *s.ValMean)
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Plots\n\n")
	for _, f := range r.plotFiles() {
		fmt.Fprintf(b, "![%s](%s)\n\n", strings.TrimSuffix(f.name, filepath.Ext(f.name)), f.name)
	}
}

// plotFile is one PNG of the report and the function that draws it.
type plotFile struct {
	name string
	draw func(path string) error
}

// plotFiles returns the report's plots: the validation curves, the relative difference to original
// (or, with a learning-rate sweep, the paired differences and the learning-rate plot), the scale
// sweep, and loss and stability against weight decay.
func (r *Results) plotFiles() []plotFile {
	one := func(fn func() (*figure, error)) func(string) error {
		return func(path string) error {
			f, err := fn()
			if err != nil {
				return err
			}
			return f.save(path)
		}
	}
	wd := func(path string) error {
		a, err := r.wdPlot()
		if err != nil {
			return err
		}
		b, err := r.wdStabilityPlot()
		if err != nil {
			return err
		}
		return saveStacked(path, a, b)
	}
	fs := []plotFile{{ValPlot, one(r.valPlot)}}
	if len(r.Preset.LRs) > 0 {
		fs = append(fs, plotFile{PairedPlot, one(r.pairedPlot)}, plotFile{LRPlot, one(r.lrPlot)})
	} else {
		fs = append(fs, plotFile{RelDiffPlot, one(r.relDiffPlot)})
	}
	if len(r.Preset.Scales) > 0 {
		fs = append(fs, plotFile{ScalePlot, one(r.scalePlot)})
	}
	return append(fs, plotFile{WDPlot, wd})
}

func scaleName(c interface{ Scale() float32 }) string { return fmt.Sprintf("%.4g", c.Scale()) }

// wdSummary returns the summary of the run with the mode's default shape and scale at weight decay
// wd and the preset's learning rate.
func (r *Results) wdSummary(mode string, wd float64) *Summary {
	s, _ := r.summaryOf(wdVariant(r.Preset, gpt.QueryMode(mode), wd))
	return s
}

// meanCurve returns the validation curve of a variant averaged over its finished seeds (the steps
// all of them reached).
func (r *Results) meanCurve(variant string) (steps []int, loss []float64) {
	var curves [][]float64
	for _, run := range r.Runs {
		if run.Variant != variant || run.FinalVal == nil {
			continue
		}
		if steps == nil || len(run.EvalSteps) < len(steps) {
			steps = run.EvalSteps
		}
		curves = append(curves, run.ValLoss)
	}
	for i := range steps {
		s := 0.0
		for _, c := range curves {
			s += c[i]
		}
		loss = append(loss, s/float64(len(curves)))
	}
	return steps, loss
}

// curveVariants are the variants drawn in the curve plots: with a learning-rate sweep, each main
// variant at its best rate; else all but the weight-decay sweep.
func (r *Results) curveVariants() []string {
	var n []string
	if bs := r.bases(); len(bs) > 0 {
		for _, b := range bs {
			if best := r.BestLR(b); best != "" {
				n = append(n, best)
			}
		}
		return n
	}
	for _, v := range r.Variants {
		if v.Group != "weight-decay" {
			n = append(n, v.Name)
		}
	}
	return n
}

func (r *Results) valPlot() (*figure, error) {
	f := newFigure(fmt.Sprintf("Validation loss (%s, mean over seeds)", r.Preset.Name), "step", "validation loss (nats/token)")
	for i, name := range r.curveVariants() {
		steps, loss := r.meanCurve(name)
		if err := f.line(name, i, xys(steps, loss), len(steps) <= 40); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (r *Results) relDiffPlot() (*figure, error) {
	f := newFigure("Relative difference to original: 100·(L − L_original)/L_original", "step", "%")
	ostep, ol := r.meanCurve("original")
	f.zero()
	for i, name := range r.curveVariants() {
		if name == "original" {
			continue
		}
		steps, loss := r.meanCurve(name)
		n := min(len(steps), len(ostep))
		var rel []float64
		for k := 0; k < n; k++ {
			rel = append(rel, 100*(loss[k]-ol[k])/ol[k])
		}
		if err := f.line(name, i, xys(steps[:n], rel), n <= 40); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// wdPlot draws the final validation loss against the weight decay, per mode.
func (r *Results) wdPlot() (*figure, error) {
	return r.wdFigure("Final validation loss against weight decay (mean over seeds)", "final validation loss",
		func(s *Summary) (float64, bool) { return ptrOr(s.ValMean, 0), s.ValMean != nil })
}

// wdStabilityPlot draws the largest |attention logit| of the trained models against the weight
// decay, per mode (wdPlot's companion).
func (r *Results) wdStabilityPlot() (*figure, error) {
	return r.wdFigure("Largest |attention logit| of the trained models against weight decay", "max |attention logit|",
		func(s *Summary) (float64, bool) { return s.MaxAttnLogit, s.Runs > 0 })
}

// wdFigure draws value (where it has one) of each mode's summary at every weight decay of the
// sweep, at evenly spaced decays (a log axis would have no room for 0).
func (r *Results) wdFigure(title, ylabel string, value func(*Summary) (float64, bool)) (*figure, error) {
	f := newFigure(title, "weight decay", ylabel)
	wds := sortedWDs(r.Preset)
	var labels []string
	for _, wd := range wds {
		labels = append(labels, fmtWD(wd))
	}
	for i, mode := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
		var pts plotter.XYs
		for k, wd := range wds {
			if s, _ := r.summaryOf(wdVariant(r.Preset, mode, wd)); s != nil {
				if y, ok := value(s); ok {
					pts = append(pts, plotter.XY{X: float64(k), Y: y})
				}
			}
		}
		if err := f.line(string(mode), i, pts, true); err != nil {
			return nil, err
		}
	}
	f.categorical(labels)
	return f, nil
}

// xys pairs steps with values.
func xys(steps []int, ys []float64) plotter.XYs {
	pts := make(plotter.XYs, len(steps))
	for k := range steps {
		pts[k] = plotter.XY{X: float64(steps[k]), Y: ys[k]}
	}
	return pts
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Y.Tick.Marker = preciseTicks{}
	p.Add(plotter.NewGrid())
	return p
}

// preciseTicks are gonum's default ticks labelled with enough digits to tell close losses apart.
type preciseTicks struct{}

func (preciseTicks) Ticks(lo, hi float64) []plot.Tick {
	t := plot.DefaultTicks{}.Ticks(lo, hi)
	digits := 1
	if hi > lo {
		digits = max(0, int(math.Ceil(-math.Log10((hi-lo)/5)))) + 1
	}
	for i := range t {
		if t[i].Label != "" {
			t[i].Label = fmt.Sprintf("%.*f", digits, t[i].Value)
		}
	}
	return t
}

// savePlot writes p as a PNG, atomically. A plot with no data still gets a file (with its axes), so
// the report's links are never dangling.
func savePlot(p *plot.Plot, path string) error {
	w, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return err
	}
	var sb strings.Builder
	if _, err := w.WriteTo(&sb); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(sb.String()))
}
