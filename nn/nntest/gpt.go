package nntest

import (
	"fmt"
	"math"

	"github.com/kvgpt/kvgpt/nn"
)

// GPTConfig is the shape of a MiniGPT.
type GPTConfig struct {
	B, T, C, NH, V, L int
	// Identity selects the query-free model: the attention input projection is (2C, C) → [K V]
	// and the query of each head is the LN1 output itself.
	Identity bool
}

// qkvWidth is the number of outputs of the attention input projection: 3C, or 2C without W_Q.
func (c GPTConfig) qkvWidth() int {
	if c.Identity {
		return 2 * c.C
	}
	return 3 * c.C
}

// gptParam is one named tensor of the flat parameter block.
type gptParam struct {
	name      string
	off, n    int
	dims      []int
	decay     bool    // weight decay applies (rank ≥ 2)
	std, mean float64 // initialisation used by the suite
}

// params lays out the parameters with nanoGPT's names: wte (V, C), wpe (T, C), per layer
// ln_1 (C), c_attn (3C or 2C, C), c_proj (C, C), ln_2 (C), c_fc (4C, C), mlp c_proj (C, 4C), ln_f (C).
func (c GPTConfig) params() []gptParam {
	var ps []gptParam
	off := 0
	add := func(name string, decay bool, std, mean float64, dims ...int) {
		n := 1
		for _, d := range dims {
			n *= d
		}
		ps = append(ps, gptParam{name: name, off: off, n: n, dims: dims, decay: decay, std: std, mean: mean})
		off += n
	}
	C := c.C
	add("wte", true, 1, 0, c.V, C)
	add("wpe", true, 0.5, 0, c.T, C)
	for l := range c.L {
		add(fmt.Sprintf("h.%d.ln_1.weight", l), false, 0.1, 1, C)
		add(fmt.Sprintf("h.%d.attn.c_attn.weight", l), true, 0.3, 0, c.qkvWidth(), C)
		add(fmt.Sprintf("h.%d.attn.c_proj.weight", l), true, 0.3, 0, C, C)
		add(fmt.Sprintf("h.%d.ln_2.weight", l), false, 0.1, 1, C)
		add(fmt.Sprintf("h.%d.mlp.c_fc.weight", l), true, 0.3, 0, 4*C, C)
		add(fmt.Sprintf("h.%d.mlp.c_proj.weight", l), true, 0.15, 0, C, 4*C)
	}
	add("ln_f.weight", false, 0.1, 1, C)
	return ps
}

// NumParams reports the number of parameters of the model.
func (c GPTConfig) NumParams() int {
	ps := c.params()
	return ps[len(ps)-1].off + ps[len(ps)-1].n
}

// gptLayer holds the views of one transformer block: its weights (or their gradients) and its
// activations (or their gradients).
type gptLayer struct {
	ln1w, attnw, projw, ln2w, fcw, fcprojw nn.View

	ln1, ln1Mean, ln1Rstd nn.View // (N, C), (N), (N)
	qkv                   nn.View // (N, 3C or 2C)
	atty                  nn.View // (N, C)
	att                   nn.View // (B, NH, T, T)
	attproj, res1         nn.View // (N, C)
	ln2, ln2Mean, ln2Rstd nn.View // (N, C), (N), (N)
	fch, fchGelu          nn.View // (N, 4C)
	fcproj, res2          nn.View // (N, C)
}

// gptState is a set of weights and activations (or of their gradients), each in one allocation.
type gptState struct {
	wte, wpe, lnfw nn.View
	layers         []gptLayer

	encoded               nn.View // (N, C)
	lnf, lnfMean, lnfRstd nn.View // (N, C), (N), (N)
	logits                nn.View // (N, V)
	losses                nn.View // (N)
}

// MiniGPT is a small GPT training step (embedding, L pre-LayerNorm blocks, tied LM head,
// cross-entropy, gradient clipping, AdamW) composed only of nn.Backend ops, in the baseline or the
// query-free layout. The suite checks its loss and every parameter gradient against finite
// differences of a float64 model; backend tests also use it to count allocations per step.
// (kvgpt's model is package gpt; this is a test fixture with no training loop.)
type MiniGPT struct {
	cfg GPTConfig
	be  nn.Backend
	np  int // number of parameters

	params, grads, m, v, decay nn.View // (NumParams)
	acts, dacts                nn.View // every activation, every activation gradient
	p, g                       gptState
	tokens, targets            nn.IntView // (B, T)
	dlosses                    nn.View    // (N), every element 1/N: the loss is the mean
	norm                       nn.View    // (1)
	normHost                   []float32
}

// NewMiniGPT allocates a MiniGPT on be with parameters params (len cfg.NumParams(), nil for the
// suite's random initialisation from seed 1) and one batch of tokens and targets (B·T each).
func NewMiniGPT(be nn.Backend, cfg GPTConfig, params []float32, tokens, targets []int32) *MiniGPT {
	if cfg.C%cfg.NH != 0 {
		panic("nntest: MiniGPT C is not a multiple of NH")
	}
	np := cfg.NumParams()
	if params == nil {
		params = f32(cfg.initParams(newEnv(be, "minigpt", 1)))
	}
	g := &MiniGPT{cfg: cfg, be: be, np: np}
	g.params, g.grads, g.m, g.v, g.decay = be.Alloc(np), be.Alloc(np), be.Alloc(np), be.Alloc(np), be.Alloc(np)
	be.Upload(g.params, params)
	decay := make([]float32, np)
	for _, p := range cfg.params() {
		if p.decay {
			for i := range p.n {
				decay[p.off+i] = 1
			}
		}
	}
	be.Upload(g.decay, decay)
	na := cfg.numActs()
	g.acts, g.dacts = be.Alloc(na), be.Alloc(na)
	g.p = cfg.views(g.params, g.acts)
	g.g = cfg.views(g.grads, g.dacts)
	N := cfg.B * cfg.T
	g.tokens, g.targets = be.AllocInt(N), be.AllocInt(N)
	be.UploadInt(g.tokens, tokens)
	be.UploadInt(g.targets, targets)
	g.dlosses = be.Alloc(N)
	ones := make([]float32, N)
	for i := range ones {
		ones[i] = 1 / float32(N)
	}
	be.Upload(g.dlosses, ones)
	g.norm, g.normHost = be.Alloc(1), make([]float32, 1)
	return g
}

// initParams returns the suite's random parameters (float32 values) in the flat layout.
func (c GPTConfig) initParams(e *env) []float64 {
	x := make([]float64, c.NumParams())
	for _, p := range c.params() {
		for i := range p.n {
			x[p.off+i] = float64(float32(p.mean + p.std*e.rng.NormFloat64()))
		}
	}
	return x
}

// numActs is the size of the activation block.
func (c GPTConfig) numActs() int {
	N, C := c.B*c.T, c.C
	perLayer := 3*N*C + 2*N + N*c.qkvWidth() + c.B*c.NH*c.T*c.T + 2*N*C + 2*N + 2*N*4*C + 2*N*C
	return c.L*perLayer + N*C + N*C + 2*N + N*c.V + N
}

// views cuts a parameter block and an activation block into named views.
func (c GPTConfig) views(params, acts nn.View) gptState {
	var s gptState
	ps := c.params()
	pv := func(i int) nn.View { return params.Slice(ps[i].off, ps[i].n) }
	s.wte, s.wpe, s.lnfw = pv(0), pv(1), pv(len(ps)-1)
	off := 0
	take := func(n int) nn.View { v := acts.Slice(off, n); off += n; return v }
	N, C := c.B*c.T, c.C
	s.encoded = take(N * C)
	for l := range c.L {
		var y gptLayer
		y.ln1w, y.attnw, y.projw = pv(2+6*l), pv(3+6*l), pv(4+6*l)
		y.ln2w, y.fcw, y.fcprojw = pv(5+6*l), pv(6+6*l), pv(7+6*l)
		y.ln1, y.ln1Mean, y.ln1Rstd = take(N*C), take(N), take(N)
		y.qkv, y.atty, y.att = take(N*c.qkvWidth()), take(N*C), take(c.B*c.NH*c.T*c.T)
		y.attproj, y.res1 = take(N*C), take(N*C)
		y.ln2, y.ln2Mean, y.ln2Rstd = take(N*C), take(N), take(N)
		y.fch, y.fchGelu = take(N*4*C), take(N*4*C)
		y.fcproj, y.res2 = take(N*C), take(N*C)
		s.layers = append(s.layers, y)
	}
	s.lnf, s.lnfMean, s.lnfRstd = take(N*C), take(N), take(N)
	s.logits, s.losses = take(N*c.V), take(N)
	return s
}

// qkv returns the strided q, k, v of a layer's activations (or gradients) s and its LN1 output.
func (c GPTConfig) qkv(y gptLayer) (q, k, v nn.Strided) {
	C := c.C
	col := func(x nn.View, off, stride int) nn.Strided {
		return nn.Strided{V: x.Slice(off, x.N-off), Stride: stride}
	}
	if c.Identity {
		return col(y.ln1, 0, C), col(y.qkv, 0, 2*C), col(y.qkv, C, 2*C)
	}
	return col(y.qkv, 0, 3*C), col(y.qkv, C, 3*C), col(y.qkv, 2*C, 3*C)
}

func (c GPTConfig) scale() float32 {
	if c.Identity {
		return float32(attentionScale(modeIdentity, c.C/c.NH))
	}
	return float32(attentionScale(modeBaseline, c.C/c.NH))
}

// Forward runs the model on the batch, leaving the per-position losses in the activations.
func (g *MiniGPT) Forward() {
	be, c, p := g.be, g.cfg, g.p
	B, T, C, N := c.B, c.T, c.C, c.B*c.T
	qw := c.qkvWidth()
	scale := c.scale()
	be.EmbedForward(p.encoded, g.tokens, p.wte, p.wpe, B, T, C)
	x := p.encoded
	for _, y := range p.layers {
		be.LayerNormForward(y.ln1, y.ln1Mean, y.ln1Rstd, x, y.ln1w, N, C)
		be.MatmulForward(y.qkv, y.ln1, y.attnw, N, C, qw)
		q, k, v := c.qkv(y)
		be.AttentionForward(y.atty, y.att, q, k, v, B, T, C, c.NH, scale)
		be.MatmulForward(y.attproj, y.atty, y.projw, N, C, C)
		be.ResidualForward(y.res1, x, y.attproj, N*C)
		be.LayerNormForward(y.ln2, y.ln2Mean, y.ln2Rstd, y.res1, y.ln2w, N, C)
		be.MatmulForward(y.fch, y.ln2, y.fcw, N, C, 4*C)
		be.GELUForward(y.fchGelu, y.fch, N*4*C)
		be.MatmulForward(y.fcproj, y.fchGelu, y.fcprojw, N, 4*C, C)
		be.ResidualForward(y.res2, y.res1, y.fcproj, N*C)
		x = y.res2
	}
	be.LayerNormForward(p.lnf, p.lnfMean, p.lnfRstd, x, p.lnfw, N, C)
	be.MatmulForward(p.logits, p.lnf, p.wte, N, C, c.V) // the LM head is tied to wte
	be.CrossEntropyForward(p.losses, p.logits, g.targets, N, c.V)
}

// Backward zeroes the gradients and back-propagates the mean loss into them.
func (g *MiniGPT) Backward() {
	be, c, p, d := g.be, g.cfg, g.p, g.g
	B, T, C, N := c.B, c.T, c.C, c.B*c.T
	qw := c.qkvWidth()
	scale := c.scale()
	be.Zero(g.grads)
	be.Zero(g.dacts)
	be.CrossEntropyBackward(d.logits, g.dlosses, p.logits, g.targets, N, c.V)
	be.MatmulBackward(d.lnf, d.wte, d.logits, p.lnf, p.wte, N, C, c.V)
	last, dlast := p.encoded, d.encoded
	if c.L > 0 {
		last, dlast = p.layers[c.L-1].res2, d.layers[c.L-1].res2
	}
	be.LayerNormBackward(dlast, d.lnfw, d.lnf, last, p.lnfw, p.lnfMean, p.lnfRstd, N, C)
	for l := c.L - 1; l >= 0; l-- {
		y, dy := p.layers[l], d.layers[l]
		x, dx := p.encoded, d.encoded
		if l > 0 {
			x, dx = p.layers[l-1].res2, d.layers[l-1].res2
		}
		be.ResidualBackward(dy.res1, dy.fcproj, dy.res2, N*C)
		be.MatmulBackward(dy.fchGelu, dy.fcprojw, dy.fcproj, y.fchGelu, y.fcprojw, N, 4*C, C)
		be.GELUBackward(dy.fch, dy.fchGelu, y.fch, N*4*C)
		be.MatmulBackward(dy.ln2, dy.fcw, dy.fch, y.ln2, y.fcw, N, C, 4*C)
		be.LayerNormBackward(dy.res1, dy.ln2w, dy.ln2, y.res1, y.ln2w, y.ln2Mean, y.ln2Rstd, N, C)
		be.ResidualBackward(dx, dy.attproj, dy.res1, N*C)
		be.MatmulBackward(dy.atty, dy.projw, dy.attproj, y.atty, y.projw, N, C, C)
		q, k, v := c.qkv(y)
		dq, dk, dv := c.qkv(dy) // identity: dq is the LN1 output's gradient
		be.AttentionBackward(dq, dk, dv, dy.att, dy.atty, y.att, q, k, v, B, T, C, c.NH, scale)
		be.MatmulBackward(dy.ln1, dy.attnw, dy.qkv, y.ln1, y.attnw, N, C, qw)
		be.LayerNormBackward(dx, dy.ln1w, dy.ln1, x, y.ln1w, y.ln1Mean, y.ln1Rstd, N, C)
	}
	be.EmbedBackward(d.wte, d.wpe, d.encoded, g.tokens, B, T, C)
}

// Update clips the gradient to norm 1 and takes AdamW step t (lr 1e-3, betas (0.9, 0.95),
// weight decay 0.1 on matrices). It waits for the device to read the gradient norm.
func (g *MiniGPT) Update(t int) {
	n := g.np
	g.be.GradNorm(g.norm, g.grads, n)
	g.be.Download(g.normHost, g.norm)
	scale := float32(1)
	if norm := g.normHost[0]; norm > 1 {
		scale = 1 / norm
	}
	g.be.AdamW(g.params, g.m, g.v, g.grads, g.decay, n,
		nn.AdamWParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, GradScale: scale, Step: t})
}

// Step runs Forward, Backward and Update(t).
func (g *MiniGPT) Step(t int) {
	g.Forward()
	g.Backward()
	g.Update(t)
}

// Loss downloads the per-position losses and returns their mean.
func (g *MiniGPT) Loss() float64 {
	l := make([]float32, g.p.losses.N)
	g.be.Download(l, g.p.losses)
	var s float64
	for _, v := range l {
		s += float64(v)
	}
	return s / float64(len(l))
}

// refGPT is the float64 MiniGPT forward pass, with its activations allocated once.
type refGPT struct {
	cfg                            GPTConfig
	tokens, targets                []int32
	x, ln, mean, rstd, qkv, atty   []float64
	att, proj, res, fch, fchg, out []float64
	logits, losses                 []float64
}

func newRefGPT(cfg GPTConfig, tokens, targets []int32) *refGPT {
	N, C := cfg.B*cfg.T, cfg.C
	f := func(n int) []float64 { return make([]float64, n) }
	return &refGPT{cfg: cfg, tokens: tokens, targets: targets,
		x: f(N * C), ln: f(N * C), mean: f(N), rstd: f(N), qkv: f(N * cfg.qkvWidth()), atty: f(N * C),
		att: f(cfg.B * cfg.NH * cfg.T * cfg.T), proj: f(N * C), res: f(N * C), fch: f(N * 4 * C),
		fchg: f(N * 4 * C), out: f(N * C), logits: f(N * cfg.V), losses: f(N)}
}

// loss runs the model with parameters w and returns the mean loss.
func (r *refGPT) loss(w []float64) float64 {
	c := r.cfg
	B, T, C, N, qw := c.B, c.T, c.C, c.B*c.T, c.qkvWidth()
	ps := c.params()
	pv := func(i int) []float64 { return w[ps[i].off : ps[i].off+ps[i].n] }
	RefEmbed(r.x, r.tokens, pv(0), pv(1), B, T, C)
	for l := range c.L {
		RefLayerNorm(r.ln, r.mean, r.rstd, r.x, pv(2+6*l), N, C)
		RefMatmul(r.qkv, r.ln, pv(3+6*l), N, C, qw)
		q, k, v := Strided{r.qkv, 0, qw}, Strided{r.qkv, C, qw}, Strided{r.qkv, 2 * C, qw}
		if c.Identity {
			q, k, v = Strided{r.ln, 0, C}, Strided{r.qkv, 0, qw}, Strided{r.qkv, C, qw}
		}
		RefAttention(r.atty, r.att, q, k, v, B, T, C, c.NH, float64(c.scale()))
		RefMatmul(r.proj, r.atty, pv(4+6*l), N, C, C)
		RefResidual(r.res, r.x, r.proj)
		RefLayerNorm(r.ln, r.mean, r.rstd, r.res, pv(5+6*l), N, C)
		RefMatmul(r.fch, r.ln, pv(6+6*l), N, C, 4*C)
		RefGELU(r.fchg, r.fch)
		RefMatmul(r.proj, r.fchg, pv(7+6*l), N, 4*C, C)
		RefResidual(r.x, r.res, r.proj)
	}
	RefLayerNorm(r.ln, r.mean, r.rstd, r.x, pv(len(ps)-1), N, C)
	RefMatmul(r.logits, r.ln, pv(0), N, C, c.V)
	RefCrossEntropy(r.losses, r.logits, r.targets, N, c.V)
	var s float64
	for _, l := range r.losses {
		s += l
	}
	return s / float64(N)
}

// gptShapes are the MiniGPT shapes of the suite.
var gptShapes = []GPTConfig{
	{B: 2, T: 7, C: 12, NH: 3, V: 19, L: 1},
	{B: 1, T: 5, C: 8, NH: 2, V: 11, L: 2},
}

// tolGPT bounds a float32 gradient that went through the whole model.
var tolGPT = Tolerance{Abs: 1e-6, Rel: 1e-4}

func gptCase(cfg GPTConfig, mode string) Case {
	cfg.Identity = mode == modeIdentity
	return Case{Op: "gpt", Mode: mode, Shape: fmt.Sprintf("B=%d/T=%d/C=%d/NH=%d/V=%d/L=%d", cfg.B, cfg.T, cfg.C, cfg.NH, cfg.V, cfg.L), run: func(e *env) {
		N := cfg.B * cfg.T
		w := cfg.initParams(e)
		tokens, targets := e.tokens(N, cfg.V), e.tokens(N, cfg.V)
		g := NewMiniGPT(e.be, cfg, f32(w), tokens, targets)
		g.Forward()
		g.Backward()
		g.be.GradNorm(g.norm, g.grads, cfg.NumParams())

		ref := newRefGPT(cfg, tokens, targets)
		loss := ref.loss(w)
		e.compare("loss", []float64{g.Loss()}, []float64{loss}, tolForward)
		e.check("logits", g.p.logits, ref.logits, tolForward, N, cfg.V)
		grad := numGrad(w, func() float64 { return ref.loss(w) })
		got := e.download(g.grads)
		for _, p := range cfg.params() {
			e.compare("d "+p.name, got[p.off:p.off+p.n], grad[p.off:p.off+p.n], tolGPT, p.dims...)
		}
		e.check("grad norm", g.norm, []float64{RefNorm(grad)}, tolGPT)
		if math.IsNaN(loss) {
			panic("nntest: reference loss is NaN")
		}
	}}
}

// Params downloads the flat parameter block.
func (g *MiniGPT) Params() []float32 {
	p := make([]float32, g.params.N)
	g.be.Download(p, g.params)
	return p
}
