package main

import (
	"fmt"

	"github.com/kvgpt/kvgpt/nn"
)

// backendNames lists the values --backend accepts.
const backendNames = "cpu"

// newBackend returns the backend named by --backend. threads (0 = all cores) sizes the CPU
// backend's worker pool.
func newBackend(name string, threads int) (nn.Backend, error) {
	switch name {
	case "cpu":
		return nn.NewCPU(threads), nil
	}
	return nil, fmt.Errorf("unknown backend %q (want %s)", name, backendNames)
}
