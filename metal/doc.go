// Package metal is kvgpt's Apple-GPU backend: nn.Backend on Metal, through
// github.com/progrium/darwinkit v0.5.0.
//
// It compiles only on macOS with cgo (files tagged darwin && cgo); everywhere else Available
// reports false and New returns ErrUnavailable, so callers never branch on the platform.
//
// # Structure
//
// The kernels and the geometry of every dispatch live in package shaders (shaders.Ops computes
// threadgroups and bindings for each op and calls a shaders.Encoder). This package supplies that
// Encoder on a Metal device and the buffers it binds:
//
//   - the device is the system default GPU (MTLCreateSystemDefaultDevice, or the first of
//     MTLCopyAllDevices) — device_darwin.go is the only C in the package;
//   - the library is compiled once from the embedded .metal sources with fast math off, and one
//     compute pipeline per kernel name is built on first use and cached; each dispatch's
//     threadgroup size is checked against its pipeline's maxTotalThreadsPerThreadgroup;
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
//   - objc.Call returns a zero value, silently, when the receiver does not implement the selector,
//     and panics on a nil receiver: every object Metal may fail to create is checked with IsNil.
//   - Ownership follows Cocoa's rules: new…/alloc/copy results (device, queue, library, function,
//     pipeline, buffer) are owned and released; commandBuffer, computeCommandEncoder…, NSStrings
//     made from Go strings, NSErrors and darwinkit's New…/…With… convenience constructors are
//     autoreleased, so the command buffer and encoder kept across calls are retained.
//   - setBuffer:offset:atIndex: is SetBufferOffsetAtIndex_ (with the underscore; the name without it
//     is setBufferOffset:atIndex:), and ComputeCommandEncoderObject does not embed the base
//     protocol, so endEncoding goes through metal.CommandEncoderObject{Object: enc.Object}.
//   - …Error methods take the NSError out-pointer as unsafe.Pointer(&e), e a foundation.Error.
//
// # Verification without a Mac
//
// Nobody builds this package on a Mac in CI. On Linux, `make test` type-checks it, with its
// darwin test files, for darwin/arm64 against the real darwinkit sources (internal/darwincheck);
// the kernels themselves are run on the CPU by the shaders harness. On a Mac, `go test ./metal`
// runs the conformance suite on the GPU and `kvgpt selftest --backend metal` prints every op
// against the CPU backend.
package metal
