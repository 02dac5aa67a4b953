package nn

import "math"

// CrossEntropyForward writes losses[r] = −log softmax(logits[r])[targets[r]] for the len(losses)
// rows of logits (V each).
func (GoKernels) CrossEntropyForward(losses, logits []float32, targets []int32, V int) {
	for r := range losses {
		x := logits[r*V : (r+1)*V]
		mx, sum := softmaxDenominator(x)
		// −log(e^(x_t − mx) / sum)
		losses[r] = float32(math.Log(sum) - float64(x[targets[r]]-mx))
	}
}

// CrossEntropyBackward adds dlosses[r]·(softmax(logits[r]) − onehot(targets[r])) to row r of
// dlogits, for the len(dlosses) rows.
func (GoKernels) CrossEntropyBackward(dlogits, dlosses, logits []float32, targets []int32, V int) {
	for r := range dlosses {
		x := logits[r*V : (r+1)*V]
		mx, sum := softmaxDenominator(x)
		tgt := int(targets[r])
		dl := float64(dlosses[r])
		dx := dlogits[r*V : (r+1)*V]
		inv := 1 / sum
		for i, v := range x {
			p := float64(expf(v-mx)) * inv
			if i == tgt {
				p--
			}
			dx[i] += float32(dl * p)
		}
	}
}

// softmaxDenominator returns the maximum mx of x and Σ e^(x[i]−mx), summed in float64.
func softmaxDenominator(x []float32) (mx float32, sum float64) {
	mx = float32(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	for _, v := range x {
		sum += float64(expf(v - mx))
	}
	return mx, sum
}
