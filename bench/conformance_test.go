package bench

import (
	"testing"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

// TestConformanceOnThisBuildsBLAS runs the backend conformance suite on the CPU backend as kvgpt
// sets it up in this build: on gonum's BLAS with 64×64 tiles by default, on OpenBLAS with whole
// products under -tags openblas (blasInfo comes from cpublas.Use in TestMain).
func TestConformanceOnThisBuildsBLAS(t *testing.T) {
	t.Log("BLAS:", blasInfo)
	nntest.Run(t, func(t *testing.T) nn.Backend {
		be := NewCPU(2, blasInfo)
		t.Cleanup(func() { be.Close() })
		return be
	})
}
