package bench

import (
	"github.com/kvgpt/kvgpt/cpublas"
	"github.com/kvgpt/kvgpt/nn"
)

// NewCPU returns the CPU backend set up for the BLAS that info describes (the Info cpublas.Use
// returned): with a cgo BLAS every matrix product is one whole Gemm, which the library threads
// itself on as many threads as the backend has (cpublas.SetThreads, a process-wide setting of the
// library); with gonum's the backend tiles products over its own workers.
func NewCPU(threads int, info cpublas.Info) *nn.CPU {
	c := nn.NewCPU(threads)
	c.WholeGemm = info.CBLAS
	if info.CBLAS {
		cpublas.SetThreads(c.Threads())
	}
	return c
}
