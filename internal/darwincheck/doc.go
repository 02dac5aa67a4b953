// Package darwincheck type-checks Go packages as another platform's build would see them —
// by default darwin/arm64 with cgo — without that platform's toolchain or a C compiler.
//
// kvgpt's Metal backend (package metal) compiles only on macOS with cgo, and nobody builds it on
// a Mac in CI. Check makes `make test` on Linux catch what the darwin compiler would: a darwinkit
// method that does not exist, a uint passed where an int is expected, an unused variable in a
// darwin-only file, a test file that no longer compiles.
//
// How it works:
//
//   - `go list -e -deps [-test]` with GOOS, GOARCH and CGO_ENABLED=1 for the target finds every
//     package and its directory, module-aware (plain `go list` does not run cgo);
//   - go/build with the target's Context picks each package's files exactly as the go command
//     would, keeping the files that `import "C"`;
//   - go/types checks them with FakeImportC, so every C.xxx expression is accepted unchecked:
//     keep cgo code to one tiny file, the rest is checked in full.
//
// Dependencies (the standard library, darwinkit) are checked from source for their API only
// (function bodies ignored); the packages named by the patterns are checked in full, with their
// in-package and external test files when Config.Tests is set.
//
// # Lint
//
// With Config.Lint set (cmd/darwincheck's default), Check also reports uses of darwinkit that
// type-check but fail on a Mac, in Result.Lint:
//
//   - a call of a darwinkit function whose body reaches objc.WrapAsProtocol, which panics when the
//     argument's Go type is a struct and hands Objective-C a Go-made adaptor for an interface (e.g.
//     ComputeCommandEncoderObject.SetComputePipelineState, the MPS initialisers), with the chain of
//     calls that reaches it: mps.NewMatrixWithBufferOffsetDescriptor →
//     mps.Matrix.InitWithBufferOffsetDescriptor → objc.WrapAsProtocol;
//   - objc.Call[bool] (of any boolean type), in the checked packages or reached in the same way
//     (DeviceObject.SupportsFamily): libffi writes a whole 8-byte ffi_arg into its 1-byte result;
//   - an objc.Call(recv, objc.Sel("sel"), args...) that darwinkit's generated code does not send
//     alike: a method of recv's type (its own or promoted) must send sel to its receiver with
//     objc.Call; the call must pass one argument per colon of sel, each marshalled as darwinkit's
//     (by reflect kind, as objc.Call does: int is not uint, float64 is not float32, a struct by
//     value must be the same type, any objc.Handle is an object, nil fits an object or a pointer),
//     and read the result alike (an object, objc.Void, a number). A receiver of type objc.Object
//     or of an interface type, a selector that is not objc.Sel of a constant and arguments passed
//     with ... cannot be checked, and are reported too.
//
// The lint type-checks darwinkit's function bodies to follow calls: static calls, calls of methods
// of concrete types, and functions and methods taken as values. Calls through interfaces and
// function values are not followed.
package darwincheck
