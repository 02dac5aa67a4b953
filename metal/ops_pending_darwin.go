//go:build darwin && cgo

package metal

// TEMPORARY (removed when package shaders lands): the ops are not wired to shaders.Ops yet, so
// each panics; the source files of the library come from package shaders too.

import "github.com/kvgpt/kvgpt/nn"

type sourceFile struct{ name, text string }

func shaderFiles() []sourceFile { return nil }

func (b *Backend) Zero(x nn.View) {
	panic("metal: Zero is not wired to package shaders yet")
}
func (b *Backend) EmbedForward(out nn.View, tokens nn.IntView, wte, wpe nn.View, B, T, C int) {
	panic("metal: EmbedForward is not wired to package shaders yet")
}
func (b *Backend) EmbedBackward(dwte, dwpe nn.View, dout nn.View, tokens nn.IntView, B, T, C int) {
	panic("metal: EmbedBackward is not wired to package shaders yet")
}
func (b *Backend) LayerNormForward(out, mean, rstd nn.View, in, w nn.View, N, C int) {
	panic("metal: LayerNormForward is not wired to package shaders yet")
}
func (b *Backend) LayerNormBackward(din, dw nn.View, dout, in, w, mean, rstd nn.View, N, C int) {
	panic("metal: LayerNormBackward is not wired to package shaders yet")
}
func (b *Backend) MatmulForward(out nn.View, in, w nn.View, N, C, OC int) {
	panic("metal: MatmulForward is not wired to package shaders yet")
}
func (b *Backend) MatmulBackward(din, dw nn.View, dout, in, w nn.View, N, C, OC int) {
	panic("metal: MatmulBackward is not wired to package shaders yet")
}
func (b *Backend) AttentionForward(out, att nn.View, q, k, v nn.Strided, B, T, C, NH int, scale float32) {
	panic("metal: AttentionForward is not wired to package shaders yet")
}
func (b *Backend) AttentionBackward(dq, dk, dv nn.Strided, datt nn.View, dout, att nn.View, q, k, v nn.Strided, B, T, C, NH int, scale float32) {
	panic("metal: AttentionBackward is not wired to package shaders yet")
}
func (b *Backend) GELUForward(out, in nn.View, N int) {
	panic("metal: GELUForward is not wired to package shaders yet")
}
func (b *Backend) GELUBackward(din nn.View, dout, in nn.View, N int) {
	panic("metal: GELUBackward is not wired to package shaders yet")
}
func (b *Backend) ResidualForward(out, a, b2 nn.View, N int) {
	panic("metal: ResidualForward is not wired to package shaders yet")
}
func (b *Backend) ResidualBackward(da, db nn.View, dout nn.View, N int) {
	panic("metal: ResidualBackward is not wired to package shaders yet")
}
func (b *Backend) CrossEntropyForward(losses nn.View, logits nn.View, targets nn.IntView, N, V int) {
	panic("metal: CrossEntropyForward is not wired to package shaders yet")
}
func (b *Backend) CrossEntropyBackward(dlogits nn.View, dlosses nn.View, logits nn.View, targets nn.IntView, N, V int) {
	panic("metal: CrossEntropyBackward is not wired to package shaders yet")
}
func (b *Backend) AdamW(params, m, v nn.View, grads, decay nn.View, N int, h nn.AdamWParams) {
	panic("metal: AdamW is not wired to package shaders yet")
}
func (b *Backend) GradNorm(out nn.View, grads nn.View, N int) {
	panic("metal: GradNorm is not wired to package shaders yet")
}
