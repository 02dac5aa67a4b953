//go:build cgo && (openblas || (accelerate && darwin))

package cpukernels

// #include "crossentropy.h"
import "C"

// CrossEntropyForward writes the loss of each of the len(losses) rows of logits by kv_ce_forward
// (crossentropy.h).
//
//	losses (rows), logits (rows, V), targets (rows)
func (kernels) CrossEntropyForward(losses, logits []float32, targets []int32, V int) {
	rows := len(losses)
	if rows == 0 {
		return
	}
	_, _ = logits[rows*V-1], targets[rows-1]
	C.kv_ce_forward(p(losses), p(logits), i32(targets), C.long(rows), C.long(V))
}

// CrossEntropyBackward adds dlosses[r]·(softmax(logits[r]) − onehot(targets[r])) to row r of
// dlogits by kv_ce_backward (crossentropy.h).
//
//	dlogits (rows, V), dlosses (rows), logits (rows, V), targets (rows)
func (kernels) CrossEntropyBackward(dlogits, dlosses, logits []float32, targets []int32, V int) {
	rows := len(dlosses)
	if rows == 0 {
		return
	}
	_, _, _ = dlogits[rows*V-1], logits[rows*V-1], targets[rows-1]
	C.kv_ce_backward(p(dlogits), p(dlosses), p(logits), i32(targets), C.long(rows), C.long(V))
}
