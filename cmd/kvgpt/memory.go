package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/kvgpt/kvgpt/bench"
	"github.com/kvgpt/kvgpt/experiment"
	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
)

// memoryMargin is the share of the available memory that --batch-size auto and the suggestions of a
// refused run fill at most: the rest is headroom for what a plan does not count (the Go runtime
// and its garbage, the backend's own objects, other processes).
const memoryMargin = 0.8

// availableMemory returns the memory be offers for new buffers (nn.MemoryReporter). Tests replace
// it to play a smaller machine.
var availableMemory = func(be nn.Backend) (int64, error) {
	if r, ok := be.(nn.MemoryReporter); ok {
		return r.AvailableMemory()
	}
	return 0, fmt.Errorf("%s does not report its memory", be.Name())
}

// withMargin returns the memoryMargin share of avail.
func withMargin(avail int64) int64 { return int64(memoryMargin * float64(avail)) }

// memoryLine returns the line a command prints before it allocates: the plan and what the
// backend offers (availErr: it cannot say, and the plan is not checked).
func memoryLine(plan gpt.MemoryPlan, avail int64, availErr error) string {
	if availErr != nil {
		return fmt.Sprintf("memory: %s; not checked: %v", plan, availErr)
	}
	return fmt.Sprintf("memory: %s of %s available", plan, gpt.FormatBytes(avail))
}

// tooLarge is the error of a run whose plan needs more than avail: what it needs, its largest
// part, and what to change.
func tooLarge(plan gpt.MemoryPlan, avail int64, change string) error {
	lp := plan.Largest()
	return fmt.Errorf("memory: the run needs %s but %s is available (largest part: %s, %s); %s",
		gpt.FormatBytes(plan.Need()), gpt.FormatBytes(avail), lp.Name, gpt.FormatBytes(lp.Bytes), change)
}

// checkpointBytes returns the memory the tensors of the checkpoint whose header is ck take once
// loaded (0 for no checkpoint).
func checkpointBytes(ck *gpt.Checkpoint) int64 {
	if ck == nil {
		return 0
	}
	return ck.DataBytes
}

// withCheckpoint adds to plan the checkpoint whose header is ck, to be loaded once the plan is
// checked: its tensors are host copies of the parameters (and the optimizer state).
func withCheckpoint(plan gpt.MemoryPlan, ck *gpt.Checkpoint) gpt.MemoryPlan {
	plan.Copies += checkpointBytes(ck)
	return plan
}

// batchSizeFlag is --batch-size: a number of sequences, or auto.
type batchSizeFlag struct {
	n    *int
	auto *bool
}

func (f batchSizeFlag) String() string {
	switch {
	case f.n == nil:
		return ""
	case *f.auto:
		return "auto"
	}
	return strconv.Itoa(*f.n)
}

func (f batchSizeFlag) Set(s string) error {
	if s == "auto" {
		*f.auto = true
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want a number of sequences or auto, got %q", s)
	}
	*f.n, *f.auto = n, false
	return nil
}

// planMemory chooses the micro-batch on --batch-size auto, prints the run's memory plan and
// returns an error, which says what to change, if the run needs more than be offers.
func (r *trainRun) planMemory(be nn.Backend, w io.Writer) error {
	o := &r.o
	data := r.ds.Bytes()
	plan, err := gpt.PlanTraining(o.cfg, o.tc, data)
	if err != nil {
		return fmt.Errorf("memory: %w; lower --batch-size or --grad-accum", err)
	}
	plan = withCheckpoint(plan, r.ck)
	avail, availErr := availableMemory(be)
	limit := withMargin(avail) - checkpointBytes(r.ck) // what the run may take besides the checkpoint
	if o.autoBatch {
		if availErr != nil {
			return fmt.Errorf("--batch-size auto needs the available memory: %w", availErr)
		}
		tc, fitted, ok := gpt.FitBatch(o.cfg, o.tc, data, limit)
		if !ok {
			return tooLarge(plan, avail, trainChange(o.cfg, o.tc, data, limit))
		}
		fmt.Fprintf(w, "batch size auto: B=%d × grad-accum %d = %d sequences per step, the largest micro-batch that fits within %.0f%% of %s\n",
			tc.BatchSize, tc.GradAccum, tc.BatchSize*tc.GradAccum, 100*memoryMargin, gpt.FormatBytes(avail))
		o.tc, plan = tc, withCheckpoint(fitted, r.ck)
	}
	fmt.Fprintln(w, memoryLine(plan, avail, availErr))
	if availErr == nil && !plan.Fits(avail) {
		return tooLarge(plan, avail, trainChange(o.cfg, o.tc, data, limit))
	}
	return nil
}

// trainChange says what to change so that training cfg with tc fits in limit bytes: a smaller
// micro-batch with more accumulation (the same tokens per step) where one fits, else fewer
// sequences per step, else a smaller model.
func trainChange(cfg gpt.Config, tc gpt.TrainConfig, data, limit int64) string {
	if fit, _, ok := gpt.FitBatch(cfg, tc, data, limit); ok && fit.BatchSize < tc.BatchSize {
		return fmt.Sprintf("--batch-size %d --grad-accum %d keeps the same tokens per step (or pass --batch-size auto)", fit.BatchSize, fit.GradAccum)
	}
	plan := func(B int) (gpt.MemoryPlan, error) {
		t := tc
		t.BatchSize, t.GradAccum = B, 1
		return gpt.PlanTraining(cfg, t, data)
	}
	fits := func(B int) bool {
		p, err := plan(B)
		return err == nil && p.Need() <= limit
	}
	if !fits(1) {
		if p, err := plan(1); err == nil && p.Largest().Name != "params+optimizer" {
			return "not even --batch-size 1 fits: use a shorter --block-size or a smaller model (--n-embd, --n-layer)"
		}
		return "not even --batch-size 1 fits: use a smaller model (--n-embd, --n-layer)"
	}
	lo, hi := 1, tc.BatchSize*tc.GradAccum // fits(lo), and a step of hi sequences fits at no micro-batch
	for hi-lo > 1 {
		if mid := lo + (hi-lo)/2; fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return fmt.Sprintf("a step of %d sequences does not fit at any micro-batch; --batch-size %d --grad-accum 1 does, with fewer tokens per step",
		tc.BatchSize*tc.GradAccum, lo)
}

// checkSampleMemory prints the memory plan of sampling from the checkpoint whose header is ck
// (its tensors still to be loaded) on be as sc says and returns an error if it does not fit.
func checkSampleMemory(be nn.Backend, ck *gpt.Checkpoint, sc gpt.SampleConfig, w io.Writer) error {
	plan, err := gpt.PlanSampling(ck.Config, sc, 0)
	if err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	plan = withCheckpoint(plan, ck)
	avail, availErr := availableMemory(be)
	fmt.Fprintln(w, memoryLine(plan, avail, availErr))
	if availErr == nil && !plan.Fits(avail) {
		return tooLarge(plan, avail, "the checkpoint's model does not fit here: free memory, or try the other --backend")
	}
	return nil
}

// checkExperimentMemory prints the memory plan of the largest of the variants of experiment p on ds
// (with a vocabulary of V) and returns an error if jobs of it at once do not fit in avail
// (availErr: unknown).
func checkExperimentMemory(p experiment.Preset, variants []experiment.Variant, ds *gpt.Dataset, V, jobs int, avail int64, availErr error, w io.Writer) error {
	var plan gpt.MemoryPlan
	var largest string
	for _, v := range variants {
		pv, err := gpt.PlanTraining(v.Config(p, V), v.TrainConfig(p, 0), ds.Bytes())
		if err != nil {
			return fmt.Errorf("memory: %s: %w", v.Name, err)
		}
		if pv.Need() > plan.Need() {
			plan, largest = pv, v.Name
		}
	}
	// The jobs share the memory: each run gets its share (the data is loaded once, before the plan).
	if jobs > 1 {
		avail /= int64(jobs)
		largest += fmt.Sprintf("; %d runs at once, each with 1/%d of the memory", jobs, jobs)
	}
	fmt.Fprintf(w, "%s (the largest run, %s)\n", memoryLine(plan, avail, availErr), largest)
	if availErr == nil && !plan.Fits(avail) {
		return tooLarge(plan, avail, fmt.Sprintf("the largest run is %s: pick a smaller --preset or fewer --jobs", largest))
	}
	return nil
}

// checkBenchMemory prints, for backend be called name, the memory plan of the largest training run
// among presets (and the peak measurement's buffers), and returns an error if it does not fit.
func checkBenchMemory(be nn.Backend, name string, presets []gpt.Preset, w io.Writer) error {
	var plan gpt.MemoryPlan
	largest := "no training"
	for _, p := range presets {
		for _, m := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
			pm, err := bench.Plan(p, m)
			if err != nil {
				return fmt.Errorf("memory: preset %s: %w", p.Name, err)
			}
			if pm.Need() > plan.Need() {
				plan, largest = pm, p.Name+" "+string(m)
			}
		}
	}
	plan.Scratch += bench.PeakMeterBytes()
	avail, availErr := availableMemory(be)
	fmt.Fprintf(w, "kvgpt bench: %s: %s (the largest training run, %s, and the peak measurement's buffers)\n",
		name, memoryLine(plan, avail, availErr), largest)
	if availErr == nil && !plan.Fits(avail) {
		return tooLarge(plan, avail, fmt.Sprintf("the largest training run is %s: measure smaller --presets", largest))
	}
	return nil
}
