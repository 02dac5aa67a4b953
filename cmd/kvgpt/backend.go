package main

import (
	"fmt"
	"io"

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
		return nn.NewCPU(threads), nil
	case "cpu":
		return nn.NewCPU(threads), nil
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
