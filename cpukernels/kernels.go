//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

/*
#cgo CFLAGS: -O3
#cgo linux CFLAGS: -fopenmp-simd -DKV_OMP_SIMD
#cgo linux LDFLAGS: -lm
#include "common.h"
*/
import "C"

import (
	"unsafe"

	"github.com/kvgpt/kvgpt/nn"
)

// kernels implements nn.Kernels with the C functions of the family headers, one Go file per
// family (gelu.go for gelu.h, and so on). The backend has checked every slice's length; the
// methods pass their first elements' addresses (p returns nil for an empty slice, which the
// loops then do not read).
type kernels struct{}

func native() nn.Kernels { return kernels{} }

// Name reports "C" and the instruction set the kernels run with on this CPU, e.g. "C AVX-512".
func (kernels) Name() string { return "C " + C.GoString(C.kv_isa()) }

func p(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

// i32 is p for int32 slices.
func i32(s []int32) *C.int32_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int32_t)(unsafe.Pointer(&s[0]))
}
