package nn

import "math"

// LayerNormForward normalises the len(mean) rows of in (C each) with weight w (no bias): with
// the row's mean m and rstd s = 1/√(var + layerNormEps), out = (in − m)·s·w. Sums run in order,
// in float32.
func (GoKernels) LayerNormForward(out, mean, rstd, in, w []float32, C int) {
	for r := range mean {
		x := in[r*C : (r+1)*C]
		var m float32
		for _, v := range x {
			m += v
		}
		m /= float32(C)
		var vr float32
		for _, v := range x {
			vr += (v - m) * (v - m)
		}
		vr /= float32(C)
		s := float32(1 / math.Sqrt(float64(vr)+layerNormEps))
		y := out[r*C : (r+1)*C]
		for i, v := range x {
			y[i] = (v - m) * s * w[i]
		}
		mean[r], rstd[r] = m, s
	}
}

// LayerNormBackward adds the input gradient of the len(mean) rows to din. With n = (x − mean)·rstd
// and g = w·dout:
//
//	din += rstd·(g − mean(g) − n·mean(g·n))
func (GoKernels) LayerNormBackward(din, dout, in, w, mean, rstd []float32, C int) {
	for r := range mean {
		x := in[r*C : (r+1)*C]
		m, s := mean[r], rstd[r]
		dy := dout[r*C : (r+1)*C]
		var gMean, gnMean float32
		for i, v := range x {
			g := w[i] * dy[i]
			gMean += g
			gnMean += g * (v - m) * s
		}
		gMean /= float32(C)
		gnMean /= float32(C)
		dx := din[r*C : (r+1)*C]
		for i, v := range x {
			n := (v - m) * s
			dx[i] += (w[i]*dy[i] - gMean - n*gnMean) * s
		}
	}
}

// LayerNormDW adds columns lo … lo+len(dw)−1 of the weight gradient Σ_r dout[r]·n[r] to dw,
// each column summing the len(mean) rows in order.
func (GoKernels) LayerNormDW(dw, dout, in, mean, rstd []float32, C, lo int) {
	hi := lo + len(dw)
	for r := range mean {
		m, s := mean[r], rstd[r]
		x := in[r*C+lo : r*C+hi]
		dy := dout[r*C+lo : r*C+hi]
		for i, v := range x {
			dw[i] += dy[i] * (v - m) * s
		}
	}
}
