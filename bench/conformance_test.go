package bench

import (
	"testing"

	"github.com/kvgpt/kvgpt/cpukernels"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

// TestConformanceOnThisBuildsBLAS runs the backend conformance suite on the CPU backend as kvgpt
// sets it up in this build (cpukernels.NewCPU): on gonum's BLAS with gemm tiles and the Go kernels
// by default, on OpenBLAS with products split by rows and the C kernels under -tags openblas.
func TestConformanceOnThisBuildsBLAS(t *testing.T) {
	t.Log("BLAS:", blasInfo)
	nntest.Run(t, func(t *testing.T) nn.Backend {
		be := cpukernels.NewCPU(2)
		t.Cleanup(func() { be.Close() })
		return be
	})
}
