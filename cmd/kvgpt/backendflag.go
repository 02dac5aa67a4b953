package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/kvgpt/kvgpt/nn"
)

// backendFlag is the --backend and --threads pair of every command that computes.
type backendFlag struct {
	name    string        // --backend
	threads int           // --threads: CPU threads, 0 for all cores
	fs      *flag.FlagSet // where define added the flags (nil: set by the program)
}

// define adds --backend and --threads to fs, with b's values as their defaults; choices says what
// --backend accepts (backendNames, unless the command takes other values).
func (b *backendFlag) define(fs *flag.FlagSet, choices string) {
	fs.StringVar(&b.name, "backend", b.name, "compute backend: "+choices)
	fs.IntVar(&b.threads, "threads", b.threads, "CPU threads (0: all cores)")
	b.fs = fs
}

// check reports a bad --threads or --backend, and a --threads that --backend metal would ignore.
func (b backendFlag) check() error {
	if b.threads < 0 {
		return fmt.Errorf("--threads must be ≥ 0 (0: all cores), got %d", b.threads)
	}
	switch b.name {
	case "auto", "cpu", "metal":
	default:
		return fmt.Errorf("unknown --backend %q (want %s)", b.name, backendNames)
	}
	if b.name == "metal" && flagSet(b.fs, "threads") {
		return fmt.Errorf("--threads %d sizes the cpu backend; --backend metal would ignore it (drop it)", b.threads)
	}
	return nil
}

// flagSet reports whether the command line set the flag name of fs (nil: no command line).
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	if fs != nil {
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	}
	return set
}

// open opens the backend and prints it to w (see openBackend).
func (b backendFlag) open(w io.Writer) (nn.Backend, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	return openBackend(b.name, b.threads, w)
}

// create opens the backend without a word (see newBackend).
func (b backendFlag) create() (nn.Backend, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	return newBackend(b.name, b.threads)
}
