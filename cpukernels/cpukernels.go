package cpukernels

import "github.com/kvgpt/kvgpt/nn"

// Kernels returns the C kernels for nn.CPUOptions.Kernels, or nil in a build without a cgo BLAS
// tag (see the package doc), where the CPU backend runs nn.GoKernels.
func Kernels() nn.Kernels { return native() }
