package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"syscall"

	"github.com/kvgpt/kvgpt/experiment"
	"github.com/kvgpt/kvgpt/gpt"
)

func runExperiment(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return experimentCmd(ctx, args, stdout, stderr)
}

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
	out := fs.String("out", "", "output `dir`ectory (default: experiment-<preset>)")
	jobs := fs.Int("jobs", 1, "runs trained at once, each on a backend of its own (with --threads 0 the CPU's cores are shared out among them)")
	only := fs.String("variants", "", "run only the variants whose names match this `regexp` (default: all)")
	reportOnly := fs.Bool("report-only", false, "redraw report.md and the plots in --out from its results.json, training nothing")
	fresh := fs.Bool("fresh", false, "rerun every run, ignoring finished runs of an earlier results.json in --out")
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
		if *out == "" {
			return errors.New("--report-only needs --out, the directory of the results.json to report")
		}
		if _, err := experiment.Rewrite(*out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(*out, experiment.ReportFile))
		return nil
	}
	p, err := experiment.LookupPreset(*preset)
	if err != nil {
		return err
	}
	if *steps < 0 || *seeds < 0 {
		return fmt.Errorf("--steps and --seeds must be ≥ 0")
	}
	var onlyRE *regexp.Regexp
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			return fmt.Errorf("--variants: %w", err)
		}
		onlyRE = re
	}
	if *jobs < 1 || *jobs > 64 {
		return fmt.Errorf("--jobs must be between 1 and 64, got %d", *jobs)
	}
	if *seeds > experiment.MaxSeeds {
		return fmt.Errorf("--seeds must be ≤ %d, got %d", experiment.MaxSeeds, *seeds)
	}
	if *steps > 0 {
		p.Train.Steps = *steps
		p.Train.Warmup = min(p.Train.Warmup, *steps/10)
	}
	presetBackend := be.name == ""
	if presetBackend {
		be.name = cmp.Or(p.Backend, "auto")
	}
	// Each of the jobs runs on its own backend; with --threads 0 they share the cores out.
	runBE := be
	if runBE.threads == 0 && *jobs > 1 {
		runBE.threads = max(1, runtime.NumCPU() / *jobs)
	}
	if *out == "" {
		*out = "experiment-" + p.Name
	}
	if *data == "" && p.DataHint != "" {
		return fmt.Errorf("preset %s needs --data FILE: %s", p.Name, p.DataHint)
	}
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
	if err := checkWritableDir(*out); err != nil {
		return err
	}
	nseeds := p.Seeds
	if *seeds > 0 {
		nseeds = *seeds
	}
	variants := experiment.Selected(p, onlyRE)
	if len(variants) == 0 {
		return fmt.Errorf("--variants %q matches no variant of preset %s", *only, p.Name)
	}
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
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted after %d finished runs; results so far are in %s (rerun the same command to continue)", len(res.Runs), *out)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(*out, experiment.ReportFile))
	return nil
}

// printPresets lists gpt's preset table with the descriptions, for -h.
func printPresets(w io.Writer) {
	fmt.Fprintln(w, "\nPresets:")
	for _, p := range gpt.Presets() {
		fmt.Fprintf(w, "  %-17s %s\n", p.Name, p.Description)
	}
}
