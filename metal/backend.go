//go:build (darwin || fakemetal) && cgo

package metal

import (
	"errors"
	"fmt"
	"math"

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
	maxBuffer int                                 // the device's largest buffer, bytes (maxBufferLength)
	maxTGMem  int                                 // the device's threadgroup memory limit, bytes
	mpsMatmul map[[3]int]mps.MatrixMultiplication // MPS kernels by (N, C, OC), owned
	params    []byte                              // the parameter block being encoded
	checked   string                              // what check verified, for DeviceCheck
	closed    bool
}

var (
	_ nn.Backend    = (*Backend)(nil)
	_ MPSReference  = (*Backend)(nil)
	_ StatsReporter = (*Backend)(nil)
	_ DeviceChecker = (*Backend)(nil)
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

func newBackend() (be nn.Backend, err error) {
	// A panic while opening — in darwinkit or in this package's host code, as the first dispatch
	// would raise on a host bug — becomes the one error New returns, not a crash.
	defer func() {
		p := recover()
		if ae, ok := p.(*nn.AllocError); ok { // the device has no memory left: not a bug
			be, err = nil, fmt.Errorf("metal: opening the backend: %w", ae)
		} else if p != nil {
			be, err = nil, fmt.Errorf("metal: device check: opening the backend panicked: %v (a bug in kvgpt's Metal host code; please report it with this message)", p)
		}
	}()
	var b *Backend
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
	b.maxBuffer = int(min(dev.MaxBufferLength(), math.MaxInt))
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
	if err := b.check(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// check is the device check New runs before it returns a backend, so that a problem with this
// Mac's compiler, runtime or GPU shows once, as one clear error, instead of as a failure of every
// op: it builds every kernel's pipeline (a compiler or pipeline error names the kernel), checks
// that the GPU runs SIMD groups of 32 threads, as the kernels assume, and runs one small dispatch
// whose result it downloads and compares. Call it inside a pool.
func (b *Backend) check() error {
	var missing []string
	for _, k := range shaders.Kernels {
		if !b.lib.names[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("metal: device check: the compiled library lacks the kernels %v (it has %v)", missing, b.lib.kernels())
	}
	for _, k := range shaders.Kernels {
		p, err := b.lib.pipeline(b.dev, k)
		if err != nil {
			return fmt.Errorf("metal: device check: %w", err)
		}
		if w := int(p.pso.ThreadExecutionWidth()); w != simdWidth {
			return fmt.Errorf("metal: device check: kernel %s runs in SIMD groups of %d threads on %s; kvgpt's kernels need %d",
				k, w, b.name, simdWidth)
		}
	}
	// out = x + y on 37 elements, at an offset into one buffer: binding, offsets, the dispatch,
	// the wait and the download all have to work for the sums to come back exact.
	const n = 37
	slab := b.Alloc(3*n + 1)
	x, y, out := slab.Slice(1, n), slab.Slice(1+n, n), slab.Slice(1+2*n, n)
	xs, ys := make([]float32, n), make([]float32, n)
	for i := range n {
		xs[i], ys[i] = float32(i)+0.5, float32(1000*i)
	}
	b.Upload(x, xs)
	b.Upload(y, ys)
	b.ResidualForward(out, x, y, n)
	got := make([]float32, n)
	b.Download(got, out)
	if err := b.Sync(); err != nil {
		return fmt.Errorf("metal: device check: a test dispatch failed: %w", err)
	}
	for i := range n {
		if want := xs[i] + ys[i]; got[i] != want {
			return fmt.Errorf("metal: device check: a test dispatch (residual_forward of %d elements) returned %v at element %d, want %v",
				n, got[i], i, want)
		}
	}
	b.checked = fmt.Sprintf("%d kernels compiled, every pipeline built, SIMD width %d, a test dispatch returned exact sums",
		len(shaders.Kernels), simdWidth)
	return nil
}

// simdWidth is the SIMD-group width kvgpt's kernels are written for (threads_per_simdgroup).
const simdWidth = 32

// DeviceCheck reports what New checked on the device (see DeviceChecker).
func (b *Backend) DeviceCheck() string { return b.checked }

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
