package bench

import (
	"bytes"
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
