package cpukernels_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/cpublas"
	"github.com/kvgpt/kvgpt/cpukernels"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

// TestConformance runs the backend conformance suite, both tiers, on the CPU backend as kvgpt
// sets it up in this build (cpukernels.NewCPU): the C kernels on OpenBLAS products split by rows
// under -tags openblas (make blastest), on Accelerate's whole products under -tags accelerate;
// gonum's gemm tiles and the Go kernels without a tag.
func TestConformance(t *testing.T) {
	nntest.Run(t, func(t *testing.T) nn.Backend {
		be := cpukernels.NewCPU(2)
		t.Cleanup(func() { require.NoError(t, be.Close()) })
		t.Log("BLAS:", cpublas.Describe())
		return be
	})
}
