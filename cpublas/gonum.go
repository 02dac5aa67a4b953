//go:build !cgo || !(openblas || (accelerate && darwin))

package cpublas

import (
	"github.com/kvgpt/kvgpt/nn"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

func implementation() blas.Float32 { return gonum.Implementation{} }

func describe() Info {
	return Info{Name: "gonum (pure Go)", Note: fallbackNote}
}

func setThreads(int) {}

// Kernels returns nil in a build without a cgo BLAS: the CPU backend then runs its Go loops.
func Kernels() nn.Kernels { return nil }
