//go:build darwin && cgo

package metal

import (
	"fmt"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/progrium/darwinkit/macos/mps"
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
			// result (N, OC) = left (N, C) · rightᵀ, right = w (OC, C); alpha 1, beta 0.
			k = mps.NewMatrixMultiplicationWithDeviceTransposeLeftTransposeRightResultRowsResultColumnsInteriorColumnsAlphaBeta(
				b.dev, false, true, uint(N), uint(OC), uint(C), 1, 0)
			if k.IsNil() {
				panic(fmt.Sprintf("metal: MPSMatrixMultiplication of N=%d, C=%d, OC=%d is not available on %s", N, C, OC, b.name))
			}
			k = mps.MatrixMultiplicationFrom(k.Retain().Ptr()) // autoreleased: keep it for later calls
			b.mpsMatmul[key] = k
		}
		left := mpsMatrix(inBuf, in.Off, N, C)
		right := mpsMatrix(wBuf, w.Off, OC, C)
		result := mpsMatrix(outBuf, out.Off, N, OC)
		if left.IsNil() || right.IsNil() || result.IsNil() {
			panic("metal: MPSMatrix over a buffer view could not be created")
		}
		b.s.endEncoding() // MPS encodes its own commands into the command buffer
		k.EncodeToCommandBufferLeftMatrixRightMatrixResultMatrix(b.s.commandBuffer(), left, right, result)
		b.s.encoded()
	})
}

// mpsMatrix describes rows×cols float32 elements of buf, starting at element off, row-major and
// dense, as an autoreleased MPSMatrix. Call it inside a pool.
func mpsMatrix(buf *floatBuffer, off, rows, cols int) mps.Matrix {
	desc := mps.MatrixDescriptor_MatrixDescriptorWithRowsColumnsRowBytesDataType(
		uint(rows), uint(cols), uint(cols*4), mps.DataTypeFloat32)
	return mps.NewMatrixWithBufferOffsetDescriptor(buf.mtl, uint(off*4), desc)
}
