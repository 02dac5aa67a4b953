//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

// #include "gelu.h"
import "C"

// GELUForward sets out[i] = in[i]·Φ(in[i]) by kv_gelu_forward (gelu.h).
func (kernels) GELUForward(out, in []float32) {
	C.kv_gelu_forward(p(out), p(in[:len(out)]), C.long(len(out)))
}

// GELUBackward adds dout[i]·GELU'(in[i]) to din[i] by kv_gelu_backward (gelu.h).
func (kernels) GELUBackward(din, dout, in []float32) {
	n := len(din)
	C.kv_gelu_backward(p(din), p(dout[:n]), p(in[:n]), C.long(n))
}
