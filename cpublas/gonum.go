//go:build !cgo || !(openblas || (accelerate && darwin))

package cpublas

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

func implementation() blas.Float32 { return gonum.Implementation{} }

func describe() Info {
	return Info{Name: "gonum (pure Go)", Note: fallbackNote}
}

func setThreads(int) {}
