package nn

import "math"

// gradNormChunks is the number of fixed chunks GradNorm sums separately; their partial sums are
// added in chunk order, so the norm does not depend on the number of threads.
const gradNormChunks = 64

// GradNorm writes the Euclidean norm of grads into out[0], summing squares in float64.
//
//	out (≥1), grads (N)
func (c *CPU) GradNorm(out View, grads View, N int) {
	checkSizes("nn: GradNorm negative size", N)
	o := c.need(out, 1, "nn: GradNorm out too short")
	j := &c.norm
	j.g = c.need(grads, N, "nn: GradNorm grads too short")
	j.k = c.kernels
	j.chunk = max(4096, (N+gradNormChunks-1)/gradNormChunks)
	chunks := (N + j.chunk - 1) / j.chunk
	c.pool.run(j, chunks, 1)
	var sum float64
	for _, s := range j.partial[:chunks] {
		sum += s
	}
	o[0] = float32(math.Sqrt(sum))
	j.g, j.k = nil, nil
}

// gradNormJob sums squares; item i is the chunk [i·chunk, (i+1)·chunk) of g.
type gradNormJob struct {
	g       []float32
	chunk   int
	partial [gradNormChunks]float64
	k       Kernels
}

func (j *gradNormJob) run(lo, hi int) {
	for i := lo; i < hi; i++ {
		j.partial[i] = j.k.SumSquares(j.g[i*j.chunk : min((i+1)*j.chunk, len(j.g))])
	}
}
