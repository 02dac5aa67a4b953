// Package cpublas chooses the BLAS that runs the CPU backend's matrix products and describes it.
//
// The CPU backend (nn.NewCPU) calls gonum's blas32 for every matrix product. By default that is
// gonum's pure-Go implementation, which builds everywhere. A build tag swaps in a cgo CBLAS for
// the level-2 and level-3 products that dominate a training step, keeping gonum's implementation
// for everything else:
//
//	go build -tags openblas ./cmd/kvgpt     # OpenBLAS (Linux: apt-get install libopenblas-dev)
//	go build -tags accelerate ./cmd/kvgpt   # Apple Accelerate (macOS; no install needed)
//
// Without cgo (CGO_ENABLED=0) the tags are ignored and the pure-Go implementation runs; Describe
// says so.
//
// gonum offers one process-wide switch, blas32.Use. This package never flips it by itself (no
// init function): a program calls Use once at start, before it creates a backend, and prints the
// Info it returns so the user sees which BLAS runs. Code that wants no global at all takes
// Implementation and calls it directly.
//
// The same builds carry C versions of the CPU backend's other inner loops: see package
// cpukernels.
package cpublas
