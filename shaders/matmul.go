package shaders

import "github.com/kvgpt/kvgpt/nn"

// Tile geometry of gemm_tile (matmul.metal): a threadgroup of 2×2 simdgroups computes a
// gemmBM×gemmBN tile of C.
const (
	gemmBM      = 64
	gemmBN      = 64
	gemmThreads = 128
)

// Causal shortcuts of gemm_tile (GemmParams.causal).
const (
	gemmFull   = 0 // no shortcut
	gemmLowerC = 1 // only C[m][n] with n ≤ m is needed
	gemmLowerA = 2 // op(A)[m][k] = 0 for k > m
	gemmUpperA = 3 // op(A)[m][k] = 0 for k < m
)

// gemmParams mirrors struct GemmParams of matmul.metal, field for field.
type gemmParams struct {
	M, N, K       int
	lda, ldb, ldc int
	nh            int
	sa0, sa1      int
	sb0, sb1      int
	sc0, sc1      int
	causal        int
}

// gemm dispatches a gemm_tile kernel: C (+)= op(A)·op(B) for batch matrices, one 64×64 tile of
// C per threadgroup of 128 threads, threadgroup z = batch item.
func (o *Ops) gemm(kernel string, c, a, b nn.View, p gemmParams, batch int) {
	d := o.begin(kernel, [3]int{ceilDiv(p.N, gemmBN), ceilDiv(p.M, gemmBM), batch}, [3]int{gemmThreads, 1, 1})
	d.buf(SlotGemmC, c)
	d.buf(SlotGemmA, a)
	d.buf(SlotGemmB, b)
	nh := max(p.nh, 1)
	for _, x := range [...]int{p.M, p.N, p.K, p.lda, p.ldb, p.ldc, nh, p.sa0, p.sa1, p.sb0, p.sb1, p.sc0, p.sc1, p.causal} {
		d.u32(x)
	}
	o.send(SlotGemmParams)
}

// MatmulForward: out = in·wᵀ (an nn.Linear without bias).
//
//	out (N, OC), in (N, C), w (OC, C)
func (o *Ops) MatmulForward(out nn.View, in, w nn.View, N, C, OC int) {
	if N < 0 || C < 0 || OC < 0 {
		panic("nn: MatmulForward: negative size")
	}
	need(out, N*OC, "nn: MatmulForward: out too small")
	need(in, N*C, "nn: MatmulForward: in too small")
	need(w, OC*C, "nn: MatmulForward: w too small")
	if N == 0 || OC == 0 {
		return
	}
	if C == 0 {
		o.Zero(out.Slice(0, N*OC))
		return
	}
	o.gemm(KernelMatmulForward, out, in, w, gemmParams{M: N, N: OC, K: C, lda: C, ldb: C, ldc: OC}, 1)
}

// MatmulBackward accumulates din += dout·w and dw += doutᵀ·in.
//
//	din (N, C), dw (OC, C), dout (N, OC), in (N, C), w (OC, C)
func (o *Ops) MatmulBackward(din, dw nn.View, dout, in, w nn.View, N, C, OC int) {
	if N < 0 || C < 0 || OC < 0 {
		panic("nn: MatmulBackward: negative size")
	}
	need(din, N*C, "nn: MatmulBackward: din too small")
	need(dw, OC*C, "nn: MatmulBackward: dw too small")
	need(dout, N*OC, "nn: MatmulBackward: dout too small")
	need(in, N*C, "nn: MatmulBackward: in too small")
	need(w, OC*C, "nn: MatmulBackward: w too small")
	if N == 0 || C == 0 || OC == 0 {
		return
	}
	o.gemm(KernelMatmulBackwardDin, din, dout, w, gemmParams{M: N, N: C, K: OC, lda: OC, ldb: C, ldc: C}, 1)
	o.gemm(KernelMatmulBackwardDW, dw, dout, in, gemmParams{M: OC, N: C, K: N, lda: OC, ldb: C, ldc: C}, 1)
}
