package theory

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/kvgpt/kvgpt/internal/atomicfile"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// ExpressivityConfig sets up the ReLU expressivity demo (`kvgpt expressivity`).
type ExpressivityConfig struct {
	D        int     // input width d
	M        int     // hidden width m of the residual blocks
	Blocks   int     // random residual blocks to fit
	Restarts int     // fits per block and width; the best one counts
	Steps    int     // Adam steps per fit
	Samples  int     // training (and held-out) inputs per fit
	LR       float64 // peak Adam learning rate
	Seed     uint64  // everything is drawn from generators seeded by Seed
	Workers  int     // fits run in parallel; 0 means GOMAXPROCS
}

// DefaultExpressivityConfig runs in a few seconds on two cores.
func DefaultExpressivityConfig() ExpressivityConfig {
	return ExpressivityConfig{D: 4, M: 8, Blocks: 3, Restarts: 2, Steps: 2500, Samples: 256, LR: 0.03, Seed: 1}
}

// Validate reports the first bad setting.
func (c ExpressivityConfig) Validate() error {
	switch {
	case c.D < 1:
		return fmt.Errorf("d must be ≥ 1, got %d", c.D)
	case c.M < c.D:
		return fmt.Errorf("m must be ≥ d (the condition needs |S| ≥ d units), got m=%d d=%d", c.M, c.D)
	case c.M+2*c.D > 62:
		return fmt.Errorf("m + 2d must be ≤ 62, got %d", c.M+2*c.D)
	case c.Blocks < 1 || c.Restarts < 1 || c.Steps < 1 || c.Samples < 1:
		return fmt.Errorf("blocks, restarts, steps and samples must all be ≥ 1")
	case c.Samples > maxSamples:
		return fmt.Errorf("samples must be ≤ %d (each fit holds a few samples × (m+2d) matrices), got %d", maxSamples, c.Samples)
	case c.Blocks > maxFits || c.Restarts > maxFits || 2*(c.Blocks+1)*c.Restarts > maxFits:
		return fmt.Errorf("blocks and restarts must give at most %d fits (2·(blocks+1)·restarts), got blocks=%d restarts=%d", maxFits, c.Blocks, c.Restarts)
	case !(c.LR > 0):
		return fmt.Errorf("lr must be > 0, got %g", c.LR)
	case c.Workers < 0 || c.Workers > maxWorkers:
		return fmt.Errorf("workers must be between 0 and %d, got %d", maxWorkers, c.Workers)
	}
	return nil
}

// Bounds of ExpressivityConfig, far beyond a useful demo, so that a mistyped setting is an error
// rather than a run that exhausts the machine's memory.
const (
	maxSamples = 1 << 20
	maxFits    = 1 << 20
	maxWorkers = 1 << 10
)

// WidthFit is the best of the restarts of one block at one width.
type WidthFit struct {
	Width     int       `json:"width"`
	RelErr    float64   `json:"rel_error"`      // held-out Σ‖g−f‖²/Σ‖f‖² of the best restart
	Exact     *float64  `json:"exact_error"`    // RelError of the exact construction; nil if none exists
	FittedGap float64   `json:"fitted_gap"`     // IdentityPathGap(+I) of the best fit's weights
	FittedS   []int     `json:"fitted_set"`     // the minimising unit set
	Steps     []int     `json:"steps"`          // learning curve of the best restart
	Curve     []float64 `json:"curve"`          //
	AllRelErr []float64 `json:"restart_errors"` // every restart's final error
}

// BlockResult is one residual block and its fits.
type BlockResult struct {
	Name       string     `json:"name"`
	Control    bool       `json:"control"`       // built to satisfy the condition
	BlockGap   float64    `json:"condition_gap"` // IdentityPathGap(−I) of the block's weights
	BlockS     []int      `json:"condition_set"`
	Exhaustive bool       `json:"exhaustive_search"`
	Fits       []WidthFit `json:"fits"` // width m, then m + 2d
}

// ExpressivityResult is the outcome of RunExpressivity.
type ExpressivityResult struct {
	Config ExpressivityConfig `json:"config"`
	Blocks []BlockResult      `json:"blocks"`
}

// RunExpressivity fits skip-free ReLU MLPs of widths m and m + 2d to cfg.Blocks random residual
// blocks x + W2·ReLU(W1·x) and to one control block that satisfies W2[:,S]·W1[S,:] = −I, and checks
// that condition on the blocks' and the fits' weights. progress, if not nil, gets one line per fit.
func RunExpressivity(cfg ExpressivityConfig, progress io.Writer) (ExpressivityResult, error) {
	if err := cfg.Validate(); err != nil {
		return ExpressivityResult{}, err
	}
	res := ExpressivityResult{Config: cfg}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6b76677074))
	var blocks []ReLUNet
	for b := 0; b < cfg.Blocks; b++ {
		blocks = append(blocks, RandomResidualBlock(rng, cfg.D, cfg.M))
		res.Blocks = append(res.Blocks, BlockResult{Name: fmt.Sprintf("random-%d", b+1)})
	}
	blocks = append(blocks, ConditionBlock(rng, cfg.D, cfg.M))
	res.Blocks = append(res.Blocks, BlockResult{Name: "control", Control: true})
	widths := []int{cfg.M, cfg.M + 2*cfg.D}

	type job struct{ b, w, r int }
	var jobs []job
	for b := range blocks {
		res.Blocks[b].BlockGap, res.Blocks[b].BlockS, res.Blocks[b].Exhaustive = IdentityPathGap(blocks[b].W1, blocks[b].W2, -1)
		res.Blocks[b].Fits = make([]WidthFit, len(widths))
		for w := range widths {
			for r := 0; r < cfg.Restarts; r++ {
				jobs = append(jobs, job{b, w, r})
			}
		}
	}
	fits := make([]FitResult, len(jobs))
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
		next = make(chan int)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := jobs[i]
				// Each fit has its own generator, so results do not depend on scheduling.
				frng := rand.New(rand.NewPCG(cfg.Seed, uint64(1+j.b*1000+j.w*100+j.r)))
				fits[i] = FitSkipFree(frng, blocks[j.b], FitConfig{Width: widths[j.w], Samples: cfg.Samples, Steps: cfg.Steps, LR: cfg.LR, Every: max(1, cfg.Steps/100)})
				mu.Lock()
				done++
				if progress != nil {
					fmt.Fprintf(progress, "\rexpressivity: fit %d/%d (%s, width %d, restart %d): rel. error %.3g   ",
						done, len(jobs), res.Blocks[j.b].Name, widths[j.w], j.r+1, fits[i].RelErr)
					if done == len(jobs) {
						fmt.Fprintln(progress)
					}
				}
				mu.Unlock()
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()

	xs := Randn(rng, cfg.Samples, cfg.D, 1)
	for b, blk := range blocks {
		if res.Blocks[b].BlockGap < 1e-9 {
			e := RelError(SkipFreeEquivalent(blk, res.Blocks[b].BlockS), blk, xs)
			res.Blocks[b].Fits[0].Exact = &e
		}
		e := RelError(WideSkipFree(blk), blk, xs)
		res.Blocks[b].Fits[1].Exact = &e
	}
	for i, j := range jobs {
		f := &res.Blocks[j.b].Fits[j.w]
		f.Width = widths[j.w]
		f.AllRelErr = append(f.AllRelErr, fits[i].RelErr)
		if len(f.AllRelErr) == 1 || fits[i].RelErr < f.RelErr {
			f.RelErr, f.Steps, f.Curve = fits[i].RelErr, fits[i].Steps, fits[i].Curve
			f.FittedGap, f.FittedS, _ = IdentityPathGap(fits[i].Net.W1, fits[i].Net.W2, 1)
		}
	}
	return res, nil
}

// divergedRelErr is the held-out relative error above which a fit has diverged rather than merely
// not converged: the zero function scores 1, and every fit starts near it.
const divergedRelErr = 10

// CheckDiverged reports the first fit whose final held-out error is not finite or above
// divergedRelErr — its Adam steps blew up (too large a learning rate) — or nil.
func (r ExpressivityResult) CheckDiverged() error {
	for _, b := range r.Blocks {
		for _, f := range b.Fits {
			for _, e := range f.AllRelErr {
				if !(e <= divergedRelErr) { // NaN too
					return fmt.Errorf("a fit of block %s at width %d diverged: its held-out relative error is %.3g (the zero function's is 1, a diverged fit's above %d): lower the learning rate",
						b.Name, f.Width, e, divergedRelErr)
				}
			}
		}
	}
	return nil
}

// Floors returns, for the random blocks, the median best error at width m and at width m + 2d.
func (r ExpressivityResult) Floors() (narrow, wide float64) {
	var a, b []float64
	for _, bl := range r.Blocks {
		if !bl.Control {
			a, b = append(a, bl.Fits[0].RelErr), append(b, bl.Fits[1].RelErr)
		}
	}
	return median(a), median(b)
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return 0.5 * (s[len(s)/2-1] + s[len(s)/2])
}

// WriteTable writes the result as a table with an explanation of each column.
func (r ExpressivityResult) WriteTable(w io.Writer) error {
	c := r.Config
	fmt.Fprintf(w, "Residual block f(x) = x + W2·ReLU(W1·x), d=%d, hidden width m=%d, fitted by skip-free MLPs g(x) = V2·ReLU(V1·x)\n", c.D, c.M)
	fmt.Fprintf(w, "of width m=%d and m+2d=%d (best of %d restarts, %d Adam steps, %d random inputs, held-out error).\n\n", c.M, c.M+2*c.D, c.Restarts, c.Steps, c.Samples)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "block\tblock gap\twidth\texact construction\trel. error floor (fit)\tfitted gap\t")
	for _, b := range r.Blocks {
		for i, f := range b.Fits {
			name, gap := "", ""
			if i == 0 {
				name, gap = b.Name, fmt.Sprintf("%.3f", b.BlockGap)
			}
			exact := "none exists"
			if f.Exact != nil {
				exact = fmt.Sprintf("%.1e", *f.Exact)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.2e\t%.3f\t\n", name, gap, f.Width, exact, f.RelErr, f.FittedGap)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	narrow, wide := r.Floors()
	fmt.Fprintf(w, "\nmedian error floor over the random blocks: width %d: %.2e, width %d: %.2e (%.0f× lower)\n",
		c.M, narrow, c.M+2*c.D, wide, narrow/wide)
	search := "exhaustive over all unit sets"
	for _, b := range r.Blocks {
		if !b.Exhaustive {
			search = "greedy local search (more than 22 units)"
		}
	}
	fmt.Fprintf(w, `
What the columns measure:
  exact construction  error of the skip-free MLP built by hand, where one exists: width m+2d always
                    (W1' = [W1; I; −I], W2' = [W2, I, −I], since x = ReLU(x) − ReLU(−x)); width m only
                    when the block gap is 0 (the rows S of W1 flipped). 0 up to rounding.
  rel. error floor  Σ‖g(x) − f(x)‖² / Σ‖f(x)‖² on held-out inputs x ~ N(0, I) of the best fitted
                    MLP. Adam may stop in a local minimum even where an exact MLP exists (more
                    -restarts and -steps lower it); where none exists no fit can reach 0.
  block gap         min over unit sets S, |S| ≥ d, of ‖W2[:,S]·W1[S,:] + I‖_F/√d for the block's own
                    weights. The block equals a skip-free MLP of its own width iff this is 0 (flip the
                    signs of the rows S of W1: x + Σ_S w2ᵢ·ReLU(w1ᵢ·x) = Σ_S w2ᵢ·ReLU(−w1ᵢ·x) when
                    Σ_S w2ᵢ·w1ᵢᵀ = −I). Random blocks are far from 0, so width m must leave an error
                    floor; the control block is built with gap 0.
  fitted gap        the same test on a fitted MLP, min over S of ‖V2[:,S]·V1[S,:] − I‖_F/√d: how close
                    the fit is to containing an identity path (a residual block in disguise). Width
                    m+2d can carry the skip exactly (x = ReLU(x) − ReLU(−x) with 2d units) and its fits
                    find such a path; width m cannot spare the units.
  (search: %s)
`, search)
	return nil
}

// WriteFiles writes table.txt, results.json and expressivity.png into dir (created if needed).
func (r ExpressivityResult) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var sb strings.Builder
	if err := r.WriteTable(&sb); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, "table.txt"), []byte(sb.String())); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, "results.json"), append(js, '\n')); err != nil {
		return err
	}
	return r.Plot(filepath.Join(dir, "expressivity.png"))
}

// Plot draws the held-out error of the best fit against the Adam step, one line per block and width
// (log scale), and saves it as a PNG.
func (r ExpressivityResult) Plot(path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Skip-free ReLU MLP fitting x + W2·ReLU(W1·x) (d=%d, m=%d)", r.Config.D, r.Config.M)
	p.X.Label.Text = "Adam step"
	p.Y.Label.Text = "held-out relative error"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: 1}
	p.Legend.Top = true
	p.Legend.Left = false
	for bi, b := range r.Blocks {
		for wi, f := range b.Fits {
			pts := make(plotter.XYs, len(f.Curve))
			for i := range f.Curve {
				pts[i].X, pts[i].Y = float64(f.Steps[i]), math.Max(f.Curve[i], 1e-30)
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return err
			}
			l.Color = plotutil.Color(wi)
			l.Dashes = plotutil.Dashes(0)
			if b.Control {
				l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
			}
			l.Width = vg.Points(1)
			p.Add(l)
			if bi == 0 || b.Control {
				label := fmt.Sprintf("width %d, random blocks", f.Width)
				if wi == 1 {
					label = fmt.Sprintf("width %d (m+2d), random blocks", f.Width)
				}
				if b.Control {
					label = fmt.Sprintf("width %d, control block", f.Width)
				}
				p.Legend.Add(label, l)
			}
		}
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}
