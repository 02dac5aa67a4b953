package shaders

import "github.com/kvgpt/kvgpt/nn"

// Threadgroups of the layernorm kernels: one simdgroup per row for the row kernels, (32, 8)
// threads per 32 columns for the weight gradient.
const (
	layerNormRowThreads = 32
	layerNormDWCols     = 32
	layerNormDWRows     = 8
)

// LayerNormForward: out = (in − mean)·rstd·w per row, rstd = 1/√(var + 1e-5), biased variance;
// it saves mean and rstd for the backward pass.
//
//	out (N, C), mean (N), rstd (N), in (N, C), w (C)
func (o *Ops) LayerNormForward(out, mean, rstd nn.View, in, w nn.View, N, C int) {
	if N < 0 || C < 0 {
		panic("nn: LayerNormForward: negative size")
	}
	need(out, N*C, "nn: LayerNormForward: out too small")
	need(mean, N, "nn: LayerNormForward: mean too small")
	need(rstd, N, "nn: LayerNormForward: rstd too small")
	need(in, N*C, "nn: LayerNormForward: in too small")
	need(w, C, "nn: LayerNormForward: w too small")
	if N == 0 || C == 0 {
		return
	}
	d := o.begin(KernelLayerNormForward, [3]int{N, 1, 1}, [3]int{layerNormRowThreads, 1, 1})
	d.buf(SlotLNFwdOut, out)
	d.buf(SlotLNFwdMean, mean)
	d.buf(SlotLNFwdRstd, rstd)
	d.buf(SlotLNFwdIn, in)
	d.buf(SlotLNFwdW, w)
	d.u32(N)
	d.u32(C)
	o.send(SlotLNFwdParams)
}

// LayerNormBackward accumulates din and dw.
//
//	din (N, C), dw (C), dout (N, C), in (N, C), w (C), mean (N), rstd (N)
func (o *Ops) LayerNormBackward(din, dw nn.View, dout, in, w, mean, rstd nn.View, N, C int) {
	if N < 0 || C < 0 {
		panic("nn: LayerNormBackward: negative size")
	}
	need(din, N*C, "nn: LayerNormBackward: din too small")
	need(dw, C, "nn: LayerNormBackward: dw too small")
	need(dout, N*C, "nn: LayerNormBackward: dout too small")
	need(in, N*C, "nn: LayerNormBackward: in too small")
	need(w, C, "nn: LayerNormBackward: w too small")
	need(mean, N, "nn: LayerNormBackward: mean too small")
	need(rstd, N, "nn: LayerNormBackward: rstd too small")
	if N == 0 || C == 0 {
		return
	}
	d := o.begin(KernelLayerNormBackward, [3]int{N, 1, 1}, [3]int{layerNormRowThreads, 1, 1})
	d.buf(SlotLNBwdDin, din)
	d.buf(SlotLNBwdDout, dout)
	d.buf(SlotLNBwdIn, in)
	d.buf(SlotLNBwdW, w)
	d.buf(SlotLNBwdMean, mean)
	d.buf(SlotLNBwdRstd, rstd)
	d.u32(N)
	d.u32(C)
	o.send(SlotLNBwdParams)

	d = o.begin(KernelLayerNormBackDW, [3]int{ceilDiv(C, layerNormDWCols), 1, 1}, [3]int{layerNormDWCols, layerNormDWRows, 1})
	d.buf(SlotLNBwdDWDw, dw)
	d.buf(SlotLNBwdDWDout, dout)
	d.buf(SlotLNBwdDWIn, in)
	d.buf(SlotLNBwdDWMean, mean)
	d.buf(SlotLNBwdDWRstd, rstd)
	d.u32(N)
	d.u32(C)
	o.send(SlotLNBwdDWParams)
}
