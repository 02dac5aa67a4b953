package gpt

import (
	"fmt"

	"github.com/kvgpt/kvgpt/nn"
)

// A Generator runs a model over a window of the latest tokens of a text, at most BlockSize of
// them, one new token at a time, and returns the logits of the window's last token after each.
//
// With its KV cache (the default) it keeps, for every layer, the keys and values of the window's
// tokens (positions 0 … n−1) and computes one new position per token: the token's embedding, its
// Q (baseline; the LN1 output itself in identity mode), K and V rows — written straight into the
// cache — and its attention against the cache (nn.Backend.AttentionDecodeForward), then the rest of
// the block for that one row. Start encodes a whole window at once (prefill: the ordinary causal
// attention over its n tokens, whose K and V rows land in the cache the same way).
//
// Positions are absolute (learned wpe), so a full window cannot shift by one: when a new token
// would make it longer than the block, the window slides to its last Keep tokens, the new one
// included, and re-encodes them from position 0 — as nanoGPT crops its context, but every
// BlockSize−Keep+1 tokens instead of at every token. With Keep = BlockSize it slides at every
// token past the block, and the tokens are those of nanoGPT's crop exactly. Memory is bounded by
// the block: the cache (L, BlockSize, 2C), the activations of BlockSize rows and the window.
//
// Without the cache (NoCache) the same windows are encoded whole for every token with
// Model.Forward: the same tokens, up to float rounding, at the cost of a forward pass of the
// window per token.
type Generator struct {
	m       *Model
	keep    int
	noCache bool

	window []int32 // the tokens at positions 0 … len−1, at most BlockSize
	logits []float32
	slides int // times the window slid since Start

	// The cached path's buffers, allocated on the first Start of any Generator of the model and
	// kept in it (Model.gen).
	g *genBuffers
}

// genBuffers are the device buffers of the cached path: one slab of activations for up to
// BlockSize rows, the cache and the window's token ids.
type genBuffers struct {
	acts   genActs
	cache  nn.View    // (L, BlockSize, 2C): each position's [K V] row, per layer
	tokens nn.IntView // (BlockSize)
}

// genActs are the cached path's activations for N ≤ BlockSize new rows, reused by every layer.
type genActs struct {
	X, X2      nn.View // (N, C) the residual stream: the block's input, then x + Attn
	LN         nn.View // (N, C) LN1, then LN2
	Mean, Rstd nn.View // (N)
	Q          nn.View // (N, C) the baseline model's queries (empty in the other modes)
	Atty       nn.View // (N, C)
	Proj       nn.View // (N, C) the attention projection, then the MLP's
	Fch, Gelu  nn.View // (N, H)
	Att        nn.View // (NH, N, N) a prefill's probabilities; (NH, T) when decoding
	LNF        nn.View // (C) the last row's final LayerNorm
	LNFStats   nn.View // (2) its mean and rstd
	Logits     nn.View // (V) the last row's logits
}

// genSizes returns the element counts of the genActs fields, in order, for T = BlockSize rows.
func genSizes(c Config) [14]int {
	T, C, H := c.BlockSize, c.NEmbd, c.Hidden()
	q := 0
	if c.QueryMode == Baseline {
		q = T * C
	}
	return [14]int{T * C, T * C, T * C, T, T, q, T * C, T * C, T * H, T * H, c.NHead * T * T, C, 2, c.VocabSize}
}

// genElems returns the element counts of the cached path's device buffers: its activations
// (logits included), the cache and the token ids.
func genElems(c Config) (acts, cache, tokens int64) {
	for _, s := range genSizes(c) {
		acts += int64(s)
	}
	return acts, int64(c.NLayer) * int64(c.BlockSize) * 2 * int64(c.NEmbd), int64(c.BlockSize)
}

// DefaultKeep returns the tokens a window of a model of block size T keeps when it slides, when
// SampleConfig.Keep is 0: half the block (at least 1).
func DefaultKeep(T int) int { return max(1, T/2) }

// NewGenerator returns a generator of m whose window keeps its last keep tokens when it slides
// (0: DefaultKeep; 1 ≤ keep ≤ BlockSize), with the KV cache or, if noCache, without it.
func (m *Model) NewGenerator(keep int, noCache bool) (*Generator, error) {
	T := m.Config.BlockSize
	if keep == 0 {
		keep = DefaultKeep(T)
	}
	if keep < 1 || keep > T {
		return nil, fmt.Errorf("gpt: keep must be between 1 and the block size %d (0: half of it), got %d", T, keep)
	}
	if err := m.Config.checkBatch(1, T); err != nil {
		return nil, err
	}
	return &Generator{m: m, keep: keep, noCache: noCache, logits: make([]float32, m.Config.VocabSize)}, nil
}

// Keep returns the tokens the window keeps when it slides.
func (g *Generator) Keep() int { return g.keep }

// Window returns the tokens of the window, oldest first (a view: valid until the next Start or
// Next).
func (g *Generator) Window() []int32 { return g.window }

// Slides returns how many times the window slid since the last Start.
func (g *Generator) Slides() int { return g.slides }

// Start makes the last BlockSize tokens of context (at least one) the window, encodes them and
// returns the logits of the last (V; the slice is the generator's, valid until the next call).
// A backend that cannot allocate the generator's buffers (nn.AllocError) makes it return that
// error.
func (g *Generator) Start(context []int32) (_ []float32, err error) {
	if len(context) == 0 {
		return nil, fmt.Errorf("gpt: generation needs at least one token of context")
	}
	if err := g.m.checkTokens("context", context); err != nil {
		return nil, err
	}
	T := g.m.Config.BlockSize
	context = context[max(0, len(context)-T):]
	if cap(g.window) < T {
		g.window = make([]int32, 0, T)
	}
	g.window = append(g.window[:0], context...)
	g.slides = 0
	return g.encode()
}

// Next appends tok to the window — sliding it to its last Keep tokens first if it is full — and
// returns the logits of tok (as Start).
func (g *Generator) Next(tok int32) (_ []float32, err error) {
	if len(g.window) == 0 {
		return nil, fmt.Errorf("gpt: Generator.Next before Start")
	}
	if err := g.m.checkTokens("token", []int32{tok}); err != nil {
		return nil, err
	}
	if len(g.window) == g.m.Config.BlockSize { // full: keep the last keep tokens, tok included
		n := copy(g.window, g.window[len(g.window)-(g.keep-1):])
		g.window = append(g.window[:n], tok)
		g.slides++
		return g.encode()
	}
	g.window = append(g.window, tok)
	if g.noCache {
		return g.encode()
	}
	defer nn.RecoverAllocError(&err, "gpt: the generator's buffers do not fit")
	b := g.m.b
	b.UploadInt(g.g.tokens.Slice(0, 1), g.window[len(g.window)-1:])
	g.forwardRows(1, len(g.window)-1)
	return g.download()
}

// encode runs the whole window from position 0 and returns its last token's logits.
func (g *Generator) encode() (_ []float32, err error) {
	m, n := g.m, len(g.window)
	if g.noCache {
		if _, err := m.Forward(g.window, nil, 1, n); err != nil {
			return nil, err
		}
		V := m.Config.VocabSize
		m.b.Download(g.logits, m.lastAct.Logits.Slice((n-1)*V, V))
		return g.logits, m.b.Sync()
	}
	defer nn.RecoverAllocError(&err, "gpt: the generator's buffers do not fit")
	g.buffers()
	m.b.UploadInt(g.g.tokens.Slice(0, n), g.window)
	g.forwardRows(n, 0)
	return g.download()
}

// download copies the last row's logits to the host and reports the device's errors.
func (g *Generator) download() ([]float32, error) {
	g.m.b.Download(g.logits, g.g.acts.Logits)
	return g.logits, g.m.b.Sync()
}

// buffers allocates the cached path's buffers once per model.
func (g *Generator) buffers() {
	m := g.m
	if m.gen == nil {
		c, b := m.Config, m.b
		s := genSizes(c)
		n := 0
		for _, x := range s {
			n += x
		}
		slab := b.Alloc(n)
		var v [14]nn.View
		off := 0
		for i, x := range s {
			v[i] = slab.Slice(off, x)
			off += x
		}
		gb := &genBuffers{
			acts: genActs{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13]},
		}
		gb.cache = b.Alloc(c.NLayer * c.BlockSize * 2 * c.NEmbd)
		gb.tokens = b.AllocInt(c.BlockSize)
		m.gen = gb
	}
	g.g = m.gen
}

// forwardRows runs the model on the N tokens at positions pos0 … pos0+N−1 of the window (their
// ids in the first N elements of the token buffer), writing their K and V rows into the cache,
// and leaves the logits of the last in acts.Logits. Either the rows are the whole window (pos0 =
// 0: causal attention over them) or one new row (N = 1: attention against the cache's pos0+1
// rows).
func (g *Generator) forwardRows(N, pos0 int) {
	m, b, p, a := g.m, g.m.b, g.m.Params, g.g.acts
	cfg := m.Config
	C, L, NH, H, V, QC, T := cfg.NEmbd, cfg.NLayer, cfg.NHead, cfg.Hidden(), cfg.VocabSize, cfg.QKVWidth(), cfg.BlockSize
	rows := func(v nn.View, w int) nn.View { return v.Slice(0, N*w) }
	x, x2, ln, atty, proj := rows(a.X, C), rows(a.X2, C), rows(a.LN, C), rows(a.Atty, C), rows(a.Proj, C)
	mean, rstd, fch, gelu := rows(a.Mean, 1), rows(a.Rstd, 1), rows(a.Fch, H), rows(a.Gelu, H)
	n := pos0 + N // positions in the cache after this call

	b.EmbedForward(x, g.g.tokens.Slice(0, N), p.Wte, p.Wpe.Slice(pos0*C, N*C), 1, N, C)
	for l := range L {
		attnw := p.AttnW.Slice(l*QC*C, QC*C)
		cache := g.g.cache.Slice(l*T*2*C, T*2*C) // (T, 2C) rows [K V]
		kv := cache.Slice(pos0*2*C, N*2*C)

		b.LayerNormForward(ln, mean, rstd, x, p.LN1W.Slice(l*C, C), N, C)
		q, scale := ln, cfg.Scale()
		if cfg.QueryMode == Baseline { // W_attn rows [Q K V]: Q into acts.Q, K and V into the cache
			q = rows(a.Q, C)
			b.MatmulForward(q, ln, attnw.Slice(0, C*C), N, C, C)
			b.MatmulForward(kv, ln, attnw.Slice(C*C, 2*C*C), N, C, 2*C)
		} else { // W_attn rows [K V]; the query is LN1's output, or Residual's Q2 = 2·Q of it
			b.MatmulForward(kv, ln, attnw, N, C, 2*C)
		}
		if cfg.QueryMode == Residual {
			q, scale = m.residualQueryForward(l, ln, 1, N).V, scale/2
		}
		k := nn.Strided{V: cache.Slice(0, (n-1)*2*C+C), Stride: 2 * C}
		v := nn.Strided{V: cache.Slice(C, (n-1)*2*C+C), Stride: 2 * C}
		if N == 1 {
			b.AttentionDecodeForward(atty, a.Att.Slice(0, NH*n), q.Slice(0, C), k, v, n, C, NH, scale)
		} else {
			b.AttentionForward(atty, a.Att.Slice(0, NH*N*N), nn.Strided{V: q, Stride: C}, k, v, 1, N, C, NH, scale)
		}
		b.MatmulForward(proj, atty, p.AttProjW.Slice(l*C*C, C*C), N, C, C)
		b.ResidualForward(x2, x, proj, N*C)
		b.LayerNormForward(ln, mean, rstd, x2, p.LN2W.Slice(l*C, C), N, C)
		b.MatmulForward(fch, ln, p.FcW.Slice(l*H*C, H*C), N, C, H)
		b.GELUForward(gelu, fch, N*H)
		b.MatmulForward(proj, gelu, p.FcProjW.Slice(l*C*H, C*H), N, H, C)
		b.ResidualForward(x, x2, proj, N*C)
	}
	// Only the last row's logits are needed: the final LayerNorm and the LM head on one row.
	b.LayerNormForward(a.LNF, a.LNFStats.Slice(0, 1), a.LNFStats.Slice(1, 1), x.Slice((N-1)*C, C), p.LNFW, 1, C)
	b.MatmulForward(a.Logits, a.LNF, p.Wte, 1, C, V)
}
