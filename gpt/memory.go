package gpt

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// MemoryPlan is the memory a run holds at its peak, in bytes, by part: the buffers the backend
// will allocate for the model and its trainer, the host memory that goes with them, and the data
// already in memory. PlanTraining and PlanSampling compute it before anything is allocated, from
// the same size functions New, NewTrainer and the forward and backward passes allocate with.
type MemoryPlan struct {
	// Buffers of the backend (Device):
	Params      int64 // parameters, gradients, AdamW m and v, decay mask: five slabs of P float32
	Activations int64 // activations and activation gradients of a (B, T) micro-batch, logits excluded
	Logits      int64 // the (B, T, V) logits and, when training, their gradient
	Scratch     int64 // a step's losses and gradient norm, the loss gradient, the validation losses
	Tokens      int64 // token ids: a step's inputs and targets and the validation batches, or a context

	// Host memory:
	Copies int64 // host copies of the parameters: New's initial weights and decay mask, or a checkpoint write's
	Host   int64 // the trainer's host copies of a step's tokens and losses, and of the validation batches
	Data   int64 // already in memory when the plan is made: the tokenized dataset, or the loaded checkpoint
}

// MemoryPart is one part of a MemoryPlan as String prints it.
type MemoryPart struct {
	Name  string
	Bytes int64
}

// Device returns the bytes the backend allocates: Params, Activations, Logits, Scratch and Tokens.
func (p MemoryPlan) Device() int64 { return p.Params + p.Activations + p.Logits + p.Scratch + p.Tokens }

// Total returns every part's bytes.
func (p MemoryPlan) Total() int64 { return p.Device() + p.Copies + p.Host + p.Data }

// Need returns the bytes still to be allocated when the plan is made: all but Data.
func (p MemoryPlan) Need() int64 { return p.Total() - p.Data }

// Fits reports whether the run fits in available bytes, the memory the device offers once the data
// is loaded (nn.MemoryReporter): Need() ≤ available.
func (p MemoryPlan) Fits(available int64) bool { return p.Need() <= available }

// Parts returns the parts String prints: params+optimizer (Params and Copies), activations,
// logits, scratch (Scratch and Host) and data (Tokens and Data).
func (p MemoryPlan) Parts() []MemoryPart {
	return []MemoryPart{
		{"params+optimizer", p.Params + p.Copies},
		{"activations", p.Activations},
		{"logits", p.Logits},
		{"scratch", p.Scratch + p.Host},
		{"data", p.Tokens + p.Data},
	}
}

// Largest returns the largest of Parts.
func (p MemoryPlan) Largest() MemoryPart {
	return slices.MaxFunc(p.Parts(), func(a, b MemoryPart) int { return cmp.Compare(a.Bytes, b.Bytes) })
}

// String returns the plan in one line, its non-zero parts in the unit of the total:
// "1.84 GB planned (params+optimizer 0.21, activations 1.52, logits 0.01, data 0.11)".
func (p MemoryPlan) String() string {
	total, unit, dec := scaleBytes(p.Total())
	var parts []string
	for _, pt := range p.Parts() {
		if pt.Bytes > 0 {
			parts = append(parts, fmt.Sprintf("%s %.*f", pt.Name, max(dec, 1), float64(pt.Bytes)/unit))
		}
	}
	return fmt.Sprintf("%s planned (%s)", formatScaled(total, dec, unit), strings.Join(parts, ", "))
}

// FormatBytes returns n in decimal units with three significant digits: "840 kB", "83.2 MB", "1.84 GB".
func FormatBytes(n int64) string {
	v, unit, dec := scaleBytes(n)
	return formatScaled(v, dec, unit)
}

var byteUnits = []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}

// scaleBytes returns n in its unit (n/unit), the unit's size and the decimals of three
// significant digits.
func scaleBytes(n int64) (v, unit float64, dec int) {
	v, unit = float64(n), 1
	for v >= 999.5 && unit < 1e18 {
		v, unit = v/1000, unit*1000
	}
	switch {
	case unit == 1:
		dec = 0
	case v < 9.995:
		dec = 2
	case v < 99.95:
		dec = 1
	}
	return v, unit, dec
}

func formatScaled(v float64, dec int, unit float64) string {
	return fmt.Sprintf("%.*f %s", dec, v, byteUnits[int(math.Round(math.Log10(unit)/3))])
}

// f32 is the size of a float32 or an int32, the element of every buffer.
const f32 = 4

// maxPlanBytes bounds the runs a plan counts in int arithmetic: a run whose activations would
// need more (a quarter of an exabyte) gets an error instead of a plan.
const maxPlanBytes = 1 << 58

// countable reports an error if the buffers of micro-batches of B sequences, GA of them per step
// and EB per evaluation, could overflow the int arithmetic of the size functions.
func countable(c Config, B, GA, EB int) error {
	T := float64(c.BlockSize)
	w := float64(max(c.NEmbd, c.QKVWidth(), c.Hidden(), c.VocabSize, c.NHead*c.BlockSize))
	rows := float64(B) * T
	// Each of the 21 (activations) and 9 (residual query path) slabs of a layer holds at most
	// rows·w elements, in two slabs (values and gradients); a step's and an evaluation's tokens
	// take 4 bytes in at most 8 buffers.
	acts := rows * float64(c.NLayer+2) * w * 30 * 2 * f32
	tokens := rows * (float64(GA) + float64(EB)) * 8 * f32
	if acts > maxPlanBytes || tokens > maxPlanBytes {
		return fmt.Errorf("gpt: micro-batches of %d sequences of %d tokens, %d per step and %d per evaluation, need more memory than can be counted (over %s)",
			B, c.BlockSize, GA, EB, FormatBytes(maxPlanBytes))
	}
	return nil
}

// checkpointWriteBytes is the host memory Trainer.Save holds at once for a model of P parameters:
// the downloaded parameters and AdamW moments (3P float32) and the file's data section (as many
// bytes again).
func checkpointWriteBytes(P int) int64 { return 2 * 3 * f32 * int64(P) }

// modelPlan returns the parts of a model of configuration c with activations for micro-batches of
// B sequences (and, when training, their gradients): the five slabs and the activation slabs.
func modelPlan(c Config, B int, training bool) MemoryPlan {
	P := int64(c.NumParams())
	logits := int64(B) * int64(c.BlockSize) * int64(c.VocabSize) // the Logits view of actSizes
	acts := int64(actsCap(c, B))
	p := MemoryPlan{Params: 5 * P * f32, Logits: logits * f32}
	if c.QueryMode == Residual { // residualViews allocates both slabs at the first forward
		acts += 2 * int64(residualActsCap(c, B, c.BlockSize))
	}
	if training {
		acts += int64(gradActsCap(c, B))
		p.Logits *= 2
	}
	p.Activations = acts*f32 - p.Logits
	return p
}

// PlanTraining returns the memory plan of training a model of configuration c with tc (New,
// NewTrainer, Step, Evaluate, Save), with dataBytes of data already in memory (the dataset's
// tokens, see Dataset.Bytes).
func PlanTraining(c Config, tc TrainConfig, dataBytes int64) (MemoryPlan, error) {
	if err := c.Validate(); err != nil {
		return MemoryPlan{}, err
	}
	if err := tc.Validate(); err != nil {
		return MemoryPlan{}, err
	}
	B := tc.BatchSize
	if err := countable(c, B, tc.GradAccum, tc.EvalBatches); err != nil {
		return MemoryPlan{}, err
	}
	step, val := stepTokens(c, tc)
	p := modelPlan(c, B, true)
	rows := int64(B) * int64(c.BlockSize)
	p.Scratch = (1 + int64(step) + int64(val) + rows) * f32 // stepBuf, valLosses, dlosses
	p.Tokens = 2 * (int64(step) + int64(val)) * f32         // inputs, targets, valIn, valTg
	P := int64(c.NumParams())
	p.Copies = max(2*P*f32, checkpointWriteBytes(int(P))) // New's, then Save's
	// The trainer's host, hostIn and hostTg, offs, and NewTrainer's validation tokens (or, later,
	// Evaluate's losses).
	p.Host = (1+3*int64(step)+2*int64(val))*f32 + 8*int64(B)
	p.Data = dataBytes
	return p, nil
}

// PlanSampling returns the memory plan of generating text from a model of configuration c as sc
// says (New, then Stream or Generate: with the KV cache, the generator's cache and activations
// for a window of BlockSize tokens; with sc.NoCache, the forward pass of one), with dataBytes
// already in memory (the loaded checkpoint). It does not depend on the number of tokens.
func PlanSampling(c Config, sc SampleConfig, dataBytes int64) (MemoryPlan, error) {
	if err := c.Validate(); err != nil {
		return MemoryPlan{}, err
	}
	if err := countable(c, 1, 1, 0); err != nil {
		return MemoryPlan{}, err
	}
	var p MemoryPlan
	if sc.NoCache {
		p = modelPlan(c, 1, false)
		p.Tokens = 2 * int64(tokensCap(c, 1)) * f32
	} else {
		acts, cache, tokens := genElems(c)
		p = MemoryPlan{Params: 5 * int64(c.NumParams()) * f32, Logits: int64(c.VocabSize) * f32}
		p.Activations = (acts+cache)*f32 - p.Logits
		if c.QueryMode == Residual { // residualViews allocates both slabs at the first forward
			p.Activations += 2 * int64(residualActsCap(c, 1, c.BlockSize)) * f32
		}
		p.Tokens = tokens * f32
	}
	p.Copies = 2 * int64(c.NumParams()) * f32 // New's initial weights and decay mask
	p.Data = dataBytes
	return p, nil
}

// Bytes returns the memory the dataset's tokens take in the process: 4 bytes a token in memory;
// memory-mapped tokens count nothing (the operating system pages them in and out).
func (d *Dataset) Bytes() int64 { return d.Train.ResidentBytes() + d.Val.ResidentBytes() }

// FitBatch returns tc with the largest micro-batch whose plan needs at most limit bytes among
// those that keep the sequences of an optimizer step (the divisors of BatchSize·GradAccum), with
// GradAccum raised to match, and its plan. ok is false when none fits. EvalBatches stays: the
// validation batches shrink with the micro-batch.
func FitBatch(c Config, tc TrainConfig, dataBytes, limit int64) (_ TrainConfig, _ MemoryPlan, ok bool) {
	if tc.BatchSize < 1 || tc.GradAccum < 1 || float64(tc.BatchSize)*float64(tc.GradAccum) > 1<<40 {
		return tc, MemoryPlan{}, false
	}
	seqs := tc.BatchSize * tc.GradAccum
	for _, b := range divisorsDescending(seqs) {
		t := tc
		t.BatchSize, t.GradAccum = b, seqs/b
		if p, err := PlanTraining(c, t, dataBytes); err == nil && p.Need() <= limit {
			return t, p, true
		}
	}
	return tc, MemoryPlan{}, false
}

// divisorsDescending returns the divisors of n ≥ 1, largest first.
func divisorsDescending(n int) []int {
	var small, large []int
	for i := 1; i*i <= n; i++ {
		if n%i == 0 {
			small = append(small, i)
			if i != n/i {
				large = append(large, n/i)
			}
		}
	}
	slices.Reverse(small)
	return append(large, small...)
}
