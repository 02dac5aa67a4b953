package nn

// GELUForward: out = ½·in·(1 + erf(in/√2)) (exact GELU).
//
//	out (N), in (N)
func (c *CPU) GELUForward(out, in View, N int) {
	checkSizes("nn: GELUForward negative size", N)
	c.elementwise(geluForward, N,
		c.need(out, N, "nn: GELUForward out too short"),
		c.need(in, N, "nn: GELUForward in too short"), nil)
}

// GELUBackward accumulates din += dout·GELU'(in), GELU'(x) = Φ(x) + x·φ(x).
//
//	din (N), dout (N), in (N)
func (c *CPU) GELUBackward(din View, dout, in View, N int) {
	checkSizes("nn: GELUBackward negative size", N)
	c.elementwise(geluBackward, N,
		c.need(din, N, "nn: GELUBackward din too short"),
		c.need(dout, N, "nn: GELUBackward dout too short"),
		c.need(in, N, "nn: GELUBackward in too short"))
}

// ResidualForward: out = a + b.
//
//	out (N), a (N), b (N)
func (c *CPU) ResidualForward(out, a, b View, N int) {
	checkSizes("nn: ResidualForward negative size", N)
	c.elementwise(residualForward, N,
		c.need(out, N, "nn: ResidualForward out too short"),
		c.need(a, N, "nn: ResidualForward a too short"),
		c.need(b, N, "nn: ResidualForward b too short"))
}

// ResidualBackward accumulates da += dout and db += dout.
//
//	da (N), db (N), dout (N)
func (c *CPU) ResidualBackward(da, db View, dout View, N int) {
	checkSizes("nn: ResidualBackward negative size", N)
	c.elementwise(residualBackward, N,
		c.need(da, N, "nn: ResidualBackward da too short"),
		c.need(db, N, "nn: ResidualBackward db too short"),
		c.need(dout, N, "nn: ResidualBackward dout too short"))
}

// elementwiseOp names the per-element ops that share elementwiseJob.
type elementwiseOp int

const (
	geluForward      elementwiseOp = iota // x = gelu(y)
	geluBackward                          // x += y·gelu'(z)
	residualForward                       // x = y + z
	residualBackward                      // x += z; y += z
	zero                                  // x = 0
)

func (c *CPU) elementwise(op elementwiseOp, n int, x, y, z []float32) {
	j := &c.ew
	*j = elementwiseJob{op: op, x: x, y: y, z: z, k: c.kernels}
	c.pool.run(j, n, c.pool.grainFor(n, 1<<14))
	*j = elementwiseJob{}
}

// elementwiseJob runs one elementwise op; items are elements.
type elementwiseJob struct {
	op      elementwiseOp
	x, y, z []float32
	k       Kernels
}

func (j *elementwiseJob) run(lo, hi int) {
	switch j.op {
	case geluForward:
		j.k.GELUForward(j.x[lo:hi], j.y[lo:hi])
	case geluBackward:
		j.k.GELUBackward(j.x[lo:hi], j.y[lo:hi], j.z[lo:hi])
	case residualForward:
		out, a, b := j.x[lo:hi], j.y[lo:hi], j.z[lo:hi]
		for i := range out {
			out[i] = a[i] + b[i]
		}
	case residualBackward:
		da, db, dout := j.x[lo:hi], j.y[lo:hi], j.z[lo:hi]
		for i, d := range dout {
			da[i] += d
			db[i] += d
		}
	case zero:
		clear(j.x[lo:hi])
	}
}
