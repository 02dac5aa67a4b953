package shaders_test

import (
	"testing"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

// TestConformance runs the backend conformance suite (nn/nntest: every op against float64
// references and finite differences, and kvgpt's model, forward and backward, against package
// theory's) on shaders.Ops through the harness, in forward and reverse thread order (forward only
// with -short). The
// large-shape tier is left to the Metal backend on the fake device (make fakemetal), which runs
// these same kernels in this same harness: in the harness the tier takes minutes per run.
func TestConformance(t *testing.T) {
	for _, order := range harnessOrders() {
		t.Run("order="+order.String(), func(t *testing.T) {
			nntest.Run(t, func(t *testing.T) nn.Backend { return newHarnessBackend(t, flavourPlain, order) },
				nntest.Options{SkipLarge: true})
		})
	}
}
