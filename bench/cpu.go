package bench

import (
	"github.com/kvgpt/kvgpt/cpublas"
	"github.com/kvgpt/kvgpt/cpukernels"
	"github.com/kvgpt/kvgpt/nn"
)

// NewCPU returns the CPU backend set up for the BLAS that info describes (the Info cpublas.Use
// returned):
//
//   - gonum's pure Go: products cut into tiles over the backend's workers;
//   - a cgo BLAS with a thread count of its own (OpenBLAS): set to one thread
//     (cpublas.SetThreads, a process-wide setting of the library) and products split into one block
//     of rows per worker (nn.GemmSplit), so no BLAS thread spins while the workers run the
//     other ops;
//   - a cgo BLAS that schedules itself (Accelerate): every product one whole call.
//
// With a cgo BLAS the other ops' inner loops run as vectorised C too (cpukernels.Kernels).
func NewCPU(threads int, info cpublas.Info) *nn.CPU {
	o := nn.CPUOptions{Threads: threads}
	if info.CBLAS {
		o.Kernels = cpukernels.Kernels()
	}
	switch {
	case info.CBLAS && info.Threads > 0:
		cpublas.SetThreads(1)
		o.Gemm = nn.GemmSplit
	case info.CBLAS:
		o.Gemm = nn.GemmWhole
	}
	return nn.NewCPUWith(o)
}
