package nn

// layerNormEps is the ε of every LayerNorm: rstd = 1/√(var + ε).
const layerNormEps = 1e-5

// LayerNormForward normalises each row (weight only, no bias) and saves mean and rstd.
//
//	out (N, C), mean (N), rstd (N), in (N, C), w (C)
func (c *CPU) LayerNormForward(out, mean, rstd View, in, w View, N, C int) {
	checkSizes("nn: LayerNormForward negative size", N, C)
	j := &c.ln
	*j = layerNormJob{C: C, k: c.kernels}
	j.out = c.need(out, N*C, "nn: LayerNormForward out too short")
	j.mean = c.need(mean, N, "nn: LayerNormForward mean too short")
	j.rstd = c.need(rstd, N, "nn: LayerNormForward rstd too short")
	j.in = c.need(in, N*C, "nn: LayerNormForward in too short")
	j.w = c.need(w, C, "nn: LayerNormForward w too short")
	c.pool.run(j, N, c.pool.grainFor(N, 4))
	*j = layerNormJob{}
}

// LayerNormBackward accumulates din and dw: din in parallel over rows, then dw in parallel over
// channel ranges (each channel sums its rows in order, so the result does not depend on threads).
//
//	din (N, C), dw (C), dout (N, C), in (N, C), w (C), mean (N), rstd (N)
func (c *CPU) LayerNormBackward(din, dw View, dout, in, w, mean, rstd View, N, C int) {
	checkSizes("nn: LayerNormBackward negative size", N, C)
	j := &c.ln
	*j = layerNormJob{C: C, backward: true, k: c.kernels}
	j.din = c.need(din, N*C, "nn: LayerNormBackward din too short")
	j.dout = c.need(dout, N*C, "nn: LayerNormBackward dout too short")
	j.in = c.need(in, N*C, "nn: LayerNormBackward in too short")
	j.w = c.need(w, C, "nn: LayerNormBackward w too short")
	j.mean = c.need(mean, N, "nn: LayerNormBackward mean too short")
	j.rstd = c.need(rstd, N, "nn: LayerNormBackward rstd too short")
	c.pool.run(j, N, c.pool.grainFor(N, 4))

	k := &c.lnw
	*k = layerNormDWJob{N: N, C: C, k: c.kernels, dw: c.need(dw, C, "nn: LayerNormBackward dw too short"),
		dout: j.dout, in: j.in, mean: j.mean, rstd: j.rstd}
	c.pool.run(k, C, c.pool.grainFor(C, 16))
	*j, *k = layerNormJob{}, layerNormDWJob{}
}

// layerNormJob is a LayerNorm forward or the din part of its backward; items are rows.
type layerNormJob struct {
	C        int
	backward bool
	k        Kernels

	out, mean, rstd, in, w []float32
	din, dout              []float32
}

func (j *layerNormJob) run(lo, hi int) {
	C := j.C
	if j.backward {
		j.k.LayerNormBackward(j.din[lo*C:hi*C], j.dout[lo*C:hi*C], j.in[lo*C:hi*C], j.w[:C], j.mean[lo:hi], j.rstd[lo:hi], C)
	} else {
		j.k.LayerNormForward(j.out[lo*C:hi*C], j.mean[lo:hi], j.rstd[lo:hi], j.in[lo*C:hi*C], j.w[:C], C)
	}
}

// layerNormDWJob accumulates dw[i] += Σ_r dout[r, i]·n[r, i]; items are channels.
type layerNormDWJob struct {
	N, C                     int
	k                        Kernels
	dw, dout, in, mean, rstd []float32
}

func (j *layerNormDWJob) run(lo, hi int) {
	C := j.C
	j.k.LayerNormDW(j.dw[lo:hi], j.dout[:j.N*C], j.in[:j.N*C], j.mean[:j.N], j.rstd[:j.N], C, lo)
}
