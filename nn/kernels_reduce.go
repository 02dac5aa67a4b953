package nn

// SumSquares returns Σ x[i]², each square and the sum in float64, in order.
func (GoKernels) SumSquares(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s
}
