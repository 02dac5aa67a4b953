package nn

// CrossEntropyForward: losses[i] = −log softmax(logits[i,:])[targets[i]]. It panics if a target
// is not in [0, V).
//
//	losses (N), logits (N, V), targets (N)
func (c *CPU) CrossEntropyForward(losses View, logits View, targets IntView, N, V int) {
	checkSizes("nn: CrossEntropyForward negative size", N, V)
	j := &c.ce
	*j = crossEntropyJob{V: V, k: c.kernels}
	j.losses = c.need(losses, N, "nn: CrossEntropyForward losses too short")
	j.logits = c.need(logits, N*V, "nn: CrossEntropyForward logits too short")
	j.targets = c.needInt(targets, N, "nn: CrossEntropyForward targets too short")
	checkTokens(j.targets, V, 1, "nn: CrossEntropyForward target out of range")
	c.pool.run(j, N, c.pool.grainFor(N, 4))
	*j = crossEntropyJob{}
}

// CrossEntropyBackward accumulates dlogits[i,:] += dlosses[i]·(softmax(logits[i,:]) − onehot(targets[i])).
//
//	dlogits (N, V), dlosses (N), logits (N, V), targets (N)
func (c *CPU) CrossEntropyBackward(dlogits View, dlosses View, logits View, targets IntView, N, V int) {
	checkSizes("nn: CrossEntropyBackward negative size", N, V)
	j := &c.ce
	*j = crossEntropyJob{V: V, backward: true, k: c.kernels}
	j.dlogits = c.need(dlogits, N*V, "nn: CrossEntropyBackward dlogits too short")
	j.dlosses = c.need(dlosses, N, "nn: CrossEntropyBackward dlosses too short")
	j.logits = c.need(logits, N*V, "nn: CrossEntropyBackward logits too short")
	j.targets = c.needInt(targets, N, "nn: CrossEntropyBackward targets too short")
	checkTokens(j.targets, V, 1, "nn: CrossEntropyBackward target out of range")
	c.pool.run(j, N, c.pool.grainFor(N, 4))
	*j = crossEntropyJob{}
}

// crossEntropyJob is a cross-entropy forward or backward; items are rows.
type crossEntropyJob struct {
	V        int
	backward bool
	k        Kernels

	losses, logits, dlogits, dlosses []float32
	targets                          []int32
}

func (j *crossEntropyJob) run(lo, hi int) {
	V := j.V
	if j.backward {
		j.k.CrossEntropyBackward(j.dlogits[lo*V:hi*V], j.dlosses[lo:hi], j.logits[lo*V:hi*V], j.targets[lo:hi], V)
	} else {
		j.k.CrossEntropyForward(j.losses[lo:hi], j.logits[lo*V:hi*V], j.targets[lo:hi], V)
	}
}
