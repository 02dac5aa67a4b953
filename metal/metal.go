package metal

import (
	"errors"

	"github.com/kvgpt/kvgpt/nn"
)

// ErrUnavailable is the error New returns where Metal cannot be used: on any system but macOS, or
// in a build without cgo.
var ErrUnavailable = errors.New("metal: the Metal backend needs macOS on Apple silicon and a build with cgo (CGO_ENABLED=1); use the cpu backend here")

// Available reports whether New can succeed: the build has Metal support and the machine has a
// Metal GPU that runs kvgpt's kernels (Apple silicon, M1 or later).
func Available() bool { return available() }

// New returns a Metal backend on the system's default GPU. It compiles the kernels, which takes
// a moment on first use. Close releases the device's resources.
func New() (nn.Backend, error) { return newBackend() }

// MPSReference is implemented by the Metal backend: the forward matmul out = in·wᵀ through Apple's
// MPSMatrixMultiplication, the reference that bench measures kvgpt's matmul kernel against. The
// work is queued like any op; Sync waits for it.
//
//	out (N, OC), in (N, C), w (OC, C)
type MPSReference interface {
	MatmulForwardMPS(out nn.View, in, w nn.View, N, C, OC int)
}

// Stats counts what a Metal backend has asked of the GPU since it was opened: kvgpt bench prints
// them per training step (on the fake device, in place of timings).
type Stats struct {
	Dispatches     int   // compute dispatches encoded (MPS calls included)
	CommandBuffers int   // command buffers committed
	Waits          int   // times the host waited for the GPU
	Buffers        int   // MTLBuffers allocated
	Bytes          int64 // bytes of MTLBuffers allocated
}

// StatsReporter is implemented by the Metal backend (see Stats).
type StatsReporter interface {
	Stats() Stats
}

// DeviceChecker is implemented by the Metal backend: DeviceCheck says, in one line, what New
// verified on the device before it returned (kernels compiled, pipelines built, SIMD width, a
// test dispatch). kvgpt selftest prints it before its table.
type DeviceChecker interface {
	DeviceCheck() string
}

// FakeDevice reports whether this build runs on the fake Metal device (-tags fakemetal on
// Linux): the real host code of this package against metal/internal/fakemetal, whose kernels run
// in the CPU shader harness. Its timings say nothing about a GPU.
func FakeDevice() bool { return fakeDevice }
