//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

// #include "attention.h"
import "C"

import "gonum.org/v1/gonum/blas/blas32"

// head checks that m is a T×dh matrix lying within its data, for the attention kernels.
func head(m blas32.General, T, dh int) (*C.float, C.long) {
	if m.Rows != T || m.Cols != dh || m.Stride < dh || len(m.Data) < (T-1)*m.Stride+dh {
		panic("cpukernels: attention head operand is not T×dh within its data")
	}
	return p(m.Data), C.long(m.Stride)
}

// AttentionHeadForward is causal attention for one (batch, head) by kv_attention_forward
// (attention.h).
//
//	out (T, dh), att (T, T), q, k, v (T, dh)
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
		panic("cpukernels: out of memory for attention scratch")
	}
}

// AttentionHeadBackward accumulates dq, dk and dv of one (batch, head) by kv_attention_backward
// (attention.h); datt is scratch.
//
//	dq, dk, dv (T, dh), datt (T, T), dout (T, dh), att (T, T), q, k, v (T, dh)
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
		panic("cpukernels: out of memory for attention scratch")
	}
}
