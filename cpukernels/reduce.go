//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

// #include "reduce.h"
import "C"

// SumSquares returns Σ x[i]², summed in float64, by kv_sum_squares (reduce.h).
func (kernels) SumSquares(x []float32) float64 {
	if len(x) == 0 {
		return 0
	}
	return float64(C.kv_sum_squares(p(x), C.long(len(x))))
}
