package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/kvgpt/kvgpt/nn"
)

// backendFlag is the --backend and --threads pair of every command that computes.
type backendFlag struct {
	name    string // --backend
	threads int    // --threads: CPU threads, 0 for all cores
}

// define adds --backend and --threads to fs, with b's values as their defaults; choices says what
// --backend accepts (backendNames, unless the command takes other values).
func (b *backendFlag) define(fs *flag.FlagSet, choices string) {
	fs.StringVar(&b.name, "backend", b.name, "compute backend: "+choices)
	fs.IntVar(&b.threads, "threads", b.threads, "CPU threads (0: all cores)")
}

// check reports a bad --threads.
func (b backendFlag) check() error {
	if b.threads < 0 {
		return fmt.Errorf("--threads must be ≥ 0 (0: all cores), got %d", b.threads)
	}
	return nil
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
