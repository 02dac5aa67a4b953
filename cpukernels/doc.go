// Package cpukernels holds the C twins of nn.GoKernels, one file per op family as in shaders/, and
// builds the CPU backend as this build runs it (NewCPU).
//
// Each op family is a header of C kernels and a Go file of the same stem whose methods implement
// nn.Kernels with them: gelu.h and gelu.go, layernorm, attention, crossentropy, adamw, reduce (the
// kernels share common.h). The Go loops they stand in for are nn/kernels_<family>.go, the Metal
// kernels shaders/<family>.metal; the tests here check every C kernel against the Go loops.
//
// The C kernels are compiled in the builds that link a cgo BLAS (-tags openblas; -tags accelerate
// on macOS), vectorised for the machine: on x86-64 Linux in an AVX-512, an AVX2 and a baseline
// version picked at load time for the CPU. In every other build (no tag, or no cgo) Kernels
// returns nil and NewCPU runs the Go kernels.
package cpukernels
