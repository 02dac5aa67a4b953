package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"text/tabwriter"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/metal"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

// maxSelftestSteps bounds --steps: the training comparison is a check of a few steps, and its
// float32 losses drift apart over long runs anyway.
const maxSelftestSteps = 1000

// selftestLossTol is the largest relative difference between a backend's training loss and the CPU
// backend's, at every step of the selftest's short training runs.
const selftestLossTol = 1e-3

// runSelftest implements `kvgpt selftest`: the first command to run on a new machine. It runs every
// case of the conformance suite (nn/nntest: each op forward and backward, odd shapes, both query
// modes) on the chosen backend, then a few training steps of a small model in both modes on the
// chosen backend and on the CPU backend, and prints one table of all of it. Any failure makes the
// command exit non-zero.
func runSelftest(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("selftest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bf := backendFlag{name: "auto"}
	bf.define(fs, "the backend to test: "+backendNames)
	steps := fs.Int("steps", 5, "training steps of each query mode compared with the cpu backend")
	only := fs.String("run", "", "run only the op cases whose name contains this `text` (e.g. op=matmul)")
	tolScale := fs.Float64("tol-scale", 1, "multiply every op tolerance by this `factor`")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: kvgpt selftest [flags]\n\nChecks every op of a backend against float64 references and short training runs against the cpu backend.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see kvgpt selftest -h)", fs.Arg(0))
	}
	if *steps < 0 || *steps > maxSelftestSteps {
		return fmt.Errorf("--steps must be between 0 (no training comparison) and %d, got %d", maxSelftestSteps, *steps)
	}
	if *only != "" && flagSet(fs, "steps") {
		return fmt.Errorf("--steps %d would be ignored: --run %q runs op cases only, no training comparison (drop one of them)", *steps, *only)
	}
	if !(*tolScale > 0) || math.IsInf(*tolScale, 0) {
		return fmt.Errorf("--tol-scale must be a finite number > 0, got %v", *tolScale)
	}

	be, err := bf.open(stdout)
	if err != nil {
		return err // for Metal: the one device-check error New returned, before any table
	}
	defer be.Close()
	if dc, ok := be.(metal.DeviceChecker); ok {
		fmt.Fprintf(stdout, "device check: ok: %s\n", dc.DeviceCheck())
	}
	cpu := nn.NewCPU(0)
	defer cpu.Close()

	rows, err := selftest(be, cpu, selftestOptions{steps: *steps, only: *only, tolScale: *tolScale})
	if err != nil {
		return err
	}
	failed := printSelftest(stdout, rows)
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed on %s", failed, len(rows), be.Name())
	}
	fmt.Fprintf(stdout, "all %d checks passed on %s\n", len(rows), be.Name())
	return nil
}

type selftestOptions struct {
	steps    int     // training steps per mode; 0 skips training
	only     string  // substring filter on case names
	tolScale float64 // nntest tolerance multiplier
}

// selftestRow is one line of the selftest table.
type selftestRow struct {
	op, shape, mode string
	maxErr          float64 // largest |got − want| (op cases) or relative loss difference (training)
	cpuErr          float64 // the CPU backend's largest |got − want| on the same case; NaN for training rows
	pass            bool
	detail          string // the worst output, or why the row failed
}

// selftest runs the op cases on be and the training comparison of be with cpu.
func selftest(be, cpu nn.Backend, o selftestOptions) ([]selftestRow, error) {
	var rows []selftestRow
	n := 0
	for _, c := range nntest.Cases() {
		if o.only != "" && !strings.Contains(c.Name(), o.only) {
			continue
		}
		n++
		r := c.Run(be, nntest.Options{TolScale: o.tolScale})
		rc := c.Run(cpu, nntest.Options{})
		cpuErr := rc.MaxDiff()
		if rc.Err != nil {
			cpuErr = math.NaN()
		}
		row := selftestRow{op: c.Op, shape: c.Shape, mode: c.Mode, maxErr: r.MaxDiff(), cpuErr: cpuErr, pass: r.Pass()}
		switch {
		case r.Err != nil:
			row.detail = r.Err.Error()
		case len(r.Checks) == 0:
			row.detail = "no output was checked"
		default:
			w := r.Worst()
			row.detail = fmt.Sprintf("worst %s at %s: %.2f of tolerance", w.Name, w.Where, w.Score)
		}
		rows = append(rows, row)
	}
	if o.only != "" && n == 0 {
		return nil, fmt.Errorf("--run %q matches no case", o.only)
	}
	if o.steps == 0 || o.only != "" {
		return rows, nil
	}
	for _, mode := range []gpt.QueryMode{gpt.Baseline, gpt.Identity} {
		rows = append(rows, trainCompare(be, cpu, mode, o.steps)...)
	}
	return rows, nil
}

// selftestModel is the small model of the training comparison: two layers, odd-sized enough that
// no kernel runs only full tiles.
func selftestModel(mode gpt.QueryMode) gpt.Config {
	return gpt.Config{NLayer: 2, NHead: 3, NEmbd: 48, BlockSize: 33, VocabSize: 256, QueryMode: mode}
}

// selftestText is a deterministic text of words for the training comparison, so the selftest
// needs no data file.
func selftestText() string {
	words := strings.Fields("the key and value weights are probably all you need query free attention " +
		"trains a small model on the gpu and the cpu with the same ops in the same order")
	rng := rand.New(rand.NewPCG(5, 2510))
	var sb strings.Builder
	for sb.Len() < 40000 {
		sb.WriteString(words[rng.IntN(len(words))])
		if rng.IntN(9) == 0 {
			sb.WriteString(".\n")
		} else {
			sb.WriteByte(' ')
		}
	}
	return sb.String()
}

// trainCompare trains the selftest model in one mode for steps steps on be and on cpu, from the
// same initialisation and batches, and returns one row per step comparing the losses.
func trainCompare(be, cpu nn.Backend, mode gpt.QueryMode, steps int) []selftestRow {
	cfg := selftestModel(mode)
	shape := fmt.Sprintf("L=%d/NH=%d/C=%d/T=%d/B=4", cfg.NLayer, cfg.NHead, cfg.NEmbd, cfg.BlockSize)
	fail := func(err error) []selftestRow {
		return []selftestRow{{op: "train", shape: shape, mode: string(mode), maxErr: math.NaN(), cpuErr: math.NaN(), detail: err.Error()}}
	}
	got, err := trainLosses(be, cfg, steps)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", be.Name(), err))
	}
	want, err := trainLosses(cpu, cfg, steps)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", cpu.Name(), err))
	}
	rows := make([]selftestRow, steps)
	for i := range steps {
		rel := math.Abs(got[i]-want[i]) / math.Abs(want[i])
		rows[i] = selftestRow{
			op: fmt.Sprintf("train step %d", i+1), shape: shape, mode: string(mode), maxErr: rel, cpuErr: math.NaN(),
			pass:   rel <= selftestLossTol, // false for NaN
			detail: fmt.Sprintf("loss %.6f, cpu %.6f (relative difference, tolerance %g)", got[i], want[i], selftestLossTol),
		}
	}
	return rows
}

// trainLosses returns the training loss of each of steps steps of the selftest model on be.
func trainLosses(be nn.Backend, cfg gpt.Config, steps int) (losses []float64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	m, err := gpt.New(cfg, be, 1)
	if err != nil {
		return nil, err
	}
	data, err := gpt.NewDataset("selftest words", selftestText(), gpt.ByteTokenizer{}, cfg.BlockSize)
	if err != nil {
		return nil, err
	}
	tc := gpt.DefaultTrainConfig()
	tc.BatchSize, tc.Steps, tc.Warmup, tc.LR, tc.MinLR, tc.EvalBatches = 4, steps, 0, 3e-3, 3e-3, 1
	tr, err := gpt.NewTrainer(m, tc, data)
	if err != nil {
		return nil, err
	}
	for range steps {
		r, err := tr.Step()
		if err != nil {
			return nil, err
		}
		losses = append(losses, r.Loss)
	}
	if len(losses) != steps {
		return nil, errors.New("the trainer stopped early")
	}
	return losses, nil
}

// printSelftest prints the table and, below it, the details of every failed row; it returns the
// number of failed rows. "max error" is the largest |got − want| against nntest's float64
// reference (for training rows: the relative difference of the loss from the CPU backend's), "cpu"
// the CPU backend's own max error on the same case, for scale.
func printSelftest(w io.Writer, rows []selftestRow) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "op\tshape\tmode\tmax error\tcpu\tpass\t")
	failed := 0
	for _, r := range rows {
		verdict := "ok"
		if !r.pass {
			verdict = "FAIL"
			failed++
		}
		mode := r.mode
		if mode == "" {
			mode = "-"
		}
		cpuErr := "-"
		if !math.IsNaN(r.cpuErr) {
			cpuErr = fmt.Sprintf("%.3g", r.cpuErr)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3g\t%s\t%s\t\n", r.op, r.shape, mode, r.maxErr, cpuErr, verdict)
	}
	tw.Flush()
	if failed > 0 {
		fmt.Fprintln(w, "\nfailures:")
		for _, r := range rows {
			if !r.pass {
				fmt.Fprintf(w, "  %s %s %s: %s\n", r.op, r.shape, r.mode, r.detail)
			}
		}
	}
	return failed
}
