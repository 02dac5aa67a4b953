package shaders

// Kernel names: one constant per `kernel void` in the .metal files.
const (
	KernelMatmulForward      = "matmul_forward"
	KernelMatmulBackwardDin  = "matmul_backward_din"
	KernelMatmulBackwardDW   = "matmul_backward_dw"
	KernelAttnForwardScores  = "attention_forward_scores"
	KernelAttnForwardSoftmax = "attention_forward_softmax"
	KernelAttnForwardValues  = "attention_forward_values"
	KernelAttnBackwardDatt   = "attention_backward_datt"
	KernelAttnBackwardDV     = "attention_backward_dv"
	KernelAttnBackwardSoft   = "attention_backward_softmax"
	KernelAttnBackwardDQ     = "attention_backward_dq"
	KernelAttnBackwardDK     = "attention_backward_dk"
	KernelAttnDecodeForward  = "attention_decode_forward"
	KernelLayerNormForward   = "layernorm_forward"
	KernelLayerNormBackward  = "layernorm_backward"
	KernelLayerNormBackDW    = "layernorm_backward_dw"
	KernelGELUForward        = "gelu_forward"
	KernelGELUBackward       = "gelu_backward"
	KernelResidualForward    = "residual_forward"
	KernelResidualBackward   = "residual_backward"
	KernelCrossEntForward    = "crossentropy_forward"
	KernelCrossEntBackward   = "crossentropy_backward"
	KernelEmbedForward       = "embed_forward"
	KernelEmbedBackward      = "embed_backward"
	KernelAdamWForward       = "adamw_forward"
	KernelGradNormPartial    = "gradnorm_forward_partial"
	KernelGradNormFinal      = "gradnorm_forward_final"
	KernelZeroForward        = "zero_forward"
)

// Kernels lists every kernel name above.
var Kernels = []string{
	KernelMatmulForward, KernelMatmulBackwardDin, KernelMatmulBackwardDW,
	KernelAttnForwardScores, KernelAttnForwardSoftmax, KernelAttnForwardValues,
	KernelAttnBackwardDatt, KernelAttnBackwardDV, KernelAttnBackwardSoft, KernelAttnBackwardDQ, KernelAttnBackwardDK,
	KernelAttnDecodeForward,
	KernelLayerNormForward, KernelLayerNormBackward, KernelLayerNormBackDW,
	KernelGELUForward, KernelGELUBackward,
	KernelResidualForward, KernelResidualBackward,
	KernelCrossEntForward, KernelCrossEntBackward,
	KernelEmbedForward, KernelEmbedBackward,
	KernelAdamWForward,
	KernelGradNormPartial, KernelGradNormFinal,
	KernelZeroForward,
}

// Buffer slots ([[buffer(n)]]) of every kernel, as listed in the kernel's header comment.

// Every gemm_tile kernel (matmul_*, attention_forward_scores/values, attention_backward_datt/dv/dq/dk):
// C (+)= op(A)·op(B).
const (
	SlotGemmC      = 0 // output (accumulated by the backward kernels)
	SlotGemmA      = 1
	SlotGemmB      = 2
	SlotGemmParams = 3 // GemmParams
)

// attention_forward_softmax.
const (
	SlotAttnSoftAtt    = 0 // att (B, NH, T, T), in place
	SlotAttnSoftParams = 1 // AttnRowParams
)

// attention_backward_softmax.
const (
	SlotAttnSoftBwdDatt   = 0 // datt (B, NH, T, T), in place
	SlotAttnSoftBwdAtt    = 1 // att (B, NH, T, T)
	SlotAttnSoftBwdParams = 2 // AttnRowParams
)

// attention_decode_forward.
const (
	SlotAttnDecOut    = 0 // out (C)
	SlotAttnDecAtt    = 1 // att (NH, T)
	SlotAttnDecQ      = 2 // q (C)
	SlotAttnDecK      = 3 // k (strided)
	SlotAttnDecV      = 4 // v (strided)
	SlotAttnDecParams = 5 // AttnDecodeParams
)

// layernorm_forward.
const (
	SlotLNFwdOut    = 0 // (N, C)
	SlotLNFwdMean   = 1 // (N)
	SlotLNFwdRstd   = 2 // (N)
	SlotLNFwdIn     = 3 // (N, C)
	SlotLNFwdW      = 4 // (C)
	SlotLNFwdParams = 5 // LayerNormParams
)

// layernorm_backward.
const (
	SlotLNBwdDin    = 0 // (N, C)
	SlotLNBwdDout   = 1 // (N, C)
	SlotLNBwdIn     = 2 // (N, C)
	SlotLNBwdW      = 3 // (C)
	SlotLNBwdMean   = 4 // (N)
	SlotLNBwdRstd   = 5 // (N)
	SlotLNBwdParams = 6 // LayerNormParams
)

// layernorm_backward_dw.
const (
	SlotLNBwdDWDw     = 0 // (C)
	SlotLNBwdDWDout   = 1 // (N, C)
	SlotLNBwdDWIn     = 2 // (N, C)
	SlotLNBwdDWMean   = 3 // (N)
	SlotLNBwdDWRstd   = 4 // (N)
	SlotLNBwdDWParams = 5 // LayerNormParams
)

// gelu_forward.
const (
	SlotGELUFwdOut    = 0 // (n)
	SlotGELUFwdIn     = 1 // (n)
	SlotGELUFwdParams = 2 // EltwiseParams
)

// gelu_backward.
const (
	SlotGELUBwdDin    = 0 // (n)
	SlotGELUBwdDout   = 1 // (n)
	SlotGELUBwdIn     = 2 // (n)
	SlotGELUBwdParams = 3 // EltwiseParams
)

// residual_forward.
const (
	SlotResFwdOut    = 0 // (n)
	SlotResFwdA      = 1 // (n)
	SlotResFwdB      = 2 // (n)
	SlotResFwdParams = 3 // EltwiseParams
)

// residual_backward.
const (
	SlotResBwdDa     = 0 // (n)
	SlotResBwdDb     = 1 // (n)
	SlotResBwdDout   = 2 // (n)
	SlotResBwdParams = 3 // EltwiseParams
)

// crossentropy_forward.
const (
	SlotCEFwdLosses  = 0 // (N)
	SlotCEFwdLogits  = 1 // (N, V)
	SlotCEFwdTargets = 2 // (N) int32
	SlotCEFwdParams  = 3 // CrossEntropyParams
)

// crossentropy_backward.
const (
	SlotCEBwdDlogits = 0 // (N, V)
	SlotCEBwdDlosses = 1 // (N)
	SlotCEBwdLogits  = 2 // (N, V)
	SlotCEBwdTargets = 3 // (N) int32
	SlotCEBwdParams  = 4 // CrossEntropyParams
)

// embed_forward.
const (
	SlotEmbFwdOut    = 0 // (B, T, C)
	SlotEmbFwdTokens = 1 // (B, T) int32
	SlotEmbFwdWte    = 2 // (V, C)
	SlotEmbFwdWpe    = 3 // (≥T, C)
	SlotEmbFwdParams = 4 // EmbedParams
)

// embed_backward.
const (
	SlotEmbBwdDwte   = 0 // (V, C)
	SlotEmbBwdDwpe   = 1 // (≥T, C)
	SlotEmbBwdDout   = 2 // (B, T, C)
	SlotEmbBwdTokens = 3 // (B, T) int32
	SlotEmbBwdParams = 4 // EmbedParams
)

// adamw_forward.
const (
	SlotAdamWParams = 0 // params (n), updated in place
	SlotAdamWM      = 1 // (n)
	SlotAdamWV      = 2 // (n)
	SlotAdamWGrads  = 3 // (n)
	SlotAdamWDecay  = 4 // (n)
	SlotAdamWHyper  = 5 // AdamWParams
)

// gradnorm_forward_partial.
const (
	SlotGNPartPartial = 0 // (G) scratch
	SlotGNPartGrads   = 1 // (n)
	SlotGNPartParams  = 2 // GradNormParams
)

// gradnorm_forward_final.
const (
	SlotGNFinalOut     = 0 // (≥1)
	SlotGNFinalPartial = 1 // (G)
	SlotGNFinalParams  = 2 // GradNormParams
)

// zero_forward.
const (
	SlotZeroX      = 0 // (n)
	SlotZeroParams = 1 // EltwiseParams
)
