package experiment

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPairedInterval(t *testing.T) {
	// d = 1, 2, 3: mean 2, sample sd 1, 95% half-width t(0.975, 2)·1/√3 = 4.303/1.7321 = 2.4843.
	p := pairDiffs("a", "b", []float64{1, 2, 3})
	require.Equal(t, 3, p.N)
	require.InDelta(t, 2, p.Mean, 1e-12)
	require.InDelta(t, 1, p.SD, 1e-12)
	require.InDelta(t, 2-2.4843, p.Lo, 1e-4)
	require.InDelta(t, 2+2.4843, p.Hi, 1e-4)
	require.True(t, p.WithinNoise())
	require.Equal(t, "within noise", p.Verdict())

	// Differences all of one sign and tight: not within noise.
	q := pairDiffs("a", "b", []float64{-0.011, -0.010, -0.012, -0.009})
	require.Less(t, q.Hi, 0.0)
	require.Equal(t, "a lower", q.Verdict())
	require.Equal(t, "undecided (fewer than 2 paired seeds)", pairDiffs("a", "b", []float64{0.5}).Verdict())
	require.InDelta(t, 1.96, tQuantile975(1000), 0)
	require.InDelta(t, 12.706, tQuantile975(1), 0)
}

// sweepResults fabricates the results of the dh64 sweep, with per-variant effects and a per-seed
// effect shared by all variants (which the paired differences must cancel):
//
//	final loss = 1.5 + effect(variant) + seedShift(seed) + jitter(variant, seed)
func sweepResults(t *testing.T, effect func(v Variant) (float64, bool)) *Results {
	return presetResults(t, "dh64", effect)
}

// presetResults fabricates the results of preset name's variants as sweepResults does.
func presetResults(t *testing.T, name string, effect func(v Variant) (float64, bool)) *Results {
	p, err := LookupPreset(name)
	require.NoError(t, err)
	r := &Results{Preset: p, Vocab: 65, Variants: Variants(p), Seeds: []uint64{1, 2, 3}}
	seedShift := map[uint64]float64{1: -0.05, 2: 0.0, 3: 0.07}
	for vi, v := range r.Variants {
		e, diverge := effect(v)
		for si, s := range r.Seeds {
			run := RunResult{Variant: v.Name, Seed: s, Status: "done", MaxGradNorm: 1 + e, MaxAttnLogit: 10 + 100*e}
			if diverge && si == 0 {
				run.Status = "diverged: loss is NaN at step 700"
				r.Runs = append(r.Runs, run)
				continue
			}
			jitter := 0.002 * math.Sin(float64(vi)*12.9898+float64(si)*78.233) // irregular, within ±0.002
			final := 1.5 + e + seedShift[s] + jitter
			for step := 100; step <= 2000; step += 100 {
				run.EvalSteps = append(run.EvalSteps, step)
				run.ValLoss = append(run.ValLoss, final+0.5*float64(2000-step)/2000)
			}
			run.FinalVal = &final
			r.Runs = append(r.Runs, run)
		}
	}
	r.summarize()
	return r
}

func TestSweepClaims(t *testing.T) {
	r := sweepResults(t, func(v Variant) (float64, bool) {
		lrPenalty := 0.0
		switch v.Base {
		case "original":
			lrPenalty = 0.03 * math.Abs(math.Log2(v.lr(r0)/lr0)) // best at the preset's rate
			return lrPenalty, false
		case "identity":
			return 0.02 + 0.03*math.Abs(math.Log2(v.lr(r0)/(2*lr0))), false // best at twice it, 0.02 behind
		case "identity-wide-mlp":
			return -0.015 + 0.03*math.Abs(math.Log2(v.lr(r0)/lr0)), false // 0.015 ahead
		}
		switch {
		case v.Name == "identity-wd=0":
			return 0.01, true // one seed diverges
		case v.NEmbd == w2 && v.Mode == "identity":
			return -0.3 + 0.01*math.Abs(math.Log2(v.AttnScale*8/1)), false // the second width: best at 1/√dh
		case v.NEmbd == w2:
			return -0.3, false
		case v.Group == "scale":
			return 0.05 + 0.01*math.Abs(math.Log2(v.AttnScale*8/0.5)), false // C=128: best at ½/√dh (identity at the preset's rate: 0.05)
		}
		return 0.005, false
	})
	require.Equal(t, fmt.Sprintf("original@lr=%g", lr0), r.BestLR("original"))
	require.Equal(t, fmt.Sprintf("identity@lr=%g", 2*lr0), r.BestLR("identity"))
	require.Equal(t, fmt.Sprintf("identity-wide-mlp@lr=%g", lr0), r.BestLR("identity-wide-mlp"))
	require.Equal(t, 0.5, r.bestScale(0))
	require.Equal(t, 1.0, r.bestScale(w2))

	cs := r.Claims()
	require.Len(t, cs, 3)
	// Claim 1: identity − original = 0.02 plus the jitter difference; the seed shift cancels.
	c1 := cs[0].Paired
	require.Equal(t, fmt.Sprintf("identity@lr=%g", 2*lr0), c1.A)
	require.Equal(t, 3, c1.N)
	require.InDelta(t, 0.02, c1.Mean, 0.004)
	require.Less(t, c1.Hi-c1.Lo, 0.05, "the shared seed shift (0.12 wide) must cancel in the pairs")
	require.Greater(t, c1.Lo, 0.0)
	require.Contains(t, cs[0].Verdict, "not supported")
	// Claim 2: identity at weight decay 0 diverged once.
	require.Contains(t, cs[1].Verdict, "not supported: unstable at 0 (1 diverged")
	require.Contains(t, cs[1].Verdict, "the baseline is stable there too (0, 2^-7, 2^-5)")
	require.Equal(t, fmt.Sprintf("identity@lr=%g", lr0), cs[1].Paired.A, "the paper's pair: identity at 2⁻⁵")
	// Claim 3: the wide MLP is 0.015 ahead.
	require.InDelta(t, -0.015, cs[2].Paired.Mean, 0.004)
	require.Contains(t, cs[2].Verdict, "supported: identity-wide-mlp is ahead")
	require.NotContains(t, cs[2].Verdict, "not supported")

	dir := t.TempDir()
	require.NoError(t, r.write(dir, true))
	report, err := os.ReadFile(filepath.Join(dir, ReportFile))
	require.NoError(t, err)
	for _, s := range []string{"## Learning rates", "## The paper's claims", "## Attention scale of the identity model",
		"## Weight decay and stability", fmt.Sprintf("| C=%d |", w2), "**1.5", "| identity | 0 |"} {
		require.Contains(t, string(report), s)
	}
	for _, f := range []string{ValPlot, PairedPlot, LRPlot, ScalePlot, WDPlot} {
		require.Contains(t, string(report), "]("+f+")")
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		require.True(t, len(b) > 1000 && string(b[1:4]) == "PNG", "%s is not a PNG", f)
	}
	if d := os.Getenv("KVGPT_SWEEP_PLOTS"); d != "" { // to look at them
		for _, f := range []string{ValPlot, PairedPlot, LRPlot, ScalePlot, WDPlot, ReportFile} {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			require.NoError(t, os.WriteFile(filepath.Join(d, f), b, 0o644))
		}
	}
	require.False(t, strings.Contains(string(report), "Incomplete"))
}

// r0 is the dh64 preset, for the effects of TestSweepClaims: lr0 its learning rate, w2 the second
// width of its scale sweep.
var (
	r0  = func() Preset { p, _ := LookupPreset("dh64"); return p }()
	lr0 = r0.Train.LR
	w2  = r0.ScaleWidths[1]
)

// TestSweepClaimsWithinNoise: when identity and identity-wide-mlp differ from original only by
// the per-run jitter, claims 1 and 3 are within noise, and the verdicts say how far the interval
// reaches.
func TestSweepClaimsWithinNoise(t *testing.T) {
	r := sweepResults(t, func(v Variant) (float64, bool) {
		if v.Base != "" {
			return 0.03 * math.Abs(math.Log2(v.lr(r0)/lr0)), false // all three best at the preset's rate, equal
		}
		return 0.005, false
	})
	cs := r.Claims()
	require.Len(t, cs, 3)
	for _, c := range []Claim{cs[0], cs[2]} {
		require.True(t, c.Paired.WithinNoise(), "%s: %+v", c.Claim, c.Paired)
		require.Contains(t, c.Verdict, "within noise")
		require.Contains(t, c.Verdict, fmt.Sprintf("%.4f", c.Paired.Hi))
	}
	require.Contains(t, cs[0].Verdict, "consistent with a match")
	require.Contains(t, cs[2].Verdict, "not decided")
	require.Contains(t, cs[1].Verdict, "supported: no divergence")
}

// TestSweepSubset: a sweep run with --variants at one learning rate reports the others as not run,
// in their columns, and compares at the rate it has.
func TestSweepSubset(t *testing.T) {
	r := sweepResults(t, func(v Variant) (float64, bool) { return 0, false })
	r.Variants = slices.DeleteFunc(r.Variants, func(v Variant) bool { return v.Base == "" || v.LR != lr0 })
	r.summarize()
	require.Equal(t, fmt.Sprintf("original@lr=%g", lr0), r.BestLR("original"))
	var b strings.Builder
	r.sweepReport(&b)
	require.Contains(t, b.String(), "| original | – | **1.")
	require.Len(t, r.Claims(), 3)
}

// TestClaimsWithoutLRSweep: a preset that runs each main variant at one learning rate
// (shakespeare-gpt2) is judged on those runs.
func TestClaimsWithoutLRSweep(t *testing.T) {
	r := presetResults(t, "shakespeare-gpt2", func(v Variant) (float64, bool) {
		if v.Name == "identity" {
			return -0.03, false // ahead by 0.03 on every seed
		}
		return 0, false
	})
	cs := r.Claims()
	require.Len(t, cs, 2, "no identity-wide-mlp: no claim 3")
	require.Equal(t, "identity", cs[0].Paired.A)
	require.Equal(t, "original", cs[0].Paired.B)
	require.InDelta(t, -0.03, cs[0].Paired.Mean, 0.005)
	require.Contains(t, cs[0].Verdict, "supported: the identity model is ahead by 0.0")
	var b strings.Builder
	r.sweepReport(&b)
	require.Contains(t, b.String(), "## The paper's claims")
}
