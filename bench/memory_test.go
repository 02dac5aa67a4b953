package bench

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/internal/alloccount"
)

// TestPlanMatchesAllocations checks Plan against the buffers NewTrainer's run allocates, and
// PeakMeterBytes against NewPeakMeter's.
func TestPlanMatchesAllocations(t *testing.T) {
	p, err := gpt.LookupPreset("tiny")
	require.NoError(t, err)
	for _, m := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
		t.Run(fmt.Sprintf("preset=%s/mode=%s", p.Name, m), func(t *testing.T) {
			be := alloccount.New(2)
			defer be.Close()
			plan, err := Plan(p, m)
			require.NoError(t, err)
			tr, err := NewTrainer(be, p, m)
			require.NoError(t, err)
			_, err = tr.Step()
			require.NoError(t, err)
			_, err = tr.Evaluate()
			require.NoError(t, err)
			require.Equal(t, plan.Device(), be.Bytes)
		})
	}
	be := alloccount.New(1)
	defer be.Close()
	NewPeakMeter(be, DefaultTiming)
	require.Equal(t, PeakMeterBytes(), be.Bytes)
}
