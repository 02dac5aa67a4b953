package bench

import (
	"fmt"
	"math/rand/v2"

	"github.com/kvgpt/kvgpt/nn"
)

// Shape is the size of one micro-batch of a model: every dimension an op of its training step sees.
type Shape struct {
	B, T     int  // sequences per micro-batch, sequence length
	C, NH, L int  // width, heads, layers
	V, H     int  // vocabulary, MLP hidden width
	Identity bool // query-free model: the attention input projection is (2C × C) and q is LN1's output
}

// N returns the rows of an activation, B·T.
func (s Shape) N() int { return s.B * s.T }

// QC returns the width of the attention input projection: 3C, or 2C for the query-free model.
func (s Shape) QC() int {
	if s.Identity {
		return 2 * s.C
	}
	return 3 * s.C
}

// OpCase is one op of a training step at one shape.
type OpCase struct {
	Op    string  // e.g. "matmul_forward"
	Shape string  // e.g. "BT=2048/C=384/OC=1536"
	FLOPs float64 // floating-point operations per call; 0 for the memory-bound ops
	Bytes float64 // bytes the op must read and write per call (each element once)
	// Setup allocates and fills the op's buffers on a backend and returns one call of the op.
	Setup func(be nn.Backend) func()
}

// Name returns the benchmark name of c, e.g. "op=matmul_forward/BT=2048/C=384/OC=1536".
func (c OpCase) Name() string { return "op=" + c.Op + "/" + c.Shape }

// Compute reports whether c is rated in FLOP/s (against the matmul peak) rather than in bytes/s.
func (c OpCase) Compute() bool { return c.FLOPs > 0 }

// filled allocates n elements on be holding uniform values in [−scale, scale).
func filled(be nn.Backend, r *rand.Rand, n int, scale float32) nn.View {
	v := be.Alloc(n)
	s := make([]float32, n)
	for i := range s {
		s[i] = (2*r.Float32() - 1) * scale
	}
	be.Upload(v, s)
	return v
}

// tokens allocates n token ids below V on be.
func tokens(be nn.Backend, r *rand.Rand, n, V int) nn.IntView {
	v := be.AllocInt(n)
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(r.IntN(V))
	}
	be.UploadInt(v, s)
	return v
}

const f32 = 4 // bytes per element

// Ops returns every op of one training step of shape s, once per distinct shape, in the order a
// step runs them: the forward pass, the backward pass, then the optimizer. Matmuls appear once
// per projection (attention input, attention output, MLP up, MLP down, LM head). Last comes the
// one op of nn.Backend that training does not run: generation's attention against a KV cache.
func Ops(s Shape) []OpCase {
	B, T, C, NH, V, H, QC, N := s.B, s.T, s.C, s.NH, s.V, s.H, s.QC(), s.N()
	P := V*C + T*C + s.L*(C+QC*C+C*C+C+H*C+C*H) + C // parameters of the model (wpe of T rows)
	seed := func(op string) *rand.Rand { return rand.New(rand.NewPCG(uint64(len(op)), uint64(N*C))) }
	nc := fmt.Sprintf("N=%d/C=%d", N, C)
	att := fmt.Sprintf("B=%d/T=%d/C=%d/NH=%d/q=%s", B, T, C, NH, map[bool]string{false: "qkv", true: "ln1"}[s.Identity])
	// Causal attention: q·k for s ≤ t and the weighted sum of v rows, per head, 2 FLOPs each.
	attFLOPs := 2 * float64(B) * float64(T) * float64(T+1) * float64(C)

	// attention returns q, k, v of a fresh input: column slices of one (N, 3C) QKV activation, or
	// the (N, C) LN1 output as q and column slices of an (N, 2C) KV activation.
	attention := func(be nn.Backend, r *rand.Rand) (q, k, v nn.Strided) {
		x := filled(be, r, N*QC, 1)
		col := func(off int) nn.Strided { return nn.Strided{V: x.Slice(off, N*QC-off), Stride: QC} }
		if s.Identity {
			return nn.Strided{V: filled(be, r, N*C, 1), Stride: C}, col(0), col(C)
		}
		return col(0), col(C), col(2 * C)
	}

	ops := []OpCase{
		{Op: "embed_forward", Shape: fmt.Sprintf("B=%d/T=%d/C=%d/V=%d", B, T, C, V),
			Bytes: f32 * float64(2*N*C+T*C+N),
			Setup: func(be nn.Backend) func() {
				r := seed("embed_forward")
				out, tok, wte, wpe := be.Alloc(N*C), tokens(be, r, N, V), filled(be, r, V*C, 0.02), filled(be, r, T*C, 0.02)
				return func() { be.EmbedForward(out, tok, wte, wpe, B, T, C) }
			}},
		{Op: "layernorm_forward", Shape: nc, Bytes: f32 * float64(2*N*C+C+2*N),
			Setup: func(be nn.Backend) func() {
				r := seed("layernorm_forward")
				out, mean, rstd, in, w := be.Alloc(N*C), be.Alloc(N), be.Alloc(N), filled(be, r, N*C, 1), filled(be, r, C, 1)
				return func() { be.LayerNormForward(out, mean, rstd, in, w, N, C) }
			}},
	}
	// The five products of a step: (in, out) widths. The LM head is out = x·wteᵀ.
	type mm struct {
		name  string
		c, oc int
	}
	mms := []mm{{"qkv", C, QC}, {"attproj", C, C}, {"fc", C, H}, {"fcproj", H, C}, {"lmhead", C, V}}
	for _, m := range mms {
		ops = append(ops, OpCase{Op: "matmul_forward", Shape: fmt.Sprintf("BT=%d/C=%d/OC=%d", N, m.c, m.oc),
			FLOPs: 2 * float64(N) * float64(m.c) * float64(m.oc),
			Bytes: f32 * float64(N*m.c+m.c*m.oc+N*m.oc),
			Setup: func(be nn.Backend) func() {
				r := seed("matmul_forward")
				out, in, w := be.Alloc(N*m.oc), filled(be, r, N*m.c, 1), filled(be, r, m.oc*m.c, 0.02)
				return func() { be.MatmulForward(out, in, w, N, m.c, m.oc) }
			}})
	}
	ops = append(ops,
		OpCase{Op: "attention_forward", Shape: att, FLOPs: attFLOPs,
			Bytes: f32 * float64(4*N*C+B*NH*T*T),
			Setup: func(be nn.Backend) func() {
				r := seed("attention_forward")
				q, k, v := attention(be, r)
				out, a := be.Alloc(N*C), be.Alloc(B*NH*T*T)
				sc := float32(0.125)
				return func() { be.AttentionForward(out, a, q, k, v, B, T, C, NH, sc) }
			}},
		OpCase{Op: "gelu_forward", Shape: fmt.Sprintf("N=%d", N*H), Bytes: f32 * float64(2*N*H),
			Setup: func(be nn.Backend) func() {
				r := seed("gelu_forward")
				out, in := be.Alloc(N*H), filled(be, r, N*H, 3)
				return func() { be.GELUForward(out, in, N*H) }
			}},
		OpCase{Op: "residual_forward", Shape: fmt.Sprintf("N=%d", N*C), Bytes: f32 * float64(3*N*C),
			Setup: func(be nn.Backend) func() {
				r := seed("residual_forward")
				out, a, b := be.Alloc(N*C), filled(be, r, N*C, 1), filled(be, r, N*C, 1)
				return func() { be.ResidualForward(out, a, b, N*C) }
			}},
		OpCase{Op: "crossentropy_forward", Shape: fmt.Sprintf("N=%d/V=%d", N, V), Bytes: f32 * float64(N*V+2*N),
			Setup: func(be nn.Backend) func() {
				r := seed("crossentropy_forward")
				losses, logits, tg := be.Alloc(N), filled(be, r, N*V, 3), tokens(be, r, N, V)
				return func() { be.CrossEntropyForward(losses, logits, tg, N, V) }
			}},
		OpCase{Op: "crossentropy_backward", Shape: fmt.Sprintf("N=%d/V=%d", N, V), Bytes: f32 * float64(3*N*V+2*N),
			Setup: func(be nn.Backend) func() {
				r := seed("crossentropy_backward")
				dlogits, dlosses, logits, tg := be.Alloc(N*V), filled(be, r, N, 1.0/float32(N)), filled(be, r, N*V, 3), tokens(be, r, N, V)
				return func() { be.CrossEntropyBackward(dlogits, dlosses, logits, tg, N, V) }
			}},
	)
	for _, m := range mms {
		ops = append(ops, OpCase{Op: "matmul_backward", Shape: fmt.Sprintf("BT=%d/C=%d/OC=%d", N, m.c, m.oc),
			FLOPs: 4 * float64(N) * float64(m.c) * float64(m.oc),
			Bytes: f32 * float64(3*N*m.c+3*m.c*m.oc+N*m.oc),
			Setup: func(be nn.Backend) func() {
				r := seed("matmul_backward")
				din, dw := be.Alloc(N*m.c), be.Alloc(m.oc*m.c)
				dout, in, w := filled(be, r, N*m.oc, 1), filled(be, r, N*m.c, 1), filled(be, r, m.oc*m.c, 0.02)
				return func() { be.MatmulBackward(din, dw, dout, in, w, N, m.c, m.oc) }
			}})
	}
	ops = append(ops,
		OpCase{Op: "gelu_backward", Shape: fmt.Sprintf("N=%d", N*H), Bytes: f32 * float64(4*N*H),
			Setup: func(be nn.Backend) func() {
				r := seed("gelu_backward")
				din, dout, in := be.Alloc(N*H), filled(be, r, N*H, 1), filled(be, r, N*H, 3)
				return func() { be.GELUBackward(din, dout, in, N*H) }
			}},
		OpCase{Op: "residual_backward", Shape: fmt.Sprintf("N=%d", N*C), Bytes: f32 * float64(5*N*C),
			Setup: func(be nn.Backend) func() {
				r := seed("residual_backward")
				da, db, dout := be.Alloc(N*C), be.Alloc(N*C), filled(be, r, N*C, 1)
				return func() { be.ResidualBackward(da, db, dout, N*C) }
			}},
		OpCase{Op: "attention_backward", Shape: att, FLOPs: 2 * attFLOPs,
			Bytes: f32 * float64(9*N*C+2*B*NH*T*T),
			Setup: func(be nn.Backend) func() {
				r := seed("attention_backward")
				q, k, v := attention(be, r)
				out, a := be.Alloc(N*C), be.Alloc(B*NH*T*T)
				sc := float32(0.125)
				be.AttentionForward(out, a, q, k, v, B, T, C, NH, sc) // a valid att to differentiate
				dq, dk, dv := attention(be, r)
				datt, dout := be.Alloc(B*NH*T*T), filled(be, r, N*C, 1)
				return func() { be.AttentionBackward(dq, dk, dv, datt, dout, a, q, k, v, B, T, C, NH, sc) }
			}},
		OpCase{Op: "layernorm_backward", Shape: nc, Bytes: f32 * float64(4*N*C+2*C+2*N),
			Setup: func(be nn.Backend) func() {
				r := seed("layernorm_backward")
				out, mean, rstd, in, w := be.Alloc(N*C), be.Alloc(N), be.Alloc(N), filled(be, r, N*C, 1), filled(be, r, C, 1)
				be.LayerNormForward(out, mean, rstd, in, w, N, C)
				din, dw, dout := be.Alloc(N*C), be.Alloc(C), filled(be, r, N*C, 1)
				return func() { be.LayerNormBackward(din, dw, dout, in, w, mean, rstd, N, C) }
			}},
		OpCase{Op: "embed_backward", Shape: fmt.Sprintf("B=%d/T=%d/C=%d/V=%d", B, T, C, V),
			Bytes: f32 * float64(3*N*C+2*T*C+N),
			Setup: func(be nn.Backend) func() {
				r := seed("embed_backward")
				dwte, dwpe, dout, tok := be.Alloc(V*C), be.Alloc(T*C), filled(be, r, N*C, 1), tokens(be, r, N, V)
				return func() { be.EmbedBackward(dwte, dwpe, dout, tok, B, T, C) }
			}},
		OpCase{Op: "zero", Shape: fmt.Sprintf("N=%d", P), Bytes: f32 * float64(P),
			Setup: func(be nn.Backend) func() {
				g := be.Alloc(P)
				return func() { be.Zero(g) }
			}},
		OpCase{Op: "gradnorm", Shape: fmt.Sprintf("N=%d", P), Bytes: f32 * float64(P),
			Setup: func(be nn.Backend) func() {
				r := seed("gradnorm")
				out, g := be.Alloc(1), filled(be, r, P, 1e-3)
				return func() { be.GradNorm(out, g, P) }
			}},
		OpCase{Op: "adamw", Shape: fmt.Sprintf("N=%d", P), Bytes: f32 * float64(8*P),
			Setup: func(be nn.Backend) func() {
				r := seed("adamw")
				p, m, v, g, d := filled(be, r, P, 0.02), be.Alloc(P), be.Alloc(P), filled(be, r, P, 1e-3), be.Alloc(P)
				ones := make([]float32, P)
				for i := range ones {
					ones[i] = 1
				}
				be.Upload(d, ones) // decay everywhere
				h := nn.AdamWParams{LR: 1e-4, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, GradScale: 1, Step: 1}
				return func() { be.AdamW(p, m, v, g, d, P, h) }
			}},
		// Not part of a training step: generation's attention of one new position against a
		// KV cache of T positions ([K V] rows), the window full. Memory-bound: it reads the cache
		// once for 4·T·C FLOPs.
		OpCase{Op: "attention_decode_forward", Shape: fmt.Sprintf("T=%d/C=%d/NH=%d", T, C, NH),
			Bytes: f32 * float64(2*T*C+2*C+NH*T),
			Setup: func(be nn.Backend) func() {
				r := seed("attention_decode_forward")
				cache, q, out, a := filled(be, r, T*2*C, 1), filled(be, r, C, 1), be.Alloc(C), be.Alloc(NH*T)
				k := nn.Strided{V: cache.Slice(0, (T-1)*2*C+C), Stride: 2 * C}
				v := nn.Strided{V: cache.Slice(C, (T-1)*2*C+C), Stride: 2 * C}
				return func() { be.AttentionDecodeForward(out, a, q, k, v, T, C, NH, 0.125) }
			}},
	)
	return Dedupe(ops)
}

// Dedupe drops repeated names (a model whose projections share a shape), keeping the first.
func Dedupe(ops []OpCase) []OpCase {
	seen := map[string]bool{}
	out := ops[:0]
	for _, o := range ops {
		if !seen[o.Name()] {
			seen[o.Name()] = true
			out = append(out, o)
		}
	}
	return out
}
