// Command kvgpt trains baseline and query-free GPT models on the CPU or an Apple GPU.
//
// Usage:
//
//	kvgpt <command> [flags]
//
// Run `kvgpt help` for the list of commands and `kvgpt <command> -h` for a command's flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one kvgpt sub-command.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// commands lists every sub-command, in the order `kvgpt help` shows them.
// Each command lives in its own file (train.go, sample.go, …) and adds one line here.
func commands() []command {
	return []command{
		{"prepare", "tokenize text (GPT-2 BPE, a trained BPE, bytes, characters) into memory-mapped token files", runPrepare},
		{"train", "train a baseline or query-free GPT", runTrain},
		{"sample", "generate text from a checkpoint", runSample},
		{"eval", "a checkpoint's loss over a whole dataset split: nats per token, perplexity, bits per byte", runEval},
		{"export", "write a checkpoint as a Hugging Face GPT-2 model (config.json, model.safetensors)", runExport},
		{"version", "print the kvgpt version", runVersion},
		{"bench", "measure ops and training throughput of each backend (and PyTorch's)", runBench},
		{"selftest", "check every op of a backend (--backend metal on a Mac) and short training runs", runSelftest},
		{"experiment", "train the paper's variants side by side and write a report with plots", runExperiment},
		{"expressivity", "ReLU demo: a residual block is generically not a skip-free MLP of its width", runExpressivity},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		default:
			fmt.Fprintf(stderr, "kvgpt %s: %v\n", c.name, err)
			var ec interface{ ExitCode() int }
			if errors.As(err, &ec) {
				return ec.ExitCode()
			}
			return 1
		}
	}
	fmt.Fprintf(stderr, "kvgpt: unknown command %q (run `kvgpt help`)\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "kvgpt trains baseline and query-free (W_Q = I) GPT models on the CPU or an Apple GPU.")
	fmt.Fprintln(w, "\nUsage: kvgpt <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `kvgpt <command> -h` for the flags of a command.")
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kvgpt %s\n", version)
	return nil
}
