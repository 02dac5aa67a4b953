//go:build (darwin || fakemetal) && cgo

package metal

import (
	"fmt"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/progrium/darwinkit/macos/metal"
	"github.com/progrium/darwinkit/macos/mps"
	"github.com/progrium/darwinkit/objc"
)

// MatmulForwardMPS computes out = in·wᵀ with Apple's MPSMatrixMultiplication, the reference
// kvgpt's matmul kernel is measured against in bench. Like every op it is queued on the command
// stream (between two compute encoders) and runs in order with them; Sync waits for it.
//
//	out (N, OC), in (N, C), w (OC, C)
func (b *Backend) MatmulForwardMPS(out nn.View, in, w nn.View, N, C, OC int) {
	if N <= 0 || C <= 0 || OC <= 0 {
		panic("metal: MatmulForwardMPS: non-positive size")
	}
	if out.N != N*OC || in.N != N*C || w.N != OC*C {
		panic("metal: MatmulForwardMPS: view sizes do not match N, C, OC")
	}
	b.live()
	outBuf, inBuf, wBuf := b.floatBuf(out.Buf), b.floatBuf(in.Buf), b.floatBuf(w.Buf)
	inPool(func() {
		key := [3]int{N, C, OC}
		k, ok := b.mpsMatmul[key]
		if !ok {
			// result (N, OC) = left (N, C) · rightᵀ, right = w (OC, C); alpha 1, beta 0. Sent with
			// objc.Call on the raw device: darwinkit's initialiser wraps it with
			// objc.WrapAsProtocol, which would hand MPS a Go-made adaptor instead (see doc.go).
			k = objc.Call[mps.MatrixMultiplication](mps.MatrixMultiplicationClass.Alloc(), // owned (+1)
				objc.Sel("initWithDevice:transposeLeft:transposeRight:resultRows:resultColumns:interiorColumns:alpha:beta:"),
				b.dev.Object, false, true, uint(N), uint(OC), uint(C), float64(1), float64(0))
			if k.IsNil() {
				panic(fmt.Sprintf("metal: MPSMatrixMultiplication of N=%d, C=%d, OC=%d is not available on %s", N, C, OC, b.name))
			}
			b.mpsMatmul[key] = k
		}
		left := mpsMatrix(inBuf, in.Off, N, C)
		right := mpsMatrix(wBuf, w.Off, OC, C)
		result := mpsMatrix(outBuf, out.Off, N, OC)
		if left.IsNil() || right.IsNil() || result.IsNil() {
			panic("metal: MPSMatrix over a buffer view could not be created")
		}
		b.s.endEncoding() // MPS encodes its own commands into the command buffer
		if b.s.fault == faultMPSOwnCommandBuffer {
			// The negative control: in a command buffer of its own, committed ahead of the one
			// that holds the earlier work.
			held, n := b.s.cb, b.s.n
			b.s.cb = metal.CommandBufferObject{}
			defer func() { b.s.commit(); b.s.cb, b.s.n = held, n }()
		}
		objc.Call[objc.Void](k, objc.Sel("encodeToCommandBuffer:leftMatrix:rightMatrix:resultMatrix:"),
			b.s.commandBuffer().Object, left.Object, right.Object, result.Object)
		b.s.stats.Dispatches++
		b.s.encoded()
	})
}

// mpsMatrix describes rows×cols float32 elements of buf, starting at element off, row-major and
// dense, as an autoreleased MPSMatrix. Call it inside a pool.
func mpsMatrix(buf *floatBuffer, off, rows, cols int) mps.Matrix {
	desc := mps.MatrixDescriptor_MatrixDescriptorWithRowsColumnsRowBytesDataType( // autoreleased
		uint(rows), uint(cols), uint(cols*4), mps.DataTypeFloat32)
	m := objc.Call[mps.Matrix](mps.MatrixClass.Alloc(), objc.Sel("initWithBuffer:offset:descriptor:"), // owned (+1)
		buf.mtl.Object, uint(off*4), desc.Object)
	if !m.IsNil() {
		m.Autorelease()
	}
	return m
}
