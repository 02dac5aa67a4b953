// Package metal is kvgpt's Apple-GPU backend: nn.Backend on Metal, through
// github.com/progrium/darwinkit v0.5.0.
//
// It compiles on macOS with cgo, and on Linux with -tags fakemetal against the fake device of
// metal/internal/fakemetal (files tagged (darwin || fakemetal) && cgo); everywhere else Available
// reports false and New returns ErrUnavailable, so callers never branch on the platform.
//
// # Structure
//
// The kernels and the geometry of every dispatch live in package shaders (shaders.Ops computes
// threadgroups and bindings for each op and calls a shaders.Encoder). This package supplies that
// Encoder on a Metal device and the buffers it binds:
//
//   - the device is the system default GPU (MTLCreateSystemDefaultDevice, or the first of
//     MTLCopyAllDevices) — device.go is the only C in the package;
//   - the library is compiled once from the embedded .metal sources with fast math off, and New
//     builds every kernel's pipeline, checks the SIMD width and runs one test dispatch before it
//     returns (the device check); each dispatch's threadgroup size is checked against its
//     pipeline's maxTotalThreadsPerThreadgroup;
//   - every Alloc is one MTLBuffer in shared storage (unified memory), seen from Go as a []float32
//     over its contents without copies; views bind with a byte offset;
//   - dispatches go to one serial compute command encoder (they run in order, no barriers), and
//     the command buffer is committed every few dozen dispatches; the host waits only in Sync,
//     Download and Upload (which must not race the GPU), and every finished command buffer's
//     status is checked: a failure becomes the error Sync returns;
//   - every call into Objective-C runs inside an autorelease pool; objects the backend owns are
//     released by Close.
//
// MatmulForwardMPS runs the same product through Apple's MPSMatrixMultiplication: the reference
// that kvgpt's own matmul kernel is measured against in bench (see MPSReference).
//
// # darwinkit v0.5.0 traps (the type-check cannot see these)
//
//   - Generated methods whose parameter is a protocol object (SetComputePipelineState,
//     SetBufferOffsetAtIndex_, NewComputePipelineStateWithFunctionError, the MPS initialisers and
//     encodeToCommandBuffer:…) pass it through objc.WrapAsProtocol, which panics when the Go type
//     is a struct ("generic type T should be interface type") and, for an interface type, hands
//     Objective-C a Go-made adaptor object instead of the real device, buffer or command buffer.
//     The backend sends those messages with objc.Call on raw handles (the Object of each value);
//     internal/darwincheck fails the build on a call that reaches objc.WrapAsProtocol and checks
//     every hand-written selector against darwinkit's generated code.
//   - A selector the receiver does not implement is not a silent zero: darwinkit calls the IMP
//     that class_getMethodImplementation returns, which is the runtime's forwarding entry, so the
//     message is forwarded, raises NSInvalidArgumentException ("unrecognized selector") and
//     aborts the process. objc.Call panics on a nil receiver: every object Metal may fail to
//     create is checked with IsNil.
//   - objc.Call[bool] is unsafe: libffi writes a whole ffi_arg (8 bytes) of result into the
//     1-byte variable darwinkit gives it. BOOL results (supportsFamily:) are read in the cgo shim
//     of device.go.
//   - Ownership follows Cocoa's rules: new…/alloc/copy results (device, queue, library, function,
//     pipeline, buffer, MPS kernels) are owned and released; commandBuffer,
//     computeCommandEncoder…, NSStrings made from Go strings, NSErrors and darwinkit's New…/…With…
//     convenience constructors are autoreleased, so the command buffer and encoder kept across
//     calls are retained.
//   - ComputeCommandEncoderObject does not embed the base protocol, so endEncoding goes through
//     metal.CommandEncoderObject{Object: enc.Object}.
//   - …Error methods take the NSError out-pointer as unsafe.Pointer(&e), e a foundation.Error.
//
// # Verification without a Mac
//
// Nobody builds this package on a Mac in CI. On Linux, `make test` type-checks it, with its test
// files, for darwin/arm64 against the real darwinkit sources and lints its darwinkit calls
// (internal/darwincheck), runs the kernels on the CPU in the shader harness (package shaders),
// and runs this package itself — the same files, through darwinkit and GCC's Objective-C runtime
// — against the fake device of metal/internal/fakemetal (`make fakemetal`): the conformance
// suite, the training comparison with the CPU, negative controls with injected host faults, and
// `kvgpt selftest --backend metal`. On a Mac, `go test ./metal` runs the same tests on the GPU.
package metal
