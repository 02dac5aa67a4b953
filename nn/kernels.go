package nn

import "gonum.org/v1/gonum/blas/blas32"

// Kernels are the CPU backend's inner loops other than matrix products: the per-element and
// per-row work of GELU, attention heads, LayerNorm, cross-entropy, AdamW and the gradient norm,
// each a forward/backward pair over plain slices. The backend splits an op's items (rows,
// elements, channels or (batch, head) pairs) over its workers and hands each worker's share to
// a Kernels method, so results do not depend on the number of threads.
//
// GoKernels, in this package, are the Go loops: the default, and the oracle the others are tested
// against. Package cpukernels provides them in C, vectorised for the machine, in the builds that
// link a BLAS (-tags openblas, -tags accelerate); pass them in CPUOptions.Kernels. Each op family
// has its twins under the same stem: nn/kernels_gelu.go, cpukernels/gelu.{h,go} and
// shaders/gelu.{metal,go}, and so on for layernorm, attention, crossentropy, adamw and reduce.
//
// The C kernels compute the same functions as the Go loops, not the same bits: their sums run in
// SIMD lanes combined at the end (a fixed order per machine, not the Go loops' one by one), the
// compiler may fuse multiplies and adds, cross-entropy sums its exponentials in float32 (Go:
// float64), attention multiplies on register tiles instead of blas32, AdamW's square root is
// Newton steps within 2 ulp, and GELU is a different approximation altogether ("The three GELUs"
// in kernels_gelu.go). cpukernels' tests bound each difference; so a model trains on them to the
// same curve, not to the same losses bit for bit.
//
// Every slice is already bounds-checked by the backend; the row methods take the rows as
// len(mean), len(losses) and so on. The conformance suite (nntest) checks a backend with any
// Kernels as it checks one with the Go loops.
type Kernels interface {
	// Name describes the kernels, e.g. "Go" or "C AVX-512".
	Name() string

	// GELUForward sets out[i] = in[i]·Φ(in[i]).
	GELUForward(out, in []float32)
	// GELUBackward adds dout[i]·GELU'(in[i]) to din[i].
	GELUBackward(din, dout, in []float32)

	// AttentionHeadForward is causal attention for one (batch, head), all T query rows: att
	// (T×T, row-major) = softmax(scale·q·kᵀ) with row t over keys 0 … t and zeros after, and
	// out = att·v. q, k, v and out are T×dh (Rows × Cols) with their own strides.
	AttentionHeadForward(out blas32.General, att []float32, q, k, v blas32.General, scale float32)
	// AttentionHeadBackward accumulates dq, dk and dv of one (batch, head) given dout and the
	// forward's att; datt (T×T) is scratch.
	AttentionHeadBackward(dq, dk, dv blas32.General, datt []float32, dout blas32.General, att []float32, q, k, v blas32.General, scale float32)

	// LayerNormForward normalises the len(mean) rows of in (C each), writing out, mean and rstd.
	LayerNormForward(out, mean, rstd, in, w []float32, C int)
	// LayerNormBackward adds the input gradient of the len(mean) rows to din.
	LayerNormBackward(din, dout, in, w, mean, rstd []float32, C int)
	// LayerNormDW adds columns lo … lo+len(dw)−1 of the weight gradient, summed over the
	// len(mean) rows, to dw.
	LayerNormDW(dw, dout, in, mean, rstd []float32, C, lo int)

	// CrossEntropyForward writes the loss of each of the len(losses) rows of logits (V each).
	CrossEntropyForward(losses, logits []float32, targets []int32, V int)
	// CrossEntropyBackward adds dlosses[r]·(softmax(logits[r]) − onehot(targets[r])) to row r of
	// dlogits, for the len(dlosses) rows.
	CrossEntropyBackward(dlogits, dlosses, logits []float32, targets []int32, V int)

	// SumSquares returns Σ x[i]², summed in float64 (a chunk of GradNorm).
	SumSquares(x []float32) float64

	// AdamW updates the len(p) parameters as CPU.AdamW does, with stepSize = lr/(1 − β1ᵗ) and
	// bc2Sqrt = √(1 − β2ᵗ) already computed.
	AdamW(p, m, v, g, decay []float32, h AdamWParams, stepSize, bc2Sqrt float32)
}

// GoKernels are the Kernels written in Go, one file per op family (kernels_gelu.go,
// kernels_layernorm.go, kernels_attention.go, kernels_crossentropy.go, kernels_adamw.go,
// kernels_reduce.go). They are what a CPU backend runs unless CPUOptions.Kernels says otherwise.
type GoKernels struct {
	// Gemm is how the attention heads' products are cut into blas32 calls: GemmTiles into
	// attTile×attTile output tiles that gonum multiplies serially and without allocating;
	// GemmSplit and GemmWhole one call per product (the backend runs heads on different workers
	// at once, so a cgo BLAS set to one thread still runs them in parallel). NewCPUWith sets it
	// to the backend's mode.
	Gemm GemmMode
}

// Name returns "Go".
func (GoKernels) Name() string { return "Go" }

var _ Kernels = GoKernels{}
