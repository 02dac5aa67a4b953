package nn

import "math"

// RMSNormer is implemented by backends that have the RMSNorm op of the residual query mode
// (arXiv 2603.13381). It is not part of Backend: a model in that mode checks for it and reports a
// clear error on a backend without it.
type RMSNormer interface {
	// RMSNormForward: out = in·rrms·w per row, rrms = 1/√(mean(in²) + 1e-5); it saves rrms.
	//   out (N, C), rrms (N), in (N, C), w (C)
	RMSNormForward(out, rrms View, in, w View, N, C int)
	// RMSNormBackward accumulates din and dw.
	//   din (N, C), dw (C), dout (N, C), in (N, C), w (C), rrms (N)
	RMSNormBackward(din, dw View, dout, in, w, rrms View, N, C int)
}

var _ RMSNormer = (*CPU)(nil)

// RMSNormForward normalises each row by its root mean square (weight only) and saves 1/rms. It
// runs on the calling goroutine (the op is small next to the matrix products around it).
//
//	out (N, C), rrms (N), in (N, C), w (C)
func (c *CPU) RMSNormForward(out, rrms View, in, w View, N, C int) {
	checkSizes("nn: RMSNormForward negative size", N, C)
	o := c.need(out, N*C, "nn: RMSNormForward out too short")
	r := c.need(rrms, N, "nn: RMSNormForward rrms too short")
	x := c.need(in, N*C, "nn: RMSNormForward in too short")
	wv := c.need(w, C, "nn: RMSNormForward w too short")
	for row := range N {
		xr := x[row*C : (row+1)*C]
		var ms float64
		for _, v := range xr {
			ms += float64(v) * float64(v)
		}
		s := float32(1 / math.Sqrt(ms/float64(C)+layerNormEps))
		r[row] = s
		for i, v := range xr {
			o[row*C+i] = v * s * wv[i]
		}
	}
}

// RMSNormBackward accumulates din and dw. With n = in·rrms and g = w·dout:
//
//	din = rrms·(g − n·mean(g·n)),   dw = Σ_rows dout·n.
//
//	din (N, C), dw (C), dout (N, C), in (N, C), w (C), rrms (N)
func (c *CPU) RMSNormBackward(din, dw View, dout, in, w, rrms View, N, C int) {
	checkSizes("nn: RMSNormBackward negative size", N, C)
	dx := c.need(din, N*C, "nn: RMSNormBackward din too short")
	dwv := c.need(dw, C, "nn: RMSNormBackward dw too short")
	dy := c.need(dout, N*C, "nn: RMSNormBackward dout too short")
	x := c.need(in, N*C, "nn: RMSNormBackward in too short")
	wv := c.need(w, C, "nn: RMSNormBackward w too short")
	r := c.need(rrms, N, "nn: RMSNormBackward rrms too short")
	for row := range N {
		s := r[row]
		xr, dyr, dxr := x[row*C:(row+1)*C], dy[row*C:(row+1)*C], dx[row*C:(row+1)*C]
		var gn float32
		for i, v := range xr {
			gn += wv[i] * dyr[i] * v * s
		}
		gn /= float32(C)
		for i, v := range xr {
			n := v * s
			dxr[i] += (wv[i]*dyr[i] - n*gn) * s
			dwv[i] += dyr[i] * n
		}
	}
}
