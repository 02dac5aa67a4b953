// Package nn holds the tensors and the coarse operations of a GPT training step: the Backend
// interface, the CPU backend, and the conformance suite (package nntest) that every backend runs.
// The CPU backend runs matrix products on gonum's blas32 and the inner loops of the other ops on
// its Kernels: the Go loops of this package (GoKernels, kernels_<family>.go), or their C twins
// (package cpukernels).
//
// # Dimension letters
//
// Every buffer in kvgpt carries a shape comment built from these letters:
//
//	B   batch size (sequences per micro-batch)
//	T   sequence length (time steps, ≤ the block size)
//	C   model width (channels, n_embd)
//	NH  number of attention heads; the head size is dh = C/NH
//	L   number of transformer layers
//	V   vocabulary size
//	N   a generic row count, usually B·T
//	OC  output channels of a matrix product
//
// # Layout
//
// All tensors are dense, row-major float32: the last dimension is contiguous. A (B, T, C) activation
// stores element (b, t, c) at index (b·T + t)·C + c; a (OC, C) weight stores (o, c) at o·C + c, the
// layout of a PyTorch nn.Linear weight. The heads of an attention activation are contiguous slices of
// a row: head h of a (B, T, C) tensor owns columns h·dh … (h+1)·dh−1.
//
// # Ops
//
// Each op is a forward/backward pair. Arguments come in the order outputs, inputs, then sizes (and
// hyper-parameters last). Backward passes accumulate (+=) into every gradient they write, so fan-out
// and tied weights need no special case; callers zero gradients with Zero before a step.
//
// Ops take Views of buffers owned by the backend, never Go slices of the caller's, so the same calls
// drive the CPU and the GPU. Operations may run asynchronously; Sync waits for them and reports the
// first device error. Size mismatches are programming errors and panic with a message that starts
// with "nn: ". An allocation the device or the machine cannot give is not: Alloc panics with an
// *AllocError, which gpt's API recovers (RecoverAllocError) and returns as an error.
package nn
