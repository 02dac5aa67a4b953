package nntest

import (
	"fmt"
	"math"

	"github.com/kvgpt/kvgpt/nn"
)

// decodeShape is a shape of the KV-cache attention op: T cached positions (the newest is the
// query's), C channels in NH heads, and Spare rows of cache capacity past T that hold NaN, so a
// kernel that reads a row it should not produces NaN. With VPad > 0, v is not in the cache's rows
// but in a buffer of its own whose rows are C+VPad wide, so that k and v have different strides.
type decodeShape struct {
	T, C, NH, Spare, VPad int
}

// decodeShapes: the first position alone, odd sizes, k and v with different strides, more keys
// than a 256-thread threadgroup has threads (T = 300), and a head wider than it (dh = 260).
var decodeShapes = []decodeShape{
	{T: 1, C: 8, NH: 2, Spare: 3},
	{T: 7, C: 12, NH: 3, Spare: 2},
	{T: 6, C: 12, NH: 2, Spare: 1, VPad: 5},
	{T: 5, C: 6, NH: 1, Spare: 0},
	{T: 300, C: 24, NH: 2, Spare: 5},
	{T: 3, C: 520, NH: 2, Spare: 1},
}

// RefAttentionDecode is RefAttention's row T−1 for one sequence (see
// nn.Backend.AttentionDecodeForward): q (C) is the query of the newest position, k and v hold
// the rows of positions 0 … T−1; it writes out (C) and att (NH, T).
func RefAttentionDecode(out, att, q []float64, k, v Strided, T, C, NH int, scale float64) {
	qs := make([]float64, T*C) // a (T, C) query matrix whose earlier rows do not matter
	copy(qs[(T-1)*C:], q)
	full, p := make([]float64, T*C), make([]float64, NH*T*T)
	RefAttention(full, p, Strided{qs, 0, C}, k, v, 1, T, C, NH, scale)
	copy(out, full[(T-1)*C:])
	for h := range NH {
		copy(att[h*T:(h+1)*T], p[(h*T+T-1)*T:][:T])
	}
}

// attentionDecodeCase lays out q, k and v as the generator of package gpt does — identity: q
// is a row of its own (the LN1 output), k and v the columns of a cache of [K V] rows (stride 2C)
// — or, for baseline, as column slices of one (T, 3C) QKV buffer, q from its last row.
func attentionDecodeCase(s decodeShape, mode string) Case {
	shape := fmt.Sprintf("T=%d/C=%d/NH=%d/spare=%d", s.T, s.C, s.NH, s.Spare)
	if s.VPad > 0 {
		shape += fmt.Sprintf("/v-stride=%d", s.C+s.VPad)
	}
	return Case{Op: "attention_decode", Mode: mode, Shape: shape, run: func(e *env) {
		T, C, NH := s.T, s.C, s.NH
		scale := float64(float32(attentionScale(mode, C/NH)))
		w := 2 * C // the cache's row: [K V]
		if mode == modeBaseline {
			w = 3 * C // [Q K V]
		}
		rows := e.randn((T+s.Spare)*w, 1)
		for i := T * w; i < len(rows); i++ {
			rows[i] = math.NaN() // capacity past the T positions: never read
		}
		cache := e.upload(rows)
		kOff := w - 2*C // K is at column 0 of [K V], at C of [Q K V]
		k := Strided{rows, kOff, w}
		v := Strided{rows, kOff + C, w}
		kV := stridedView(cache, kOff, w)
		vV := stridedView(cache, kOff+C, w)
		if s.VPad > 0 { // v from a buffer of its own, NaN past T and in the padding
			vw := C + s.VPad
			vrows := e.randn((T+s.Spare)*vw, 1)
			for i := range vrows {
				if i >= T*vw || i%vw >= C {
					vrows[i] = math.NaN()
				}
			}
			v, vV = Strided{vrows, 0, vw}, stridedView(e.upload(vrows), 0, vw)
		}
		var q []float64
		qV := cache.Slice((T-1)*w, C) // baseline: Q of the newest row
		if mode == modeBaseline {
			q = rows[(T-1)*w:][:C]
		} else {
			q = e.randn(C, 1)
			qV = e.upload(q)
		}
		out := e.upload(e.randn(C, 1)) // overwritten
		att := e.upload(e.randn(NH*T, 1))
		e.be.AttentionDecodeForward(out, att, qV, kV, vV, T, C, NH, float32(scale))
		y, p := make([]float64, C), make([]float64, NH*T)
		RefAttentionDecode(y, p, q, k, v, T, C, NH, scale)
		e.check("out", out, y, tolForward, C)
		e.check("att", att, p, tolForward, NH, T)
	}}
}

// stridedView returns the rows of w columns of buf from column off on, as an nn.Strided.
func stridedView(buf nn.View, off, w int) nn.Strided {
	return nn.Strided{V: buf.Slice(off, buf.N-off), Stride: w}
}
