package main

import (
	"fmt"
	"io"

	"github.com/kvgpt/kvgpt/cpublas"
	"github.com/kvgpt/kvgpt/cpukernels"
	"github.com/kvgpt/kvgpt/metal"
	"github.com/kvgpt/kvgpt/nn"
)

// backendNames lists the values --backend accepts.
const backendNames = "auto (metal where available, else cpu), cpu or metal"

// newBackend returns the backend named by --backend: "auto" (Metal where it is available — a Mac
// with Apple silicon and a cgo build — else the CPU), "cpu" or "metal". threads (0 = all cores)
// sizes the CPU backend's worker pool.
func newBackend(name string, threads int) (nn.Backend, error) {
	switch name {
	case "auto":
		if metal.Available() {
			return metal.New()
		}
		return newCPU(threads), nil
	case "cpu":
		return newCPU(threads), nil
	case "metal":
		return metal.New()
	}
	return nil, fmt.Errorf("unknown backend %q (want %s)", name, backendNames)
}

// openBackend is newBackend that also prints the chosen backend and its device to w, so a run
// says where it computes before it starts.
func openBackend(name string, threads int, w io.Writer) (nn.Backend, error) {
	be, err := newBackend(name, threads)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "backend: %s\n", be.Name())
	return be, nil
}

// cpuBackend is the CPU backend with the BLAS it runs on in its name.
type cpuBackend struct {
	*nn.CPU
	blas cpublas.Info
}

// newCPU returns the CPU backend on this build's BLAS: gonum's pure Go, or a cgo BLAS with
// -tags openblas / -tags accelerate (cpukernels.NewCPU, which installs it as gonum's process-wide
// blas32 implementation).
func newCPU(threads int) cpuBackend {
	c := cpukernels.NewCPU(threads)
	return cpuBackend{c, cpublas.Describe()} // as NewCPU set the library up
}

// Name reports the CPU backend and its BLAS, e.g. "cpu (…, 2 threads), BLAS OpenBLAS 0.3.21 (…)".
func (c cpuBackend) Name() string { return c.CPU.Name() + ", BLAS " + c.blas.String() }
