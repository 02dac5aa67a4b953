package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/kvgpt/kvgpt/theory"
)

// runExpressivity is `kvgpt expressivity`: the paper's structural result in the ReLU setting, shown
// numerically (see theory.RunExpressivity).
func runExpressivity(args []string, stdout, stderr io.Writer) error {
	cfg := theory.DefaultExpressivityConfig()
	fs := flag.NewFlagSet("expressivity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kvgpt expressivity [flags]")
		fmt.Fprintln(stderr, "\nFits skip-free ReLU MLPs of width m and m+2d to random residual blocks x + W2·ReLU(W1·x)")
		fmt.Fprintln(stderr, "and reports the error floor of each width (table, results.json, expressivity.png in -out).")
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.D, "d", cfg.D, "input width d")
	fs.IntVar(&cfg.M, "m", cfg.M, "hidden width m of the residual blocks")
	fs.IntVar(&cfg.Blocks, "blocks", cfg.Blocks, "random residual blocks to fit")
	fs.IntVar(&cfg.Restarts, "restarts", cfg.Restarts, "fits per block and width (the best counts)")
	fs.IntVar(&cfg.Steps, "steps", cfg.Steps, "full-batch Adam steps per fit")
	fs.IntVar(&cfg.Samples, "samples", cfg.Samples, "random training inputs per fit (as many held out)")
	fs.Float64Var(&cfg.LR, "lr", cfg.LR, "peak Adam learning rate (cosine decay to lr/100)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	fs.IntVar(&cfg.Workers, "workers", 0, "parallel fits (0: one per CPU)")
	out := fs.String("out", "expressivity", "directory for table.txt, results.json and expressivity.png")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := checkWritableDir(*out); err != nil { // before the fits, not after them
		return fmt.Errorf("--out: %w", err)
	}
	res, err := theory.RunExpressivity(cfg, stderr)
	if err != nil {
		return err
	}
	if err := res.WriteTable(stdout); err != nil {
		return err
	}
	if err := res.CheckDiverged(); err != nil {
		return fmt.Errorf("%w (--lr %g); nothing written to %s", err, cfg.LR, *out)
	}
	if err := res.WriteFiles(*out); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	fmt.Fprintf(stdout, "\nwrote %s/table.txt, %s/results.json, %s/expressivity.png\n", *out, *out, *out)
	return nil
}
