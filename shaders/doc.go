// Package shaders holds kvgpt's Metal Shading Language kernels and the dispatch geometry of every
// op, shared by every backend that runs them.
//
// The kernels live in one .metal file per op family (matmul, attention, layernorm, gelu, residual,
// crossentropy, embed, adamw, reduce, zero; attention_decode is generation's attention against a
// KV cache), embedded with go:embed; Source joins them into the one library that a backend
// compiles. Kernel names follow <op>_<forward|backward>[_variant] and are Go constants (slots.go),
// as are the buffer slots each kernel documents in its header comment.
//
// Ops implements the compute ops of nn.Backend by choosing, for every op, the kernels, the grid,
// the threadgroup size, the buffer bindings and the scalar parameter block, and handing each
// dispatch to an Encoder. A backend is Ops plus an Encoder plus buffer management: the Metal
// backend's Encoder encodes each Dispatch into a compute command encoder; the tests' Encoder runs
// it through the CPU harness (internal/mslcpu). Both therefore run the same geometry.
//
// Every tensor argument of a kernel is in the device address space, so views into a slab can be
// bound at any 4-byte-aligned offset; scalars travel in a small constant block set with setBytes.
package shaders
