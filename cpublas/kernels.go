//go:build cgo && (openblas || (accelerate && darwin))

package cpublas

/*
#cgo CFLAGS: -O3
#cgo linux CFLAGS: -fopenmp-simd -DKV_OMP_SIMD
#cgo linux LDFLAGS: -lm
#include "kernels.h"
*/
import "C"

import (
	"unsafe"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/kvgpt/kvgpt/nn"
)

// Kernels returns the C inner loops for the CPU backend's ops other than matrix products
// (nn.Kernels), compiled for this build: vectorised C, on x86-64 Linux in an AVX-512, an AVX2 and
// a baseline version picked at load time for the CPU.
func Kernels() nn.Kernels {
	return kernels{}
}

// kernels implements nn.Kernels with the functions of kernels.h. The backend has checked every
// slice's length; the methods pass their first elements' addresses (p returns nil for an empty
// slice, which the loops then do not read).
type kernels struct{}

func p(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func (kernels) Name() string { return "C " + C.GoString(C.kv_isa()) }

func (kernels) GELUForward(out, in []float32) {
	C.kv_gelu_forward(p(out), p(in[:len(out)]), C.long(len(out)))
}

func (kernels) GELUBackward(din, dout, in []float32) {
	n := len(din)
	C.kv_gelu_backward(p(din), p(dout[:n]), p(in[:n]), C.long(n))
}

// head checks that m is a T×dh matrix lying within its data, for the attention kernels.
func head(m blas32.General, T, dh int) (*C.float, C.long) {
	if m.Rows != T || m.Cols != dh || m.Stride < dh || len(m.Data) < (T-1)*m.Stride+dh {
		panic("cpublas: attention head operand is not T×dh within its data")
	}
	return p(m.Data), C.long(m.Stride)
}

func (kernels) AttentionHeadForward(out blas32.General, att []float32, q, k, v blas32.General, scale float32) {
	T, dh := q.Rows, q.Cols
	if T == 0 || dh == 0 {
		return
	}
	o, lo := head(out, T, dh)
	qd, lq := head(q, T, dh)
	kd, lk := head(k, T, dh)
	vd, lv := head(v, T, dh)
	_ = att[T*T-1]
	if C.kv_attention_forward(o, lo, p(att), qd, lq, kd, lk, vd, lv, C.long(T), C.long(dh), C.float(scale)) != 0 {
		panic("cpublas: out of memory for attention scratch")
	}
}

func (kernels) AttentionHeadBackward(dq, dk, dv blas32.General, datt []float32, dout blas32.General, att []float32, q, k, v blas32.General, scale float32) {
	T, dh := q.Rows, q.Cols
	if T == 0 || dh == 0 {
		return
	}
	dqd, ldq := head(dq, T, dh)
	dkd, ldk := head(dk, T, dh)
	dvd, ldv := head(dv, T, dh)
	od, ldo := head(dout, T, dh)
	qd, lq := head(q, T, dh)
	kd, lk := head(k, T, dh)
	vd, lv := head(v, T, dh)
	_, _ = att[T*T-1], datt[T*T-1]
	if C.kv_attention_backward(dqd, ldq, dkd, ldk, dvd, ldv, p(datt), od, ldo, p(att), qd, lq, kd, lk, vd, lv,
		C.long(T), C.long(dh), C.float(scale)) != 0 {
		panic("cpublas: out of memory for attention scratch")
	}
}

func (kernels) LayerNormForward(out, mean, rstd, in, w []float32, C_ int) {
	rows := len(mean)
	if rows == 0 {
		return
	}
	_, _, _, _ = out[rows*C_-1], rstd[rows-1], in[rows*C_-1], w[C_-1]
	C.kv_layernorm_forward(p(out), p(mean), p(rstd), p(in), p(w), C.long(rows), C.long(C_), C.float(1e-5))
}

func (kernels) LayerNormBackward(din, dout, in, w, mean, rstd []float32, C_ int) {
	rows := len(mean)
	if rows == 0 {
		return
	}
	_, _, _, _, _ = din[rows*C_-1], dout[rows*C_-1], in[rows*C_-1], w[C_-1], rstd[rows-1]
	C.kv_layernorm_backward(p(din), p(dout), p(in), p(w), p(mean), p(rstd), C.long(rows), C.long(C_))
}

func (kernels) LayerNormDW(dw, dout, in, mean, rstd []float32, C_, lo int) {
	rows, cols := len(mean), len(dw)
	if rows == 0 || cols == 0 {
		return
	}
	_, _, _ = dout[rows*C_-1], in[rows*C_-1], rstd[rows-1]
	if lo < 0 || lo+cols > C_ {
		panic("cpublas: LayerNormDW columns out of range")
	}
	C.kv_layernorm_dw(p(dw), p(dout), p(in), p(mean), p(rstd), C.long(rows), C.long(C_), C.long(lo), C.long(cols))
}

func (kernels) CrossEntropyForward(losses, logits []float32, targets []int32, V int) {
	rows := len(losses)
	if rows == 0 {
		return
	}
	_, _ = logits[rows*V-1], targets[rows-1]
	C.kv_ce_forward(p(losses), p(logits), (*C.int32_t)(unsafe.Pointer(&targets[0])), C.long(rows), C.long(V))
}

func (kernels) CrossEntropyBackward(dlogits, dlosses, logits []float32, targets []int32, V int) {
	rows := len(dlosses)
	if rows == 0 {
		return
	}
	_, _, _ = dlogits[rows*V-1], logits[rows*V-1], targets[rows-1]
	C.kv_ce_backward(p(dlogits), p(dlosses), p(logits), (*C.int32_t)(unsafe.Pointer(&targets[0])), C.long(rows), C.long(V))
}

func (kernels) SumSquares(x []float32) float64 {
	if len(x) == 0 {
		return 0
	}
	return float64(C.kv_sum_squares(p(x), C.long(len(x))))
}

func (kernels) AdamW(pa, m, v, g, decay []float32, h nn.AdamWParams, stepSize, bc2Sqrt float32) {
	n := len(pa)
	if n == 0 {
		return
	}
	_, _, _, _ = m[n-1], v[n-1], g[n-1], decay[n-1]
	C.kv_adamw(p(pa), p(m), p(v), p(g), p(decay), C.long(n), C.float(h.LR), C.float(h.Beta1), C.float(h.Beta2),
		C.float(h.Eps), C.float(h.WeightDecay), C.float(h.GradScale), C.float(stepSize), C.float(bc2Sqrt))
}

// sqrtf is kv_sqrtf, for its test.
func sqrtf(x float32) float32 { return float32(C.kv_sqrtf(C.float(x))) }
