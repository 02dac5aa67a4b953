package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/kvgpt/kvgpt/internal/atomicfile"

	"gonum.org/v1/gonum/blas/gonum"

	"github.com/kvgpt/kvgpt/bench"
	"github.com/kvgpt/kvgpt/cpublas"
	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/metal"
	"github.com/kvgpt/kvgpt/nn"
)

// benchOptions are the flags of `kvgpt bench`.
type benchOptions struct {
	jsonPath, opsPreset, presets, pytorch, ompWait string
	be                                             backendFlag // --backend: all, cpu or metal
	opTime, stepTime, longStep                     time.Duration
	minSteps, rounds                               int
}

func runBench(args []string, stdout, stderr io.Writer) error {
	o := benchOptions{be: backendFlag{name: "all"}, opsPreset: "medium", presets: strings.Join(bench.MeasuredPresets, ","), pytorch: "auto",
		opTime: bench.DefaultTiming.MinTime, stepTime: time.Second, longStep: 4 * time.Second, minSteps: 2, rounds: 1}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.be.define(fs, "the backends to measure: all (every one this build and machine have), cpu or metal")
	fs.StringVar(&o.jsonPath, "json", "", "also write the report as JSON to this `file`")
	fs.StringVar(&o.opsPreset, "ops", o.opsPreset, "preset whose op shapes the op table measures ("+gpt.PresetNames()+"; none: no op table)")
	fs.StringVar(&o.presets, "presets", o.presets, "comma-separated presets whose training steps are measured (none: no training)")
	fs.StringVar(&o.pytorch, "pytorch", o.pytorch, "train the same presets with PyTorch on the CPU, on as many --threads, for comparison: auto (if a python3 with torch is found), on, off")
	fs.StringVar(&o.ompWait, "pytorch-omp-wait", "passive", "OMP_WAIT_POLICY of PyTorch's threads: passive (sleep at barriers; far faster on a busy machine), active (spin), inherit (the environment's)")
	fs.DurationVar(&o.opTime, "op-time", o.opTime, "time spent measuring each op (3 rounds, the fastest counts)")
	fs.DurationVar(&o.stepTime, "step-time", o.stepTime, "time spent measuring each preset's training steps (the median step counts)")
	fs.IntVar(&o.minSteps, "min-steps", o.minSteps, "timed training steps per preset at least (after two warm-up steps)")
	fs.IntVar(&o.rounds, "rounds", o.rounds, "measure each preset's training this many times, kvgpt then PyTorch in turn, and report medians (an odd number; for a machine whose speed drifts)")
	fs.DurationVar(&o.longStep, "long-step", o.longStep, "time a preset whose warm-up step takes longer than this with one step only (0: never)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: kvgpt bench [flags]\n\nMeasures every op of a training step and whole training steps of the presets on each backend,\nagainst the backend's peak (a large matmul), and PyTorch's training speed on the same machine.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see kvgpt bench -h)", fs.Arg(0))
	}
	var backends []string
	switch o.be.name {
	case "all":
		backends = []string{"cpu", "metal"}
	case "cpu", "metal":
		backends = []string{o.be.name}
	default:
		return fmt.Errorf("unknown --backend %q (want all, cpu or metal)", o.be.name)
	}
	if o.pytorch != "auto" && o.pytorch != "on" && o.pytorch != "off" {
		return fmt.Errorf("unknown --pytorch %q (want auto, on or off)", o.pytorch)
	}
	switch o.ompWait {
	case "passive", "active":
		o.ompWait = strings.ToUpper(o.ompWait)
	case "inherit":
		o.ompWait = ""
	default:
		return fmt.Errorf("unknown --pytorch-omp-wait %q (want passive, active or inherit)", o.ompWait)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := o.check(set); err != nil {
		return err
	}
	var opShapes []bench.Shape
	if o.opsPreset != "none" {
		p, err := gpt.LookupPreset(o.opsPreset)
		if err != nil {
			return fmt.Errorf("--ops: %w", err)
		}
		opShapes = []bench.Shape{bench.PresetShape(p, gpt.Baseline), bench.PresetShape(p, gpt.Identity)}
	}
	var presets []gpt.Preset
	if o.presets != "none" {
		names := strings.Split(o.presets, ",")
		for i := range names {
			names[i] = strings.TrimSpace(names[i])
		}
		var err error
		if presets, err = bench.LookupPresets(names); err != nil {
			return fmt.Errorf("--presets: %w", err)
		}
	}
	if o.jsonPath != "" { // fail now, not after minutes of measuring
		if err := checkWritableFile("--json", o.jsonPath); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	rep := &bench.Report{Time: start.UTC(), Host: bench.NewHost(), BLAS: cpublas.Use()}
	var python string
	if o.pytorch != "off" && len(presets) > 0 {
		py, err := bench.FindTorchPython(ctx)
		switch {
		case err == nil:
			python = py
		case o.pytorch == "on":
			return err
		default:
			fmt.Fprintf(stderr, "kvgpt bench: PyTorch not measured: %v\n", err)
		}
	}
	progress := terminal(stderr)
	for _, name := range backends {
		br, err := benchBackend(ctx, name, o, opShapes, presets, python, stderr, progress)
		if err != nil {
			return err
		}
		rep.Backends = append(rep.Backends, br)
	}
	rep.Host.LoadAfter = bench.LoadAvg()
	rep.BLAS = cpublas.Describe() // as the CPU backend set it up (OpenBLAS: one thread per product block)
	rep.Seconds = time.Since(start).Seconds()
	rep.WriteText(stdout)
	if o.jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.Write(o.jsonPath, append(b, '\n')); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", o.jsonPath)
	}
	return nil
}

// check reports the first bad flag of bench, naming it and its value, or a flag that set (the
// flags the command line gave) would make bench ignore.
func (o benchOptions) check(set map[string]bool) error {
	switch {
	case o.be.threads < 0:
		return fmt.Errorf("--threads must be ≥ 0 (0: all cores), got %d", o.be.threads)
	case o.minSteps < 1:
		return fmt.Errorf("--min-steps must be ≥ 1, got %d", o.minSteps)
	case o.opTime <= 0:
		return fmt.Errorf("--op-time must be > 0, got %v", o.opTime)
	case o.stepTime < 0:
		return fmt.Errorf("--step-time must be ≥ 0, got %v", o.stepTime)
	case o.longStep < 0:
		return fmt.Errorf("--long-step must be ≥ 0 (0: never), got %v", o.longStep)
	case o.rounds < 1:
		return fmt.Errorf("--rounds must be ≥ 1, got %d", o.rounds)
	}
	// Flags that another one makes meaningless.
	ignored := func(flag, value, because string) error {
		return fmt.Errorf("--%s %s would be ignored: %s (drop one of them)", flag, value, because)
	}
	noTraining := o.presets == "none"
	for _, c := range []struct {
		flag, value string
		when        bool
		because     string
	}{
		{"op-time", o.opTime.String(), o.opsPreset == "none", "--ops none measures no op"},
		{"rounds", fmt.Sprint(o.rounds), noTraining, "--presets none measures no training"},
		{"min-steps", fmt.Sprint(o.minSteps), noTraining, "--presets none measures no training"},
		{"step-time", o.stepTime.String(), noTraining, "--presets none measures no training"},
		{"long-step", o.longStep.String(), noTraining, "--presets none measures no training"},
		{"pytorch", o.pytorch, o.pytorch == "on" && (noTraining || o.be.name == "metal"), "PyTorch is measured on the cpu backend's training presets only"},
		{"pytorch-omp-wait", cmp.Or(strings.ToLower(o.ompWait), "inherit"), o.pytorch == "off" || noTraining || o.be.name == "metal", "PyTorch is not measured"},
		{"threads", fmt.Sprint(o.be.threads), o.be.name == "metal", "--backend metal has no CPU threads"},
	} {
		if c.when && set[c.flag] {
			return ignored(c.flag, c.value, c.because)
		}
	}
	return nil
}

// benchBackend measures one backend. A backend this machine does not have is reported, not an
// error, unless it was asked for by name.
func benchBackend(ctx context.Context, name string, o benchOptions, opShapes []bench.Shape, presets []gpt.Preset,
	python string, stderr, progress io.Writer) (bench.BackendReport, error) {
	br := bench.BackendReport{Backend: name}
	if name == "metal" && !metal.Available() {
		if o.be.name == "metal" {
			return br, metal.ErrUnavailable
		}
		br.Unavailable = metal.ErrUnavailable.Error()
		return br, nil
	}
	be, err := backendFlag{name: name, threads: o.be.threads}.create()
	if err != nil {
		return br, err
	}
	defer be.Close()
	br.Device = be.Name()
	if err := checkBenchMemory(be, name, presets, stderr); err != nil {
		return br, err
	}
	if name == "metal" && metal.FakeDevice() {
		br.Counts, err = countSteps(ctx, be, presets, stderr)
		return br, err
	}
	t := bench.Timing{MinTime: o.opTime, Rounds: 3}
	say := func(format string, a ...any) {
		fmt.Fprintf(stderr, "kvgpt bench: %s: "+format+"\n", append([]any{name}, a...)...)
	}

	// The peak is measured again after the op table and after each preset's round, and the best
	// measurement counts: one that another process slowed down would rate everything too high.
	meter := bench.NewPeakMeter(be, t)
	measurePeak := func() error {
		say("peak (measurement %d)", meter.Peak.Trials+1)
		err := meter.Measure()
		br.Peak = meter.Peak
		return err
	}
	if err := measurePeak(); err != nil {
		return br, err
	}
	p := bench.PeakShape
	if name == "cpu" {
		if bench.HaveDirectCBLAS {
			threads := 0 // as many as the backend has
			if c, ok := be.(interface{ Threads() int }); ok {
				threads = c.Threads()
			}
			d, err := bench.TimeDirectSgemm(p.N, p.OC, p.C, threads, t)
			if err != nil {
				return br, err
			}
			br.References = append(br.References, bench.NewReference(fmt.Sprintf("cblas_sgemm (direct, from C, %d threads)", threads), bench.GFLOPS(2*float64(p.N*p.C*p.OC), d), br.Peak))
		}
		d := bench.TimeSgemm(gonum.Implementation{}, p.N, p.OC, p.C, t)
		br.References = append(br.References, bench.NewReference("gonum Sgemm (pure Go)", bench.GFLOPS(2*float64(p.N*p.C*p.OC), d), br.Peak))
	}
	if mps, ok := be.(metal.MPSReference); ok {
		gf, err := timeMPS(be, mps, t)
		if err != nil {
			return br, err
		}
		br.References = append(br.References, bench.NewReference("MPSMatrixMultiplication", gf, br.Peak))
	}

	if len(opShapes) > 0 {
		var ops []bench.OpCase
		for _, s := range opShapes {
			ops = append(ops, bench.Ops(s)...)
		}
		ops = bench.Dedupe(ops)
		say("%d ops", len(ops))
		if br.Ops, err = bench.MeasureOps(be, ops, t, progress); err != nil {
			return br, err
		}
		if err := measurePeak(); err != nil {
			return br, err
		}
	}
	// Two warm-up steps for kvgpt and PyTorch alike: PyTorch's second step is often still slow
	// (its allocator and OpenBLAS's buffers warm up), and the first mode of a process pays for it.
	so := bench.StepOptions{Warmup: 2, MinStep: o.minSteps, MinTime: o.stepTime, LongStep: o.longStep}
	threads := o.be.threads
	if c, ok := be.(interface{ Threads() int }); ok {
		threads = c.Threads()
	}
	modes := []gpt.QueryMode{gpt.Baseline, gpt.Identity}
	for _, pr := range presets {
		rounds := make([][]bench.TrainResult, len(modes)) // [mode][round]
		for round := range o.rounds {
			of := ""
			if o.rounds > 1 {
				of = fmt.Sprintf(" (round %d of %d)", round+1, o.rounds)
			}
			res, err := measurePreset(ctx, be, name, pr, modes, so, python, threads, o.ompWait, of, say)
			if err != nil {
				return br, err
			}
			if err := measurePeak(); err != nil {
				return br, err
			}
			for i := range modes {
				rounds[i] = append(rounds[i], res[i])
			}
		}
		for i := range modes {
			br.Training = append(br.Training, bench.MedianOfRounds(rounds[i]))
		}
	}
	br.Rate()
	return br, nil
}

// measurePreset measures one round of preset pr's training in every mode on be and then, where
// python is set and the backend is the CPU, PyTorch's on the same shapes.
func measurePreset(ctx context.Context, be nn.Backend, name string, pr gpt.Preset, modes []gpt.QueryMode,
	so bench.StepOptions, python string, threads int, ompWait, of string, say func(string, ...any)) ([]bench.TrainResult, error) {
	res := make([]bench.TrainResult, len(modes))
	steps := 0
	for i, m := range modes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		say("training %s %s%s", pr.Name, m, of)
		r, err := bench.MeasureSteps(be, pr, m, so)
		if err != nil {
			return nil, err
		}
		res[i] = bench.TrainResult{StepResult: r}
		steps = max(steps, r.Steps)
	}
	if python == "" || name != "cpu" {
		return res, nil
	}
	say("training %s with PyTorch (%d threads)%s", pr.Name, threads, of)
	tor, err := bench.RunTorch(ctx, python, pr, modes, bench.TorchOptions{Threads: threads, Warmup: so.Warmup, Steps: steps, OMPWaitPolicy: ompWait})
	for i := range modes {
		if err != nil {
			res[i].PyTorchError = err.Error()
			continue
		}
		res[i].PyTorch = &tor[i]
		res[i].Ratio = res[i].TokensPerSec / tor[i].TokensPerSec
	}
	return res, nil
}

// countSteps counts, for each preset and mode, what one training step asks of a Metal backend on
// the fake device (a -tags fakemetal build), whose timings would measure the CPU shader harness,
// not a GPU. Its command buffers complete without running their kernels (FAKEMETAL_EXECUTE=0):
// the host code is the same, so the counts are those of a Mac.
func countSteps(ctx context.Context, be nn.Backend, presets []gpt.Preset, stderr io.Writer) ([]bench.StepCounts, error) {
	st, ok := be.(metal.StatsReporter)
	if !ok {
		return nil, fmt.Errorf("kvgpt bench: %s does not count its work", be.Name())
	}
	fmt.Fprintln(stderr, "kvgpt bench: metal: the fake device: counting what each training step asks of it, without running its kernels")
	os.Setenv("FAKEMETAL_EXECUTE", "0")
	defer os.Unsetenv("FAKEMETAL_EXECUTE")
	var counts []bench.StepCounts
	for _, pr := range presets {
		for _, m := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			cfg := bench.Config(pr, m)
			s0 := st.Stats()
			tr, err := bench.NewTrainer(be, pr, m)
			if err != nil {
				return nil, err
			}
			if _, err := tr.Step(); err != nil { // warm-up: the first step may allocate
				return nil, err
			}
			s1 := st.Stats()
			if _, err := tr.Step(); err != nil {
				return nil, err
			}
			s2 := st.Stats()
			counts = append(counts, bench.StepCounts{
				Preset: pr.Name, Mode: string(m), B: pr.Train.BatchSize, T: cfg.BlockSize, Params: cfg.NumParams(),
				Dispatches: s2.Dispatches - s1.Dispatches, CommandBuffers: s2.CommandBuffers - s1.CommandBuffers,
				Waits: s2.Waits - s1.Waits, Bytes: s2.Bytes - s0.Bytes, StepBytes: s2.Bytes - s1.Bytes,
			})
		}
	}
	return counts, nil
}

// timeMPS returns the GFLOP/s of Apple's MPSMatrixMultiplication on the peak product.
func timeMPS(be nn.Backend, mps metal.MPSReference, t bench.Timing) (float64, error) {
	p := bench.PeakShape
	out, in, w := be.Alloc(p.N*p.OC), be.Alloc(p.N*p.C), be.Alloc(p.OC*p.C)
	var syncErr error
	d := bench.TimeCalls(func() {
		mps.MatmulForwardMPS(out, in, w, p.N, p.C, p.OC)
		if err := be.Sync(); err != nil && syncErr == nil {
			syncErr = err
		}
	}, t)
	return bench.GFLOPS(2*float64(p.N*p.C*p.OC), d), syncErr
}

// terminal returns w if it is a terminal (for progress lines rewritten in place), else nil.
func terminal(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return w
}
