//go:build (darwin || fakemetal) && cgo

package metal

import (
	"errors"
	"fmt"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/shaders"
	"github.com/progrium/darwinkit/macos/metal"
	"github.com/progrium/darwinkit/macos/mps"
)

// Backend is nn.Backend on a Metal GPU: the ops of shaders.Ops, encoded by the backend's
// encoder on its command stream, over shared-storage buffers. It is not safe for concurrent use.
type Backend struct {
	shaders.Ops // every compute op; Ops.Enc is encoder{b}

	dev       metal.DeviceObject // owned
	name      string             // "metal (Apple M2 Pro)"
	lib       *library
	s         stream
	buffers   []metal.BufferObject                // every Alloc, owned
	allocated int                                 // bytes in buffers
	maxTGMem  int                                 // the device's threadgroup memory limit, bytes
	mpsMatmul map[[3]int]mps.MatrixMultiplication // MPS kernels by (N, C, OC), owned
	params    []byte                              // the parameter block being encoded
	closed    bool
}

var (
	_ nn.Backend   = (*Backend)(nil)
	_ MPSReference = (*Backend)(nil)
)

// gpuFamily is the oldest GPU family that runs kvgpt's kernels: Apple7 (M1) brings the SIMD-group
// matrix functions (simdgroup_float8x8) the matmul kernel is built on.
const gpuFamily = metal.GPUFamilyApple7

func available() bool {
	ok := false
	inPool(func() {
		dev := copyDevice()
		if dev.IsNil() {
			return
		}
		ok = supportsFamily(dev, gpuFamily)
		dev.Release()
	})
	return ok
}

func newBackend() (nn.Backend, error) {
	var b *Backend
	var err error
	inPool(func() { b, err = open() })
	if err != nil {
		return nil, err
	}
	return b, nil
}

// open creates the backend: device, command queue, compiled kernels. Call it inside a pool.
func open() (*Backend, error) {
	dev := copyDevice()
	if dev.IsNil() {
		return nil, errors.New("metal: this Mac reports no Metal GPU")
	}
	gpu := dev.Name()
	if !supportsFamily(dev, gpuFamily) {
		dev.Release()
		return nil, fmt.Errorf("metal: the GPU %q is not an Apple-silicon GPU (Apple7 family, M1 or later), which kvgpt's kernels need; use the cpu backend", gpu)
	}
	b := &Backend{dev: dev, name: "metal (" + gpu + ")", mpsMatmul: map[[3]int]mps.MatrixMultiplication{}}
	b.maxTGMem = int(dev.MaxThreadgroupMemoryLength())
	b.s.queue = dev.NewCommandQueue() // owned (+1)
	if b.s.queue.IsNil() {
		dev.Release()
		return nil, errors.New("metal: cannot create a command queue")
	}
	lib, err := compile(dev, shaders.Source())
	if err != nil {
		b.s.queue.Release()
		dev.Release()
		return nil, err
	}
	b.lib = lib
	b.Ops = shaders.Ops{Enc: encoder{b}, Scratch: b.Alloc(shaders.ScratchLen)}
	return b, nil
}

// Name reports the backend and its GPU, e.g. "metal (Apple M2 Pro)".
func (b *Backend) Name() string { return b.name }

// live panics if b was closed: its buffers are gone.
func (b *Backend) live() {
	if b.closed {
		panic("metal: backend used after Close")
	}
}

// wait commits the queued work and waits for all of it; device errors are kept for Sync.
func (b *Backend) wait() {
	b.live()
	inPool(b.s.wait)
}

// Sync waits until all queued work has finished and returns the first error the GPU reported
// since the last Sync (a failed command buffer, a kernel that could not be dispatched).
func (b *Backend) Sync() error {
	b.wait()
	err := b.s.err
	b.s.err = nil
	return err
}

// Close waits for the GPU, then releases every buffer, pipeline, library, the command queue and
// the device. Views of the backend's buffers become invalid. It returns the error Sync would.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	var err error
	inPool(func() {
		b.s.release()
		err = b.s.err
		for _, k := range b.mpsMatmul {
			k.Release()
		}
		clear(b.mpsMatmul)
		for _, buf := range b.buffers {
			buf.Release()
		}
		b.buffers = nil
		b.lib.release()
		b.dev.Release()
	})
	b.closed = true
	return err
}
