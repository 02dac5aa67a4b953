package nntest

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/theory"
)

// The whole-model cases: kvgpt's own model (package gpt) on the backend under test, one forward
// and backward pass, against the float64 reference transformer of package theory built from the
// same weights (theory.FromWeights), differentiated numerically. They check that the ops compose
// as the model uses them: strided q, k, v in both modes, identity's dq accumulated into dLN1 with
// the K/V matmul's gradient, the tied LM head, gradients through every layer.

// gptShape is a model shape of the whole-model cases.
type gptShape struct {
	B, T, C, NH, V, L int
}

// gptShapes are the whole-model shapes: head sizes 4 and 4, one and two layers.
var gptShapes = []gptShape{
	{B: 2, T: 7, C: 12, NH: 3, V: 19, L: 1},
	{B: 1, T: 5, C: 8, NH: 2, V: 11, L: 2},
}

// tolGPT bounds a float32 gradient that went through the whole model.
var tolGPT = Tolerance{Abs: 1e-6, Rel: 1e-4}

// gptInit returns the normal distribution the suite draws a parameter tensor of the given shape
// from: LayerNorm weights near 1, and matrices far larger than the model's initialisation, so
// that attention is far from uniform and every gradient stands well above float32 noise.
func gptInit(name string, shape []int) (mean, std float64) {
	switch {
	case len(shape) == 1:
		return 1, 0.1
	case name == "transformer.wte.weight":
		return 0, 1
	case name == "transformer.wpe.weight":
		return 0, 0.5
	case strings.HasSuffix(name, ".mlp.c_proj.weight"): // (C, H): the widest fan-in
		return 0, 0.15
	}
	return 0, 0.3
}

// newGPTModel returns a model of configuration cfg on the case's backend with weights drawn as
// gptInit says, and the weights by nanoGPT name.
func newGPTModel(e *env, cfg gpt.Config) (*gpt.Model, map[string][]float64) {
	m, err := gpt.New(cfg, e.be, 1)
	if err != nil {
		panic(err)
	}
	weights := map[string][]float64{}
	for _, ts := range m.ParamTensors() {
		mean, std := gptInit(ts.Name, ts.Shape)
		w := e.randn(ts.Len(), std)
		for i := range w {
			w[i] = float64(float32(w[i] + mean))
		}
		weights[ts.Name] = w
		if err := m.SetParam(ts.Name, f32(w)); err != nil {
			panic(err)
		}
	}
	return m, weights
}

// gptReference is the float64 outcome of a whole-model case.
type gptReference struct {
	loss   float64              // mean cross-entropy
	logits []float64            // (B, T, V)
	grads  map[string][]float64 // ∂loss/∂parameter, by nanoGPT name, by central differences
	norm   float64              // the gradient's Euclidean norm
}

func gptCase(s gptShape, mode string) Case {
	return Case{Op: "gpt", Mode: mode, Shape: fmt.Sprintf("B=%d/T=%d/C=%d/NH=%d/V=%d/L=%d", s.B, s.T, s.C, s.NH, s.V, s.L), run: func(e *env) {
		B, T, V, N := s.B, s.T, s.V, s.B*s.T
		cfg := gpt.Config{NLayer: s.L, NHead: s.NH, NEmbd: s.C, BlockSize: T, VocabSize: V, QueryMode: gpt.QueryMode(mode)}
		m, weights := newGPTModel(e, cfg)
		tokens, targets := e.tokens(N, V), e.tokens(N, V)

		m.ZeroGrad()
		loss, err := m.Forward(tokens, targets, B, T)
		if err != nil {
			panic(err)
		}
		if err := m.Backward(); err != nil {
			panic(err)
		}
		// The gradient slab, whose views ParamViews carves in order from Wte on.
		norm := e.alloc(1)
		e.be.GradNorm(norm, nn.View{Buf: m.Grads.Wte.Buf, Off: m.Grads.Wte.Off, N: m.NumParams()}, m.NumParams())

		ref := reference(e, func() gptReference { return gptReferenceOf(cfg, weights, tokens, targets, B) })
		if math.IsNaN(ref.loss) {
			panic("nntest: reference loss is NaN")
		}
		e.compare("loss", []float64{float64(loss)}, []float64{ref.loss}, tolForward)
		e.compare("logits", f64(m.Logits()), ref.logits, tolForward, B, T, V)
		for _, ts := range m.GradTensors() {
			g, err := m.Grad(ts.Name)
			if err != nil {
				panic(err)
			}
			e.compare("d "+ts.Name, f64(g), ref.grads[ts.Name], tolGPT, ts.Shape...)
		}
		e.check("grad norm", norm, []float64{ref.norm}, tolGPT)
	}}
}

// gptReferenceOf returns the reference of a model of configuration cfg with the given weights on
// B sequences of tokens: its loss and logits, and the gradient of the loss by central differences
// of theory's float64 transformer in every weight.
func gptReferenceOf(cfg gpt.Config, weights map[string][]float64, tokens, targets []int32, B int) gptReference {
	T, V := cfg.BlockSize, cfg.VocabSize
	N := B * T
	seqs := make([][]int, B)
	for b := range seqs {
		seqs[b] = make([]int, T)
		for t := range T {
			seqs[b][t] = int(tokens[b*T+t])
		}
	}
	weight := func(name string) ([]float64, error) {
		if w, ok := weights[name]; ok {
			return w, nil
		}
		return nil, fmt.Errorf("nntest: no weight %s", name)
	}
	logits, losses := make([]float64, N*V), make([]float64, N)
	forward := func() float64 {
		tr, err := theory.FromWeights(cfg, weight)
		if err != nil {
			panic(err)
		}
		for b, seq := range seqs {
			copy(logits[b*T*V:], tr.Logits(seq).D)
		}
		RefCrossEntropy(losses, logits, targets, N, V)
		var s float64
		for _, l := range losses {
			s += l
		}
		return s / float64(N)
	}
	ref := gptReference{grads: map[string][]float64{}}
	var all []float64
	for _, name := range slices.Sorted(maps.Keys(weights)) {
		ref.grads[name] = numGrad(weights[name], forward)
		all = append(all, ref.grads[name]...)
	}
	ref.norm = RefNorm(all)
	ref.loss = forward()
	ref.logits = clone(logits)
	return ref
}

// f64 returns x as float64.
func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}
