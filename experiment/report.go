package experiment

import (
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/kvgpt/kvgpt/internal/atomicfile"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
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
	LossSpikes   int      `json:"loss_spikes"` // summed over seeds
	MaxAttnLogit float64  `json:"max_attn_logit"`
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
	for _, pl := range []struct {
		name string
		fn   func() (*plot.Plot, error)
	}{{ValPlot, r.valPlot}, {RelDiffPlot, r.relDiffPlot}, {WDPlot, r.wdPlot}} {
		p, err := pl.fn()
		if err != nil {
			return fmt.Errorf("plot %s: %w", pl.name, err)
		}
		if err := savePlot(p, filepath.Join(dir, pl.name)); err != nil {
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

	b.WriteString("| variant | mode | C | MLP | weight decay | scale | non-emb. params | final val loss (mean ± std) | Δ vs original | max grad norm | loss spikes | max \\|attn logit\\| |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
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
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s | %d | %s | %s | %s |\n", v.Name, v.Mode, cfg.NEmbd, cfg.Hidden(),
			fmtWD(v.WeightDecay), scaleName(cfg), s.NonEmbParams, val, rel, markers)
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
	b.WriteString("## Weight decay\n\nFinal validation loss (mean over seeds) at the mode's default scale and widths:\n\n| weight decay |")
	wds := sortedWDs(p)
	for _, wd := range wds {
		fmt.Fprintf(&b, " %s |", fmtWD(wd))
	}
	b.WriteString("\n|---|")
	for range wds {
		b.WriteString("--:|")
	}
	b.WriteString("\n")
	for _, mode := range []string{"baseline", "identity"} {
		fmt.Fprintf(&b, "| %s |", mode)
		for _, wd := range wds {
			if s := r.wdSummary(mode, wd); s != nil && s.ValMean != nil {
				fmt.Fprintf(&b, " %.4f |", *s.ValMean)
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\n## Plots\n\n![validation loss](%s)\n\n![relative difference to original](%s)\n\n![final loss against weight decay](%s)\n\n", ValPlot, RelDiffPlot, WDPlot)
	fmt.Fprintf(&b, "Per-run metrics (JSON lines, one record per step): `%s/`; everything above as data: `%s`.\n", RunsDir, ResultsFile)
	return b.String()
}

func scaleName(c interface{ Scale() float32 }) string { return fmt.Sprintf("%.4g", c.Scale()) }

// wdSummary returns the summary of the run with the mode's default shape at weight decay wd.
func (r *Results) wdSummary(mode string, wd float64) *Summary {
	for i, v := range r.Variants {
		if string(v.Mode) == mode && v.WeightDecay == wd && v.AttnScale == 0 && v.NEmbd == r.Preset.Model.NEmbd && v.MLPHidden == 4*v.NEmbd {
			return &r.Summary[i]
		}
	}
	return nil
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

// curveVariants are the variants drawn in the curve plots.
func (r *Results) curveVariants() []string {
	var n []string
	for _, v := range r.Variants {
		if v.Group != "weight-decay" {
			n = append(n, v.Name)
		}
	}
	return n
}

func (r *Results) valPlot() (*plot.Plot, error) {
	p := newPlot(fmt.Sprintf("Validation loss (%s, mean over seeds)", r.Preset.Name), "step", "validation loss (nats/token)")
	for i, name := range r.curveVariants() {
		steps, loss := r.meanCurve(name)
		if err := addLine(p, name, i, steps, loss); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (r *Results) relDiffPlot() (*plot.Plot, error) {
	p := newPlot("Relative difference to original: 100·(L − L_original)/L_original", "step", "%")
	ostep, ol := r.meanCurve("original")
	zero := plotter.NewFunction(func(float64) float64 { return 0 })
	zero.Color = color.Gray{Y: 160}
	p.Add(zero)
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
		if err := addLine(p, name, i, steps[:n], rel); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (r *Results) wdPlot() (*plot.Plot, error) {
	p := newPlot("Final validation loss against weight decay", "weight decay", "final validation loss")
	// The decays sit at even spacing, labelled (a log axis would have no room for 0).
	wds := sortedWDs(r.Preset)
	for i, mode := range []string{"baseline", "identity"} {
		var pts plotter.XYs
		for k, wd := range wds {
			if s := r.wdSummary(mode, wd); s != nil && s.ValMean != nil {
				pts = append(pts, plotter.XY{X: float64(k), Y: *s.ValMean})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		l.Color, sc.Color = plotutil.Color(i), plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i)
		sc.Shape = plotutil.Shape(i)
		p.Add(l, sc)
		p.Legend.Add(mode, l, sc)
	}
	p.X.Tick.Marker = wdTicks(wds)
	p.X.Min, p.X.Max = -0.3, float64(len(wds))-0.7
	return p, nil
}

// wdTicks labels the evenly spaced weight decays of wdPlot.
type wdTicks []float64

func (w wdTicks) Ticks(min, max float64) []plot.Tick {
	var t []plot.Tick
	for i, v := range w {
		t = append(t, plot.Tick{Value: float64(i), Label: fmtWD(v)})
	}
	return t
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

func addLine(p *plot.Plot, name string, i int, steps []int, ys []float64) error {
	if len(steps) == 0 {
		return nil
	}
	pts := make(plotter.XYs, len(steps))
	for k := range steps {
		pts[k] = plotter.XY{X: float64(steps[k]), Y: ys[k]}
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color = plotutil.Color(i)
	l.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
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
