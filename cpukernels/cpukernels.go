package cpukernels

import (
	"github.com/kvgpt/kvgpt/cpublas"
	"github.com/kvgpt/kvgpt/nn"
)

// Kernels returns the C kernels for nn.CPUOptions.Kernels, or nil in a build without a cgo BLAS
// tag (see the package doc), where the CPU backend runs nn.GoKernels.
func Kernels() nn.Kernels { return native() }

// NewCPU returns the CPU backend as kvgpt runs it in this build, on threads workers (0: all
// cores). It installs the build's BLAS as gonum's blas32 implementation (cpublas.Use, a
// process-wide setting) and sets the backend up for it:
//
//   - gonum's pure Go: products cut into tiles over the backend's workers (nn.GemmTiles), the Go
//     kernels;
//   - a cgo BLAS with a thread count of its own (OpenBLAS): the library set to one thread
//     (cpublas.SetThreads, also process-wide) and products split into one block of rows per
//     worker (nn.GemmSplit), so no BLAS thread spins while the workers run the other ops; the C
//     kernels;
//   - a cgo BLAS that schedules itself (Accelerate): every product one whole call (nn.GemmWhole);
//     the C kernels.
//
// cpublas.Describe reports the BLAS as NewCPU left it. Call Close to stop the backend's workers.
func NewCPU(threads int) *nn.CPU {
	info := cpublas.Use()
	o := nn.CPUOptions{Threads: threads, Kernels: Kernels()}
	switch {
	case info.CBLAS && info.Threads > 0:
		cpublas.SetThreads(1)
		o.Gemm = nn.GemmSplit
	case info.CBLAS:
		o.Gemm = nn.GemmWhole
	}
	return nn.NewCPUWith(o)
}
