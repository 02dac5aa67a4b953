//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

// #include "layernorm.h"
import "C"

// layerNormEps is nn's LayerNorm ε.
const layerNormEps = 1e-5

// LayerNormForward normalises the len(mean) rows of in (C each) by kv_layernorm_forward
// (layernorm.h).
//
//	out (rows, C), mean (rows), rstd (rows), in (rows, C), w (C)
func (kernels) LayerNormForward(out, mean, rstd, in, w []float32, C_ int) {
	rows := len(mean)
	if rows == 0 {
		return
	}
	_, _, _, _ = out[rows*C_-1], rstd[rows-1], in[rows*C_-1], w[C_-1]
	C.kv_layernorm_forward(p(out), p(mean), p(rstd), p(in), p(w), C.long(rows), C.long(C_), C.float(layerNormEps))
}

// LayerNormBackward adds the input gradient of the len(mean) rows to din by
// kv_layernorm_backward (layernorm.h).
//
//	din (rows, C), dout (rows, C), in (rows, C), w (C), mean (rows), rstd (rows)
func (kernels) LayerNormBackward(din, dout, in, w, mean, rstd []float32, C_ int) {
	rows := len(mean)
	if rows == 0 {
		return
	}
	_, _, _, _, _ = din[rows*C_-1], dout[rows*C_-1], in[rows*C_-1], w[C_-1], rstd[rows-1]
	C.kv_layernorm_backward(p(din), p(dout), p(in), p(w), p(mean), p(rstd), C.long(rows), C.long(C_))
}

// LayerNormDW adds columns lo … lo+len(dw)−1 of the weight gradient to dw by kv_layernorm_dw
// (layernorm.h).
//
//	dw (cols), dout (rows, C), in (rows, C), mean (rows), rstd (rows)
func (kernels) LayerNormDW(dw, dout, in, mean, rstd []float32, C_, lo int) {
	rows, cols := len(mean), len(dw)
	if rows == 0 || cols == 0 {
		return
	}
	_, _, _ = dout[rows*C_-1], in[rows*C_-1], rstd[rows-1]
	if lo < 0 || lo+cols > C_ {
		panic("cpukernels: LayerNormDW columns out of range")
	}
	C.kv_layernorm_dw(p(dw), p(dout), p(in), p(mean), p(rstd), C.long(rows), C.long(C_), C.long(lo), C.long(cols))
}
