package main

import (
	"fmt"
	"io"

	"github.com/kvgpt/kvgpt/metal"
	"github.com/kvgpt/kvgpt/nn"
)

// backendNames lists the values of --backend.
const backendNames = "auto, cpu or metal"

// openBackend returns the backend named by --backend — "auto" (Metal where it is available, else
// the CPU), "cpu" or "metal" — and prints which one runs, with its device, to w.
func openBackend(name string, w io.Writer) (nn.Backend, error) {
	var be nn.Backend
	switch name {
	case "auto":
		if metal.Available() {
			b, err := metal.New()
			if err != nil {
				return nil, err
			}
			be = b
		} else {
			be = nn.NewCPU(0)
		}
	case "cpu":
		be = nn.NewCPU(0)
	case "metal":
		b, err := metal.New()
		if err != nil {
			return nil, err
		}
		be = b
	default:
		return nil, fmt.Errorf("unknown --backend %q (want %s)", name, backendNames)
	}
	fmt.Fprintf(w, "backend: %s\n", be.Name())
	return be, nil
}
