package experiment

import (
	"cmp"
	"math"
	"slices"
)

// Paired is the paired difference of two variants over the seeds both finished: with the same seed
// both start from the same random stream and see the same batches, so d_s = L_a(s) − L_b(s) removes
// the seed's share of the noise.
type Paired struct {
	A    string  `json:"a"`
	B    string  `json:"b"`
	N    int     `json:"n"`    // seeds both finished
	Mean float64 `json:"mean"` // mean of d_s
	SD   float64 `json:"sd"`   // sample standard deviation of d_s
	// Lo, Hi is the 95% confidence interval of the mean: Mean ∓ t(0.975, N−1)·SD/√N (N ≥ 2).
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// WithinNoise reports whether the interval contains 0: the runs cannot tell a from b.
func (p Paired) WithinNoise() bool { return p.N >= 2 && p.Lo <= 0 && 0 <= p.Hi }

// Verdict says in words which is lower, and whether the runs can tell.
func (p Paired) Verdict() string {
	switch {
	case p.N < 2:
		return "undecided (fewer than 2 paired seeds)"
	case p.WithinNoise():
		return "within noise"
	case p.Hi < 0:
		return p.A + " lower"
	default:
		return p.B + " lower"
	}
}

// tQuantile975 returns the 0.975 quantile of Student's t distribution with df degrees of freedom:
// the table's value up to 30, the normal's 1.96 beyond (within 2% there).
func tQuantile975(df int) float64 {
	table := []float64{math.NaN(), 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
		2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}
	if df < 1 {
		return math.NaN()
	}
	if df < len(table) {
		return table[df]
	}
	return 1.96
}

// pairDiffs returns the paired statistics of the differences d.
func pairDiffs(a, b string, d []float64) Paired {
	p := Paired{A: a, B: b, N: len(d)}
	if p.N == 0 {
		return p
	}
	p.Mean = mean(d)
	if p.N < 2 {
		p.Lo, p.Hi = math.Inf(-1), math.Inf(1)
		return p
	}
	ss := 0.0
	for _, x := range d {
		ss += (x - p.Mean) * (x - p.Mean)
	}
	p.SD = math.Sqrt(ss / float64(p.N-1))
	h := tQuantile975(p.N-1) * p.SD / math.Sqrt(float64(p.N))
	p.Lo, p.Hi = p.Mean-h, p.Mean+h
	return p
}

// finals returns the final validation loss of each finished run of variant, by seed.
func (r *Results) finals(variant string) map[uint64]float64 {
	m := map[uint64]float64{}
	for _, run := range r.Runs {
		if run.Variant == variant && run.FinalVal != nil {
			m[run.Seed] = *run.FinalVal
		}
	}
	return m
}

// Paired returns the paired difference of the final validation losses of variants a and b.
func (r *Results) Paired(a, b string) Paired {
	fa, fb := r.finals(a), r.finals(b)
	var d []float64
	for _, s := range r.Seeds {
		la, okA := fa[s]
		lb, okB := fb[s]
		if okA && okB {
			d = append(d, la-lb)
		}
	}
	return pairDiffs(a, b, d)
}

// pairedCurve returns, at every validation step both variants' finished runs reached, the paired
// difference of their validation losses.
func (r *Results) pairedCurve(a, b string) (steps []int, ps []Paired) {
	curve := func(name string) map[uint64]RunResult {
		m := map[uint64]RunResult{}
		for _, run := range r.Runs {
			if run.Variant == name && run.FinalVal != nil {
				m[run.Seed] = run
			}
		}
		return m
	}
	ca, cb := curve(a), curve(b)
	var seeds []uint64
	for _, s := range r.Seeds {
		if _, ok := ca[s]; ok {
			if _, ok := cb[s]; ok {
				seeds = append(seeds, s)
			}
		}
	}
	if len(seeds) == 0 {
		return nil, nil
	}
	steps = ca[seeds[0]].EvalSteps
	for _, s := range seeds {
		for _, run := range []RunResult{ca[s], cb[s]} {
			if len(run.EvalSteps) < len(steps) {
				steps = run.EvalSteps
			}
		}
	}
	for k := range steps {
		var d []float64
		for _, s := range seeds {
			d = append(d, ca[s].ValLoss[k]-cb[s].ValLoss[k])
		}
		ps = append(ps, pairDiffs(a, b, d))
	}
	return steps, ps
}

// summaryOf returns the summary of the variant that trains the setting of v (whatever its name),
// or nil if the sweep has none.
func (r *Results) summaryOf(v Variant) (*Summary, string) {
	for i, w := range r.Variants {
		if w.sameSetting(v, r.Preset) && i < len(r.Summary) {
			return &r.Summary[i], w.Name
		}
	}
	return nil, ""
}

// bases returns the main variants of a learning-rate sweep, in order.
func (r *Results) bases() []string {
	var b []string
	for _, v := range r.Variants {
		if v.Base != "" && !slices.Contains(b, v.Base) {
			b = append(b, v.Base)
		}
	}
	return b
}

// BestLR returns the variant of base's learning-rate sweep with the lowest mean final validation
// loss among those with every seed finished and none diverged ("" if none has).
func (r *Results) BestLR(base string) string {
	best, bestL := "", math.Inf(1)
	for i, v := range r.Variants {
		s := r.Summary[i]
		if cmp.Or(v.Base, v.Name) != base || s.ValMean == nil || s.Diverged > 0 || s.Runs < len(r.Seeds) {
			continue
		}
		if *s.ValMean < bestL {
			best, bestL = v.Name, *s.ValMean
		}
	}
	return best
}
