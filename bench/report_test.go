package bench

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMedianOfRounds(t *testing.T) {
	round := func(kv, torch float64) TrainResult {
		r := TrainResult{StepResult: StepResult{Preset: "small", Mode: "baseline", B: 2, T: 50, TokensPerSec: kv,
			Seconds: 100 / kv, MFU: kv / 1000}}
		if torch > 0 {
			r.PyTorch = &TorchResult{Mode: "baseline", TokensPerSec: torch, Seconds: 100 / torch}
			r.Ratio = kv / torch
		} else {
			r.PyTorchError = "no torch"
		}
		return r
	}
	t.Run("rounds=3", func(t *testing.T) {
		// kvgpt 300, 100, 200 → 200; PyTorch 100, 200, 50 → 100; ratios 3, 0.5, 4 → 3.
		m := MedianOfRounds([]TrainResult{round(300, 100), round(100, 200), round(200, 50)})
		require.InDelta(t, 200, m.TokensPerSec, 1e-9)
		require.InDelta(t, 0.5, m.Seconds, 1e-9) // 100 tokens at 200 tok/s
		require.InDelta(t, 0.2, m.MFU, 1e-9)
		require.InDelta(t, 100, m.PyTorch.TokensPerSec, 1e-9)
		require.InDelta(t, 1.0, m.PyTorch.Seconds, 1e-9)
		require.InDelta(t, 3, m.Ratio, 1e-9) // not 200/100: the median of the rounds' own ratios
		require.InDelta(t, 0.5, m.RatioMin, 1e-9)
		require.InDelta(t, 4, m.RatioMax, 1e-9)
		require.Equal(t, []Round{{300, 100, 3}, {100, 200, 0.5}, {200, 50, 4}}, m.Rounds)
		require.Empty(t, m.PyTorchError)
	})
	t.Run("rounds=4/one without PyTorch", func(t *testing.T) {
		m := MedianOfRounds([]TrainResult{round(100, 100), round(400, 0), round(200, 100), round(300, 50)})
		require.InDelta(t, 250, m.TokensPerSec, 1e-9) // mean of the middle two
		require.InDelta(t, 100, m.PyTorch.TokensPerSec, 1e-9)
		require.InDelta(t, 2, m.Ratio, 1e-9) // ratios 1, 2, 6
		require.Equal(t, "no torch", m.PyTorchError)
		require.Len(t, m.Rounds, 4)
	})
	t.Run("rounds=1", func(t *testing.T) {
		r := round(123, 100)
		require.Equal(t, r, MedianOfRounds([]TrainResult{r}))
	})
	t.Run("text", func(t *testing.T) {
		m := MedianOfRounds([]TrainResult{round(300, 100), round(100, 200), round(200, 50)})
		rep := &Report{Backends: []BackendReport{{Backend: "cpu", Training: []TrainResult{m}}}}
		var buf bytes.Buffer
		rep.WriteText(&buf)
		require.Contains(t, buf.String(), "medians of 3 rounds")
		require.Regexp(t, `(?m)^small +baseline +2×50 .* 100 +3\.00× \(0\.50–4\.00\)$`, buf.String())
	})
}

// TestRateCapsAtThePeak: a utilisation above the measured peak (the peak's measurements came out
// low) is printed as 100% with a mark and a note, never above; the rest are rated as measured.
func TestRateCapsAtThePeak(t *testing.T) {
	step := func(preset string, tokPerSec float64) TrainResult {
		return TrainResult{StepResult: StepResult{Preset: preset, Mode: "baseline", B: 8, T: 256, Params: 1000,
			Seconds: 2048 / tokPerSec, TokensPerSec: tokPerSec, FLOPsPerToken: 1e6}}
	}
	var peak Peak
	for _, gf := range []float64{102, 200, 150} { // one low measurement among three
		peak.add(gf, 10)
	}
	require.Equal(t, Peak{GFLOPS: 200, GBps: 10, Trials: 3, GFLOPSMin: 102, GBpsMin: 10}, peak)
	for _, c := range []struct {
		name      string
		peak      float64 // GFLOP/s
		wantMFU   [2]float64
		wantAbove [2]bool
	}{
		// 1e5 tok/s × 1e6 FLOPs = 100 GFLOP/s, 3e5 tok/s = 300 GFLOP/s.
		{"peak=200GFLOPs/tok=1e5,3e5", 200, [2]float64{0.5, 1}, [2]bool{false, true}},
		{"peak=400GFLOPs/tok=1e5,3e5", 400, [2]float64{0.25, 0.75}, [2]bool{false, false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := BackendReport{Backend: "cpu", Device: "cpu", Peak: Peak{GFLOPS: c.peak, GBps: 10, Trials: 3, GFLOPSMin: 102, GBpsMin: 9},
				Ops: []OpResult{
					{Op: "matmul_forward", Shape: "BT=2048/C=384/OC=1536", Seconds: 1e-3, GFLOPS: 250, GBps: 5},
					{Op: "gelu_forward", Shape: "N=786432", Seconds: 1e-3, GBps: 12},
				},
				Training:   []TrainResult{step("small", 1e5), step("medium", 3e5)},
				References: []Reference{{Name: "gonum Sgemm (pure Go)", GFLOPS: 100}},
			}
			b.Rate()
			for i, tr := range b.Training {
				require.InDelta(t, c.wantMFU[i], tr.MFU, 1e-12, tr.Preset)
				require.Equal(t, c.wantAbove[i], tr.AbovePeak, tr.Preset)
			}
			require.Equal(t, min(100, 100*250/c.peak), b.Ops[0].PctPeak)
			require.Equal(t, 250 > c.peak, b.Ops[0].AbovePeak)
			require.Equal(t, 100.0, b.Ops[1].PctPeak, "12 GB/s of a 10 GB/s peak")
			require.True(t, b.Ops[1].AbovePeak)
			require.InDelta(t, c.peak, b.References[0].MatmulPct, 1e-9, "a comparison, not a utilisation: not capped")

			var buf bytes.Buffer
			(&Report{Backends: []BackendReport{b}}).WriteText(&buf)
			out := buf.String()
			require.Contains(t, out, "the best of 3 measurements spread over the run (the lowest: 102.0 GFLOP/s, 9.0 GB/s)")
			require.Regexp(t, `(?m)^gelu_forward +N=786432 .* 100\.0\*$`, out)
			require.Contains(t, out, "* faster than the peak (the best of 3 measurements): shown as 100%")
			if c.wantAbove[1] {
				require.Regexp(t, `(?m)^medium +baseline +8×256 .* 100\.0%\* `, out)
			} else {
				require.Regexp(t, `(?m)^medium +baseline +8×256 .*  75\.0% `, out)
			}
			// Every percentage printed is at most 100, but a reference's (kvgpt's matmul as a share of it).
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, "% of it") {
					continue
				}
				for _, m := range regexp.MustCompile(`(\d+\.\d)(%|\*?$)`).FindAllStringSubmatch(line, -1) {
					v, err := strconv.ParseFloat(m[1], 64)
					require.NoError(t, err)
					if strings.HasPrefix(line, "matmul") || strings.HasPrefix(line, "gelu") || m[2] == "%" {
						require.LessOrEqual(t, v, 100.0, "printed utilisation in %q", line)
					}
				}
			}
		})
	}
}
