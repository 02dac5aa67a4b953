package nn

// EmbedForward: out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]. It panics if a token is not in [0, V),
// V = wte.N / C.
//
//	out (B, T, C), tokens (B, T), wte (V, C), wpe (≥T, C)
func (c *CPU) EmbedForward(out View, tokens IntView, wte, wpe View, B, T, C int) {
	checkSizes("nn: EmbedForward negative size", B, T, C)
	j := &c.emb
	*j = embedJob{T: T, C: C}
	j.out = c.need(out, B*T*C, "nn: EmbedForward out too short")
	j.tokens = c.needInt(tokens, B*T, "nn: EmbedForward tokens too short")
	j.wte = c.f32(wte)
	j.wpe = c.need(wpe, T*C, "nn: EmbedForward wpe too short")
	checkTokens(j.tokens, wte.N, C, "nn: EmbedForward token out of range")
	c.pool.run(j, B*T, c.pool.grainFor(B*T, 16))
	*j = embedJob{}
}

// EmbedBackward accumulates dwte[tokens[b,t],:] += dout[b,t,:] and dwpe[t,:] += dout[b,t,:]. Each
// worker owns a range of channels and adds the rows in (b, t) order, so the result does not depend
// on the number of threads.
//
//	dwte (V, C), dwpe (≥T, C), dout (B, T, C), tokens (B, T)
func (c *CPU) EmbedBackward(dwte, dwpe View, dout View, tokens IntView, B, T, C int) {
	checkSizes("nn: EmbedBackward negative size", B, T, C)
	j := &c.embw
	*j = embedDWJob{B: B, T: T, C: C}
	j.dwte = c.f32(dwte)
	j.dwpe = c.need(dwpe, T*C, "nn: EmbedBackward dwpe too short")
	j.dout = c.need(dout, B*T*C, "nn: EmbedBackward dout too short")
	j.tokens = c.needInt(tokens, B*T, "nn: EmbedBackward tokens too short")
	checkTokens(j.tokens, dwte.N, C, "nn: EmbedBackward token out of range")
	c.pool.run(j, C, c.pool.grainFor(C, 8))
	*j = embedDWJob{}
}

// checkTokens panics with msg unless every token indexes a row of a (n/C, C) table.
func checkTokens(tokens []int32, n, C int, msg string) {
	if C == 0 {
		return
	}
	V := n / C
	for _, tok := range tokens {
		if tok < 0 || int(tok) >= V {
			panic(msg)
		}
	}
}

// embedJob is an embedding forward; items are (b, t) rows.
type embedJob struct {
	T, C          int
	out, wte, wpe []float32
	tokens        []int32
}

func (j *embedJob) run(lo, hi int) {
	C := j.C
	for r := lo; r < hi; r++ {
		t, tok := r%j.T, int(j.tokens[r])
		out := j.out[r*C : (r+1)*C]
		te := j.wte[tok*C : (tok+1)*C]
		pe := j.wpe[t*C : (t+1)*C]
		for i := range out {
			out[i] = te[i] + pe[i]
		}
	}
}

// embedDWJob is an embedding backward; items are channels.
type embedDWJob struct {
	B, T, C          int
	dwte, dwpe, dout []float32
	tokens           []int32
}

func (j *embedDWJob) run(lo, hi int) {
	C := j.C
	for r := range j.B * j.T {
		t, tok := r%j.T, int(j.tokens[r])
		dy := j.dout[r*C+lo : r*C+hi]
		dte := j.dwte[tok*C+lo : tok*C+hi]
		dpe := j.dwpe[t*C+lo : t*C+hi]
		for i, d := range dy {
			dte[i] += d
			dpe[i] += d
		}
	}
}
