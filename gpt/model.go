package gpt

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/kvgpt/kvgpt/nn"
)

// Model is a GPT on a Backend: the parameters, their gradients, the AdamW moments and the decay
// mask, each one flat allocation of NumParams elements with named views, plus the activations of
// the last forward pass and their gradients.
type Model struct {
	Config Config

	b nn.Backend

	params nn.View // (P) all parameters, views in Params
	grads  nn.View // (P) gradients, views in Grads
	m, v   nn.View // (P) AdamW first and second moments
	decay  nn.View // (P) 1 where weight decay applies (rank ≥ 2 tensors), 0 elsewhere

	Params ParamViews
	Grads  ParamViews

	acts, dacts nn.View    // activation and activation-gradient slabs (capacity)
	inputs      nn.IntView // (B, T) tokens of the public Forward (capacity)
	targets     nn.IntView // (B, T)
	dlosses     nn.View    // (B, T) filled with dlossValue
	dlossValue  float32

	// shape of the last forward pass, and whether it had targets
	lastB, lastT int
	lastAct      ActViews
	lastInputs   nn.IntView
	lastTargets  nn.IntView
	haveTargets  bool

	rq residualState // Residual mode only

	gen *genBuffers // the generators' KV cache and activations, on first use
}

// New allocates a model of configuration cfg on backend b and initialises it as nanoGPT does,
// from a random stream seeded by seed: every matrix and embedding N(0, 0.02), the two residual
// output projections (attn.c_proj, mlp.c_proj) N(0, 0.02/√(2L)), LayerNorm weights 1.
//
// A backend that cannot allocate the model (nn.AllocError) makes New return that error.
func New(cfg Config, b nn.Backend, seed uint64) (_ *Model, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if b == nil {
		return nil, errors.New("gpt: nil backend")
	}
	P := cfg.NumParams()
	defer nn.RecoverAllocError(&err, "gpt: the model's weights, gradients and AdamW state (5 × %d floats) do not fit", P)
	m := &Model{Config: cfg, b: b}
	if err := m.initResidual(); err != nil {
		return nil, err
	}
	m.params = b.Alloc(P)
	m.grads = b.Alloc(P)
	m.m = b.Alloc(P)
	m.v = b.Alloc(P)
	m.decay = b.Alloc(P)
	m.Params = newParamViews(cfg, m.params)
	m.Grads = newParamViews(cfg, m.grads)

	host := make([]float32, P)
	mask := make([]float32, P)
	rng := rand.New(rand.NewPCG(seed, 0x6b766770742d696e)) // "kvgpt-in"
	projStd := 0.02 / math.Sqrt(2*float64(cfg.NLayer))
	for _, t := range tensors(cfg, m.Params) {
		dst := host[t.View.Off-m.params.Off:][:t.Len()]
		if len(t.Shape) == 1 { // LayerNorm weight: ones, no decay
			for i := range dst {
				dst[i] = 1
			}
			continue
		}
		std := 0.02
		if isOutputProjection(t.Name) {
			std = projStd
		}
		for i := range dst {
			dst[i] = float32(rng.NormFloat64() * std)
		}
		dmask := mask[t.View.Off-m.params.Off:][:t.Len()]
		for i := range dmask {
			dmask[i] = 1
		}
	}
	b.Upload(m.params, host)
	b.Upload(m.decay, mask)
	return m, nil
}

// Backend returns the backend the model runs on.
func (m *Model) Backend() nn.Backend { return m.b }

// NumParams returns the number of parameters.
func (m *Model) NumParams() int { return m.params.N }

// ParamTensors lists the parameters as nanoGPT-named views (see the package documentation).
func (m *Model) ParamTensors() []Tensor { return tensors(m.Config, m.Params) }

// GradTensors lists the gradients with the same names and shapes as ParamTensors.
func (m *Model) GradTensors() []Tensor { return tensors(m.Config, m.Grads) }

func (m *Model) find(ts []Tensor, name string) (Tensor, error) {
	for _, t := range ts {
		if t.Name == name {
			return t, nil
		}
	}
	return Tensor{}, fmt.Errorf("gpt: no tensor named %q", name)
}

// Param downloads the parameter tensor with the given nanoGPT name.
func (m *Model) Param(name string) ([]float32, error) {
	t, err := m.find(m.ParamTensors(), name)
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.Len())
	m.b.Download(out, t.View)
	return out, nil
}

// Grad downloads the gradient of the parameter with the given nanoGPT name.
func (m *Model) Grad(name string) ([]float32, error) {
	t, err := m.find(m.GradTensors(), name)
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.Len())
	m.b.Download(out, t.View)
	return out, nil
}

// SetParam uploads data into the parameter tensor with the given nanoGPT name.
func (m *Model) SetParam(name string, data []float32) error {
	t, err := m.find(m.ParamTensors(), name)
	if err != nil {
		return err
	}
	if len(data) != t.Len() {
		return fmt.Errorf("gpt: %s has %d elements (shape %v), got %d", name, t.Len(), t.Shape, len(data))
	}
	m.b.Upload(t.View, data)
	return nil
}

// ZeroGrad sets every parameter gradient to 0. Backward accumulates into the gradients, so call it
// before the first micro-batch of a step.
func (m *Model) ZeroGrad() { m.b.Zero(m.grads) }

// ensureActs makes the activation slab large enough for a B×T micro-batch and returns its views.
func (m *Model) ensureActs(B, T int) ActViews {
	need := numActs(m.Config, B, T)
	if m.acts.N < need {
		m.acts = m.b.Alloc(max(need, actsCap(m.Config, B)))
	}
	return newActViews(m.Config, m.acts, B, T)
}

// ensureGradActs makes the activation-gradient slab large enough for a B×T micro-batch and
// returns its (one-layer) views.
func (m *Model) ensureGradActs(B, T int) ActViews {
	gc := gradActConfig(m.Config)
	need := numActs(gc, B, T)
	if m.dacts.N < need {
		m.dacts = m.b.Alloc(max(need, gradActsCap(m.Config, B)))
	}
	return newActViews(gc, m.dacts, B, T)
}

// zeroSpan zeroes the gradient slab from the start of view first to the end of view last.
func (m *Model) zeroSpan(first, last nn.View) {
	m.b.Zero(m.dacts.Slice(first.Off-m.dacts.Off, last.Off+last.N-first.Off))
}

// ensureTokens makes the token buffers of the public Forward hold a B×T micro-batch.
func (m *Model) ensureTokens(B, T int) {
	if n := B * T; m.inputs.N < n {
		c := max(n, tokensCap(m.Config, B))
		m.inputs, m.targets = m.b.AllocInt(c), m.b.AllocInt(c) // both or neither, if Alloc panics
	}
}

// checkTokens reports the first token outside [0, V).
func (m *Model) checkTokens(what string, toks []int32) error {
	for i, t := range toks {
		if t < 0 || int(t) >= m.Config.VocabSize {
			return fmt.Errorf("gpt: %s[%d] = %d is outside the vocabulary [0, %d)", what, i, t, m.Config.VocabSize)
		}
	}
	return nil
}

// Forward runs the model on B sequences of T tokens (inputs, row-major (B, T)) and returns the
// mean cross-entropy loss against targets (B, T), in nats per token. With targets nil it computes
// the logits only and returns 0. Logits returns the logits afterwards; Backward the gradients.
// A backend that cannot allocate the activations (nn.AllocError) makes Forward return that error.
func (m *Model) Forward(inputs, targets []int32, B, T int) (_ float32, err error) {
	if B < 1 || T < 1 || T > m.Config.BlockSize {
		return 0, fmt.Errorf("gpt: forward needs B ≥ 1 and 1 ≤ T ≤ block size %d, got B=%d T=%d", m.Config.BlockSize, B, T)
	}
	if err := m.Config.checkBatch(B, T); err != nil {
		return 0, err
	}
	if len(inputs) != B*T || (targets != nil && len(targets) != B*T) {
		return 0, fmt.Errorf("gpt: forward with B=%d T=%d needs %d inputs and targets, got %d and %d", B, T, B*T, len(inputs), len(targets))
	}
	if err := m.checkTokens("inputs", inputs); err != nil {
		return 0, err
	}
	if err := m.checkTokens("targets", targets); err != nil {
		return 0, err
	}
	defer nn.RecoverAllocError(&err, "gpt: the activations of a forward pass of B=%d × T=%d tokens do not fit", B, T)
	m.ensureTokens(B, T)
	in, tg := m.inputs.Slice(0, B*T), m.targets.Slice(0, B*T)
	m.b.UploadInt(in, inputs)
	if targets == nil {
		m.forward(in, nn.IntView{}, nn.View{}, B, T)
		return 0, m.b.Sync()
	}
	m.b.UploadInt(tg, targets)
	a := m.ensureActs(B, T)
	m.forward(in, tg, a.Losses, B, T)
	losses := make([]float32, B*T)
	m.b.Download(losses, a.Losses) // waits for the device
	if err := m.b.Sync(); err != nil {
		return 0, err
	}
	return meanLoss(losses), nil
}

// meanLoss returns the mean of losses, summed in float64.
func meanLoss(losses []float32) float32 {
	s := 0.0
	for _, l := range losses {
		s += float64(l)
	}
	return float32(s / float64(len(losses)))
}

// Backward accumulates into the parameter gradients the gradient of the mean loss of the last
// Forward (which must have had targets). It does not zero them first: see ZeroGrad. A backend
// that cannot allocate the activation gradients (nn.AllocError) makes Backward return that error.
func (m *Model) Backward() (err error) {
	if !m.haveTargets {
		return errors.New("gpt: Backward needs a Forward with targets first")
	}
	defer nn.RecoverAllocError(&err, "gpt: the activation gradients of B=%d × T=%d tokens do not fit", m.lastB, m.lastT)
	m.backward(1/float32(m.lastB*m.lastT), m.lastB, m.lastT)
	return m.b.Sync()
}

// Logits downloads the (B, T, V) logits of the last Forward.
func (m *Model) Logits() []float32 {
	if m.lastB == 0 {
		return nil
	}
	out := make([]float32, m.lastAct.Logits.N)
	m.b.Download(out, m.lastAct.Logits)
	return out
}

// forward runs the model on a B×T micro-batch of token ids already on the device. With targets
// non-empty it writes the per-token losses (B, T) into losses (which need not lie in the
// activation slab).
func (m *Model) forward(inputs, targets nn.IntView, losses nn.View, B, T int) {
	cfg, b, p := m.Config, m.b, m.Params
	C, L, NH, H, V, QC := cfg.NEmbd, cfg.NLayer, cfg.NHead, cfg.Hidden(), cfg.VocabSize, cfg.QKVWidth()
	N := B * T
	a := m.ensureActs(B, T)
	m.lastB, m.lastT, m.lastAct, m.lastInputs, m.lastTargets = B, T, a, inputs, targets
	m.haveTargets = targets.N > 0

	b.EmbedForward(a.Encoded, inputs, p.Wte, p.Wpe, B, T, C)
	residual := a.Encoded // (B, T, C)
	for l := range L {
		ln1w := p.LN1W.Slice(l*C, C)
		attnw := p.AttnW.Slice(l*QC*C, QC*C)
		attprojw := p.AttProjW.Slice(l*C*C, C*C)
		ln2w := p.LN2W.Slice(l*C, C)
		fcw := p.FcW.Slice(l*H*C, H*C)
		fcprojw := p.FcProjW.Slice(l*C*H, C*H)

		ln1 := a.LN1.Slice(l*N*C, N*C)
		ln1Mean, ln1Rstd := a.LN1Mean.Slice(l*N, N), a.LN1Rstd.Slice(l*N, N)
		qkv := a.QKV.Slice(l*N*QC, N*QC)
		atty := a.Atty.Slice(l*N*C, N*C)
		att := a.Att.Slice(l*B*NH*T*T, B*NH*T*T)
		attproj := a.AttProj.Slice(l*N*C, N*C)
		residual2 := a.Residual2.Slice(l*N*C, N*C)
		ln2 := a.LN2.Slice(l*N*C, N*C)
		ln2Mean, ln2Rstd := a.LN2Mean.Slice(l*N, N), a.LN2Rstd.Slice(l*N, N)
		fch := a.Fch.Slice(l*N*H, N*H)
		fchGelu := a.FchGelu.Slice(l*N*H, N*H)
		fcproj := a.FcProj.Slice(l*N*C, N*C)
		residual3 := a.Residual3.Slice(l*N*C, N*C)

		b.LayerNormForward(ln1, ln1Mean, ln1Rstd, residual, ln1w, N, C)
		b.MatmulForward(qkv, ln1, attnw, N, C, QC)
		q, k, v := m.qkv(ln1, qkv)
		scale := cfg.Scale()
		if cfg.QueryMode == Residual {
			q, scale = m.residualQueryForward(l, ln1, B, T), scale/2 // q = 2·Q
		}
		b.AttentionForward(atty, att, q, k, v, B, T, C, NH, scale)
		b.MatmulForward(attproj, atty, attprojw, N, C, C)
		b.ResidualForward(residual2, residual, attproj, N*C)
		b.LayerNormForward(ln2, ln2Mean, ln2Rstd, residual2, ln2w, N, C)
		b.MatmulForward(fch, ln2, fcw, N, C, H)
		b.GELUForward(fchGelu, fch, N*H)
		b.MatmulForward(fcproj, fchGelu, fcprojw, N, H, C)
		b.ResidualForward(residual3, residual2, fcproj, N*C)
		residual = residual3
	}
	b.LayerNormForward(a.LNF, a.LNFMean, a.LNFRstd, residual, p.LNFW, N, C)
	b.MatmulForward(a.Logits, a.LNF, p.Wte, N, C, V) // tied LM head: logits = lnf·wteᵀ
	if m.haveTargets {
		b.CrossEntropyForward(losses, a.Logits, targets, N, V)
	}
}

// qkv returns the query, key and value operands of the attention op for one layer: in Baseline
// mode three column slices of the (N, 3C) QKV activation; in Identity mode the (N, C) LN1 output
// itself as q and two column slices of the (N, 2C) KV activation as k and v. The same call
// returns the matching gradient operands when given dln1 and dqkv.
func (m *Model) qkv(ln1, qkv nn.View) (q, k, v nn.Strided) {
	C, QC := m.Config.NEmbd, m.Config.QKVWidth()
	col := func(c int) nn.Strided { return nn.Strided{V: qkv.Slice(c, qkv.N-c), Stride: QC} }
	if m.Config.QueryMode != Baseline { // Identity; Residual replaces q afterwards
		return nn.Strided{V: ln1, Stride: C}, col(0), col(C)
	}
	return col(0), col(C), col(2 * C)
}

// setDLoss fills the first n elements of the dlosses buffer with value.
func (m *Model) setDLoss(value float32, n int) nn.View {
	if m.dlosses.N < n {
		m.dlosses = m.b.Alloc(n)
		m.dlossValue = float32(math.NaN())
	}
	if m.dlossValue != value {
		host := make([]float32, m.dlosses.N)
		for i := range host {
			host[i] = value
		}
		m.b.Upload(m.dlosses, host)
		m.dlossValue = value
	}
	return m.dlosses.Slice(0, n)
}

// backward accumulates into the parameter gradients the gradient of dloss·Σ losses of the last
// forward pass (dloss = 1/(B·T·accumulation steps) for a mean over a whole step).
func (m *Model) backward(dloss float32, B, T int) {
	cfg, b, p, g := m.Config, m.b, m.Params, m.Grads
	C, L, NH, H, V, QC := cfg.NEmbd, cfg.NLayer, cfg.NHead, cfg.Hidden(), cfg.VocabSize, cfg.QKVWidth()
	N := B * T
	a := m.lastAct
	// Every gradient accumulates, so each buffer is zeroed before its first use. The gradient
	// buffers hold one layer (d.LN1 … d.FcProj, the attention scratch d.Att): each layer's backward
	// reuses them, which keeps them in cache and the slab small. The residual stream's gradient
	// alternates between two buffers: layer l reads its output's gradient from stream[l%2] and
	// accumulates its input's into stream[(l+1)%2], where layer l−1 finds it (d.Encoded, for the
	// embedding, after layer 0).
	d := m.ensureGradActs(B, T)
	stream := [2]nn.View{d.Residual3, d.Encoded}
	m.zeroSpan(d.LNF, d.Logits)

	dlosses := m.setDLoss(dloss, N)
	b.CrossEntropyBackward(d.Logits, dlosses, a.Logits, m.lastTargets, N, V)
	b.MatmulBackward(d.LNF, g.Wte, d.Logits, a.LNF, p.Wte, N, C, V)
	last, dlast := a.Encoded, d.Encoded
	if L > 0 {
		last, dlast = a.Residual3.Slice((L-1)*N*C, N*C), stream[(L-1)%2]
	}
	b.Zero(dlast)
	b.LayerNormBackward(dlast, g.LNFW, d.LNF, last, p.LNFW, a.LNFMean, a.LNFRstd, N, C)

	for l := L - 1; l >= 0; l-- {
		residual := a.Encoded
		if l > 0 {
			residual = a.Residual3.Slice((l-1)*N*C, N*C)
		}
		dresidual3, dresidual := stream[l%2], stream[(l+1)%2]
		b.Zero(dresidual)
		m.zeroSpan(d.LN1, d.Atty) // d.Att is scratch: no zeroing
		m.zeroSpan(d.AttProj, d.FcProj)

		ln1w, dln1w := p.LN1W.Slice(l*C, C), g.LN1W.Slice(l*C, C)
		attnw, dattnw := p.AttnW.Slice(l*QC*C, QC*C), g.AttnW.Slice(l*QC*C, QC*C)
		attprojw, dattprojw := p.AttProjW.Slice(l*C*C, C*C), g.AttProjW.Slice(l*C*C, C*C)
		ln2w, dln2w := p.LN2W.Slice(l*C, C), g.LN2W.Slice(l*C, C)
		fcw, dfcw := p.FcW.Slice(l*H*C, H*C), g.FcW.Slice(l*H*C, H*C)
		fcprojw, dfcprojw := p.FcProjW.Slice(l*C*H, C*H), g.FcProjW.Slice(l*C*H, C*H)

		ln1, dln1 := a.LN1.Slice(l*N*C, N*C), d.LN1
		ln1Mean, ln1Rstd := a.LN1Mean.Slice(l*N, N), a.LN1Rstd.Slice(l*N, N)
		qkv, dqkv := a.QKV.Slice(l*N*QC, N*QC), d.QKV
		atty, datty := a.Atty.Slice(l*N*C, N*C), d.Atty
		att, datt := a.Att.Slice(l*B*NH*T*T, B*NH*T*T), d.Att
		dattproj := d.AttProj
		residual2, dresidual2 := a.Residual2.Slice(l*N*C, N*C), d.Residual2
		ln2, dln2 := a.LN2.Slice(l*N*C, N*C), d.LN2
		ln2Mean, ln2Rstd := a.LN2Mean.Slice(l*N, N), a.LN2Rstd.Slice(l*N, N)
		fch, dfch := a.Fch.Slice(l*N*H, N*H), d.Fch
		fchGelu, dfchGelu := a.FchGelu.Slice(l*N*H, N*H), d.FchGelu
		dfcproj := d.FcProj

		// x3 = x2 + MLP(LN2(x2))
		b.ResidualBackward(dresidual2, dfcproj, dresidual3, N*C)
		b.MatmulBackward(dfchGelu, dfcprojw, dfcproj, fchGelu, fcprojw, N, H, C)
		b.GELUBackward(dfch, dfchGelu, fch, N*H)
		b.MatmulBackward(dln2, dfcw, dfch, ln2, fcw, N, C, H)
		b.LayerNormBackward(dresidual2, dln2w, dln2, residual2, ln2w, ln2Mean, ln2Rstd, N, C)
		// x2 = x + Attn(LN1(x))
		b.ResidualBackward(dresidual, dattproj, dresidual2, N*C)
		b.MatmulBackward(datty, dattprojw, dattproj, atty, attprojw, N, C, C)
		q, k, v := m.qkv(ln1, qkv)
		dq, dk, dv := m.qkv(dln1, dqkv) // Identity: dq is dln1 itself, so it accumulates there
		scale := cfg.Scale()
		if cfg.QueryMode == Residual {
			q, dq = m.residualQueryOperands(l, B, T)
			scale /= 2
		}
		b.AttentionBackward(dq, dk, dv, datt, datty, att, q, k, v, B, T, C, NH, scale)
		if cfg.QueryMode == Residual {
			m.residualQueryBackward(l, ln1, dln1, B, T)
		}
		b.MatmulBackward(dln1, dattnw, dqkv, ln1, attnw, N, C, QC)
		b.LayerNormBackward(dresidual, dln1w, dln1, residual, ln1w, ln1Mean, ln1Rstd, N, C)
	}
	b.EmbedBackward(g.Wte, g.Wpe, d.Encoded, m.lastInputs, B, T, C)
}
