package bench

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
)

// countingCPU is the CPU backend counting the bytes of every buffer it allocates.
type countingCPU struct {
	*nn.CPU
	bytes int64
}

func (c *countingCPU) Alloc(n int) nn.View {
	c.bytes += 4 * int64(n)
	return c.CPU.Alloc(n)
}

func (c *countingCPU) AllocInt(n int) nn.IntView {
	c.bytes += 4 * int64(n)
	return c.CPU.AllocInt(n)
}

// TestPlanMatchesAllocations checks Plan against the buffers NewTrainer's run allocates, and
// PeakMeterBytes against NewPeakMeter's.
func TestPlanMatchesAllocations(t *testing.T) {
	p, err := gpt.LookupPreset("tiny")
	require.NoError(t, err)
	for _, m := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
		t.Run(fmt.Sprintf("preset=%s/mode=%s", p.Name, m), func(t *testing.T) {
			be := &countingCPU{CPU: nn.NewCPU(2)}
			defer be.Close()
			plan, err := Plan(p, m)
			require.NoError(t, err)
			tr, err := NewTrainer(be, p, m)
			require.NoError(t, err)
			_, err = tr.Step()
			require.NoError(t, err)
			_, err = tr.Evaluate()
			require.NoError(t, err)
			require.Equal(t, plan.Device(), be.bytes)
		})
	}
	be := &countingCPU{CPU: nn.NewCPU(1)}
	defer be.Close()
	NewPeakMeter(be, DefaultTiming)
	require.Equal(t, PeakMeterBytes(), be.bytes)
}
