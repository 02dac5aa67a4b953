//go:build !cgo || !(openblas || (accelerate && darwin))

package cpukernels

import "github.com/kvgpt/kvgpt/nn"

// native is nil: this build compiles no C kernels.
func native() nn.Kernels { return nil }
