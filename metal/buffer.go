//go:build (darwin || fakemetal) && cgo

package metal

import (
	"math"
	"unsafe"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/progrium/darwinkit/macos/metal"
)

// buffer is one MTLBuffer in shared storage: the GPU and the CPU see the same memory (unified
// memory), so Upload and Download are plain copies into and out of mem.
type buffer struct {
	mtl  metal.BufferObject // owned (+1), released by Close
	n    int                // elements
	size int                // bytes of each element (4)
	mem  unsafe.Pointer     // mtl.Contents(), valid until the buffer is released
}

// Len reports the number of elements of b.
func (b *buffer) Len() int { return b.n }

// floatBuffer is a buffer of float32 (nn.Buffer); intBuffer one of int32 (nn.IntBuffer).
type (
	floatBuffer struct{ buffer }
	intBuffer   struct{ buffer }
)

func (b *floatBuffer) floats() []float32 { return unsafe.Slice((*float32)(b.mem), b.n) }
func (b *intBuffer) ints() []int32       { return unsafe.Slice((*int32)(b.mem), b.n) }

// newBuffer allocates n elements of size bytes in shared storage, zeroed. Metal has no empty
// buffers, so n = 0 allocates one element that no view can reach. A buffer larger than the
// device's largest (maxBufferLength), or one Metal refuses (out of memory), panics with an
// *nn.AllocError, which gpt's API returns as an error.
func (b *Backend) newBuffer(n, size int) buffer {
	if n < 0 {
		panic("metal: negative allocation size")
	}
	b.live()
	if n > b.maxBuffer/size {
		bytes := int64(-1)
		if n <= math.MaxInt64/size {
			bytes = int64(n) * int64(size)
		}
		panic(&nn.AllocError{Backend: b.name, Bytes: bytes, Allocated: int64(b.allocated), Limit: int64(b.maxBuffer),
			What: "the device's largest buffer (maxBufferLength)"})
	}
	bytes := max(n, 1) * size
	var buf buffer
	inPool(func() {
		mtl := b.dev.NewBufferWithLengthOptions(uint(bytes), metal.ResourceStorageModeShared|metal.ResourceHazardTrackingModeDefault)
		if !mtl.IsNil() {
			buf = buffer{mtl: mtl, n: n, size: size, mem: mtl.Contents()}
		}
	})
	if buf.mem == nil {
		panic(&nn.AllocError{Backend: b.name, Bytes: int64(bytes), Allocated: int64(b.allocated),
			What: "Metal returned no buffer (out of memory)"})
	}
	clear(unsafe.Slice((*byte)(buf.mem), bytes))
	b.allocated += bytes
	b.s.stats.Buffers++
	b.s.stats.Bytes += int64(bytes)
	b.buffers = append(b.buffers, buf.mtl)
	return buf
}

// Alloc returns a zeroed view of a new shared-storage buffer of n float32 elements. It panics
// with an *nn.AllocError if the device cannot allocate it.
func (b *Backend) Alloc(n int) nn.View {
	buf := &floatBuffer{b.newBuffer(n, 4)}
	return nn.View{Buf: buf, N: n}
}

// AllocInt returns a zeroed view of a new shared-storage buffer of n int32 elements. It panics
// with an *nn.AllocError if the device cannot allocate it.
func (b *Backend) AllocInt(n int) nn.IntView {
	buf := &intBuffer{b.newBuffer(n, 4)}
	return nn.IntView{Buf: buf, N: n}
}

// Upload copies src into dst. It first waits for the queued work, which may still read dst.
func (b *Backend) Upload(dst nn.View, src []float32) {
	if len(src) != dst.N {
		panic("metal: Upload length mismatch")
	}
	buf := b.floatBuf(dst.Buf)
	if b.s.fault != faultUploadNoWait { // the negative control: a write-after-read hazard
		b.wait()
	}
	copy(buf.floats()[dst.Off:dst.Off+dst.N], src)
}

// UploadInt copies src into dst. It first waits for the queued work, which may still read dst.
func (b *Backend) UploadInt(dst nn.IntView, src []int32) {
	if len(src) != dst.N {
		panic("metal: UploadInt length mismatch")
	}
	buf := b.intBuf(dst.Buf)
	b.wait()
	copy(buf.ints()[dst.Off:dst.Off+dst.N], src)
}

// Download waits for the queued work and copies src into dst. A device error found while waiting
// is kept for the next Sync.
func (b *Backend) Download(dst []float32, src nn.View) {
	if len(dst) != src.N {
		panic("metal: Download length mismatch")
	}
	buf := b.floatBuf(src.Buf)
	if b.s.fault == faultNoWait {
		inPool(b.s.commit) // the GPU may still be running: a host bug, for the negative controls
	} else {
		b.wait()
	}
	copy(dst, buf.floats()[src.Off:src.Off+src.N])
}

// floatBuf returns the Metal buffer behind a view's Buf, which must come from b.Alloc.
func (b *Backend) floatBuf(buf nn.Buffer) *floatBuffer {
	fb, ok := buf.(*floatBuffer)
	if !ok {
		panic("metal: view of a buffer that this Metal backend did not allocate")
	}
	return fb
}

// intBuf returns the Metal buffer behind an int view's Buf, which must come from b.AllocInt.
func (b *Backend) intBuf(buf nn.IntBuffer) *intBuffer {
	ib, ok := buf.(*intBuffer)
	if !ok {
		panic("metal: int view of a buffer that this Metal backend did not allocate")
	}
	return ib
}
