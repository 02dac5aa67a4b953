//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

// #include "gelu.h"
import "C"

// GELUForward sets out[i] = in[i]·Φ(in[i]) by kv_gelu_forward (gelu.h): ½·x·erfc(−x/√2) with
// the erfc fit of shaders/gelu.metal, not the Go kernels' table, within 4e-7·(1 + |x|) of them
// (see "The three GELUs" in nn/kernels_gelu.go).
func (kernels) GELUForward(out, in []float32) {
	C.kv_gelu_forward(p(out), p(in[:len(out)]), C.long(len(out)))
}

// GELUBackward adds dout[i]·GELU'(in[i]) to din[i] by kv_gelu_backward (gelu.h), GELU' within
// 2e-6 of the Go kernels' table.
func (kernels) GELUBackward(din, dout, in []float32) {
	n := len(din)
	C.kv_gelu_backward(p(din), p(dout[:n]), p(in[:n]), C.long(n))
}
