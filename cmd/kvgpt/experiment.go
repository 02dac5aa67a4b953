package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/kvgpt/kvgpt/experiment"
	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/internal/lockfile"
)

func runExperiment(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signalContext(context.Background())
	defer stop()
	return experimentCmd(ctx, args, stdout, stderr)
}

// experimentLockFile is the lock file of an experiment's --out (see lockDir).
const experimentLockFile = "experiment.lock"

// experimentCmd is `kvgpt experiment`: the paper's comparisons (see package experiment).
func experimentCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("experiment", flag.ContinueOnError)
	fs.SetOutput(stderr)
	preset := fs.String("preset", experiment.DefaultPreset, "experiment set-up: "+gpt.PresetNames())
	data := fs.String("data", "", "training data: a text `file`, token files or a dataset directory of kvgpt prepare (default: the preset's, the Go standard library sources)")
	vocab := fs.String("vocab", "", "tokens of text: byte, char, gpt2 or bpe:N (default: the preset's; a dataset directory says its own)")
	var be backendFlag
	be.define(fs, backendNames+" (default: the preset's, else auto)")
	seeds := fs.Int("seeds", 0, "seeds per variant (0: the preset's)")
	steps := fs.Int("steps", 0, "training steps per run (0: the preset's)")
	lr := fs.Float64("lr", 0, "peak learning rate of every run, the minimum in proportion (0: the preset's; not with a preset that sweeps it)")
	out := fs.String("out", "", "output `dir`ectory (default: experiment-<preset>)")
	jobs := fs.Int("jobs", 1, "runs trained at once, each on a backend of its own (with --threads 0 the CPU's cores are shared out among them)")
	only := fs.String("variants", "", "run only the variants whose names match this `regexp` (default: all)")
	reportOnly := fs.Bool("report-only", false, "redraw report.md and the plots in --out from its results.json, training nothing")
	fresh := fs.Bool("fresh", false, "rerun every run, replacing the results.json in --out (which, without it, must be of the same set-up: its finished runs are reused)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kvgpt experiment --preset NAME [flags]")
		fmt.Fprintln(stderr, "\nTrains original, identity, identity-wide-mlp, original-narrow-mlp, original-smaller, residual-query,")
		fmt.Fprintln(stderr, "a weight-decay sweep of both modes and a scale ablation with the same seeds and batch order, and writes runs/*.jsonl,")
		fmt.Fprintln(stderr, "results.json, report.md and PNG plots into --out. Rerunning continues an interrupted sweep.")
		printPresets(stderr)
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (all options are flags; see -h)", fs.Arg(0))
	}
	if *reportOnly {
		return reportOnlyCmd(fs, *out, stdout)
	}
	p, err := experiment.LookupPreset(*preset)
	if err != nil {
		return fmt.Errorf("--preset: %w", err)
	}
	switch {
	case *steps < 0:
		return fmt.Errorf("--steps must be ≥ 0 (0: the preset's), got %d", *steps)
	case !(*lr >= 0) || math.IsInf(*lr, 0):
		return fmt.Errorf("--lr must be a finite number ≥ 0 (0: the preset's), got %v", *lr)
	case *lr > 0 && len(p.LRs) > 0:
		return fmt.Errorf("--lr %g: preset %s sweeps the learning rate itself (%v); pick its runs with --variants", *lr, p.Name, p.LRs)
	case *seeds < 0 || *seeds > experiment.MaxSeeds:
		return fmt.Errorf("--seeds must be between 0 (the preset's) and %d, got %d", experiment.MaxSeeds, *seeds)
	case *jobs < 1 || *jobs > 64:
		return fmt.Errorf("--jobs must be between 1 and 64, got %d", *jobs)
	}
	var onlyRE *regexp.Regexp
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			return fmt.Errorf("--variants: %w", err)
		}
		onlyRE = re
	}
	if *steps > 0 {
		p.Train.Steps = *steps
		p.Train.Warmup = min(p.Train.Warmup, *steps/10)
	}
	if *lr > 0 {
		// The minimum in proportion, to 12 digits (3e-4·2e-3/3e-3 is 2e-4, not 1.9999…e-4).
		minLR, _ := strconv.ParseFloat(strconv.FormatFloat(p.Train.MinLR**lr/p.Train.LR, 'g', 12, 64), 64)
		p.Train.LR, p.Train.MinLR = *lr, minLR
	}
	presetBackend := be.name == ""
	if presetBackend {
		be.name = cmp.Or(p.Backend, "auto")
	}
	if err := be.check(); err != nil {
		return err
	}
	if *data == "" && p.DataHint != "" {
		return fmt.Errorf("preset %s needs --data FILE: %s", p.Name, p.DataHint)
	}
	nseeds := cmp.Or(*seeds, p.Seeds)
	variants := experiment.Selected(p, onlyRE)
	if len(variants) == 0 {
		return fmt.Errorf("--variants %q matches no variant of preset %s", *only, p.Name)
	}
	// Each of the jobs runs on its own backend; with --threads 0 they share the cores out.
	runBE := be
	if runBE.threads == 0 && *jobs > 1 {
		runBE.threads = max(1, runtime.NumCPU() / *jobs)
	}
	if *out == "" {
		*out = "experiment-" + p.Name
	}
	// --out: writable and this experiment's alone, before any work.
	lock, err := lockDir(*out, experimentLockFile, "kvgpt experiment")
	if err != nil {
		return err
	}
	defer lock.Unlock()
	// Open one backend up front, so a bad --backend fails before any work.
	b, err := be.create()
	if err != nil {
		if presetBackend && be.name != "cpu" {
			return fmt.Errorf("%w; the %s preset is meant for --backend %s — pass --backend cpu to run it on the CPU (much slower)", err, p.Name, be.name)
		}
		return err
	}
	bname := b.Name()
	defer b.Close() // closed below, once it has said how much memory there is
	ds, tok, err := gpt.LoadData(dataSpec(*data, cmp.Or(*vocab, p.Vocab), *vocab != "", p.CorpusBytes), p.Model.BlockSize)
	if err != nil {
		return err
	}
	defer ds.Close()
	source := ds.Source
	fmt.Fprintf(stderr, "experiment %s: %d variants × %d seeds on %s, %s, %d at once; writing to %s\n",
		p.Name, len(variants), nseeds, source, bname, *jobs, *out)
	avail, availErr := availableMemory(b)
	b.Close()
	if err := checkExperimentMemory(p, variants, ds, tok.VocabSize(), *jobs, avail, availErr, stderr); err != nil {
		return err
	}
	res, err := experiment.Run(ctx, experiment.Options{
		Preset: p, Data: ds, VocabSize: tok.VocabSize(), Seeds: *seeds, Out: *out, Fresh: *fresh,
		NewBackend: runBE.create, Jobs: *jobs, Only: onlyRE,
		Backend: bname, Progress: stderr,
	})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return &signalError{sig: stoppedBy(ctx), msg: fmt.Sprintf("stopped after %d finished runs; results so far are in %s (rerun the same command to continue)", len(res.Runs), *out)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(*out, experiment.ReportFile))
	return nil
}

// reportOnlyCmd is `kvgpt experiment --report-only`: it redraws the report of the experiment in
// out. Every flag but --out would be ignored, so it is refused. While an experiment runs in out
// (it holds the lock), only the report and the plots are drawn: the running experiment owns
// results.json.
func reportOnlyCmd(fs *flag.FlagSet, out string, stdout io.Writer) error {
	var ignored []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "report-only" && f.Name != "out" {
			ignored = append(ignored, fmt.Sprintf("--%s %s", f.Name, f.Value))
		}
	})
	if len(ignored) > 0 {
		return fmt.Errorf("--report-only draws the report from --out's results.json and trains nothing: %s would be ignored (drop it)", strings.Join(ignored, ", "))
	}
	if out == "" {
		return errors.New("--report-only needs --out, the directory of the results.json to report")
	}
	if st, err := os.Stat(out); err != nil || !st.IsDir() {
		return fmt.Errorf("--report-only: %s is not an experiment's directory (no such directory)", out)
	}
	lock, err := lockfile.Acquire(filepath.Join(out, experimentLockFile))
	var le *lockfile.LockedError
	running := errors.As(err, &le)
	if err != nil && !running {
		return fmt.Errorf("--report-only: %w", err)
	}
	defer lock.Unlock()
	if _, err := experiment.Rewrite(out, !running); err != nil {
		return err
	}
	if running {
		fmt.Fprintf(stdout, "an experiment is running in %s: its report so far is drawn, its results.json left to it\n", out)
	}
	fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(out, experiment.ReportFile))
	return nil
}

// printPresets lists gpt's preset table with the descriptions, for -h.
func printPresets(w io.Writer) {
	fmt.Fprintln(w, "\nPresets:")
	for _, p := range gpt.Presets() {
		fmt.Fprintf(w, "  %-17s %s\n", p.Name, p.Description)
	}
}
